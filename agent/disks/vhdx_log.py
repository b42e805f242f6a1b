"""VHDX log replay (MS-VHDX 2.3), in memory: the file is never written.

A VHDX not closed cleanly keeps its last metadata (and sometimes data) updates in the log, a
circular buffer of 4 KiB sectors. Until they are replayed, the BAT and metadata in place may be
stale, so a reader must replay or refuse. We replay into an overlay of 4 KiB pages that every
read of the file then goes through; Hyper-V or qemu would write the same pages into the file.

Finding what to replay (2.3.3): valid entries (signature, CRC-32C over the whole entry, the
header's LogGuid, data sectors carrying the entry's sequence number) form sequences of entries
that follow each other with consecutive sequence numbers; a sequence counts only if its last
entry's Tail points at one of its own entries; the active sequence is the counted one with the
highest sequence number, from its Tail entry to its last entry.
"""

from __future__ import annotations

import bisect
import struct
import uuid
from dataclasses import dataclass, field

import crc32c

from agent.disks import vhdx_format as fmt
from agent.errors import DiskError

SECTOR = 4096
ZERO_PAGE = bytes(SECTOR)


@dataclass(frozen=True)
class LogEntry:
    position: int  # byte offset inside the log
    length: int
    tail: int
    sequence: int
    flushed_file_offset: int
    last_file_offset: int
    operations: tuple[tuple[int, bytes | None, int], ...]  # (file offset, page or None, length)


@dataclass
class Overlay:
    """Pages the log replaced, and the file size after replay."""

    file_size: int
    pages: dict[int, bytes] = field(default_factory=dict)
    _sorted: list[int] = field(default_factory=list)

    def apply(self, entries: list[LogEntry]) -> None:
        for entry in entries:
            for offset, page, length in entry.operations:
                if page is not None:
                    self.pages[offset] = page
                else:
                    for at in range(offset, offset + length, SECTOR):
                        self.pages[at] = ZERO_PAGE
            self.file_size = max(self.file_size, entry.last_file_offset)
        self._sorted = sorted(self.pages)

    def patch(self, offset: int, buffer: memoryview) -> None:
        """Overwrite the parts of `buffer` (file bytes from `offset`) that the log replaced."""
        end = offset + len(buffer)
        i = bisect.bisect_right(self._sorted, offset - SECTOR)
        while i < len(self._sorted) and self._sorted[i] < end:
            page_at = self._sorted[i]
            a, b = max(page_at, offset), min(page_at + SECTOR, end)
            if a < b:
                buffer[a - offset : b - offset] = self.pages[page_at][a - page_at : b - page_at]
            i += 1


def _entry_at(log: bytes, pos: int, log_guid: uuid.UUID) -> LogEntry | None:
    """The valid entry starting at `pos` (wrapping around the circular log), or None."""
    size = len(log)
    head = _wrapped(log, pos, 64)
    if head[:4] != b"loge":
        return None
    checksum, length, tail, seq, count, _r = struct.unpack_from("<IIIQII", head, 4)
    if fmt.guid(head[32:48]) != log_guid or seq == 0:
        return None
    if length < SECTOR or length % SECTOR or length > size or tail % SECTOR or tail >= size:
        return None
    desc_sectors = -(-(64 + 32 * count) // SECTOR)
    if desc_sectors * SECTOR > length:
        return None
    body = _wrapped(log, pos, length)
    if crc32c.crc32c(body[:4] + b"\0\0\0\0" + body[8:]) != checksum:
        return None
    flushed, last = struct.unpack_from("<QQ", body, 48)
    operations: list[tuple[int, bytes | None, int]] = []
    data_at = desc_sectors * SECTOR
    for d in range(count):
        base = 64 + 32 * d
        kind = body[base : base + 4]
        if kind == b"desc":
            trailing, leading, offset, dseq = struct.unpack_from("<I8sQQ", body, base + 4)
            if dseq != seq or offset % SECTOR or data_at + SECTOR > length:
                return None
            sector = body[data_at : data_at + SECTOR]
            high, low = (
                struct.unpack_from("<I", sector, 4)[0],
                struct.unpack_from("<I", sector, 4092)[0],
            )
            if sector[:4] != b"data" or (high << 32 | low) != seq:
                return None
            page = leading + sector[8:4092] + struct.pack("<I", trailing)
            operations.append((offset, page, SECTOR))
            data_at += SECTOR
        elif kind == b"zero":
            zlen, offset, dseq = struct.unpack_from("<QQQ", body, base + 8)
            if dseq != seq or offset % SECTOR or zlen % SECTOR:
                return None
            operations.append((offset, None, zlen))
        else:
            return None
    return LogEntry(pos, length, tail, seq, flushed, last, tuple(operations))


def _wrapped(log: bytes, pos: int, length: int) -> bytes:
    end = pos + length
    if end <= len(log):
        return log[pos:end]
    return log[pos:] + log[: end - len(log)]


def active_sequence(log: bytes, log_guid: uuid.UUID) -> list[LogEntry]:
    """The entries to replay, oldest first (empty when nothing valid is found)."""
    size = len(log)
    best: list[LogEntry] = []
    for start in range(0, size, SECTOR):
        seq: list[LogEntry] = []
        pos = start
        while len(seq) * SECTOR < size:
            entry = _entry_at(log, pos, log_guid)
            if entry is None or (seq and entry.sequence != seq[-1].sequence + 1):
                break
            seq.append(entry)
            pos = (pos + entry.length) % size
            if pos == start:
                break
        if not seq:
            continue
        head = seq[-1]
        positions = [e.position for e in seq]
        if head.tail not in positions:
            continue
        seq = seq[positions.index(head.tail) :]
        if not best or head.sequence > best[-1].sequence:
            best = seq
    return best


def replay(path: object, log: bytes, log_guid: uuid.UUID, file_size: int) -> Overlay | None:
    """The overlay after replaying the active sequence, or None when there is none."""
    entries = active_sequence(log, log_guid)
    if not entries:
        return None
    head = entries[-1]
    if head.flushed_file_offset > file_size:
        raise DiskError(
            "VhdxLogCorrupt",
            f"{path}: the log says the file was at least {head.flushed_file_offset} bytes when "
            f"it was written, but it has {file_size}: it was truncated after a crash.",
            "Copy the disk again from the host (after the VM is shut down), or restore it from "
            "backup.",
        )
    overlay = Overlay(file_size)
    overlay.apply(entries)
    return overlay
