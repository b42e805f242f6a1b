"""Edit qemu-made VHDX files per MS-VHDX, for the shapes qemu cannot make.

qemu-img 7.2 makes no differencing VHDX, no 4096-byte-sector VHDX and never leaves a dirty
log, so tests build those by rewriting structures of a qemu-made file: metadata items, BAT
entries, headers (CRC-32C recomputed), region table entries, log entries. Written from the spec
text, independently of agent/disks (which it must not import: it makes the test inputs).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import crc32c

MIB = 1024 * 1024
HEADER_OFFSETS = (64 * 1024, 128 * 1024)
REGION_OFFSETS = (192 * 1024, 256 * 1024)
BAT = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
LOGICAL_SECTOR = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
VIRTUAL_SIZE = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
PARENT_LOCATOR = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
LOCATOR_TYPE = uuid.UUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")

NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, FULLY_PRESENT, PARTIALLY_PRESENT = 0, 1, 2, 3, 6, 7
SB_PRESENT = 6


def _with_crc(block: bytes) -> bytes:
    zeroed = block[:4] + b"\0\0\0\0" + block[8:]
    return block[:4] + struct.pack("<I", crc32c.crc32c(zeroed)) + block[8:]


def _pread(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _pwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


# ------------------------------------------------------------------ headers


@dataclass
class HeaderFields:
    sequence: int
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_offset: int
    log_length: int


def read_header(path: Path, which: int) -> HeaderFields:
    raw = _pread(path, HEADER_OFFSETS[which], 4096)
    (seq,) = struct.unpack_from("<Q", raw, 8)
    (log_length, log_offset) = struct.unpack_from("<IQ", raw, 68)
    return HeaderFields(
        seq, uuid.UUID(bytes_le=raw[32:48]), uuid.UUID(bytes_le=raw[48:64]), log_offset, log_length
    )


def current_header_index(path: Path) -> int:
    return 0 if read_header(path, 0).sequence > read_header(path, 1).sequence else 1


def rewrite_header(
    path: Path,
    which: int,
    *,
    data_write_guid: uuid.UUID | None = None,
    log_guid: uuid.UUID | None = None,
    sequence: int | None = None,
) -> None:
    """Change fields of header `which` (0 or 1) and recompute its CRC-32C."""
    raw = bytearray(_pread(path, HEADER_OFFSETS[which], 4096))
    if sequence is not None:
        struct.pack_into("<Q", raw, 8, sequence)
    if data_write_guid is not None:
        raw[32:48] = data_write_guid.bytes_le
    if log_guid is not None:
        raw[48:64] = log_guid.bytes_le
    _pwrite(path, HEADER_OFFSETS[which], _with_crc(bytes(raw)))


def rewrite_both_headers(path: Path, **changes: object) -> None:
    for which in (0, 1):
        rewrite_header(path, which, **changes)  # type: ignore[arg-type]


def corrupt_header(path: Path, which: int) -> None:
    """Flip a byte inside header `which` without fixing its checksum."""
    off = HEADER_OFFSETS[which] + 200
    byte = _pread(path, off, 1)[0]
    _pwrite(path, off, bytes([byte ^ 0xFF]))


# ------------------------------------------------------------------ region table


def regions(path: Path) -> dict[uuid.UUID, tuple[int, int]]:
    raw = _pread(path, REGION_OFFSETS[0], 64 * 1024)
    (count,) = struct.unpack_from("<I", raw, 8)
    out = {}
    for i in range(count):
        base = 16 + 32 * i
        off, length, _flags = struct.unpack_from("<QII", raw, base + 16)
        out[uuid.UUID(bytes_le=raw[base : base + 16])] = (off, length)
    return out


def add_region(path: Path, guid: uuid.UUID, offset: int, length: int, required: bool) -> None:
    """Append an entry to both region tables and fix their CRCs."""
    for table in REGION_OFFSETS:
        raw = bytearray(_pread(path, table, 64 * 1024))
        (count,) = struct.unpack_from("<I", raw, 8)
        base = 16 + 32 * count
        raw[base : base + 16] = guid.bytes_le
        struct.pack_into("<QII", raw, base + 16, offset, length, 1 if required else 0)
        struct.pack_into("<I", raw, 8, count + 1)
        _pwrite(path, table, _with_crc(bytes(raw)))


# ------------------------------------------------------------------ metadata


def metadata_items(path: Path) -> dict[uuid.UUID, tuple[int, int, int, int]]:
    """item id -> (table entry index, offset in region, length, flags)."""
    region_off, _ = regions(path)[METADATA]
    raw = _pread(path, region_off, 64 * 1024)
    assert raw[:8] == b"metadata"
    (count,) = struct.unpack_from("<H", raw, 10)
    out = {}
    for i in range(count):
        base = 32 + 32 * i
        off, length, flags = struct.unpack_from("<III", raw, base + 16)
        out[uuid.UUID(bytes_le=raw[base : base + 16])] = (i, off, length, flags)
    return out


def set_metadata_item(path: Path, item: uuid.UUID, value: bytes, flags: int = 0b110) -> None:
    """Replace an item's value in place, or add the item after the last one."""
    region_off, region_len = regions(path)[METADATA]
    items = metadata_items(path)
    if item in items:
        _, off, length, _ = items[item]
        assert len(value) <= length or length == 0, "in-place values cannot grow"
        _pwrite(path, region_off + off, value)
        return
    end = max(off + length for _, off, length, _ in items.values())
    off = (end + 7) // 8 * 8
    assert off + len(value) <= region_len
    _pwrite(path, region_off + off, value)
    count = len(items)
    entry = item.bytes_le + struct.pack("<IIII", off, len(value), flags, 0)
    _pwrite(path, region_off + 32 + 32 * count, entry)
    _pwrite(path, region_off + 10, struct.pack("<H", count + 1))


