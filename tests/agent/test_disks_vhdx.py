"""VHDX reader against qemu-made disks, cross-checked with qemu-img, dissect and libvhdi."""

from __future__ import annotations

import itertools
import random
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.disks import open_disk
from agent.disks.base import DiskImage
from tests.agent import vhdx_edit as edit
from tests.agent.conftest import SCATTERED, Write
from tests.agent.independent import dissect_read, first_difference, pyvhdi_read

MIB = 1024 * 1024


def assert_extents_cover_nonzero(disk: DiskImage, expected: bytes) -> None:
    """Every non-zero byte lies inside allocated_extents(), which are sorted and merged."""
    extents = list(disk.allocated_extents())
    assert extents == sorted(extents)
    assert all(a.end < b.offset for a, b in itertools.pairwise(extents))
    assert all(e.offset >= 0 and e.end <= disk.virtual_size for e in extents)
    covered = bytearray(len(expected))
    for e in extents:
        covered[e.offset : e.end] = expected[e.offset : e.end]
    assert bytes(covered) == expected, "a non-zero byte lies outside allocated_extents()"


def assert_unaligned_reads(disk: DiskImage, expected: bytes, seed: int = 5) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        off = rng.randrange(0, disk.virtual_size - 1)
        n = rng.randrange(1, min(3 * MIB, disk.virtual_size - off) + 1)
        assert disk.read(off, n) == expected[off : off + n], (off, n)


@pytest.mark.parametrize(
    ("subformat", "block_size"),
    [
        ("dynamic", "1M"),
        ("dynamic", "32M"),
        ("dynamic", "256M"),
        ("fixed", "1M"),
        ("fixed", "32M"),
        ("fixed", "256M"),
    ],
)
def test_qemu_vhdx_reads_like_qemu_dissect_and_libvhdi(
    make_disk, qemu_raw, subformat: str, block_size: str
):
    path = make_disk("vhdx", subformat=subformat, block_size=block_size, writes=SCATTERED)
    expected = qemu_raw(path)
    with open_disk(path) as disk:
        info = disk.info()
        assert (info.format, info.subformat) == ("vhdx", subformat)
        assert info.block_size == int(block_size[:-1]) * MIB
        assert info.virtual_size == len(expected) == 64 * MIB
        ours = disk.read(0, disk.virtual_size)
        assert ours == expected
        assert dissect_read(path) == [ours]
        assert pyvhdi_read(path) == [ours]
        assert_extents_cover_nonzero(disk, expected)
        assert_unaligned_reads(disk, expected)
        if subformat == "dynamic" and block_size == "1M":
            # sparse: only the blocks qemu touched (7 writes, at most 2 blocks each + 2 MiB run)
            assert info.allocated_bytes <= 12 * MIB


def test_filesystem_disk_is_sparse_and_exact(make_ext4_disk, qemu_raw):
    path = make_ext4_disk("vhdx", size="64M", subformat="dynamic", block_size="1M")
    expected = qemu_raw(path)
    assert b"Welcome to the replicated VM." in expected
    with open_disk(path) as disk:
        ours = disk.read(0, disk.virtual_size)
        assert ours == expected
        assert dissect_read(path) == [ours] == pyvhdi_read(path)
        assert_extents_cover_nonzero(disk, expected)
        assert disk.info().allocated_bytes < disk.virtual_size // 2


def test_chunk_interleaving_past_the_first_sector_bitmap_entry(make_disk, disk_dir):
    """256 MiB blocks with 512-byte sectors: chunk ratio 16, so payload block 16 sits at BAT
    index 17 after the first sector bitmap entry. A 5 GiB sparse disk, read where it matters."""
    writes = [Write(16 * 256 * MIB, 65536, 0xCD), Write(17 * 256 * MIB + 4096, 4096, 0xCE)]
    path = make_disk("vhdx", subformat="dynamic", block_size="256M", size="5G", writes=writes)
    ranges = [(w.offset - 512, w.length + 1024) for w in writes] + [(0, 4096)]
    with open_disk(path) as disk:
        assert disk.meta.chunk_ratio == 16
        ours = [disk.read(o, n) for o, n in ranges]
        extents = list(disk.allocated_extents())
    assert ours == dissect_read(path, ranges) == pyvhdi_read(path, ranges=ranges)
    assert ours[0][512:-512] == b"\xcd" * 65536 and ours[0][:512] == bytes(512)
    assert [(e.offset, e.length) for e in extents] == [(16 * 256 * MIB, 2 * 256 * MIB)]


