"""What every transfer shares: the open disk, the blob, the journal, the counters, the pool.

`Run` opens and checks both ends before any write (disk fully validated, SAS and blob size
checked), and the helpers below are the small steps the initial copy, resync and delta share.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from agent.disks.base import DiskImage
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
from agent.throttle import Limits, TokenBucket
from agent.transfer.options import TransferOptions, TransferResult
from agent.transfer.plan import Segment, unit_ranges, zeros
from agent.transfer.pool import Pool, Stopped
from agent.transfer.target import Target, md5_b64

JOURNAL_FLUSH_SECONDS = 0.25  # at most this much completed work is redone after a kill -9


class Counters:
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


def open_image(disk: str | Path | DiskImage) -> tuple[DiskImage, bool]:
    """The disk and whether we own its handle. Readers validate fully on open."""
    if isinstance(disk, DiskImage):
        return disk, False
    from agent.disks import open_disk

    return open_disk(disk), True


def send(target: Target, bucket: Limits, cancel: threading.Event, seg: Segment) -> None:
    if seg.data is None:
        target.clear(seg.offset, seg.length)
    else:
        bucket.acquire(seg.length, cancel)
        if cancel.is_set():
            raise Stopped
        target.put(seg.offset, seg.data)


def cancelled() -> AgentError:
    return AgentError(
        "Cancelled",
        "the transfer was cancelled before it finished.",
        "Run it again to continue: completed ranges are kept in the state dir.",
    )


def units_of(extents: list[tuple[int, int]], unit: int, limit: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of every read unit touching the given ranges."""
    for start, length in unit_ranges(extents, unit, limit):
        for off in range(start, start + length, unit):
            yield off, min(unit, start + length - off)


def footer_for(journal: Journal) -> bytes:
    return Footer(
        rounded_size(journal.virtual_size), uuid.UUID(journal.footer_id), journal.footer_timestamp
    ).to_bytes()


