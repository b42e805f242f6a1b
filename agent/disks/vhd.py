"""VHD reader: fixed, dynamic and differencing, validated entirely at open.

Opening checks the footer (the copy at the end, or for dynamic disks the copy at byte 0 when
the end one has a bad checksum, as the spec intends), the dynamic header and its checksum,
every BAT entry against the file's size, and for a differencing disk the parent (found through
its locators, its unique id checked). Reads of allocated blocks go straight to the file; a
differencing disk's sector bitmap decides, per sector, between this file and the parent.
"""

from __future__ import annotations

import struct
from pathlib import Path

from agent.disks import vhd_format as fmt
from agent.disks._file import ImageFile
from agent.disks.base import DiskImage, Extent
from agent.disks.bitmap import msb_bit_runs
from agent.disks.chained import ChainedImage, check_chain_depth, open_parent_file
from agent.disks.extents import check_read_range, clip_extents, merge_extents
from agent.disks.parents import find_parent, parent_candidates
from agent.disks.raw import data_runs
from agent.errors import DiskError

SECTOR = fmt.SECTOR


class VhdDisk(ChainedImage):
    """An open VHD (and its parents, for a differencing disk)."""

    format_name = "vhd"

    def __init__(
        self,
        file: ImageFile,
        footer: fmt.Footer,
        header: fmt.DynamicHeader | None,
        bat: memoryview | None,
        parent: DiskImage | None,
    ) -> None:
        super().__init__(file, footer.current_size, parent)
        self.footer = footer
        self.header = header
        self.block_size = header.block_size if header else None
        self._bat = bat

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: str | Path, *, search_dirs: tuple[Path, ...] = ()) -> VhdDisk:
        file = ImageFile(path)
        try:
            return cls.open_file(file, search_dirs=search_dirs)
        except BaseException:
            file.close()
            raise

    @classmethod
    def open_file(
        cls, file: ImageFile, *, search_dirs: tuple[Path, ...] = (), _depth: int = 0
    ) -> VhdDisk:
        path = file.path
        footer, data_end = _footer(file)
        if footer.disk_type not in fmt.SUBFORMATS:
            raise DiskError(
                "VhdUnsupportedType",
                f"{path}: VHD disk type {footer.disk_type} is not fixed (2), dynamic (3) or "
                "differencing (4).",
                "Convert the disk with Hyper-V (Convert-VHD) or `qemu-img convert`, then retry.",
            )
        if footer.disk_type == fmt.DISK_FIXED:
            if footer.current_size > data_end:
                raise DiskError(
                    "DiskTruncated",
                    f"{path}: a fixed VHD of {footer.current_size} bytes needs that many data "
                    f"bytes before its footer, the file has {data_end}.",
                    "The file was cut short (incomplete copy): copy it again from the source.",
                )
            return cls(file, footer, None, None, None)
        header = _dynamic_header(file, footer, data_end)
        bat = _bat(file, header, footer, data_end)
        parent = None
        if footer.disk_type == fmt.DISK_DIFFERENCING:
            parent = _open_parent(file, header, search_dirs, _depth)
        return cls(file, footer, header, bat, parent)

    # ---------------------------------------------------------------- interface

    @property
    def subformat(self) -> str:
        return fmt.SUBFORMATS[self.footer.disk_type]

    def _info_fields(self) -> dict[str, int | None]:
        return {"block_size": self.block_size}

    def _identity_parts(self) -> list[str]:
        return [str(self.footer.unique_id)]

    def _compute_extents(self) -> list[Extent]:
        vs = self.virtual_size
        if self.header is None or self._bat is None:  # fixed: the data area's own sparseness
            return clip_extents(merge_extents(data_runs(self._file.fd, vs)), vs)
        bs = self.header.block_size
        runs: list[tuple[int, int]] = []
        for block in range(-(-vs // bs)):
            sector = self._bat[block]
            if sector == fmt.UNALLOCATED:
                continue
            start = block * bs
            length = min(bs, vs - start)
            if self.parent is None:
                runs.append((start, length))
                continue
            bitmap = self._file.pread(sector * SECTOR, self.header.bitmap_size)
            for present, s0, count in msb_bit_runs(bitmap, 0, -(-length // SECTOR)):
                if present:
                    runs.append((start + s0 * SECTOR, min(count * SECTOR, length - s0 * SECTOR)))
        return merge_extents(runs + self.inherited_extents())

    def read_into(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with the virtual bytes at `offset`."""
        check_read_range(offset, len(buffer), self.virtual_size)
        if self.header is None or self._bat is None:
            self._file.read_into(offset, buffer)
            return
        bs = self.header.block_size
        pos, end = offset, offset + len(buffer)
        while pos < end:
            block, in_block = divmod(pos, bs)
            n = min(bs - in_block, end - pos)
            dst = buffer[pos - offset : pos - offset + n]
            sector = self._bat[block]
            if sector == fmt.UNALLOCATED:
                if self.parent is not None:
                    self.read_parent(pos, dst)
                else:
                    dst[:] = bytes(n)
            else:
                data_at = sector * SECTOR + self.header.bitmap_size
                if self.parent is None:  # dynamic: the block holds every sector
                    self._file.read_into(data_at + in_block, dst)
                else:
                    self._read_differencing(sector * SECTOR, data_at, block, in_block, dst)
            pos += n

    # ---------------------------------------------------------------- helpers

    def _read_differencing(
        self, bitmap_at: int, data_at: int, block: int, in_block: int, dst: memoryview
    ) -> None:
        """Sectors whose bitmap bit is set come from this file, the others from the parent."""
        n = len(dst)
        first = in_block // SECTOR
        count = (in_block + n - 1) // SECTOR - first + 1
        bitmap = self._file.pread(bitmap_at + first // 8, (first + count - 1) // 8 - first // 8 + 1)
        assert self.header is not None
        runs = msb_bit_runs(bitmap, first % 8, count)
        self.read_sector_runs(
            runs, first, SECTOR, in_block, data_at, block * self.header.block_size, dst
        )


# -------------------------------------------------------------------- validation steps


def _footer(file: ImageFile) -> tuple[fmt.Footer, int]:
    """The footer and where the data area ends (where the footer at the end starts)."""
    path = file.path
    end_at = None
    for at in (file.size - fmt.FOOTER_SIZE, file.size - 511):  # 511: pre-2004 Virtual PC
        if at >= 0 and file.pread_short(at, 8) == b"conectix":
            end_at = at
            break
    end = (
        fmt.parse_footer(file.pread_short(end_at, fmt.FOOTER_SIZE)) if end_at is not None else None
    )
    head = fmt.parse_footer(file.pread_short(0, fmt.FOOTER_SIZE))
    if end_at is None:
        raise DiskError(
            "DiskTruncated",
            f"{path} has no VHD footer at its end (only the copy at its start): the file was "
            "cut short.",
            "Copy the image again from the source; a VHD whose end is missing has lost data.",
        )
    footer = end or (head if head and head.disk_type != fmt.DISK_FIXED else None)
    if footer is None:
        raise DiskError(
            "VhdFooterChecksum",
            f"{path}: the VHD footer's checksum is wrong"
            + (" and there is no valid copy at the start." if head is None else "."),
            fmt._CORRUPT_FIX,
        )
    if footer.current_size <= 0 or footer.current_size % SECTOR:
        raise fmt.corrupt(
            path, f"virtual size {footer.current_size} is not a whole number of sectors"
        )
    return footer, end_at


def _dynamic_header(file: ImageFile, footer: fmt.Footer, data_end: int) -> fmt.DynamicHeader:
    path = file.path
    if footer.data_offset == fmt.NO_DATA_OFFSET or footer.data_offset + 1024 > data_end:
        raise fmt.corrupt(path, f"the dynamic header offset {footer.data_offset} is invalid")
    header = fmt.parse_dynamic_header(path, file.pread(footer.data_offset, fmt.DYNAMIC_HEADER_SIZE))
    bs = header.block_size
    if bs < SECTOR or bs > 256 * 1024 * 1024 or bs & (bs - 1):
        raise DiskError(
            "VhdBlockSizeInvalid",
            f"{path}: block size {bs} bytes (a power of two up to 256 MiB expected; 2 MiB is "
            "the standard).",
            fmt._CORRUPT_FIX,
        )
    blocks = -(-footer.current_size // bs)
    if header.max_table_entries < blocks:
        raise fmt.corrupt(
            path, f"the BAT has {header.max_table_entries} entries, {blocks} blocks need one each"
        )
    return header


def _bat(
    file: ImageFile, header: fmt.DynamicHeader, footer: fmt.Footer, data_end: int
) -> memoryview:
    path = file.path
    blocks = -(-footer.current_size // header.block_size)
    if header.table_offset + 4 * blocks > data_end:
        raise DiskError(
            "DiskTruncated",
            f"{path}: the block allocation table ends past the data area ({data_end} bytes).",
            "The file was cut short (incomplete copy): copy it again from the source.",
        )
    raw = file.pread(header.table_offset, 4 * blocks)
    entries = memoryview(bytearray(struct.pack(f"<{blocks}I", *struct.unpack(f">{blocks}I", raw))))
    bat = entries.cast("I")
    span = header.bitmap_size
    for block in range(blocks):
        sector = bat[block]
        if sector == fmt.UNALLOCATED:
            continue
        need = min(header.block_size, footer.current_size - block * header.block_size)
        if sector * SECTOR < header.table_offset or sector * SECTOR + span + need > data_end:
            raise DiskError(
                "VhdBatPastEnd",
                f"{path}: block {block} is mapped to file bytes {sector * SECTOR}.."
                f"{sector * SECTOR + span + need}, outside the data area ({data_end} bytes).",
                "The file was truncated or its BAT is damaged: copy it again from the source, or "
                "repair a copy with `qemu-img check -r all`.",
            )
    return bat


def _open_parent(
    file: ImageFile, header: fmt.DynamicHeader, search_dirs: tuple[Path, ...], depth: int
) -> DiskImage:
    path = file.path
    check_chain_depth(path, depth)
    relative: list[str] = []
    absolute: list[str] = []
    for loc in header.locators:
        if loc.data_length <= 0 or loc.data_length > 64 * 1024:
            continue
        raw = file.pread(loc.data_offset, loc.data_length)
        value = fmt.decode_locator(loc.code, raw)
        (relative if loc.code in fmt.RELATIVE_CODES else absolute).append(value)
    if header.parent_name:
        absolute.append(header.parent_name)
    candidates = parent_candidates(
        path, relative=relative, absolute=absolute, search_dirs=search_dirs
    )
    parent_path = find_parent(path, candidates, [*relative, *absolute])
    parent_file = open_parent_file(path, parent_path, lambda sig: sig != b"vhdxfile", "VHD")
    try:
        parent = VhdDisk.open_file(parent_file, search_dirs=search_dirs, _depth=depth + 1)
    except BaseException:
        parent_file.close()
        raise
    if parent.footer.unique_id != header.parent_unique_id:
        parent.close()
        raise DiskError(
            "ParentIdMismatch",
            f"{path} expects a parent with unique id {header.parent_unique_id}, but "
            f"{parent_path} has {parent.footer.unique_id}: the parent was replaced or is "
            "another disk with the same name.",
            "Reading this chain would mix data: use the parent the child was made from, or "
            "reconnect it knowingly in Hyper-V (Edit Disk > Reconnect).",
        )
    return parent