def test_4096_byte_logical_sectors(make_disk, qemu_raw):
    """qemu has no sector-size option: rewrite the metadata items per spec (64 blocks of 1 MiB
    stay inside the first chunk under both chunk ratios, so the BAT layout is unchanged)."""
    path = make_disk("vhdx", subformat="dynamic", block_size="1M", writes=SCATTERED)
    expected = qemu_raw(path)
    edit.set_sector_sizes(path, 4096, 4096)
    with open_disk(path) as disk:
        info = disk.info()
        assert (info.logical_sector_size, info.physical_sector_size) == (4096, 4096)
        assert disk.meta.chunk_ratio == 32768
        ours = disk.read(0, disk.virtual_size)
    assert ours == expected
    assert dissect_read(path) == [ours] == pyvhdi_read(path)


def test_block_states_zero_undefined_unmapped_read_as_zeros(make_disk):
    writes = [Write(i * MIB, MIB, 0x10 + i) for i in range(5)]
    path = make_disk("vhdx", subformat="dynamic", block_size="1M", size="8M", writes=writes)
    for block, state in ((1, edit.ZERO), (2, edit.UNDEFINED), (3, edit.UNMAPPED)):
        _, off = edit.bat_entry(path, block)
        edit.set_bat_entry(path, block, state, off)
    with open_disk(path) as disk:
        data = disk.read(0, 5 * MIB)
        extents = [(e.offset, e.length) for e in disk.allocated_extents()]
    assert data[:MIB] == b"\x10" * MIB and data[4 * MIB :] == b"\x14" * MIB
    assert data[MIB : 4 * MIB] == bytes(3 * MIB)
    assert extents == [(0, MIB), (4 * MIB, MIB)]
    assert dissect_read(path, [(0, 5 * MIB)]) == [data]
    assert pyvhdi_read(path, ranges=[(0, 5 * MIB)]) == [data]


# ---------------------------------------------------------------- differencing


