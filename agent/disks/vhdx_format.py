"""MS-VHDX on-disk structures, parsed from bytes: no I/O here, so every rule is testable alone.

Layout (MS-VHDX 2.2): a 1 MiB header section holding the file type identifier (0), two headers
(64 KiB, 128 KiB) and two region tables (192 KiB, 256 KiB); the regions it names (BAT,
metadata) and the log live anywhere after it, 1 MiB aligned. All integers are little-endian;
GUIDs are in Microsoft's mixed-endian layout (`uuid.UUID(bytes_le=...)`).
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import crc32c

from agent.errors import DiskError

KIB = 1024
MIB = 1024 * KIB

FILE_ID_OFFSET = 0
HEADER_OFFSETS = (64 * KIB, 128 * KIB)
HEADER_SIZE = 4 * KIB
REGION_TABLE_OFFSETS = (192 * KIB, 256 * KIB)
REGION_TABLE_SIZE = 64 * KIB
HEADER_SECTION_SIZE = 1 * MIB

BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
KNOWN_REGIONS = {BAT_GUID: "BAT", METADATA_GUID: "metadata"}

FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
KNOWN_METADATA = {
    FILE_PARAMETERS,
    VIRTUAL_DISK_SIZE,
    VIRTUAL_DISK_ID,
    LOGICAL_SECTOR_SIZE,
    PHYSICAL_SECTOR_SIZE,
    PARENT_LOCATOR,
}
VHDX_PARENT_LOCATOR_TYPE = uuid.UUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")

# Payload block states (MS-VHDX 2.5.1.1) and sector bitmap states (2.5.1.2).
PAYLOAD_BLOCK_NOT_PRESENT = 0
PAYLOAD_BLOCK_UNDEFINED = 1
PAYLOAD_BLOCK_ZERO = 2
PAYLOAD_BLOCK_UNMAPPED = 3
PAYLOAD_BLOCK_FULLY_PRESENT = 6
PAYLOAD_BLOCK_PARTIALLY_PRESENT = 7
SB_BLOCK_NOT_PRESENT = 0
SB_BLOCK_PRESENT = 6

SECTORS_PER_BITMAP_BLOCK = 1 << 23  # one 1 MiB sector bitmap block, one bit per sector
MAX_VIRTUAL_SIZE = 64 * 1024**4  # 64 TiB (MS-VHDX 2.6.2.2)

ZERO_GUID = uuid.UUID(int=0)

_CORRUPT_FIX = (
    "The image is damaged or not a VHDX: restore it from a backup, or let Hyper-V "
    "(Inspect Disk / Edit Disk) or `qemu-img check -r all` repair it, then retry."
)


def corrupt(path: object, what: str) -> DiskError:
    """The error for a structure that breaks the spec: says which and where."""
    return DiskError("VhdxCorrupt", f"{path}: {what}.", _CORRUPT_FIX)


def guid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes_le=bytes(raw))


def checksum_ok(data: bytes, checksum_at: int) -> bool:
    """CRC-32C of `data` with its 4-byte checksum field zeroed equals the stored value."""
    stored = struct.unpack_from("<I", data, checksum_at)[0]
    zeroed = data[:checksum_at] + b"\0\0\0\0" + data[checksum_at + 4 :]
    return crc32c.crc32c(zeroed) == stored


@dataclass(frozen=True)
class Header:
    """One of the two headers (MS-VHDX 2.2.2)."""

    sequence_number: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_version: int
    version: int
    log_length: int
    log_offset: int


def parse_header(data: bytes) -> Header | None:
    """The header if its signature and CRC-32C are right, else None (the other copy may be)."""
    if len(data) < HEADER_SIZE or data[:4] != b"head" or not checksum_ok(data[:HEADER_SIZE], 4):
        return None
    (seq,) = struct.unpack_from("<Q", data, 8)
    log_version, version, log_length, log_offset = struct.unpack_from("<HHIQ", data, 64)
    return Header(
        sequence_number=seq,
        file_write_guid=guid(data[16:32]),
        data_write_guid=guid(data[32:48]),
        log_guid=guid(data[48:64]),
        log_version=log_version,
        version=version,
        log_length=log_length,
        log_offset=log_offset,
    )


def current_header(path: object, first: bytes, second: bytes) -> Header:
    """The valid header with the highest sequence number (MS-VHDX 2.2.2.1)."""
    headers = [h for h in (parse_header(first), parse_header(second)) if h is not None]
    if not headers:
        raise DiskError(
            "VhdxHeaderCorrupt",
            f"{path}: both VHDX headers (at 64 KiB and 128 KiB) have a wrong signature or "
            "CRC-32C checksum.",
            _CORRUPT_FIX,
        )
    header = max(headers, key=lambda h: h.sequence_number)
    if header.version != 1:
        raise DiskError(
            "VhdxUnsupportedVersion",
            f"{path}: VHDX header version {header.version}; only version 1 is defined.",
            "Convert the disk with Hyper-V (Convert-VHD) to a standard VHDX and retry.",
        )
    return header


@dataclass(frozen=True)
class Region:
    guid: uuid.UUID
    file_offset: int
    length: int
    required: bool


def parse_region_table(data: bytes) -> list[Region] | None:
    """The region table entries if signature, CRC-32C and count are right, else None."""
    if len(data) < REGION_TABLE_SIZE or data[:4] != b"regi":
        return None
    if not checksum_ok(data[:REGION_TABLE_SIZE], 4):
        return None
    (count,) = struct.unpack_from("<I", data, 8)
    if count > 2047:
        return None
    regions = []
    for i in range(count):
        base = 16 + 32 * i
        offset, length, flags = struct.unpack_from("<QII", data, base + 16)
        regions.append(Region(guid(data[base : base + 16]), offset, length, bool(flags & 1)))
    return regions


@dataclass(frozen=True)
class MetadataEntry:
    item_id: uuid.UUID
    offset: int
    length: int
    is_user: bool
    is_virtual_disk: bool
    is_required: bool


def parse_metadata_table(path: object, data: bytes) -> list[MetadataEntry]:
    """The metadata table at the start of the metadata region (MS-VHDX 2.6.1)."""
    if data[:8] != b"metadata":
        raise corrupt(path, "the metadata region does not start with the 'metadata' signature")
    (count,) = struct.unpack_from("<H", data, 10)
    if count > 2047:
        raise corrupt(path, f"the metadata table claims {count} entries (at most 2047)")
    entries = []
    for i in range(count):
        base = 32 + 32 * i
        offset, length, flags = struct.unpack_from("<III", data, base + 16)
        entries.append(
            MetadataEntry(
                guid(data[base : base + 16]),
                offset,
                length,
                bool(flags & 1),
                bool(flags & 2),
                bool(flags & 4),
            )
        )
    return entries


@dataclass(frozen=True)
class Metadata:
    """The system metadata items a reader needs (MS-VHDX 2.6.2)."""

    block_size: int
    leave_blocks_allocated: bool
    has_parent: bool
    virtual_size: int
    virtual_disk_id: uuid.UUID
    logical_sector_size: int
    physical_sector_size: int
    parent_locator: dict[str, str] = field(default_factory=dict)

    @property
    def chunk_ratio(self) -> int:
        """Payload blocks per sector bitmap block: 2^23 sectors * sector size / block size."""
        return SECTORS_PER_BITMAP_BLOCK * self.logical_sector_size // self.block_size

    @property
    def data_blocks(self) -> int:
        return -(-self.virtual_size // self.block_size)

    @property
    def bitmap_blocks(self) -> int:
        return -(-self.data_blocks // self.chunk_ratio)

    @property
    def bat_entries(self) -> int:
        """Entries the BAT must hold (MS-VHDX 2.5)."""
        if self.has_parent:
            return self.bitmap_blocks * (self.chunk_ratio + 1)
        return self.data_blocks + (self.data_blocks - 1) // self.chunk_ratio

    def payload_index(self, block: int) -> int:
        """BAT index of payload block `block`: a sector bitmap entry follows each chunk."""
        return block + block // self.chunk_ratio

    def bitmap_index(self, block: int) -> int:
        """BAT index of the sector bitmap entry for the chunk holding payload block `block`."""
        chunk = block // self.chunk_ratio
        return chunk * (self.chunk_ratio + 1) + self.chunk_ratio


def parse_parent_locator(path: object, data: bytes) -> dict[str, str]:
    """Key/value pairs of a VHDX parent locator (MS-VHDX 2.6.2.6), keys and values UTF-16LE."""
    if len(data) < 20:
        raise corrupt(path, "the parent locator is shorter than its header")
    if guid(data[:16]) != VHDX_PARENT_LOCATOR_TYPE:
        raise DiskError(
            "VhdxUnsupportedParentLocator",
            f"{path}: the parent locator type {guid(data[:16])} is not the VHDX one.",
            "Only VHDX parents are supported: merge the chain with Hyper-V (Merge-VHD) first.",
        )
    (count,) = struct.unpack_from("<H", data, 18)
    pairs: dict[str, str] = {}
    for i in range(count):
        base = 20 + 12 * i
        if base + 12 > len(data):
            raise corrupt(path, "the parent locator's entries run past its end")
        key_off, value_off, key_len, value_len = struct.unpack_from("<IIHH", data, base)
        if key_off + key_len > len(data) or value_off + value_len > len(data):
            raise corrupt(path, "a parent locator key or value lies outside the locator")
        try:
            key = data[key_off : key_off + key_len].decode("utf-16-le")
            value = data[value_off : value_off + value_len].decode("utf-16-le")
        except UnicodeDecodeError:
            raise corrupt(path, "a parent locator key or value is not valid UTF-16") from None
        pairs[key] = value
    return pairs


def decode_bat_entry(entry: int) -> tuple[int, int]:
    """(state, file offset in bytes) of a 64-bit BAT entry: state in bits 0-2, MiB from 20."""
    return entry & 7, (entry >> 20) * MIB


@dataclass(frozen=True)
class LogEntryHeader:
    sequence_number: int
    log_guid: uuid.UUID
    entry_length: int


def parse_log_entry_header(data: bytes) -> LogEntryHeader | None:
    """A log entry's header (MS-VHDX 2.3.1.1) if its signature is right (CRC checked apart)."""
    if len(data) < 64 or data[:4] != b"loge":
        return None
    entry_length, _tail, seq = struct.unpack_from("<IIQ", data, 8)
    return LogEntryHeader(seq, guid(data[32:48]), entry_length)


# A BAT entry's first byte holds its state in bits 0-2; states 4-7 all have bit 2 set. Sparse
# BATs are mostly NOT_PRESENT (0) or ZERO (2) entries, so scanning for bytes with bit 2 set
# finds the few interesting entries at C speed instead of a Python loop over millions.
_STATE_4_TO_7 = re.compile(b"[" + re.escape(bytes(b for b in range(256) if b & 4)) + b"]")


def entries_with_high_state(raw: bytes) -> Iterator[int]:
    """Indexes of 64-bit little-endian entries in `raw` whose state is 4, 5, 6 or 7."""
    for match in _STATE_4_TO_7.finditer(raw):
        if match.start() % 8 == 0:
            yield match.start() // 8
