"""The pure parts of the upload engine: request planning, the token bucket, sizes and rates,
the journal's atomic writes. No storage here; these rules hold whatever the service accepts."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.manifest import Journal, StateStore, atomic_write, merge_ranges
from agent.throttle import TokenBucket, parse_rate, parse_size
from agent.transfer import TransferOptions
from agent.transfer.plan import (
    Coalescer,
    Segment,
    align_out,
    check_request,
    parse_rct,
    runs,
    segments,
    unit_ranges,
)

KIB, MIB = 1024, 1024 * 1024
ZERO = bytes(4 * MIB)


def test_runs_split_on_an_absolute_grid() -> None:
    data = bytes(64 * KIB) + b"\x01" * 10 + bytes(64 * KIB - 10) + bytes(64 * KIB)
    # base 512: the first cell is clipped at 64 KiB absolute, so cells do not follow the data.
    out = list(runs(data, 512, 64 * KIB, ZERO))
    assert out[0] == (512, 64 * KIB - 512, True)
    assert (64 * KIB, 64 * KIB, False) in out
    assert sum(length for _, length, _ in out) == len(data)


def test_segments_skip_zero_cells_and_clear_only_when_asked() -> None:
    data = b"\x07" * 4096 + bytes(128 * KIB) + b"\x08" * 512
    writes = list(segments(data, 0, 64 * KIB, ZERO, clear_zeros=False))
    assert all(s.data is not None for s in writes)
    # The first cell and the clipped last cell hold data; the zero cell between is skipped.
    assert sum(s.length for s in writes) == 64 * KIB + (len(data) - 128 * KIB)
    with_clears = list(segments(data, 0, 64 * KIB, ZERO, clear_zeros=True))
    assert sum(s.length for s in with_clears) == len(data)
    assert list(segments(bytes(8192), 0, 64 * KIB, ZERO, clear_zeros=False)) == []


def test_coalescer_joins_adjacent_writes_up_to_the_limit_and_clears_unbounded() -> None:
    c = Coalescer(4 * MIB)
    out: list[Segment] = []
    for i in range(10):
        out += c.add(Segment(i * MIB, MIB, b"x" * MIB))
    for i in range(10, 30):
        out += c.add(Segment(i * MIB, MIB, None))
    out += c.flush()
    writes = [s for s in out if s.data is not None]
    assert [s.length for s in writes] == [4 * MIB, 4 * MIB, 2 * MIB]
    assert [(s.offset, s.length) for s in out if s.data is None] == [(10 * MIB, 20 * MIB)]
    big = list(Coalescer(4 * MIB).add(Segment(0, 9 * MIB, b"y" * 9 * MIB)))
    assert max(s.length for s in big) == 4 * MIB and sum(s.length for s in big) == 9 * MIB


@pytest.mark.parametrize(
    ("offset", "length", "clear"),
    [(1, 512, False), (0, 4 * MIB + 512, False), (10 * MIB, 512, False), (0, 0, True)],
)
def test_check_request_refuses_what_azure_would(offset: int, length: int, clear: bool) -> None:
    with pytest.raises(RuntimeError):
        check_request(offset, length, 10 * MIB, clear=clear)


def test_check_request_allows_large_clears_inside_the_blob() -> None:
    check_request(0, 10 * MIB, 10 * MIB, clear=True)


def test_alignment_and_units() -> None:
    assert align_out(513, 10) == (512, 512)
    assert align_out(1000, 100) == (512, 1024)
    assert unit_ranges([(5, 1), (4 * MIB + 1, 1), (100 * MIB, 10)], 4 * MIB, 50 * MIB) == [
        (0, 8 * MIB)
    ]


def test_parse_rct_names_the_bad_item() -> None:
    assert parse_rct([{"offset": 0, "length": 512}, {"offset": 9, "length": 0}], 4096) == [(0, 512)]
    for bad, words in [
        ([{"offset": 4000, "length": 200}], "outside"),
        ([{"offset": True, "length": 1}], "integer"),
        ([[0, 1]], "not an object"),
        ({"offset": 0}, "must be a JSON list"),
    ]:
        with pytest.raises(AgentError, match=words) as err:
            parse_rct(bad, 4096)
        assert err.value.code == "BadChangedRanges"


def test_token_bucket_holds_the_rate_across_threads() -> None:
    bucket = TokenBucket(8 * MIB)
    sent = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal sent
        for _ in range(6):
            bucket.acquire(MIB)
            with lock:
                sent += MIB

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert sent == 24 * MIB
    assert 2.7 <= elapsed <= 3.6  # 24 MiB at 8 MiB/s, no free initial burst


def test_token_bucket_wakes_on_cancel() -> None:
    bucket = TokenBucket(MIB)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.monotonic()
    bucket.acquire(50 * MIB, cancel)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize(
    ("text", "value"),
    [("50MB/s", 50_000_000), ("800KiB/s", 819_200), ("1GB/s", 10**9), ("2.5MiB/s", 2_621_440)],
)
def test_parse_rate(text: str, value: int) -> None:
    assert parse_rate(text) == value


@pytest.mark.parametrize("text", ["fast", "0MB/s", "-1MB/s", "10 parsecs"])
def test_parse_rate_refuses_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="50MB/s"):
        parse_rate(text)


def test_parse_size_is_binary() -> None:
    assert parse_size("1MiB") == parse_size("1M") == parse_size("1MB") == MIB
    assert parse_size("64K") == 64 * KIB and parse_size("4096") == 4096


def test_options_refuse_sizes_azure_or_the_manifest_cannot_use() -> None:
    for bad in (
        TransferOptions(chunk_bytes=8 * MIB),
        TransferOptions(chunk_bytes=1000),
        TransferOptions(hash_block_bytes=3 * MIB),
        TransferOptions(concurrency=0),
        TransferOptions(checksum="sha1"),
    ):
        with pytest.raises(AgentError) as err:
            bad.validate()
        assert err.value.code == "BadOption"


def test_atomic_write_never_leaves_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    atomic_write(path, b"old")
    atomic_write(path, b"new" * 1000)
    assert path.read_bytes() == b"new" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]  # no temp files left


def test_journal_names_its_manifest_so_a_stale_one_is_never_paired(tmp_path: Path) -> None:
    store = StateStore(tmp_path, tmp_path / "disk.vhdx", "http://127.0.0.1/acct/c/b")
    journal = Journal("d", "u", "t", 1536, 1024, "fp", "00000000-0000-0000-0000-000000000001", 0)
    digest = store.commit_manifest(journal, bytes(32))
    assert store.load_manifest(store.load()) == bytearray(32)  # type: ignore[arg-type]
    store.manifest_path(digest).write_bytes(os.urandom(32))  # a manifest from another cycle
    assert store.load_manifest(store.load()) is None  # type: ignore[arg-type]


def test_merge_ranges() -> None:
    assert merge_ranges([(10, 5), (0, 10), (20, 0), (30, 1)]) == [(0, 15), (30, 1)]


def test_range_queries() -> None:
    from agent.transfer.plan import clip, is_done, overlaps

    r = [(0, 10), (20, 10)]
    assert is_done(r, 0, 10) and is_done(r, 22, 8)
    assert not is_done(r, 5, 10) and not is_done(r, 15, 1)
    assert overlaps(r, 9, 1) and overlaps(r, 29, 5)
    assert not overlaps(r, 10, 10) and not overlaps(r, 30, 5)
    assert list(clip(r, 5, 20)) == [(5, 5), (20, 5)]
    assert list(clip(r, 10, 10)) == []
