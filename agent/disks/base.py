"""What every disk reader offers the replication engine: a virtual disk with an extent map.

The engine never knows the file format. It asks for the allocated extents (the only ranges
that can hold data; everything else reads as zeros) and reads virtual bytes from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, order=True)
class Extent:
    """A range of the virtual disk, in bytes."""

    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass
class DiskInfo:
    """What `python -m agent inspect` prints."""

    path: Path
    format: str  # "vhdx" | "vhd" | "raw"
    subformat: str  # "fixed" | "dynamic" | "differencing"
    virtual_size: int
    logical_sector_size: int = 512
    physical_sector_size: int = 512
    block_size: int | None = None
    allocated_bytes: int = 0
    chain: list[Path] = field(default_factory=list)  # this file first, then each parent


class DiskImage(ABC):
    """An open, validated disk image. Opening it checked every structure the reads rely on."""

    path: Path
    virtual_size: int

    @abstractmethod
    def info(self) -> DiskInfo: ...

    @abstractmethod
    def allocated_extents(self) -> Iterator[Extent]:
        """Sorted, non-overlapping, merged ranges that may hold data (across the parent chain).

        Outside them the disk reads as zeros. Inside them it may still read as zeros.
        """

    @abstractmethod
    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes of the virtual disk at `offset` (zeros where nothing is allocated)."""

    def read_into(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with `len(buffer)` virtual bytes at `offset`, without allocating.

        The readers override this (it is what their `read` uses); the engine may call it with
        its own reusable buffers to skip a copy. The default serves any other DiskImage.
        """
        buffer[:] = self.read(offset, len(buffer))

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes when the image's content may have changed (headers, size, mtime of each file
        in the chain); a resume refuses to mix data from two different fingerprints."""

    def close(self) -> None:  # noqa: B027 - readers without handles need nothing
        """Release file handles."""

    def __enter__(self) -> DiskImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
