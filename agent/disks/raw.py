"""Raw images: the file is the disk, byte for byte.

Allocation comes from the filesystem itself (SEEK_DATA / SEEK_HOLE), so a sparse raw file made
by `qemu-img convert -O raw` or `truncate` only reports the ranges that hold data. Where the
filesystem cannot tell, the whole file counts as allocated (the engine still skips zero chunks).
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from agent.disks._file import ImageFile
from agent.disks.base import DiskImage, DiskInfo, Extent
from agent.disks.extents import check_read_range, merge_extents


class RawDisk(DiskImage):
    """A raw image file; its size is the virtual size."""

    def __init__(self, file: ImageFile) -> None:
        self._file = file
        self.path = file.path
        self.virtual_size = file.size

    @classmethod
    def open(cls, path: str | Path) -> RawDisk:
        return cls(ImageFile(path))

    def info(self) -> DiskInfo:
        return DiskInfo(
            path=self.path,
            format="raw",
            subformat="fixed",
            virtual_size=self.virtual_size,
            allocated_bytes=sum(e.length for e in self.allocated_extents()),
            chain=[self.path],
        )

    def allocated_extents(self) -> Iterator[Extent]:
        return iter(merge_extents(data_runs(self._file.fd, self.virtual_size)))

    def read(self, offset: int, length: int) -> bytes:
        check_read_range(offset, length, self.virtual_size)
        data = self._file.pread_short(offset, length)
        if len(data) < length:  # the file shrank under us: a fingerprint check catches it
            data += bytes(length - len(data))
        return data

    def read_into(self, offset: int, buffer: memoryview) -> None:
        check_read_range(offset, len(buffer), self.virtual_size)
        got = self._file.read_available(offset, buffer)
        if got < len(buffer):  # the file shrank under us: a fingerprint check catches it
            buffer[got:] = bytes(len(buffer) - got)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"raw|{self._file.identity()}".encode()).hexdigest()

    def close(self) -> None:
        self._file.close()


def data_runs(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each data region of a possibly sparse file."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        if size:
            yield (0, size)
        return
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                return
            yield (pos, size - pos)  # the filesystem cannot tell: assume all data
            return
        end = min(os.lseek(fd, start, seek_hole), size)
        yield (start, end - start)
        pos = end
