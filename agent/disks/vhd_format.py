"""VHD (Virtual Hard Disk Image Format Specification, 2006) structures, parsed from bytes.

A VHD is the disk's data followed by a 512-byte footer; dynamic and differencing disks also
carry a copy of the footer at byte 0, a 1024-byte dynamic header (usually at 512) and a block
allocation table of 32-bit sector offsets. All integers are big-endian. No I/O here.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from agent.errors import DiskError

SECTOR = 512
FOOTER_SIZE = 512
DYNAMIC_HEADER_SIZE = 1024
UNALLOCATED = 0xFFFFFFFF
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF

DISK_FIXED = 2
DISK_DYNAMIC = 3
DISK_DIFFERENCING = 4
SUBFORMATS = {DISK_FIXED: "fixed", DISK_DYNAMIC: "dynamic", DISK_DIFFERENCING: "differencing"}

# Parent locator platform codes: Windows relative/absolute (UTF-16LE), deprecated ASCII ones,
# and Mac file URLs (UTF-8).
W2RU, W2KU, WI2R, WI2K = b"W2ru", b"W2ku", b"Wi2r", b"Wi2k"
MAC, MACX = b"Mac ", b"MacX"
RELATIVE_CODES = {W2RU, WI2R}

_CORRUPT_FIX = (
    "The image is damaged or not a VHD: restore it from a backup, or repair a copy with "
    "Hyper-V (Inspect Disk) or `qemu-img check -r all`, then retry."
)


def corrupt(path: object, what: str) -> DiskError:
    return DiskError("VhdCorrupt", f"{path}: {what}.", _CORRUPT_FIX)


def vhd_checksum(data: bytes, checksum_at: int) -> int:
    """One's complement of the byte sum, the checksum field counted as zero."""
    total = sum(data) - sum(data[checksum_at : checksum_at + 4])
    return ~total & 0xFFFFFFFF


@dataclass(frozen=True)
class Footer:
    data_offset: int
    timestamp: int
    current_size: int
    disk_type: int
    unique_id: uuid.UUID


def parse_footer(data: bytes) -> Footer | None:
    """The footer if cookie and checksum are right, else None (the other copy may be)."""
    if len(data) < 85 or data[:8] != b"conectix":
        return None
    (stored,) = struct.unpack_from(">I", data, 64)
    if vhd_checksum(data[:FOOTER_SIZE], 64) != stored:
        return None
    (data_offset, timestamp) = struct.unpack_from(">QI", data, 16)
    (current_size,) = struct.unpack_from(">Q", data, 48)
    (disk_type,) = struct.unpack_from(">I", data, 60)
    return Footer(data_offset, timestamp, current_size, disk_type, uuid.UUID(bytes=data[68:84]))


@dataclass(frozen=True)
class ParentLocator:
    code: bytes
    data_space: int
    data_length: int
    data_offset: int


@dataclass(frozen=True)
class DynamicHeader:
    table_offset: int
    max_table_entries: int
    block_size: int
    parent_unique_id: uuid.UUID
    parent_timestamp: int
    parent_name: str
    locators: tuple[ParentLocator, ...]

    @property
    def bitmap_size(self) -> int:
        """Bytes of a block's sector bitmap, padded to a whole sector."""
        return -(-(self.block_size // SECTOR) // 8 // SECTOR) * SECTOR if self.block_size else 0


def parse_dynamic_header(path: object, data: bytes) -> DynamicHeader:
    if data[:8] != b"cxsparse":
        raise corrupt(path, "the dynamic disk header has no 'cxsparse' cookie")
    (stored,) = struct.unpack_from(">I", data, 36)
    if vhd_checksum(data[:DYNAMIC_HEADER_SIZE], 36) != stored:
        raise DiskError(
            "VhdHeaderChecksum",
            f"{path}: the dynamic disk header checksum is wrong.",
            _CORRUPT_FIX,
        )
    table_offset, _version, max_entries, block_size = struct.unpack_from(">QIII", data, 16)
    parent_id = uuid.UUID(bytes=data[40:56])
    (parent_ts,) = struct.unpack_from(">I", data, 56)
    name = data[64:576].decode("utf-16-be", errors="replace").split("\0", 1)[0]
    locators = []
    for i in range(8):
        base = 576 + 24 * i
        code = data[base : base + 4]
        space, length, _reserved, offset = struct.unpack_from(">IIIQ", data, base + 4)
        if code != b"\0\0\0\0":
            locators.append(ParentLocator(code, space, length, offset))
    return DynamicHeader(
        table_offset, max_entries, block_size, parent_id, parent_ts, name, tuple(locators)
    )


def decode_locator(code: bytes, raw: bytes) -> str:
    """A parent locator's path as text, per its platform code."""
    if code in (W2RU, W2KU):
        return raw.decode("utf-16-le", errors="replace").split("\0", 1)[0]
    if code in (MAC, MACX):
        text = raw.decode("utf-8", errors="replace").split("\0", 1)[0]
        return text.removeprefix("file://")
    return raw.decode("latin-1").split("\0", 1)[0]
