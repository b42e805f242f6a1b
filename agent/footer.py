"""The replica's format: an Azure-ready fixed VHD, i.e. the raw disk then a 512-byte footer.

Azure accepts a page blob as a managed disk only if it is a fixed VHD whose virtual size is a
whole number of MiB, so the replica is the virtual disk rounded up to 1 MiB followed by the
footer described in Microsoft's "Virtual Hard Disk Image Format Specification" (v1.0). Pure
logic, no I/O: the engine decides where the bytes go.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

MIB = 1024 * 1024
FOOTER_SIZE = 512
COOKIE = b"conectix"
FEATURES_RESERVED = 0x00000002  # the spec says this bit is always set
FILE_FORMAT_VERSION = 0x00010000
FIXED_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF  # fixed disks have no dynamic header
DISK_TYPE_FIXED = 2
# Readers differ on where a fixed VHD's size lives: Virtual PC (and qemu, for creators it does
# not know) trust the CHS geometry, which floors the size; Hyper-V and Azure trust current_size.
# "win " is the creator every reader maps to current_size, so all of them see the same size.
CREATOR_APP = b"win "
CREATOR_VERSION = 0x00010000
CREATOR_HOST_OS = b"Wi2k"
VHD_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_LAYOUT = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427x")
assert _LAYOUT.size == FOOTER_SIZE


def rounded_size(virtual_size: int) -> int:
    """The replica's data size: Azure wants whole MiB, so round up (never down)."""
    if virtual_size <= 0:
        raise ValueError(f"virtual size must be positive, got {virtual_size}")
    return -(-virtual_size // MIB) * MIB


def blob_size(virtual_size: int) -> int:
    """What the page blob's size must be: rounded data plus the footer."""
    return rounded_size(virtual_size) + FOOTER_SIZE


def chs_geometry(size: int) -> tuple[int, int, int]:
    """Cylinders, heads, sectors per track, by the algorithm in the VHD spec's appendix."""
    total = min(size // 512, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = total // spt
    else:
        spt = 17
        cyl_heads = total // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = total // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = total // spt
    return cyl_heads // heads, heads, spt


def checksum(footer_without_checksum: bytes) -> int:
    """One's complement of the byte sum, computed with the checksum field as zero."""
    return ~sum(footer_without_checksum) & 0xFFFFFFFF


@dataclass(frozen=True)
class Footer:
    """The fields that vary between replicas; everything else is fixed by the spec."""

    size: int  # the rounded data size (original == current for a fixed disk)
    unique_id: uuid.UUID
    timestamp: int  # seconds since 2000-01-01 00:00 UTC

    @classmethod
    def new(cls, virtual_size: int, *, now: datetime | None = None) -> Footer:
        """A fresh footer; the engine keeps its id and time in the journal so resumes match."""
        moment = now or datetime.now(UTC)
        seconds = int((moment - VHD_EPOCH).total_seconds())
        return cls(rounded_size(virtual_size), uuid.uuid4(), max(seconds, 0) & 0xFFFFFFFF)

    def to_bytes(self) -> bytes:
        cylinders, heads, spt = chs_geometry(self.size)
        fields = [
            COOKIE, FEATURES_RESERVED, FILE_FORMAT_VERSION, FIXED_DATA_OFFSET, self.timestamp,
            CREATOR_APP, CREATOR_VERSION, CREATOR_HOST_OS, self.size, self.size,
            cylinders, heads, spt, DISK_TYPE_FIXED, 0, self.unique_id.bytes, 0,
        ]  # fmt: skip
        blank = _LAYOUT.pack(*fields)
        fields[14] = checksum(blank)
        return _LAYOUT.pack(*fields)


def parse(raw: bytes) -> dict[str, object]:
    """Decode a footer (for tests and `inspect`); raises ValueError on a bad cookie or sum."""
    if len(raw) != FOOTER_SIZE:
        raise ValueError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(raw)}")
    f = _LAYOUT.unpack(raw)
    if f[0] != COOKIE:
        raise ValueError(f"bad VHD footer cookie {f[0]!r}")
    blank = raw[:64] + b"\0\0\0\0" + raw[68:]
    if checksum(blank) != f[14]:
        raise ValueError("bad VHD footer checksum")
    return {
        "features": f[1], "version": f[2], "data_offset": f[3], "timestamp": f[4],
        "creator_app": f[5], "creator_version": f[6], "creator_host_os": f[7],
        "original_size": f[8], "current_size": f[9], "geometry": (f[10], f[11], f[12]),
        "disk_type": f[13], "checksum": f[14], "unique_id": uuid.UUID(bytes=f[15]),
        "saved_state": f[16],
    }  # fmt: skip
