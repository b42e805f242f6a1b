"""A small shared pool of warm read buffers.

A fresh multi-MiB buffer per read costs a page fault per 4 KiB page (the allocator hands
large blocks back to the kernel on free), which made 4 MiB reads ten times slower than the
copy itself. `read()` therefore fills a buffer taken from this pool and returns an immutable
copy. The pool holds at most `MAX_POOLED_BYTES`, whatever the number of reader threads (the
engine runs dozens; one buffer per thread would cost 4 MiB each for the life of the run), and
a thread that finds it empty uses a one-off buffer: slower, never unbounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MAX_POOLED_BYTES = 32 * 1024 * 1024
_MIN_BUFFER = 4 * 1024 * 1024
_lock = threading.Lock()
_pool: list[bytearray] = []
_pooled_bytes = 0


def _take(length: int) -> bytearray | None:
    global _pooled_bytes
    with _lock:
        for i in range(len(_pool) - 1, -1, -1):  # most recently used first: warmest
            if len(_pool[i]) >= length:
                buf = _pool.pop(i)
                _pooled_bytes -= len(buf)
                return buf
    return None


def _give(buf: bytearray) -> None:
    global _pooled_bytes
    with _lock:
        if _pooled_bytes + len(buf) <= MAX_POOLED_BYTES:
            _pool.append(buf)
            _pooled_bytes += len(buf)


def read_via_scratch(
    read_into: Callable[[int, memoryview], None], offset: int, length: int
) -> bytes:
    """bytes of `read_into(offset, buffer)`, through a pooled buffer when one fits."""
    buf = _take(length)
    if buf is None:
        buf = bytearray(max(length, _MIN_BUFFER) if length <= MAX_POOLED_BYTES // 4 else length)
    with memoryview(buf) as whole, whole[:length] as view:
        read_into(offset, view)
        data = bytes(view)
    _give(buf)
    return data
