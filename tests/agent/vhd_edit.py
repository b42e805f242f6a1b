"""Edit qemu-made VHD files per the VHD specification, for shapes qemu cannot make.

qemu-img makes fixed and dynamic VHDs but no differencing ones, so tests turn a dynamic VHD
into a child of another: disk type 4, parent unique id and time stamp, Unicode parent name,
W2ru/W2ku parent locators, sector bitmaps; checksums recomputed. Written from the spec,
independently of agent/disks (which it must not import: it makes the test inputs).
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

SECTOR = 512


def checksum(data: bytes, at: int) -> int:
    return ~(sum(data) - sum(data[at : at + 4])) & 0xFFFFFFFF


def _read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _write(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def footer(path: Path) -> bytearray:
    return bytearray(_read(path, path.stat().st_size - 512, 512))


def footer_fields(path: Path) -> tuple[int, uuid.UUID, int]:
    """(time stamp, unique id, data offset) of the footer at the end."""
    raw = footer(path)
    (data_offset, timestamp) = struct.unpack_from(">QI", raw, 16)
    return timestamp, uuid.UUID(bytes=bytes(raw[68:84])), data_offset


def write_footer(path: Path, raw: bytearray, *, both: bool = True) -> None:
    struct.pack_into(">I", raw, 64, checksum(bytes(raw), 64))
    _write(path, path.stat().st_size - 512, bytes(raw))
    if both and _read(path, 0, 8) == b"conectix":
        _write(path, 0, bytes(raw))


def set_unique_id(path: Path, unique: uuid.UUID) -> None:
    raw = footer(path)
    raw[68:84] = unique.bytes
    write_footer(path, raw)


def header(path: Path) -> tuple[int, bytearray]:
    _, _, data_offset = footer_fields(path)
    return data_offset, bytearray(_read(path, data_offset, 1024))


def write_header(path: Path, offset: int, raw: bytearray) -> None:
    struct.pack_into(">I", raw, 36, checksum(bytes(raw), 36))
    _write(path, offset, bytes(raw))


def block_geometry(path: Path) -> tuple[int, int, int]:
    """(BAT offset, block size, bitmap bytes padded to a sector)."""
    _, raw = header(path)
    table_offset, _v, _n, block_size = struct.unpack_from(">QIII", raw, 16)
    bitmap = -(-(block_size // SECTOR // 8) // SECTOR) * SECTOR
    return table_offset, block_size, bitmap


def bat_entry(path: Path, block: int) -> int:
    table_offset, _, _ = block_geometry(path)
    return struct.unpack(">I", _read(path, table_offset + 4 * block, 4))[0]


def set_bat_entry(path: Path, block: int, sector: int) -> None:
    table_offset, _, _ = block_geometry(path)
    _write(path, table_offset + 4 * block, struct.pack(">I", sector))


def set_bitmap(path: Path, block: int, first_sector: int, count: int, present: bool) -> None:
    """Set or clear bits of an allocated block's sector bitmap (sector 0 = MSB of byte 0)."""
    sector = bat_entry(path, block)
    assert sector != 0xFFFFFFFF, "block not allocated"
    _, _, size = block_geometry(path)
    raw = bytearray(_read(path, sector * SECTOR, size))
    for s in range(first_sector, first_sector + count):
        mask = 0x80 >> (s % 8)
        raw[s // 8] = (raw[s // 8] | mask) if present else (raw[s // 8] & ~mask & 0xFF)
    _write(path, sector * SECTOR, bytes(raw))


def make_differencing(
    child: Path, parent: Path, *, relative: str | None = None, absolute: str | None = None
) -> None:
    """Turn a qemu-made dynamic VHD into a differencing child of `parent` (same size).

    Locator data (W2ru relative, W2ku absolute, UTF-16LE) goes where the footer was; the
    footer moves after it. Existing blocks keep qemu's all-ones bitmaps (all sectors here).
    """
    p_timestamp, p_unique, _ = footer_fields(parent)
    foot = footer(child)
    struct.pack_into(">I", foot, 60, 4)  # disk type: differencing
    end = child.stat().st_size - 512
    rel = (relative if relative is not None else ".\\" + parent.name).encode("utf-16-le")
    absol = (absolute or "C:\\VMs\\" + parent.name).encode("utf-16-le")
    rel_at, abs_at = end, end + SECTOR
    _write(child, rel_at, rel.ljust(SECTOR, b"\0"))
    _write(child, abs_at, absol.ljust(SECTOR, b"\0"))
    with open(child, "r+b") as f:
        f.truncate(abs_at + SECTOR)
    with open(child, "ab") as f:
        f.write(b"\0" * 512)  # room for the footer
    write_footer(child, foot)
    offset, raw = header(child)
    raw[40:56] = p_unique.bytes
    struct.pack_into(">I", raw, 56, p_timestamp)
    raw[64:576] = parent.name.encode("utf-16-be").ljust(512, b"\0")
    for i, (code, at, data) in enumerate(((b"W2ru", rel_at, rel), (b"W2ku", abs_at, absol))):
        base = 576 + 24 * i
        raw[base : base + 4] = code
        struct.pack_into(">IIIQ", raw, base + 4, SECTOR, len(data), 0, at)
    write_header(child, offset, raw)
