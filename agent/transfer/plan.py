"""Pure planning for the upload engine: which byte ranges become Put Page or Clear Pages.

No I/O here. Everything that reaches the wire is shaped by these functions, so the rules Azure
enforces and Azurite does not (≤ 4 MiB per Put Page, 512-aligned, inside the blob) live in one
place and are checked again by `check_request` just before each call.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from agent.errors import AgentError

PAGE = 512
MAX_PUT_PAGE = 4 * 1024 * 1024  # Azure answers 413 above this; Azurite accepts it


@dataclass(frozen=True)
class Segment:
    """One request: write `data` at `offset`, or clear `length` bytes at `offset`."""

    offset: int
    length: int
    data: bytes | None  # None: clear

    @property
    def end(self) -> int:
        return self.offset + self.length


@functools.lru_cache(maxsize=64)
def zeros(n: int) -> bytes:
    """n zero bytes, made once per size: comparisons against them are plain memcmp."""
    return bytes(n)


def check_request(offset: int, length: int, blob_size: int, *, clear: bool) -> None:
    """The last guard before the wire; a failure here is a bug in the engine, never input."""
    if length <= 0 or offset % PAGE or length % PAGE or offset < 0:
        raise RuntimeError(f"page request {offset}+{length} is not 512-aligned")
    if offset + length > blob_size:
        raise RuntimeError(f"page request {offset}+{length} ends past the blob ({blob_size})")
    if not clear and length > MAX_PUT_PAGE:
        raise RuntimeError(f"Put Page of {length} bytes is over the 4 MiB limit")


def align_out(offset: int, length: int) -> tuple[int, int]:
    """Widen a byte range to whole 512-byte pages."""
    start = offset // PAGE * PAGE
    end = -(-(offset + length) // PAGE) * PAGE
    return start, end - start


def runs(data: bytes, base: int, grid: int, zero: bytes) -> Iterator[tuple[int, int, bool]]:
    """(offset, length, is_zero) runs of `data` (which starts at `base`) on a `grid` of absolute
    offsets, the first and last cells clipped to the data. Zero tests are memcmp, not any()."""
    n = len(data)
    pos = 0
    cur_start, cur_zero = 0, None
    cell_zero = zeros(grid)
    while pos < n:
        cell_end = min(n, (base + pos) // grid * grid + grid - base)
        # startswith compares in place: no slice of the data is copied for the test.
        size = cell_end - pos
        is_zero = data.startswith(cell_zero if size == grid else zeros(size), pos)
        if cur_zero is None:
            cur_zero = is_zero
        elif is_zero != cur_zero:
            yield base + cur_start, pos - cur_start, cur_zero
            cur_start, cur_zero = pos, is_zero
        pos = cell_end
    if cur_zero is not None:
        yield base + cur_start, n - cur_start, cur_zero


def segments(
    data: bytes, base: int, grid: int, zero: bytes, *, clear_zeros: bool
) -> Iterator[Segment]:
    """Writes for the non-zero runs of `data`; clears for its zero runs when the blob may hold
    something there (`clear_zeros`)."""
    if data == zero[: len(data)]:
        if clear_zeros:
            yield Segment(base, len(data), None)
        return
    for off, length, is_zero in runs(data, base, grid, zero):
        if not is_zero:
            yield Segment(off, length, data[off - base : off - base + length])
        elif clear_zeros:
            yield Segment(off, length, None)


class Coalescer:
    """Joins adjacent segments of the same kind: writes up to `max_write`, clears unbounded
    (Clear Pages may span the whole blob). Feed in ascending order; `flush()` at the end."""

    def __init__(self, max_write: int) -> None:
        self.max_write = max_write
        self._parts: list[Segment] = []
        self._len = 0

    def add(self, seg: Segment) -> Iterator[Segment]:
        if self._parts:
            last = self._parts[-1]
            same_kind = (last.data is None) == (seg.data is None)
            fits = seg.data is None or self._len + seg.length <= self.max_write
            if not (same_kind and last.end == seg.offset and fits):
                yield from self.flush()
        if seg.data is not None and seg.length > self.max_write:
            for start in range(0, seg.length, self.max_write):
                part = seg.data[start : start + self.max_write]
                yield Segment(seg.offset + start, len(part), part)
            return
        self._parts.append(seg)
        self._len += seg.length

    def flush(self) -> Iterator[Segment]:
        if not self._parts:
            return
        first = self._parts[0]
        if first.data is None:
            yield Segment(first.offset, self._len, None)
        elif len(self._parts) == 1:
            yield first
        else:
            yield Segment(first.offset, self._len, b"".join(p.data or b"" for p in self._parts))
        self._parts, self._len = [], 0


def unit_ranges(ranges: Iterable[tuple[int, int]], unit: int, limit: int) -> list[tuple[int, int]]:
    """Byte ranges widened to whole `unit`s and clipped to `limit`, merged and sorted."""
    out: list[list[int]] = []
    for off, length in sorted(ranges):
        if length <= 0 or off >= limit:
            continue
        start = off // unit * unit
        end = min(limit, -(-(off + length) // unit) * unit)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b - a) for a, b in out]


def parse_rct(items: object, virtual_size: int) -> list[tuple[int, int]]:
    """Validate RCT ranges (a JSON list of {"offset", "length"}) against the disk's size."""

    def bad(cause: str) -> AgentError:
        return AgentError(
            "BadChangedRanges",
            cause,
            'Pass a JSON list of {"offset": int, "length": int} byte ranges inside the disk, as '
            "exported from Hyper-V RCT (Get-VHDChangedRanges style); or omit them to compare "
            "block hashes instead.",
        )

    if not isinstance(items, list):
        raise bad(f"changed ranges must be a JSON list, got {type(items).__name__}.")
    out: list[tuple[int, int]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"item {i} is not an object.")
        off, length = item.get("offset"), item.get("length")
        if not isinstance(off, int) or not isinstance(length, int) or isinstance(off, bool):
            raise bad(f"item {i} needs integer offset and length, got {item!r}.")
        if off < 0 or length < 0 or off + length > virtual_size:
            raise bad(f"item {i} ({off}+{length}) is outside the disk (0..{virtual_size}).")
        if length:
            out.append((off, length))
    return out


# Range queries over sorted, merged (offset, length) lists, shared by the three modes.


def _first_ending_after(ranges: list[tuple[int, int]], off: int) -> int:
    return bisect.bisect_right(ranges, off, key=lambda r: r[0] + r[1])


def is_done(done: list[tuple[int, int]], off: int, length: int) -> bool:
    """Whether [off, off+length) lies inside one of the ranges."""
    i = bisect.bisect_right(done, off, key=lambda r: r[0])
    return i > 0 and done[i - 1][0] + done[i - 1][1] >= off + length


def overlaps(ranges: list[tuple[int, int]], off: int, length: int) -> bool:
    """Whether [off, off+length) meets any of the ranges."""
    i = _first_ending_after(ranges, off)
    return i < len(ranges) and ranges[i][0] < off + length


def clip(ranges: list[tuple[int, int]], off: int, length: int) -> Iterator[tuple[int, int]]:
    """The parts of the ranges inside [off, off+length)."""
    end = off + length
    for r_off, r_len in ranges[_first_ending_after(ranges, off) :]:
        if r_off >= end:
            break
        a, b = max(off, r_off), min(end, r_off + r_len)
        if b > a:
            yield a, b - a
