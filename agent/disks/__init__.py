"""Disk readers: VHDX, VHD and raw, behind one interface (`DiskImage`).

`open_disk(path)` detects the format from the file's own signatures, validates it fully and
raises `DiskError` with the cause and the fix for anything it cannot read safely.
"""

from agent.disks.base import DiskImage, DiskInfo, Extent

__all__ = ["DiskImage", "DiskInfo", "Extent"]
