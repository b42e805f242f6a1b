"""The pure helpers the readers are built on, checked against naive versions on random data."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from agent.disks.base import Extent
from agent.disks.bitmap import bit_runs, msb_bit_runs
from agent.disks.extents import clip_extents, merge_extents
from agent.disks.parents import parent_candidates, windows_basename, windows_relative
from agent.disks.vhdx_format import entries_with_high_state


def naive_runs(bits: list[int]) -> list[tuple[bool, int, int]]:
    runs: list[tuple[bool, int, int]] = []
    for i, b in enumerate(bits):
        if runs and runs[-1][0] == bool(b):
            v, s, n = runs[-1]
            runs[-1] = (v, s, n + 1)
        else:
            runs.append((bool(b), i, 1))
    return runs


@pytest.mark.parametrize("seed", range(20))
def test_bit_runs_match_a_per_bit_walk(seed: int):
    rng = random.Random(seed)
    # long uniform stretches with a few flips, like real sector bitmaps
    data = bytes(rng.choice([0, 0xFF, rng.randrange(256)]) for _ in range(rng.randrange(1, 300)))
    first = rng.randrange(0, len(data) * 8)
    count = rng.randrange(0, len(data) * 8 - first + 1)
    lsb = [(data[i // 8] >> (i % 8)) & 1 for i in range(first, first + count)]
    msb = [(data[i // 8] >> (7 - i % 8)) & 1 for i in range(first, first + count)]
    assert bit_runs(data, first, count) == naive_runs(lsb)
    assert msb_bit_runs(data, first, count) == naive_runs(msb)


def test_merge_extents_sorts_merges_touching_and_drops_empty():
    got = merge_extents([(10, 5), (0, 4), (4, 2), (20, 0), (12, 10), Extent(40, 1)])
    assert got == [Extent(0, 6), Extent(10, 12), Extent(40, 1)]
    assert clip_extents(got, 12) == [Extent(0, 6), Extent(10, 2)]


@pytest.mark.parametrize("seed", range(5))
def test_high_state_scan_matches_a_loop(seed: int):
    rng = random.Random(seed)
    entries = [
        rng.choice([0, 2, 2, 6, 7, 1, 3, 4, 5]) | (rng.randrange(1, 1 << 20) << 20)
        if rng.random() < 0.3
        else rng.choice([0, 2]) | (rng.randrange(0, 1 << 40) << 20)
        for _ in range(2000)
    ]
    raw = struct.pack(f"<{len(entries)}Q", *entries)
    assert list(entries_with_high_state(raw)) == [i for i, e in enumerate(entries) if e & 4]


def test_windows_paths_resolve_against_the_child_folder(tmp_path: Path):
    assert windows_relative(tmp_path, ".\\base.vhdx") == tmp_path / "base.vhdx"
    assert (
        windows_relative(tmp_path, "..\\gold\\base.vhdx") == tmp_path / ".." / "gold" / "base.vhdx"
    )
    assert windows_relative(tmp_path, "C:\\VMs\\base.vhdx") is None
    assert windows_basename("\\\\?\\Volume{26a21bda-a627}\\VMs\\base.vhdx") == "base.vhdx"
    assert windows_basename("C:\\Hyper-V\\disk.vhd") == "disk.vhd"
    found = parent_candidates(
        tmp_path / "child.avhdx",
        relative=["..\\gold\\base.vhdx"],
        absolute=["C:\\VMs\\base.vhdx"],
        search_dirs=[tmp_path / "extra"],
    )
    assert found == [
        tmp_path / ".." / "gold" / "base.vhdx",
        tmp_path / "base.vhdx",
        tmp_path / "extra" / "base.vhdx",
    ]


def test_readers_work_without_positional_reads(monkeypatch, make_disk, qemu_raw):
    """Windows has no os.pread/preadv: the lock + seek path must give the same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    from agent.disks import _file, open_disk
    from tests.agent.conftest import SCATTERED

    path = make_disk("vhdx", subformat="dynamic", block_size="1M", writes=SCATTERED)
    expected = qemu_raw(path)
    monkeypatch.setattr(_file, "HAVE_POSITIONAL_READS", False)
    rng = random.Random(1)
    jobs = [(rng.randrange(0, 60 << 20), rng.randrange(1, 4 << 20)) for _ in range(60)]
    with open_disk(path) as disk, ThreadPoolExecutor(4) as pool:
        assert disk.read(0, disk.virtual_size) == expected
        got = list(pool.map(lambda j: disk.read(*j), jobs))
    assert got == [expected[o : o + n] for o, n in jobs]
