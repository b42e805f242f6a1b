"""Initial replication: allocated, non-zero data only, resumable from the journal.

Reads the disk in units (whole chunks and hash blocks), skips what is zero, uploads the rest on
the pool, records finished units in the journal every 0.25 s, and ends with the footer and the
first manifest, in that order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.errors import AgentError
from agent.footer import FOOTER_SIZE
from agent.manifest import DIGEST_SIZE, Journal, merge_ranges
from agent.transfer.options import TransferResult
from agent.transfer.plan import (
    Coalescer,
    Segment,
    is_done,
    segments,
    unit_ranges,
)
from agent.transfer.pool import Stopped
from agent.transfer.run import (
    JOURNAL_FLUSH_SECONDS,
    Counters,
    Run,
    digest_unit,
    footer_for,
    send,
    units_of,
)


def initial(run: Run, restart: bool) -> TransferResult:
    opts = run.options
    journal = run.journal
    if journal is not None and journal.fingerprint != run.fingerprint:
        if not restart:
            if journal.complete:
                raise AgentError(
                    "SourceChanged",
                    f"{run.disk.path} changed since it was fully replicated to this blob.",
                    "Send the changes with `sync` (or the daemon's next cycle); to compare "
                    "everything with the blob, use `replicate --resync`.",
                )
            raise AgentError(
                "SourceChanged",
                f"{run.disk.path} changed while its initial replication was interrupted; "
                "resuming would mix data from two versions of the disk.",
                "Run `replicate --restart` to start the copy over (the blob is emptied first), "
                "or `replicate --resync` to compare with what the blob already holds.",
            )
        run.store.forget()
        journal = None
    extents = [(e.offset, e.length) for e in run.disk.allocated_extents()]
    units = unit_ranges(extents, opts.unit, run.rounded)
    total = sum(length for _, length in units)
    fresh = journal is None
    if journal is None:
        journal = run.new_journal()
    if journal.complete:
        c = run.counters(total, total, "upload")
        return run.result(c, journal.manifest_digest, "noop", run.footer_check(journal))
    done = merge_ranges(journal.done)
    done_bytes = sum(min(length, run.rounded - off) for off, length in done)
    c = run.counters(total, min(done_bytes, total), "upload")
    if fresh:
        run.clear_existing(c)  # a blob with pages we never wrote: empty it before mixing
        run.store.save(journal)
    return _upload_units(run, journal, units, done, c)


def _upload_units(
    run: Run,
    journal: Journal,
    units: list[tuple[int, int]],
    done: list[tuple[int, int]],
    c: Counters,
) -> TransferResult:
    opts = run.options
    block = opts.hash_block_bytes
    digests = bytearray(run.n_blocks(block) * DIGEST_SIZE)
    lock = threading.Lock()
    pending: dict[int, list[int]] = {}  # unit offset -> [jobs left, unit length]
    finished: list[tuple[int, int]] = []
    last_flush = [time.monotonic()]
    resumed = bool(done)

    def flush() -> None:
        journal.done = merge_ranges(journal.done + finished)
        finished.clear()
        run.store.save(journal)

    def unit_finished(off: int, length: int) -> None:
        with lock:
            finished.append((off, length))
            if time.monotonic() - last_flush[0] >= JOURNAL_FLUSH_SECONDS:
                last_flush[0] = time.monotonic()
                flush()
        c.advance(length)

    def job(unit_off: int, seg: Segment) -> Callable[[], None]:
        def go() -> None:
            send(run.target, run.bucket, run.cancel, seg)
            c.wrote(seg)
            with lock:
                entry = pending[unit_off]
                entry[0] -= 1
                last = entry[0] == 0
            if last:
                unit_finished(unit_off, entry[1])

        return go

    pool = run.pool()
    try:
        for off, length in units_of(units, opts.unit, run.rounded):
            if run.cancel.is_set():
                break
            data = run.read_unit(off, length)
            if data is not None:
                digest_unit(digests, data, off, block, run.zero)  # zero units keep zero digests
            if is_done(done, off, length):
                continue  # counted as done at start; hashed above for the manifest
            if data is None:
                unit_finished(off, length)
                continue
            segs: list[Segment] = []
            for p in range(0, length, opts.chunk_bytes):
                piece = data[p : p + opts.chunk_bytes]
                coalesce = Coalescer(opts.chunk_bytes)
                for seg in segments(
                    piece, off + p, opts.zero_skip_bytes, run.zero, clear_zeros=False
                ):
                    segs.extend(coalesce.add(seg))
                segs.extend(coalesce.flush())
            if not segs:
                unit_finished(off, length)
                continue
            with lock:
                pending[off] = [len(segs), length]
            for seg in segs:
                pool.submit(job(off, seg), seg.length)
    except Stopped:
        pass

    def save_progress() -> None:
        with lock:
            flush()

    run.drain(pool, save_progress)
    # All data is acknowledged: the footer makes it a VHD, then the manifest is committed.
    footer = footer_for(journal)
    run.target.put(run.rounded, footer)
    c.wrote(Segment(run.rounded, FOOTER_SIZE, footer))
    journal.done = merge_ranges(journal.done + finished)
    journal.complete = True
    journal.hash_block_bytes = block
    journal.pending = []
    digest = run.store.commit_manifest(journal, digests)
    c.advance(0, force=True)
    return run.result(c, digest, "resume" if resumed else "initial", run.footer_check(journal))
