"""Extent arithmetic shared by the readers: merging, unions along a chain, range checks.

Pure functions, no I/O: a reader produces raw (offset, length) runs in any order and this turns
them into the sorted, merged list the `DiskImage` contract promises.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.disks.base import Extent


def merge_extents(runs: Iterable[tuple[int, int] | Extent]) -> list[Extent]:
    """Sort and merge overlapping or touching runs; drop empty ones."""
    pairs = sorted(
        (r.offset, r.end) if isinstance(r, Extent) else (r[0], r[0] + r[1])
        for r in runs
        if (r.length if isinstance(r, Extent) else r[1]) > 0
    )
    merged: list[Extent] = []
    cur_start = cur_end = -1
    for start, end in pairs:
        if start <= cur_end:
            cur_end = max(cur_end, end)
            continue
        if cur_end > cur_start:
            merged.append(Extent(cur_start, cur_end - cur_start))
        cur_start, cur_end = start, end
    if cur_end > cur_start:
        merged.append(Extent(cur_start, cur_end - cur_start))
    return merged


def clip_extents(extents: Iterable[Extent], limit: int) -> list[Extent]:
    """Cut extents to [0, limit): a parent may be larger than its child's virtual size."""
    out: list[Extent] = []
    for ext in extents:
        if ext.offset >= limit:
            break
        out.append(Extent(ext.offset, min(ext.end, limit) - ext.offset))
    return out


def check_read_range(offset: int, length: int, virtual_size: int) -> None:
    """Refuse a read outside the virtual disk: that is a caller bug, not a disk problem."""
    if offset < 0 or length < 0 or offset + length > virtual_size:
        raise ValueError(
            f"read({offset}, {length}) is outside the virtual disk of {virtual_size} bytes"
        )
