"""One delta cycle: write what changed (from RCT ranges or a hash scan), clear what became zero.

The ranges about to be written are journaled as `pending` before the first write, and the new
manifest is committed only after the last one succeeded: a crash never leaves the manifest ahead
of the blob, and the next cycle re-sends whatever may be half-written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.manifest import DIGEST_SIZE, ZERO_DIGEST, Journal, block_digest, merge_ranges
from agent.transfer.options import TransferResult
from agent.transfer.plan import (
    Coalescer,
    Segment,
    clip,
    overlaps,
    segments,
    unit_ranges,
    zeros,
)
from agent.transfer.pool import Stopped
from agent.transfer.run import (
    Run,
    cancelled,
    digest_unit,
    send,
    units_of,
)


def _scan(run: Run, old: bytearray, block: int) -> tuple[list[tuple[int, int]], int]:
    """Hash every allocated block; the changed blocks as byte ranges, and bytes scanned."""
    new = bytearray(len(old))
    src = [(e.offset, e.length) for e in run.disk.allocated_extents()]
    units = unit_ranges(src, run.options.unit, run.rounded)
    total = sum(n for _, n in units)
    meter = run.counters(total, 0, "scan")
    for start, n in units:
        for off, length in units_of([(start, n)], run.options.unit, run.rounded):
            if run.cancel.is_set():
                raise cancelled()
            digest_unit(new, run.read_scratch(off, length), off, block, run.zero)
            meter.advance(length)
    changed: list[tuple[int, int]] = []
    step = 4096 * DIGEST_SIZE  # compare 4096 digests at a time, then drill into differences
    for s in range(0, len(old), step):
        if old[s : s + step] == new[s : s + step]:
            continue
        for j in range(s, min(s + step, len(old)), DIGEST_SIZE):
            if old[j : j + DIGEST_SIZE] != new[j : j + DIGEST_SIZE]:
                off = j // DIGEST_SIZE * block
                changed.append((off, min(block, run.rounded - off)))
    return merge_ranges(changed), total


def delta(
    run: Run,
    journal: Journal,
    old: bytearray,
    block: int,
    changed: list[tuple[int, int]] | None,
    mode: str,
) -> TransferResult:
    opts = run.options
    scanned = 0
    scan_started = time.monotonic()
    if changed is None:
        changed, scanned = _scan(run, old, block)
    scan_seconds = time.monotonic() - scan_started if mode == "hash" else 0.0
    # Ranges of an earlier cycle that may not have reached the blob are sent again.
    unsure = merge_ranges([(int(o), int(n)) for o, n in journal.pending])
    todo = merge_ranges(changed + unsure)
    journal.pending = todo
    journal.fingerprint = run.fingerprint
    run.store.save(journal)  # before the first write: a crash now re-sends these next time

    total = sum(n for _, n in todo)
    c = run.counters(total, 0, mode)
    c.done = 0
    new = bytearray(old)
    lock = threading.Lock()
    pool = run.pool()

    def job(seg: Segment, advance: int) -> Callable[[], None]:
        def go() -> None:
            send(run.target, run.bucket, run.cancel, seg)
            c.wrote(seg)
            c.advance(advance)

        return go

    try:
        for blk_start, blk_len in unit_ranges(todo, block, run.rounded):
            coalesce = Coalescer(opts.chunk_bytes)
            for off in range(blk_start, blk_start + blk_len, block):
                if run.cancel.is_set():
                    raise Stopped
                length = min(block, run.rounded - off)
                data = run.read_unit(off, length) or zeros(length)
                i = off // block
                digest = block_digest(data, run.zero)
                with lock:
                    new[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = digest
                # Zeros need clearing only where the blob may hold data: RCT says nothing of
                # the old content, an unfinished cycle may have left anything, and the old
                # manifest knows which blocks held data.
                was_zero = old[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] == ZERO_DIGEST
                clear = mode == "rct" or not was_zero or overlaps(unsure, off, length)
                # Only the parts of this block that are listed as changed go out.
                for r_off, r_len in clip(todo, off, length):
                    part = data[r_off - off : r_off - off + r_len]
                    for seg in segments(
                        part, r_off, opts.zero_skip_bytes, run.zero, clear_zeros=clear
                    ):
                        for out in coalesce.add(seg):
                            pool.submit(job(out, out.length), out.length)
            for out in coalesce.flush():
                pool.submit(job(out, out.length), out.length)
    except Stopped:
        pass
    run.drain(pool)  # the journal keeps `pending`; the old manifest stays in force
    journal.pending = []
    digest = run.store.commit_manifest(journal, new)
    c.done = total
    c.advance(0, force=True)
    result = run.result(c, digest, mode, run.footer_check(journal))
    result.bytes_scanned = scanned or total
    result.scan_seconds = scan_seconds
    return result