@pytest.fixture
def diff_chain(make_disk, qemu_raw, tmp_path: Path):
    """parent (qemu dynamic, blocks 0-7 patterned) and a child made differencing by editing:

    block 1 FULLY_PRESENT (child data), block 2 PARTIALLY_PRESENT (child's 64 KiB at 0x8000
    present, the rest from the parent), block 3 ZERO (hides the parent), block 4 PARTIALLY with
    an unaligned present run, others NOT_PRESENT (parent shows through).
    """
    parent_src = make_disk(
        "vhdx",
        subformat="dynamic",
        block_size="1M",
        size="16M",
        writes=[Write(i * MIB, MIB, 0xA0 + i) for i in range(8)],
    )
    child_src = make_disk(
        "vhdx",
        subformat="dynamic",
        block_size="1M",
        size="16M",
        writes=[
            Write(1 * MIB, MIB, 0xB1),
            Write(2 * MIB + 0x8000, 0x1_0000, 0xB2),
            Write(3 * MIB, 4096, 0xB3),
            Write(4 * MIB, MIB, 0xB4),
        ],
    )
    parent_raw, child_raw = qemu_raw(parent_src), qemu_raw(child_src)
    parent, child = tmp_path / "base.vhdx", tmp_path / "child.avhdx"
    shutil.copy(parent_src, parent)
    shutil.copy(child_src, child)
    edit.make_differencing(child, parent)
    spb = MIB // 512
    _, off2 = edit.bat_entry(child, 2)
    edit.set_bat_entry(child, 2, edit.PARTIALLY_PRESENT, off2)
    edit.mark_present(child, 2 * spb + 0x8000 // 512, 0x1_0000 // 512)
    edit.set_bat_entry(child, 3, edit.ZERO, 0)  # FileOffsetMB is reserved (0) for ZERO
    _, off4 = edit.bat_entry(child, 4)
    edit.set_bat_entry(child, 4, edit.PARTIALLY_PRESENT, off4)
    edit.mark_present(child, 4 * spb + 3, 7)  # sectors 3..9 of block 4

    expected = bytearray(parent_raw)
    expected[1 * MIB : 2 * MIB] = child_raw[1 * MIB : 2 * MIB]
    expected[2 * MIB + 0x8000 : 2 * MIB + 0x1_8000] = child_raw[
        2 * MIB + 0x8000 : 2 * MIB + 0x1_8000
    ]
    expected[3 * MIB : 4 * MIB] = bytes(MIB)
    expected[4 * MIB + 3 * 512 : 4 * MIB + 10 * 512] = b"\xb4" * 7 * 512
    return parent, child, bytes(expected)


def test_differencing_chain_reads_like_dissect_and_libvhdi(diff_chain):
    parent, child, expected = diff_chain
    with open_disk(child) as disk:
        info = disk.info()
        assert info.subformat == "differencing"
        assert info.chain == [child, parent]
        ours = disk.read(0, disk.virtual_size)
        assert_extents_cover_nonzero(disk, ours)
        assert_unaligned_reads(disk, ours)
    assert first_difference(ours, expected) is None
    assert first_difference(dissect_read(child)[0], ours) is None
    # libvhdi reads a differencing file's PAYLOAD_BLOCK_ZERO block from the parent; MS-VHDX
    # 2.5.1.1 (and dissect) say its contents are zero. Compare libvhdi everywhere else.
    theirs = bytearray(pyvhdi_read(child, [parent])[0])
    theirs[3 * MIB : 4 * MIB] = bytes(MIB)
    assert first_difference(bytes(theirs), ours) is None


def test_three_level_chain(diff_chain, make_disk, tmp_path: Path):
    parent, child, expected = diff_chain
    grandchild = tmp_path / "grandchild.avhdx"
    shutil.copy(
        make_disk(
            "vhdx",
            subformat="dynamic",
            block_size="1M",
            size="16M",
            writes=[Write(5 * MIB + 512, 512, 0xC5)],
        ),
        grandchild,
    )
    edit.make_differencing(grandchild, child)
    with open_disk(grandchild) as disk:
        assert disk.info().chain == [grandchild, child, parent]
        ours = disk.read(0, disk.virtual_size)
    want = bytearray(expected)
    want[5 * MIB : 6 * MIB] = b"\x00" * 512 + b"\xc5" * 512 + bytes(MIB - 1024)
    assert first_difference(ours, bytes(want)) is None
    theirs = bytearray(pyvhdi_read(grandchild, [child, parent])[0])
    theirs[3 * MIB : 4 * MIB] = bytes(MIB)  # libvhdi and ZERO blocks: see the test above
    assert first_difference(bytes(theirs), ours) is None


def test_parent_found_by_name_in_search_dir_when_relative_path_fails(diff_chain, tmp_path):
    parent, child, expected = diff_chain
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    parent.rename(elsewhere / parent.name)
    with pytest.raises(Exception) as err:
        open_disk(child)
    assert err.value.code == "ParentNotFound"
    assert "base.vhdx" in err.value.cause and "--search-dir" in err.value.recommendation
    with open_disk(child, search_dirs=[elsewhere]) as disk:
        assert disk.read(0, disk.virtual_size) == expected


def test_parent_with_other_data_write_guid_is_refused(diff_chain):
    parent, child, _ = diff_chain
    edit.rewrite_both_headers(parent, data_write_guid=uuid.uuid4())
    with pytest.raises(Exception) as err:
        open_disk(child)
    assert err.value.code == "ParentIdMismatch"


def test_fingerprint_follows_the_parent(diff_chain):
    parent, child, _ = diff_chain
    with open_disk(child) as disk:
        before = disk.fingerprint()
    import os

    os.utime(parent, ns=(10**18, 10**18))
    with open_disk(child) as disk:
        assert disk.fingerprint() != before


# ---------------------------------------------------------------- concurrency


def test_reads_from_many_threads_agree(make_disk, qemu_raw):
    path = make_disk("vhdx", subformat="dynamic", block_size="1M", writes=SCATTERED)
    expected = qemu_raw(path)
    rng = random.Random(9)
    jobs = [(rng.randrange(0, 60 * MIB), rng.randrange(1, 4 * MIB)) for _ in range(200)]
    with open_disk(path) as disk, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda j: disk.read(*j), jobs))
    for (off, n), got in zip(jobs, results, strict=True):
        assert got == expected[off : off + n]