class Run:
    """One transfer: disk, blob, journal, pool and counters, and the cleanup they need."""

    def __init__(
        self,
        disk_path: str | Path | DiskImage,
        sas_url: str,
        state_dir: Path,
        options: TransferOptions | None,
        on_progress: Callable[[Progress], None] | None,
        cancel: threading.Event | None,
        *,
        need_read: bool = False,
        tracked_as: str | Path | None = None,
    ) -> None:
        self.options = options or TransferOptions()
        self.options.validate()
        self.started = time.monotonic()
        self.cancel = cancel or threading.Event()
        self.on_progress = on_progress
        self.target = Target(
            sas_url,
            checksum=self.options.checksum,
            request_hook=self.options.request_hook,
            need_read=need_read,
        )
        self._owns_disk = False
        self._shared: TokenBucket | None = None
        try:
            self.disk, self._owns_disk = open_image(disk_path)
            self.size = blob_size(self.disk.virtual_size)
            self.rounded = self.size - FOOTER_SIZE
            self.target.check(self.size)
            # The replica's state belongs to the disk, not to the file read this time: a frozen
            # copy of the disk (an app-consistent checkpoint) continues the same manifest.
            self.tracked = Path(tracked_as) if tracked_as is not None else self.disk.path
            self.store = StateStore(Path(state_dir), self.tracked, self.target.url)
            self.journal = self.store.load()
            if self.journal is not None and (
                _recreated(self.journal.blob_created, self.target.created)
                or self.journal.blob_size != self.size
            ):
                self.journal = None  # a re-created or resized blob: old state says nothing
            self.fingerprint = self.disk.fingerprint()
            self.zero = bytes(self.options.unit)
            self.scratch = bytearray(self.options.unit)  # the reader thread's own buffer
            own = self.options.bandwidth_bytes_per_s
            shared = self.options.shared_bucket
            self.bucket = Limits(TokenBucket(own) if own else None, shared)
            if shared is not None:
                shared.join()
                self._shared = shared
        except BaseException:
            self.close()
            raise

    def read_scratch(self, offset: int, length: int) -> bytearray:
        """A unit of the disk (zero-padded past its end) in the reader's reused buffer: valid
        until the next call. Reading into warm memory avoids page-faulting a fresh buffer for
        every unit, which costs more than the read itself on a mostly empty disk."""
        buf = self.scratch if length == len(self.scratch) else bytearray(length)
        have = max(0, min(length, self.disk.virtual_size - offset))
        with memoryview(buf) as view:
            if have:
                self.disk.read_into(offset, view[:have])
            if have < length:
                view[have:] = zeros(length - have)
        return buf

    def read_unit(self, offset: int, length: int) -> bytes | None:
        """A unit's bytes for the upload threads, or None when it is all zeros (no copy then)."""
        buf = self.read_scratch(offset, length)
        if buf.startswith(self.zero if length == len(self.zero) else zeros(length)):
            return None
        return bytes(buf)

    def close(self) -> None:
        if self._shared is not None:
            self._shared.leave()
            self._shared = None
        self.target.close()
        if self._owns_disk and hasattr(self, "disk"):
            self.disk.close()

    def n_blocks(self, block: int) -> int:
        return -(-self.rounded // block)

    def new_journal(self) -> Journal:
        footer = Footer.new(self.disk.virtual_size)
        return Journal(
            disk_path=str(self.tracked),
            blob_url=self.target.url,
            blob_created=self.target.created,
            blob_size=self.size,
            virtual_size=self.disk.virtual_size,
            fingerprint=self.fingerprint,
            footer_id=str(footer.unique_id),
            footer_timestamp=footer.timestamp,
            hash_block_bytes=self.options.hash_block_bytes,
        )

    def counters(self, total: int, done: int, phase: str) -> Counters:
        return Counters(Meter(total, done, phase), self.on_progress, self.options.sample_checksums)

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
            raise cancelled()

    def result(
        self, c: Counters, digest: str, mode: str, extra: dict[str, str] | None = None
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
        return {f"{self.rounded}+{FOOTER_SIZE}": md5_b64(footer_for(journal))}

    def clear_existing(self, c: Counters) -> None:
        """Empty a blob that holds pages we have no record of (lost state dir, --restart).

        With a write-only SAS the blob's pages cannot be listed: clear all of it (one request;
        clearing an empty blob costs the service nothing)."""
        ranges = self.target.page_ranges() if self.target.readable else [(0, self.size)]
        for off, length in merge_ranges(ranges):
            self.target.clear(off, min(length, self.size - off))
            c.wrote(Segment(off, length, None))


def _recreated(recorded: str, now: str) -> bool:
    """Whether the blob was re-created since the journal was written. A write-only SAS cannot
    read the creation time (""): then only a read-capable run can tell, and a resync (read and
    write) followed by the usual write-only cycles must keep its journal."""
    return bool(recorded and now and recorded != now)


def digest_unit(digests: bytearray, data: bytes, off: int, block: int, zero: bytes) -> bool:
    """Fill in the digests of the hash blocks `data` covers (it starts at `off`, on a block
    boundary); True when all of it is zero. Most of a sparse disk's allocated units are zeros,
    so those cost one memcmp and no slicing."""
    first, count = off // block, -(-len(data) // block)
    if data == (zero if len(data) == len(zero) else zero[: len(data)]):
        digests[first * DIGEST_SIZE : (first + count) * DIGEST_SIZE] = bytes(count * DIGEST_SIZE)
        return True
    view = memoryview(data)
    for k in range(count):
        i = first + k
        start = k * block
        if not any_data(data, start, block):
            digest = ZERO_DIGEST  # compared in place, hashed without a copy otherwise
        else:
            digest = block_digest(view[start : start + block], zero)
        digests[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] = digest
    return False


def any_data(data: bytes, start: int, length: int) -> bool:
    """Whether data[start:start+length] (possibly short at the end) holds a non-zero byte."""
    end = min(len(data), start + length)
    return not data.startswith(zeros(end - start), start)
