"""The upload engine: a disk image → its fixed-VHD page blob, initially and then by deltas.

Public API (the daemon and the CLI build on exactly this):

- `replicate(disk, sas_url, state_dir=...)`: initial replication. Sends only allocated,
  non-zero ranges, in parallel, checksummed, under an optional bandwidth cap; journals what is
  done so a rerun after any interruption sends only the rest; writes the footer last and then
  the first manifest. `resync=True` compares with what the blob holds instead (read+write SAS).
- `sync(disk, sas_url, state_dir=..., rct_ranges=...)`: one delta cycle, from Hyper-V RCT
  ranges or by comparing block hashes with the last manifest.

Every refusal is an `AgentError` with a stable code; see docs/agent.md for the list.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import footer as vhd_footer
from agent.disks.base import DiskImage, Extent
from agent.errors import AgentError
from agent.footer import FOOTER_SIZE, Footer, blob_size, rounded_size
from agent.manifest import (
    DIGEST_SIZE,
    ZERO_DIGEST,
    Journal,
    StateStore,
    block_digest,
    merge_ranges,
)
from agent.progress import Meter, Progress
from agent.throttle import TokenBucket
from agent.transfer_plan import (
    MAX_PUT_PAGE,
    PAGE,
    Coalescer,
    Segment,
    align_out,
    parse_rct,
    segments,
    unit_ranges,
)
from agent.transfer_pool import Pool, Stopped
from agent.transfer_target import Target, md5_b64

MIB = 1024 * 1024
JOURNAL_FLUSH_SECONDS = 0.25  # at most this much completed work is redone after a kill -9

__all__ = [
    "AgentError",
    "Extent",
    "Progress",
    "TransferOptions",
    "TransferResult",
    "replicate",
    "sync",
]


@dataclass
class TransferOptions:
    """How a transfer runs. Defaults follow AzCopy (4 MiB pages) and Add-AzVhd (skip zeros)."""

    concurrency: int = 8
    bandwidth_bytes_per_s: int | None = None
    chunk_bytes: int = 4 * MIB  # largest Put Page; Azure's limit is 4 MiB
    hash_block_bytes: int = 1 * MIB  # manifest granularity for hash-compare deltas
    zero_skip_bytes: int = 64 * 1024  # zero runs this long inside a chunk are not sent
    memory_budget_bytes: int = 96 * MIB  # data read but not yet acknowledged by storage
    checksum: str = "auto"  # "auto" (CRC64 if available) | "crc64" | "md5"
    sample_checksums: int = 8  # written ranges whose MD5 goes into the result
    request_hook: Callable[[Any], None] | None = field(default=None, repr=False)

    def validate(self) -> None:
        def bad(cause: str, fix: str) -> AgentError:
            return AgentError("BadOption", cause, fix)

        if not 1 <= self.concurrency <= 256:
            raise bad(f"concurrency {self.concurrency} is out of range.", "Use 1 to 256.")
        if self.bandwidth_bytes_per_s is not None and self.bandwidth_bytes_per_s <= 0:
            raise bad("the bandwidth cap must be positive.", "Omit it for no cap.")
        if self.chunk_bytes % PAGE or not PAGE <= self.chunk_bytes <= MAX_PUT_PAGE:
            raise bad(
                f"chunk size {self.chunk_bytes} is not a multiple of 512 up to 4 MiB.",
                "Use 4MiB (the default) or a smaller power of two.",
            )
        for name in ("hash_block_bytes", "zero_skip_bytes"):
            value = getattr(self, name)
            if value < PAGE or value & (value - 1):
                raise bad(f"{name} {value} is not a power of two ≥ 512.", "Use e.g. 1MiB.")
        big, small = (
            max(self.chunk_bytes, self.hash_block_bytes),
            min(self.chunk_bytes, self.hash_block_bytes),
        )
        if big % small:
            raise bad(
                "the chunk size and the hash block size must divide one another.",
                "Use powers of two, e.g. 4MiB chunks with 1MiB hash blocks.",
            )
        if self.checksum not in ("auto", "crc64", "md5"):
            raise bad(f"checksum {self.checksum!r} is unknown.", "Use auto, crc64 or md5.")

    @property
    def unit(self) -> int:
        """The read unit: whole hash blocks and whole chunks."""
        return max(self.chunk_bytes, self.hash_block_bytes)


@dataclass
class TransferResult:
    """What one run did; `checksums` lets the control plane verify the blob independently."""

    blob_size: int
    bytes_sent: int
    bytes_cleared: int
    manifest_digest: str
    checksums: dict[str, str]  # "offset+length" -> base64 MD5 of those blob bytes
    bytes_scanned: int = 0
    seconds: float = 0.0
    mode: str = "initial"  # "initial" | "resume" | "resync" | "rct" | "hash" | "noop"
    requests: int = 0
    scan_seconds: float = 0.0  # hash mode: time spent reading and hashing the disk


# --- shared machinery ---------------------------------------------------------------------


class _Counters:
    """Bytes done/sent and the checksum sample, updated from the upload threads."""

    def __init__(self, meter: Meter, on_progress: Callable[[Progress], None] | None, k: int):
        self.lock = threading.Lock()
        self.meter = meter
        self.on_progress = on_progress
        self.done = meter.start_done
        self.sent = 0
        self.cleared = 0
        self.requests = 0
        self.k = k
        self.writes_seen = 0
        self.sample: dict[str, str] = {}
        self._rng = random.Random(0x5EED)
        self._last_report = 0.0

    def wrote(self, seg: Segment) -> None:
        with self.lock:
            self.requests += 1
            if seg.data is None:
                self.cleared += seg.length
                return
            self.sent += seg.length
            self.writes_seen += 1
            # Reservoir sample: every write equally likely to be checked, whatever the count.
            slot = len(self.sample) if len(self.sample) < self.k else None
            if slot is None:
                pick = self._rng.randrange(self.writes_seen)
                if pick < self.k:
                    del self.sample[next(iter(self.sample))]
                    slot = pick
            if slot is not None:
                self.sample[f"{seg.offset}+{seg.length}"] = md5_b64(seg.data)

    def advance(self, n: int, *, force: bool = False) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if self.on_progress and (force or now - self._last_report >= 0.1):
                self._last_report = now
                self.on_progress(self.meter.snapshot(self.done, self.sent))


def _open(disk: str | Path | DiskImage) -> tuple[DiskImage, bool]:
    """The disk and whether we own its handle. Readers validate fully on open."""
    if isinstance(disk, DiskImage):
        return disk, False
    from agent.disks import open_disk

    return open_disk(disk), True


def _send(target: Target, bucket: TokenBucket, cancel: threading.Event, seg: Segment) -> None:
    if seg.data is None:
        target.clear(seg.offset, seg.length)
    else:
        bucket.acquire(seg.length, cancel)
        if cancel.is_set():
            raise Stopped
        target.put(seg.offset, seg.data)


def _cancelled() -> AgentError:
    return AgentError(
        "Cancelled",
        "the transfer was cancelled before it finished.",
        "Run it again to continue: completed ranges are kept in the state dir.",
    )


def _read_padded(disk: DiskImage, offset: int, length: int) -> bytes:
    """Virtual bytes, zero-padded past the disk's end up to the rounded size."""
    have = max(0, min(length, disk.virtual_size - offset))
    data = disk.read(offset, have) if have else b""
    return data + bytes(length - have) if have < length else data