@pytest.mark.parametrize(("fmt", "options"), [("vhdx", "32M"), ("vpc", None)])
def test_virtual_size_not_a_multiple_of_the_block_size(make_disk, qemu_raw, fmt, options):
    """65 MiB - 1 sector: the last block is partial in both formats."""
    size = 65 * MIB - 512
    writes = [Write(size - 4096, 4096, 0xEE), Write(64 * MIB - 512, 1024, 0xEF)]
    path = make_disk(fmt, subformat="dynamic", block_size=options, size=size, writes=writes)
    expected = qemu_raw(path)
    with open_disk(path) as disk:
        assert disk.virtual_size == size == len(expected)
        ours = disk.read(0, size)
        assert_extents_cover_nonzero(disk, expected)
    assert first_difference(ours, expected) is None
    assert dissect_read(path) == [ours] == pyvhdi_read(path)


def test_read_into_overwrites_a_dirty_buffer_everywhere(diff_chain, make_disk):
    """read_into() must write every byte, zeros included: callers reuse their buffers."""
    _, child, expected = diff_chain
    raw = make_disk("raw", size="16M", writes=[Write(MIB, 4096, 0x21)])
    vhd = make_disk("vpc", subformat="dynamic", size="16M", writes=[Write(MIB, 4096, 0x21)])
    for path in (child, raw, vhd):
        with open_disk(path) as disk:
            for off, n in ((0, disk.virtual_size), (3 * MIB - 700, 2 * MIB + 1234)):
                buf = bytearray(b"\xff" * n)
                disk.read_into(off, memoryview(buf))
                assert bytes(buf) == disk.read(off, n)
    with open_disk(child) as disk:
        buf = bytearray(b"\xff" * disk.virtual_size)
        disk.read_into(0, memoryview(buf))
        assert first_difference(bytes(buf), expected) is None


def test_differencing_reads_from_many_threads_agree(diff_chain):
    _, child, expected = diff_chain
    rng = random.Random(3)
    jobs = [(rng.randrange(0, 15 * MIB), rng.randrange(1, MIB)) for _ in range(200)]
    with open_disk(child) as disk, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda j: disk.read(*j), jobs))
    for (off, n), got in zip(jobs, results, strict=True):
        assert got == expected[off : off + n]


def test_child_larger_than_its_parent_reads_zeros_past_the_parent(make_disk, tmp_path: Path):
    """Hyper-V can expand a differencing disk: past the parent's end there is nothing to
    inherit."""
    parent, child = tmp_path / "small.vhdx", tmp_path / "grown.avhdx"
    shutil.copy(
        make_disk(
            "vhdx",
            subformat="dynamic",
            block_size="1M",
            size="4M",
            writes=[Write(0, 4 * MIB, 0x61)],
        ),
        parent,
    )
    shutil.copy(
        make_disk(
            "vhdx",
            subformat="dynamic",
            block_size="1M",
            size="8M",
            writes=[Write(6 * MIB, 4096, 0x62)],
        ),
        child,
    )
    edit.make_differencing(child, parent)
    with open_disk(child) as disk:
        data = disk.read(0, 8 * MIB)
        extents = [(e.offset, e.length) for e in disk.allocated_extents()]
    want = b"\x61" * 4 * MIB + bytes(2 * MIB) + b"\x62" * 4096 + bytes(2 * MIB - 4096)
    assert data == want
    assert extents == [(0, 4 * MIB), (6 * MIB, MIB)]
    # libvhdi refuses to read past the parent's end; compare where it can
    theirs = pyvhdi_read(child, [parent], ranges=[(0, 4 * MIB), (6 * MIB, MIB)])
    assert theirs == [data[: 4 * MIB], data[6 * MIB : 7 * MIB]]


def test_a_chain_that_loops_is_refused(make_disk, tmp_path: Path):
    child = tmp_path / "loop.avhdx"
    shutil.copy(make_disk("vhdx", subformat="dynamic", block_size="1M", size="4M"), child)
    edit.make_differencing(child, child)  # its own parent, GUID and all
    with pytest.raises(Exception) as err:
        open_disk(child)
    assert err.value.code == "ChainTooDeep"
