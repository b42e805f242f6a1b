"""Resync: compare the whole disk with what the blob holds and send only the differences.

For when change tracking is lost (no manifest, re-created state dir, a source changed during an
interrupted copy): reads the blob in units where it has pages, writes blocks that differ, clears
blocks that should be zero, keeps the replica's footer identity, and leaves a fresh manifest.
"""

from __future__ import annotations

from collections.abc import Callable

from agent import footer as vhd_footer
from agent.footer import FOOTER_SIZE
from agent.manifest import DIGEST_SIZE, merge_ranges
from agent.transfer.options import TransferResult
from agent.transfer.plan import (
    Coalescer,
    Segment,
    overlaps,
    segments,
    unit_ranges,
    zeros,
)
from agent.transfer.pool import Stopped
from agent.transfer.run import (
    Run,
    digest_unit,
    footer_for,
    send,
    units_of,
)


def resync(run: Run) -> TransferResult:
    """Compare every unit with the blob, send what differs, clear what became zero."""
    opts = run.options
    block = opts.hash_block_bytes
    journal = run.journal or run.new_journal()
    # Keep the replica's identity: the footer already in the blob, if it is ours to reuse.
    existing = run.target.read(run.rounded, FOOTER_SIZE)
    try:
        parsed = vhd_footer.parse(existing)
        if parsed["current_size"] == run.rounded and parsed["disk_type"] == 2:
            journal.footer_id = str(parsed["unique_id"])
            journal.footer_timestamp = int(parsed["timestamp"])  # type: ignore[call-overload]
    except ValueError:
        pass
    journal.fingerprint = run.fingerprint
    journal.virtual_size = run.disk.virtual_size
    journal.complete = False
    journal.manifest_digest = ""
    run.store.save(journal)

    blob_ranges = merge_ranges([(o, n) for o, n in run.target.page_ranges() if o < run.rounded])
    src = [(e.offset, e.length) for e in run.disk.allocated_extents()]
    units = unit_ranges(src + blob_ranges, opts.unit, run.rounded)
    total = sum(n for _, n in units)
    c = run.counters(total, 0, "resync")
    digests = bytearray(run.n_blocks(block) * DIGEST_SIZE)
    src_units = unit_ranges(src, opts.unit, run.rounded)

    def compare(off: int, data: bytes) -> Callable[[], None]:
        def go() -> None:
            held = (
                run.target.read(off, len(data))
                if overlaps(blob_ranges, off, len(data))
                else run.zero[: len(data)]
            )
            coalesce = Coalescer(opts.chunk_bytes)
            out: list[Segment] = []
            for b in range(0, len(data), block):
                mine, theirs = data[b : b + block], held[b : b + block]
                if mine == theirs:
                    continue
                blob_zero = theirs == run.zero[: len(theirs)]
                for seg in segments(
                    mine, off + b, opts.zero_skip_bytes, run.zero, clear_zeros=not blob_zero
                ):
                    out.extend(coalesce.add(seg))
            out.extend(coalesce.flush())
            for seg in out:
                send(run.target, run.bucket, run.cancel, seg)
                c.wrote(seg)
            c.advance(len(data))

        return go

    pool = run.pool()
    try:
        for start, n in units:
            for off, length in units_of([(start, n)], opts.unit, run.rounded):
                if run.cancel.is_set():
                    raise Stopped
                in_src = overlaps(src_units, off, length)
                data = (run.read_unit(off, length) if in_src else None) or zeros(length)
                digest_unit(digests, data, off, block, run.zero)
                pool.submit(compare(off, data), 2 * length)
    except Stopped:
        pass
    run.drain(pool)
    footer = footer_for(journal)
    if existing != footer:
        run.target.put(run.rounded, footer)
        c.wrote(Segment(run.rounded, FOOTER_SIZE, footer))
    journal.done = [(0, run.rounded)]
    journal.complete = True
    journal.hash_block_bytes = block
    journal.pending = []
    digest = run.store.commit_manifest(journal, digests)
    c.advance(0, force=True)
    return run.result(c, digest, "resync", run.footer_check(journal))
