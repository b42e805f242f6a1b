"""VHDX reader (MS-VHDX): fixed, dynamic and differencing, validated entirely at open.

Opening checks, in order: file identifier, both headers (current = valid one with the highest
sequence number), the log (entries left by a crash are replayed in memory, never written:
reading past them would return stale metadata or data), the region tables, the metadata
items, and every BAT entry against the file's size; then the parent chain, each link's GUID
checked. After that a read cannot meet a structure it has not validated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from agent.disks import vhdx_format as fmt
from agent.disks._file import ImageFile
from agent.disks.base import Extent
from agent.disks.bitmap import bit_runs
from agent.disks.chained import ChainedImage, check_chain_depth, open_parent_file
from agent.disks.extents import check_read_range, merge_extents
from agent.disks.parents import find_parent, parent_candidates
from agent.disks.vhdx_log import active_sequence, replay
from agent.errors import DiskError

_MAX_METADATA_REGION = 64 * fmt.MIB  # far above what any writer uses; bounds memory


class VhdxDisk(ChainedImage):
    """An open VHDX (and its parents, for a differencing disk)."""

    format_name = "vhdx"

    def __init__(
        self,
        file: ImageFile,
        header: fmt.Header,
        meta: fmt.Metadata,
        bat: memoryview,
        parent: VhdxDisk | None,
    ) -> None:
        super().__init__(file, meta.virtual_size, parent)
        self.header = header
        self.meta = meta
        self.block_size = meta.block_size
        self._bat = bat

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, path: str | Path, *, search_dirs: tuple[Path, ...] = (), replay_log: bool = True
    ) -> VhdxDisk:
        file = ImageFile(path)
        try:
            return cls.open_file(file, search_dirs=search_dirs, replay_log=replay_log)
        except BaseException:
            file.close()
            raise

    @classmethod
    def open_file(
        cls,
        file: ImageFile,
        *,
        search_dirs: tuple[Path, ...] = (),
        replay_log: bool = True,
        _depth: int = 0,
    ) -> VhdxDisk:
        """Validate `file` as a VHDX and open its parent chain; `file` is owned from here on.

        A log left by a crash is replayed in memory, or refused when `replay_log` is False.
        """
        path = file.path
        if file.size < fmt.HEADER_SECTION_SIZE:
            raise DiskError(
                "DiskTruncated",
                f"{path} is {file.size} bytes, shorter than the 1 MiB VHDX header section.",
                "The file was cut short (incomplete copy): copy it again from the source.",
            )
        if file.pread(0, 8) != b"vhdxfile":
            raise DiskError(
                "VhdxBadSignature",
                f"{path} does not start with the VHDX file identifier 'vhdxfile'.",
                "Check that this is a VHDX file; if it is, it is damaged: restore it from backup.",
            )
        header = fmt.current_header(
            path,
            file.pread(fmt.HEADER_OFFSETS[0], fmt.HEADER_SIZE),
            file.pread(fmt.HEADER_OFFSETS[1], fmt.HEADER_SIZE),
        )
        _replay_log(file, header, replay_log)
        regions = _region_table(file)
        meta = _metadata(file, regions[fmt.METADATA_GUID])
        bat = _bat(file, regions[fmt.BAT_GUID], meta)
        parent = None
        if meta.has_parent:
            parent = _open_parent(file, meta, search_dirs, replay_log, _depth)
        return cls(file, header, meta, bat, parent)

    # ---------------------------------------------------------------- interface

    @property
    def subformat(self) -> str:
        if self.meta.has_parent:
            return "differencing"
        return "fixed" if self.meta.leave_blocks_allocated else "dynamic"

    def _info_fields(self) -> dict[str, int]:
        return {
            "logical_sector_size": self.meta.logical_sector_size,
            "physical_sector_size": self.meta.physical_sector_size,
            "block_size": self.block_size,
        }

    def _identity_parts(self) -> list[str]:
        return [str(self.header.sequence_number), str(self.header.data_write_guid)]

    def _compute_extents(self) -> list[Extent]:
        runs: list[tuple[int, int]] = []
        bs, vs, ss = self.block_size, self.virtual_size, self.meta.logical_sector_size
        for block, state in _present_blocks(self._bat, self.meta):
            start = block * bs
            length = min(bs, vs - start)
            if state == fmt.PAYLOAD_BLOCK_FULLY_PRESENT:
                runs.append((start, length))
                continue
            bitmap, first = self._bitmap(block, 0, length)
            for present, s0, count in bit_runs(bitmap, first, -(-length // ss)):
                if present:
                    runs.append((start + s0 * ss, min(count * ss, length - s0 * ss)))
        return merge_extents(runs + self.inherited_extents())

    def read_into(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with the virtual bytes at `offset` (whole blocks go straight in)."""
        check_read_range(offset, len(buffer), self.virtual_size)
        bs = self.block_size
        pos, end = offset, offset + len(buffer)
        while pos < end:
            block, in_block = divmod(pos, bs)
            n = min(bs - in_block, end - pos)
            dst = buffer[pos - offset : pos - offset + n]
            state, file_offset = fmt.decode_bat_entry(self._bat[self.meta.payload_index(block)])
            if state == fmt.PAYLOAD_BLOCK_FULLY_PRESENT:
                self._file.read_into(file_offset + in_block, dst)
            elif state == fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                self._read_partial(block, in_block, file_offset, dst)
            elif state == fmt.PAYLOAD_BLOCK_NOT_PRESENT and self.parent is not None:
                self.read_parent(pos, dst)
            else:  # NOT_PRESENT without parent, UNDEFINED, ZERO, UNMAPPED: zeros (2.5.1.1)
                dst[:] = bytes(n)
            pos += n

    # ---------------------------------------------------------------- helpers

    def _bitmap(self, block: int, in_block: int, n: int) -> tuple[bytes, int]:
        """Bitmap bytes covering sectors [in_block, in_block + n) of `block`, and the bit of
        the first sector within them."""
        ss = self.meta.logical_sector_size
        _, bitmap_offset = fmt.decode_bat_entry(self._bat[self.meta.bitmap_index(block)])
        sectors_per_block = self.block_size // ss
        first = (block % self.meta.chunk_ratio) * sectors_per_block + in_block // ss
        last = (block % self.meta.chunk_ratio) * sectors_per_block + (in_block + n - 1) // ss
        data = self._file.pread(bitmap_offset + first // 8, last // 8 - first // 8 + 1)
        return data, first % 8

    def _read_partial(self, block: int, in_block: int, file_offset: int, dst: memoryview) -> None:
        """Sectors whose bitmap bit is set come from this file, the others from the parent."""
        ss = self.meta.logical_sector_size
        n = len(dst)
        bitmap, first_bit = self._bitmap(block, in_block, n)
        first_sector = in_block // ss
        count = (in_block + n - 1) // ss - first_sector + 1
        runs = bit_runs(bitmap, first_bit, count)
        self.read_sector_runs(
            runs, first_sector, ss, in_block, file_offset, block * self.block_size, dst
        )


# -------------------------------------------------------------------- validation steps


def _replay_log(file: ImageFile, header: fmt.Header, allowed: bool) -> None:
    """Replay a non-empty log in memory (MS-VHDX 2.3.3) so every later read sees its pages;
    when not `allowed`, refuse a log that has something to replay."""
    if header.log_guid == fmt.ZERO_GUID:
        return
    path = file.path
    if (
        header.log_offset % fmt.MIB
        or header.log_length % fmt.MIB
        or not header.log_length
        or header.log_offset < fmt.HEADER_SECTION_SIZE
        or header.log_offset + header.log_length > file.size
    ):
        raise fmt.corrupt(
            path,
            f"the log (offset {header.log_offset}, length {header.log_length}) is misaligned "
            "or lies outside the file",
        )
    log = file.pread(header.log_offset, header.log_length)
    if not allowed:
        entries = active_sequence(log, header.log_guid)
        if entries:
            raise DiskError(
                "VhdxLogNotEmpty",
                f"{path} has unreplayed log entries (log {header.log_guid}, sequence "
                f"{entries[-1].sequence}): it was not closed cleanly, so its BAT and data are "
                "out of date until the log is replayed.",
                "Allow the agent to replay the log in memory (the default), or replay it "
                "yourself: attach the disk once in Hyper-V (Mount-VHD, then Dismount-VHD) or "
                "run `qemu-img check -r all` on a copy. Never replicate a disk a running VM "
                "has open.",
            )
        return
    overlay = replay(path, log, header.log_guid, file.size)
    if overlay is not None:
        file.set_overlay(overlay)


def _region_table(file: ImageFile) -> dict:
    """The regions by GUID, from the first region table copy whose checksum is right."""
    path = file.path
    regions = None
    for offset in fmt.REGION_TABLE_OFFSETS:
        regions = fmt.parse_region_table(file.pread(offset, fmt.REGION_TABLE_SIZE))
        if regions is not None:
            break
    if regions is None:
        raise DiskError(
            "VhdxRegionTableCorrupt",
            f"{path}: both region tables (at 192 KiB and 256 KiB) have a wrong signature or "
            "CRC-32C checksum.",
            fmt.corrupt(path, "").recommendation,
        )
    by_guid = {}
    for region in regions:
        if region.guid not in fmt.KNOWN_REGIONS:
            if region.required:
                raise DiskError(
                    "VhdxUnsupportedRegion",
                    f"{path} has a required region {region.guid} this reader does not know; "
                    "reading without it could return wrong data.",
                    "The disk uses a newer VHDX feature: convert it with Hyper-V (Convert-VHD) "
                    "to a plain VHDX, or export it, then retry.",
                )
            continue
        name = fmt.KNOWN_REGIONS[region.guid]
        if region.file_offset % fmt.MIB or region.file_offset < fmt.HEADER_SECTION_SIZE:
            raise fmt.corrupt(path, f"the {name} region offset {region.file_offset} is invalid")
        if region.file_offset + region.length > file.size:
            raise DiskError(
                "DiskTruncated",
                f"{path}: the {name} region ends at byte {region.file_offset + region.length} "
                f"but the file has {file.size} bytes.",
                "The file was cut short (incomplete copy): copy it again from the source.",
            )
        by_guid[region.guid] = region
    for required, name in fmt.KNOWN_REGIONS.items():
        if required not in by_guid:
            raise fmt.corrupt(path, f"the region table has no {name} region")
    return by_guid


def _metadata(file: ImageFile, region: fmt.Region) -> fmt.Metadata:
    path = file.path
    if region.length > _MAX_METADATA_REGION or region.length < 64 * fmt.KIB:
        raise fmt.corrupt(path, f"the metadata region length {region.length} is invalid")
    data = file.pread(region.file_offset, region.length)
    items: dict = {}
    for entry in fmt.parse_metadata_table(path, data):
        if entry.item_id not in fmt.KNOWN_METADATA:
            if entry.is_required:
                raise DiskError(
                    "VhdxUnsupportedMetadata",
                    f"{path} has a required metadata item {entry.item_id} this reader does not "
                    "know.",
                    "Convert the disk with Hyper-V (Convert-VHD) to a plain VHDX and retry.",
                )
            continue
        if entry.length and (
            entry.offset < 64 * fmt.KIB or entry.offset + entry.length > len(data)
        ):
            raise fmt.corrupt(path, f"metadata item {entry.item_id} lies outside its region")
        items[entry.item_id] = data[entry.offset : entry.offset + entry.length]

    def need(item: object, size: int, name: str) -> bytes:
        raw = items.get(item)
        if raw is None or len(raw) < size:
            raise fmt.corrupt(path, f"the required metadata item '{name}' is missing or short")
        return raw

    block_size, flags = struct.unpack_from("<II", need(fmt.FILE_PARAMETERS, 8, "file parameters"))
    (virtual_size,) = struct.unpack_from("<Q", need(fmt.VIRTUAL_DISK_SIZE, 8, "virtual disk size"))
    (logical,) = struct.unpack_from("<I", need(fmt.LOGICAL_SECTOR_SIZE, 4, "logical sector size"))
    (physical,) = struct.unpack_from(
        "<I", need(fmt.PHYSICAL_SECTOR_SIZE, 4, "physical sector size")
    )
    disk_id = fmt.guid(need(fmt.VIRTUAL_DISK_ID, 16, "virtual disk id")[:16])
    if not (fmt.MIB <= block_size <= 256 * fmt.MIB) or block_size & (block_size - 1):
        raise DiskError(
            "VhdxBlockSizeInvalid",
            f"{path}: block size {block_size} bytes; MS-VHDX allows a power of two from 1 MiB "
            "to 256 MiB.",
            "The header is damaged or written by a non-conforming tool: convert the disk with "
            "Hyper-V or `qemu-img convert -O vhdx`, or restore it from backup.",
        )
    if logical not in (512, 4096):
        raise fmt.corrupt(path, f"logical sector size {logical} (must be 512 or 4096)")
    if physical not in (512, 4096):
        raise fmt.corrupt(path, f"physical sector size {physical} (must be 512 or 4096)")
    if not 0 < virtual_size <= fmt.MAX_VIRTUAL_SIZE or virtual_size % logical:
        raise fmt.corrupt(
            path,
            f"virtual size {virtual_size} (must be a multiple of the {logical}-byte sector, "
            "at most 64 TiB)",
        )
    has_parent = bool(flags & 2)
    locator: dict[str, str] = {}
    if has_parent:
        raw = items.get(fmt.PARENT_LOCATOR)
        if raw is None:
            raise fmt.corrupt(path, "a differencing disk without a parent locator")
        locator = fmt.parse_parent_locator(path, raw)
    return fmt.Metadata(
        block_size=block_size,
        leave_blocks_allocated=bool(flags & 1),
        has_parent=has_parent,
        virtual_size=virtual_size,
        virtual_disk_id=disk_id,
        logical_sector_size=logical,
        physical_sector_size=physical,
        parent_locator=locator,
    )


def _bat(file: ImageFile, region: fmt.Region, meta: fmt.Metadata) -> memoryview:
    """The BAT as 64-bit entries, every present block checked to lie inside the file."""
    path = file.path
    needed = meta.bat_entries * 8
    if region.length < needed:
        raise fmt.corrupt(
            path, f"the BAT region holds {region.length // 8} entries, {meta.bat_entries} needed"
        )
    bat = memoryview(file.pread(region.file_offset, needed)).cast("Q")
    bs, size = meta.block_size, file.size
    for index in fmt.entries_with_high_state(bat.obj):  # type: ignore[arg-type]
        is_bitmap = index % (meta.chunk_ratio + 1) == meta.chunk_ratio
        state, offset = fmt.decode_bat_entry(bat[index])
        if is_bitmap:
            if state == fmt.SB_BLOCK_PRESENT and (
                offset < fmt.HEADER_SECTION_SIZE or offset + fmt.MIB > size
            ):
                raise DiskError(
                    "VhdxBatPastEnd",
                    f"{path}: a sector bitmap block is mapped to file bytes {offset}.."
                    f"{offset + fmt.MIB}, outside the file ({size} bytes).",
                    "The file was truncated or its BAT is damaged: copy it again from the source.",
                )
            continue
        block = index - index // (meta.chunk_ratio + 1)
        if block >= meta.data_blocks:
            continue
        if state in (4, 5) or (state == 7 and not meta.has_parent):
            raise fmt.corrupt(path, f"BAT entry of block {block} has invalid state {state}")
        length = min(bs, meta.virtual_size - block * bs)
        if offset < fmt.HEADER_SECTION_SIZE or offset + length > size:
            raise DiskError(
                "VhdxBatPastEnd",
                f"{path}: block {block} is mapped to file bytes {offset}..{offset + length}, "
                f"outside the file ({size} bytes).",
                "The file was truncated or its BAT is damaged: copy it again from the source, or "
                "repair it with `qemu-img check -r all` on a copy.",
            )
        if state == fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
            sb_state, _ = fmt.decode_bat_entry(bat[meta.bitmap_index(block)])
            if sb_state != fmt.SB_BLOCK_PRESENT:
                raise fmt.corrupt(path, f"block {block} is partial but has no sector bitmap")
    return bat


def _present_blocks(bat: memoryview, meta: fmt.Metadata) -> Iterator[tuple[int, int]]:
    """(block, state) of every FULLY or PARTIALLY present payload block, in order."""
    ratio = meta.chunk_ratio
    for index in fmt.entries_with_high_state(bat.obj):  # type: ignore[arg-type]
        if index % (ratio + 1) == ratio:
            continue
        block = index - index // (ratio + 1)
        state = bat[index] & 7
        if block < meta.data_blocks and state in (
            fmt.PAYLOAD_BLOCK_FULLY_PRESENT,
            fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT,
        ):
            yield block, state


def _open_parent(
    file: ImageFile,
    meta: fmt.Metadata,
    search_dirs: tuple[Path, ...],
    replay_log: bool,
    depth: int,
) -> VhdxDisk:
    path = file.path
    check_chain_depth(path, depth)
    loc = meta.parent_locator
    relative = [loc.get("relative_path", "")]
    absolute = [loc.get("absolute_win32_path", ""), loc.get("volume_path", "")]
    candidates = parent_candidates(
        path,
        relative=[r for r in relative if r],
        absolute=[a for a in absolute if a],
        search_dirs=search_dirs,
    )
    parent_path = find_parent(path, candidates, [*relative, *absolute])
    parent_file = open_parent_file(path, parent_path, lambda sig: sig == b"vhdxfile", "VHDX")
    try:
        parent = VhdxDisk.open_file(
            parent_file, search_dirs=search_dirs, replay_log=replay_log, _depth=depth + 1
        )
    except BaseException:
        parent_file.close()
        raise
    linkages = {loc.get(k, "").strip("{}").lower() for k in ("parent_linkage", "parent_linkage2")}
    if str(parent.header.data_write_guid).lower() not in linkages:
        parent.close()
        raise DiskError(
            "ParentIdMismatch",
            f"{path} expects a parent with data write GUID {loc.get('parent_linkage')}, but "
            f"{parent_path} has {parent.header.data_write_guid}: the parent was modified or "
            "replaced after the child was made.",
            "Reading this chain would mix data: use the parent the child was made from, or "
            "re-parent it knowingly in Hyper-V (Edit Disk > Reconnect).",
        )
    if parent.meta.logical_sector_size != meta.logical_sector_size:
        parent.close()
        raise fmt.corrupt(
            path,
            f"logical sector size {meta.logical_sector_size} differs from the parent's "
            f"{parent.meta.logical_sector_size}",
        )
    return parent
