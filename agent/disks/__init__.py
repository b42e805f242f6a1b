"""Disk readers: VHDX, VHD and raw, behind one interface (`DiskImage`).

`open_disk(path)` detects the format from the file's own signatures, validates it fully and
raises `DiskError` with the cause and the fix for anything it cannot read safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agent.disks._file import ImageFile
from agent.disks.base import DiskImage, DiskInfo, Extent
from agent.errors import DiskError

__all__ = ["DiskImage", "DiskInfo", "Extent", "detect_format", "open_disk"]

VHDX_SIGNATURE = b"vhdxfile"
VHD_COOKIE = b"conectix"
IMAGE_SUFFIXES = {".vhdx", ".avhdx", ".vhd", ".avhd"}


def detect_format(file: ImageFile) -> str:
    """ "vhdx", "vhd" or "raw", from signatures only (the extension can lie).

    VHDX starts with its file identifier. A VHD has its footer in the last 512 bytes (511 for
    images from old Virtual PC), and a dynamic or differencing one also a copy at the start;
    either copy is enough to call it a VHD (the reader then checks them). Anything else is raw.
    """
    head = file.pread_short(0, 8)
    if head == VHDX_SIGNATURE:
        return "vhdx"
    if head == VHD_COOKIE:
        return "vhd"
    if file.size >= 512:
        tail = file.pread_short(file.size - 512, 512)
        if tail[:8] == VHD_COOKIE or tail[1:9] == VHD_COOKIE:
            return "vhd"
    _refuse_damaged_image(file)
    return "raw"


def _refuse_damaged_image(file: ImageFile) -> None:
    """A file that looks like a VHD/VHDX but lacks its signature is damaged, not raw: reading
    it as raw would replicate the container's bytes as if they were the guest's disk."""
    looks_vhdx = (
        file.pread_short(64 * 1024, 4) == b"head" or file.pread_short(192 * 1024, 4) == b"regi"
    )
    if looks_vhdx:
        raise DiskError(
            "VhdxBadSignature",
            f"{file.path} has VHDX headers but not the 'vhdxfile' identifier at byte 0.",
            "The file is damaged: restore it from a backup or copy it again from the host.",
        )
    if file.path.suffix.lower() in IMAGE_SUFFIXES:
        raise DiskError(
            "DiskFormatUnrecognized",
            f"{file.path} is named like a {file.path.suffix} image but has neither the VHDX "
            "identifier 'vhdxfile' at its start nor a VHD footer 'conectix' at its end.",
            "The file is damaged or not a virtual disk: copy it again from the host. If it "
            "really is a raw disk, rename it (e.g. .img or .raw).",
        )


def open_disk(
    path: str | Path, *, search_dirs: Iterable[str | Path] = (), replay_log: bool = True
) -> DiskImage:
    """Open and validate a disk image of any supported format.

    `search_dirs` are extra folders where a differencing disk's parents may be found (after the
    locations the child itself records). A VHDX log left by a crash is replayed in memory (the
    file is never written), or refused with `VhdxLogNotEmpty` when `replay_log` is False.
    Raises `DiskError` for anything unreadable.
    """
    file = ImageFile(path)
    try:
        if file.size == 0:
            raise DiskError(
                "DiskEmpty",
                f"{file.path} is empty (0 bytes).",
                "Point the agent at the disk image itself, not a placeholder; copy it again if "
                "the copy failed.",
            )
        kind = detect_format(file)
        if kind == "vhdx":
            from agent.disks.vhdx import VhdxDisk

            return VhdxDisk.open_file(
                file, search_dirs=tuple(Path(d) for d in search_dirs), replay_log=replay_log
            )
        if kind == "vhd":
            from agent.disks.vhd import VhdDisk

            return VhdDisk.open_file(file, search_dirs=tuple(Path(d) for d in search_dirs))
        from agent.disks.raw import RawDisk

        return RawDisk(file)
    except BaseException:
        file.close()
        raise