def file_parameters(path: Path) -> tuple[int, int]:
    region_off, _ = regions(path)[METADATA]
    _, off, _, _ = metadata_items(path)[FILE_PARAMETERS]
    return struct.unpack("<II", _pread(path, region_off + off, 8))


def set_file_parameters(path: Path, block_size: int, flags: int) -> None:
    set_metadata_item(path, FILE_PARAMETERS, struct.pack("<II", block_size, flags))


def set_sector_sizes(path: Path, logical: int, physical: int) -> None:
    set_metadata_item(path, LOGICAL_SECTOR, struct.pack("<I", logical))
    set_metadata_item(path, PHYSICAL_SECTOR, struct.pack("<I", physical))


def parent_locator(pairs: dict[str, str]) -> bytes:
    """A VHDX parent locator item (MS-VHDX 2.6.2.6): header, entries, UTF-16LE strings."""
    header_len = 20 + 12 * len(pairs)
    entries = b""
    blob = b""
    for key, value in pairs.items():
        k, v = key.encode("utf-16-le"), value.encode("utf-16-le")
        key_off = header_len + len(blob)
        blob += k
        value_off = header_len + len(blob)
        blob += v
        entries += struct.pack("<IIHH", key_off, value_off, len(k), len(v))
    return LOCATOR_TYPE.bytes_le + struct.pack("<HH", 0, len(pairs)) + entries + blob


# ------------------------------------------------------------------ BAT


def virtual_size(path: Path) -> int:
    region_off, _ = regions(path)[METADATA]
    _, off, _, _ = metadata_items(path)[VIRTUAL_SIZE]
    return struct.unpack("<Q", _pread(path, region_off + off, 8))[0]


def chunk_ratio(path: Path) -> int:
    block_size, _ = file_parameters(path)
    region_off, _ = regions(path)[METADATA]
    _, off, _, _ = metadata_items(path)[LOGICAL_SECTOR]
    (logical,) = struct.unpack("<I", _pread(path, region_off + off, 4))
    return (1 << 23) * logical // block_size


def bat_entry(path: Path, index: int) -> tuple[int, int]:
    """(state, file offset in bytes) of BAT entry `index`."""
    bat_off, _ = regions(path)[BAT]
    (value,) = struct.unpack("<Q", _pread(path, bat_off + 8 * index, 8))
    return value & 7, (value >> 20) * MIB