def _units(extents: list[tuple[int, int]], unit: int, limit: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of every read unit touching the given ranges."""
    for start, length in unit_ranges(extents, unit, limit):
        for off in range(start, start + length, unit):
            yield off, min(unit, start + length - off)


def _footer_for(journal: Journal) -> bytes:
    return Footer(
        rounded_size(journal.virtual_size), uuid.UUID(journal.footer_id), journal.footer_timestamp
    ).to_bytes()


class _Run:
    """One transfer: disk, blob, journal, pool and counters, and the cleanup they need."""

    def __init__(
        self,
        disk_path: str | Path | DiskImage,
        sas_url: str,
        state_dir: Path,
        options: TransferOptions | None,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
    ) -> None:
        self.options = options or TransferOptions()
        self.options.validate()
        self.started = time.monotonic()
        self.cancel = cancel or threading.Event()
        self.on_progress = on_progress
        self.target = Target(
            sas_url, checksum=self.options.checksum, request_hook=self.options.request_hook
        )
        self._owns_disk = False
        try:
            self.disk, self._owns_disk = _open(disk_path)
            self.size = blob_size(self.disk.virtual_size)
            self.rounded = self.size - FOOTER_SIZE
            self.target.check(self.size)
            self.store = StateStore(Path(state_dir), self.disk.path, self.target.url)
            self.journal = self.store.load()
            if self.journal is not None and (
                self.journal.blob_created != self.target.created
                or self.journal.blob_size != self.size
            ):
                self.journal = None  # a re-created or resized blob: old state says nothing
            self.fingerprint = self.disk.fingerprint()
            self.zero = bytes(self.options.unit)
            self.bucket = TokenBucket(self.options.bandwidth_bytes_per_s)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.target.close()
        if self._owns_disk and hasattr(self, "disk"):
            self.disk.close()

    def n_blocks(self, block: int) -> int:
        return -(-self.rounded // block)

    def new_journal(self) -> Journal:
        footer = Footer.new(self.disk.virtual_size)
        return Journal(
            disk_path=str(self.disk.path),
            blob_url=self.target.url,
            blob_created=self.target.created,
            blob_size=self.size,
            virtual_size=self.disk.virtual_size,
            fingerprint=self.fingerprint,
            footer_id=str(footer.unique_id),
            footer_timestamp=footer.timestamp,
            hash_block_bytes=self.options.hash_block_bytes,
        )

    def counters(self, total: int, done: int, phase: str) -> _Counters:
        return _Counters(Meter(total, done, phase), self.on_progress, self.options.sample_checksums)

    def pool(self) -> Pool:
        return Pool(self.options.concurrency, self.options.memory_budget_bytes, self.cancel)

    def drain(self, pool: Pool, on_fail: Callable[[], None] | None = None) -> None:
        """Close the pool; save what must survive, then raise the first failure or a cancel."""
        pool.close()
        if pool.error is not None or self.cancel.is_set():
            if on_fail:
                on_fail()
            if pool.error is not None and not isinstance(pool.error, Stopped):
                raise pool.error
            raise _cancelled()

    def result(
        self, c: _Counters, digest: str, mode: str, extra: dict[str, str] | None = None
    ) -> TransferResult:
        checks = dict(sorted(c.sample.items(), key=lambda kv: int(kv[0].split("+")[0])))
        if extra:
            checks.update(extra)
        return TransferResult(
            blob_size=self.size,
            bytes_sent=c.sent,
            bytes_cleared=c.cleared,
            manifest_digest=digest,
            checksums=checks,
            bytes_scanned=c.done,
            seconds=time.monotonic() - self.started,
            mode=mode,
            requests=c.requests,
        )

    def footer_check(self, journal: Journal) -> dict[str, str]:
        return {f"{self.rounded}+{FOOTER_SIZE}": md5_b64(_footer_for(journal))}

    def clear_existing(self, c: _Counters) -> None:
        """Empty a blob that holds pages we have no record of (lost state dir, --restart)."""
        ranges = self.target.page_ranges()
        for off, length in merge_ranges(ranges):
            self.target.clear(off, min(length, self.size - off))
            c.wrote(Segment(off, length, None))


# --- initial replication ------------------------------------------------------------------


def replicate(
    disk_path: str | Path | DiskImage,
    sas_url: str,
    *,
    state_dir: Path,
    options: TransferOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    resync: bool = False,
    restart: bool = False,
) -> TransferResult:
    """Initial replication (resumable), or with `resync` a full compare against the blob.

    `restart` forgets a journal whose source changed and starts over (the blob is emptied
    first). Raises AgentError: SourceChanged, BlobSizeMismatch, Sas*, Cancelled, DiskError...
    """
    run = _Run(disk_path, sas_url, state_dir, options, on_progress, cancel)
    try:
        if resync:
            return _resync(run)
        return _initial(run, restart)
    finally:
        run.close()


def _initial(run: _Run, restart: bool) -> TransferResult:
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


def _is_done(done: list[tuple[int, int]], off: int, length: int) -> bool:
    """Whether [off, off+length) lies inside one of the merged done ranges."""
    lo, hi = 0, len(done)
    while lo < hi:  # bisect on offsets
        mid = (lo + hi) // 2
        if done[mid][0] <= off:
            lo = mid + 1
        else:
            hi = mid
    return lo > 0 and done[lo - 1][0] + done[lo - 1][1] >= off + length


def _upload_units(
    run: _Run,
    journal: Journal,
    units: list[tuple[int, int]],
    done: list[tuple[int, int]],
    c: _Counters,
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
            _send(run.target, run.bucket, run.cancel, seg)
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
        for off, length in _units(units, opts.unit, run.rounded):
            if run.cancel.is_set():
                break
            data = _read_padded(run.disk, off, length)
            for b in range(0, length, block):
                i = (off + b) // block
                digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = block_digest(
                    data[b : b + block], run.zero
                )
            if _is_done(done, off, length):
                continue  # counted as done at start; hashed above for the manifest
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
    footer = _footer_for(journal)
    run.target.put(run.rounded, footer)
    c.wrote(Segment(run.rounded, FOOTER_SIZE, footer))
    journal.done = merge_ranges(journal.done + finished)
    journal.complete = True
    journal.hash_block_bytes = block
    journal.pending = []
    digest = run.store.commit_manifest(journal, digests)
    c.advance(0, force=True)
    return run.result(c, digest, "resume" if resumed else "initial", run.footer_check(journal))


# --- resync: full compare with the blob ---------------------------------------------------


def _resync(run: _Run) -> TransferResult:
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
                if _overlaps(blob_ranges, off, len(data))
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
                _send(run.target, run.bucket, run.cancel, seg)
                c.wrote(seg)
            c.advance(len(data))

        return go

    pool = run.pool()
    try:
        for start, n in units:
            for off, length in _units([(start, n)], opts.unit, run.rounded):
                if run.cancel.is_set():
                    raise Stopped
                in_src = _overlaps(src_units, off, length)
                data = _read_padded(run.disk, off, length) if in_src else run.zero[:length]
                for b in range(0, length, block):
                    i = (off + b) // block
                    digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = block_digest(
                        data[b : b + block], run.zero
                    )
                pool.submit(compare(off, data), 2 * length)
    except Stopped:
        pass
    run.drain(pool)
    footer = _footer_for(journal)
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


def _overlaps(ranges: list[tuple[int, int]], off: int, length: int) -> bool:
    """Whether [off, off+length) meets any of the sorted, merged ranges."""
    lo, hi = 0, len(ranges)
    while lo < hi:
        mid = (lo + hi) // 2
        if ranges[mid][0] + ranges[mid][1] <= off:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(ranges) and ranges[lo][0] < off + length


# --- delta sync ---------------------------------------------------------------------------


def sync(
    disk_path: str | Path | DiskImage,
    sas_url: str,
    *,
    state_dir: Path,
    rct_ranges: list[Extent] | list[dict[str, int]] | None = None,
    options: TransferOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> TransferResult:
    """One delta cycle. With `rct_ranges` only those ranges are read and sent; without, every
    allocated block is hashed and compared with the last manifest. The manifest is committed
    only after all writes succeeded; ranges of an unfinished cycle are re-sent by the next.

    Raises ChangeTrackingLost when there is no complete replica with a valid manifest for this
    disk and blob: the control plane then orders a resync (`replicate --resync`).
    """
    run = _Run(disk_path, sas_url, state_dir, options, on_progress, cancel)
    try:
        journal = run.journal
        digests = run.store.load_manifest(journal) if journal and journal.complete else None
        if journal is None or digests is None:
            raise AgentError(
                "ChangeTrackingLost",
                f"no complete replica with a valid manifest is recorded for {run.disk.path} → "
                f"{run.target.url} in {state_dir} (state lost, blob re-created, or the initial "
                "replication never finished).",
                "Resynchronise: `replicate --resync` (compares with the blob and sends only the "
                "differences), or finish the initial `replicate`.",
            )
        block = journal.hash_block_bytes
        if len(digests) != run.n_blocks(block) * DIGEST_SIZE:
            raise AgentError(
                "ChangeTrackingLost",
                "the manifest does not match the disk's size.",
                "Resynchronise with `replicate --resync`.",
            )
        if rct_ranges is not None:
            items: object = rct_ranges
            if isinstance(rct_ranges, list):
                items = [
                    {"offset": r.offset, "length": r.length} if isinstance(r, Extent) else r
                    for r in rct_ranges
                ]
            changed = [align_out(o, n) for o, n in parse_rct(items, run.disk.virtual_size)]
            return _delta(run, journal, digests, block, changed, "rct")
        return _delta(run, journal, digests, block, None, "hash")
    finally:
        run.close()


def _scan(run: _Run, old: bytearray, block: int) -> tuple[list[tuple[int, int]], int]:
    """Hash every allocated block; the changed blocks as byte ranges, and bytes scanned."""
    new = bytearray(len(old))
    src = [(e.offset, e.length) for e in run.disk.allocated_extents()]
    units = unit_ranges(src, run.options.unit, run.rounded)
    total = sum(n for _, n in units)
    meter = run.counters(total, 0, "scan")
    for start, n in units:
        for off, length in _units([(start, n)], run.options.unit, run.rounded):
            if run.cancel.is_set():
                raise _cancelled()
            data = _read_padded(run.disk, off, length)
            for b in range(0, length, block):
                i = (off + b) // block
                new[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = block_digest(
                    data[b : b + block], run.zero
                )
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


def _delta(
    run: _Run,
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
            _send(run.target, run.bucket, run.cancel, seg)
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
                data = _read_padded(run.disk, off, length)
                i = off // block
                digest = block_digest(data, run.zero)
                with lock:
                    new[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = digest
                # Zeros need clearing only where the blob may hold data: RCT says nothing of
                # the old content, an unfinished cycle may have left anything, and the old
                # manifest knows which blocks held data.
                was_zero = old[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] == ZERO_DIGEST
                clear = mode == "rct" or not was_zero or _overlaps(unsure, off, length)
                # Only the parts of this block that are listed as changed go out.
                for r_off, r_len in _clip(todo, off, length):
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


def _clip(ranges: list[tuple[int, int]], off: int, length: int) -> Iterator[tuple[int, int]]:
    """The parts of sorted, merged `ranges` inside [off, off+length)."""
    end = off + length
    lo, hi = 0, len(ranges)
    while lo < hi:
        mid = (lo + hi) // 2
        if ranges[mid][0] + ranges[mid][1] <= off:
            lo = mid + 1
        else:
            hi = mid
    for r_off, r_len in ranges[lo:]:
        if r_off >= end:
            break
        a, b = max(off, r_off), min(end, r_off + r_len)
        if b > a:
            yield a, b - a