def set_bat_entry(path: Path, index: int, state: int, file_offset: int) -> None:
    assert file_offset % MIB == 0
    bat_off, _ = regions(path)[BAT]
    _pwrite(path, bat_off + 8 * index, struct.pack("<Q", state | (file_offset // MIB) << 20))


def payload_index(path: Path, block: int) -> int:
    return block + block // chunk_ratio(path)


def append_mib_block(path: Path, content: bytes = b"") -> int:
    """Append a 1 MiB-aligned, 1 MiB block (padded with zeros); return its file offset."""
    size = path.stat().st_size
    offset = (size + MIB - 1) // MIB * MIB
    _pwrite(path, offset, content.ljust(MIB, b"\0"))
    return offset


# ------------------------------------------------------------------ differencing


def make_differencing(
    child: Path,
    parent: Path,
    *,
    relative_path: str | None = None,
    absolute_win32_path: str | None = None,
    linkage: uuid.UUID | None = None,
) -> None:
    """Turn a qemu-made dynamic VHDX into a differencing child of `parent` (same size).

    Sets HasParent, adds a parent locator (parent_linkage = the parent's current DataWriteGuid
    unless `linkage` is given) and allocates the sector bitmap block of chunk 0 (all sectors
    absent: callers mark what they want with `mark_present`). Blocks qemu wrote stay
    FULLY_PRESENT; qemu marks the untouched ones ZERO (its block_state_zero default), which in a
    child would hide the parent, so they become NOT_PRESENT, as in a fresh Hyper-V child.
    """
    block_size, flags = file_parameters(child)
    blocks = -(-virtual_size(child) // block_size)
    for block in range(blocks):
        index = payload_index(child, block)
        state, _offset = bat_entry(child, index)
        if state == ZERO:
            set_bat_entry(child, index, NOT_PRESENT, 0)
    set_file_parameters(child, block_size, (flags & ~1) | 2)
    pheader = read_header(parent, current_header_index(parent))
    name = parent.name
    pairs = {
        "parent_linkage": "{" + str(linkage or pheader.data_write_guid) + "}",
        "relative_path": relative_path if relative_path is not None else ".\\" + name,
        "volume_path": "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\VMs\\" + name,
        "absolute_win32_path": absolute_win32_path or "C:\\VMs\\" + name,
    }
    set_metadata_item(child, PARENT_LOCATOR, parent_locator(pairs), flags=0b110)
    ratio = chunk_ratio(child)
    bitmap_offset = append_mib_block(child)
    set_bat_entry(child, ratio, SB_PRESENT, bitmap_offset)


def mark_present(child: Path, first_sector: int, count: int, present: bool = True) -> None:
    """Set or clear sector bitmap bits of chunk 0 (bit 0 of byte 0 = first sector)."""
    _, bitmap_offset = bat_entry(child, chunk_ratio(child))
    raw = bytearray(_pread(child, bitmap_offset, MIB))
    for s in range(first_sector, first_sector + count):
        if present:
            raw[s // 8] |= 1 << (s % 8)
        else:
            raw[s // 8] &= ~(1 << (s % 8)) & 0xFF
    _pwrite(child, bitmap_offset, bytes(raw))


# ------------------------------------------------------------------ log


def write_log_entry(path: Path, *, valid: bool = True) -> uuid.UUID:
    """Put one log entry (header + zero descriptor, MS-VHDX 2.3.1) at the log's start and set
    the LogGuid of both headers, as a writer that crashed before replay leaves it."""
    log_guid = uuid.uuid4()
    h = read_header(path, current_header_index(path))
    entry = bytearray(4096)
    entry[0:4] = b"loge"
    # entry length, tail, sequence, descriptor count, reserved
    struct.pack_into("<IIQII", entry, 8, 4096, 0, 1, 1, 0)
    entry[32:48] = log_guid.bytes_le
    struct.pack_into("<QQ", entry, 48, h.log_offset + h.log_length, h.log_offset + h.log_length)
    # one zero descriptor: "zero", reserved, zero length 4096, file offset, sequence 1
    entry[64:68] = b"zero"
    struct.pack_into("<IQQQ", entry, 68, 0, 4096, 512 * 1024, 1)  # reserved header space
    data = _with_crc(bytes(entry)) if valid else bytes(entry)
    _pwrite(path, h.log_offset, data)
    rewrite_both_headers(path, log_guid=log_guid)
    return log_guid


def log_entry(
    log_guid: uuid.UUID,
    sequence: int,
    tail: int,
    ops: list[tuple[str, int, bytes | int]],
    *,
    flushed_file_offset: int,
    last_file_offset: int,
) -> bytes:
    """One log entry (MS-VHDX 2.3.1): header, descriptors, data sectors; CRC-32C over it all.

    ops: ("data", file_offset, 4096 bytes) or ("zero", file_offset, length).
    """
    data_ops = [op for op in ops if op[0] == "data"]
    desc_sectors = -(-(64 + 32 * len(ops)) // 4096)
    length = (desc_sectors + len(data_ops)) * 4096
    entry = bytearray(length)
    entry[0:4] = b"loge"
    struct.pack_into("<IIQII", entry, 8, length, tail, sequence, len(ops), 0)
    entry[32:48] = log_guid.bytes_le
    struct.pack_into("<QQ", entry, 48, flushed_file_offset, last_file_offset)
    data_at = desc_sectors * 4096
    for i, (kind, offset, payload) in enumerate(ops):
        base = 64 + 32 * i
        if kind == "zero":
            entry[base : base + 4] = b"zero"
            struct.pack_into("<IQQQ", entry, base + 4, 0, payload, offset, sequence)
            continue
        assert isinstance(payload, bytes) and len(payload) == 4096
        entry[base : base + 4] = b"desc"
        trailing = struct.unpack_from("<I", payload, 4092)[0]
        struct.pack_into("<I8sQQ", entry, base + 4, trailing, payload[:8], offset, sequence)
        sector = bytearray(4096)
        sector[0:4] = b"data"
        struct.pack_into("<I", sector, 4, sequence >> 32)
        sector[8:4092] = payload[8:4092]
        struct.pack_into("<I", sector, 4092, sequence & 0xFFFFFFFF)
        entry[data_at : data_at + 4096] = sector
        data_at += 4096
    return _with_crc(bytes(entry))


def write_log(path: Path, placed: list[tuple[int, bytes]], log_guid: uuid.UUID) -> None:
    """Write entries at byte positions inside the log (wrapping past its end, as the circular
    buffer does) and set both headers' LogGuid, as a writer that crashed before replay."""
    h = read_header(path, current_header_index(path))
    for position, entry in placed:
        first = entry[: h.log_length - position]
        _pwrite(path, h.log_offset + position, first)
        if len(first) < len(entry):
            _pwrite(path, h.log_offset, entry[len(first) :])
    rewrite_both_headers(path, log_guid=log_guid)
