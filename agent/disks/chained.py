"""What the VHD and VHDX readers share: one image file, an optional parent, block-wise reads.

A subclass validates its format at open and implements `read_into` (how its blocks map to the
file, and when to defer to the parent) and `_compute_extents`; this class does the rest the
same way for both: parent fall-through, cached extents, `read` through a warm buffer, chain
info, fingerprint and closing.
"""

from __future__ import annotations

import hashlib
import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agent.disks._file import ImageFile
from agent.disks._scratch import read_via_scratch
from agent.disks.base import DiskImage, DiskInfo, Extent
from agent.disks.extents import check_read_range, clip_extents
from agent.errors import DiskError

MAX_CHAIN_DEPTH = 64


class ChainedImage(DiskImage):
    """A disk image file with an optional parent image (differencing disks)."""

    format_name = ""

    def __init__(self, file: ImageFile, virtual_size: int, parent: DiskImage | None) -> None:
        self._file = file
        self.path = file.path
        self.virtual_size = virtual_size
        self.parent = parent
        self._extents: list[Extent] | None = None
        self._extents_lock = threading.Lock()

    @property
    @abstractmethod
    def subformat(self) -> str: ...

    @abstractmethod
    def _compute_extents(self) -> list[Extent]:
        """This file's own allocated runs merged with the parent's (see `inherited_extents`)."""

    @abstractmethod
    def _identity_parts(self) -> list[str]:
        """What, besides the file's identity, tells this image's content apart."""

    def _info_fields(self) -> dict[str, Any]:
        """Format-specific DiskInfo fields (sector sizes, block size)."""
        return {}

    def chain(self) -> list[Path]:
        """This file first, then each parent."""
        return [self.path] + (self.parent.info().chain if self.parent is not None else [])

    def info(self) -> DiskInfo:
        return DiskInfo(
            path=self.path,
            format=self.format_name,
            subformat=self.subformat,
            virtual_size=self.virtual_size,
            allocated_bytes=sum(e.length for e in self.allocated_extents()),
            chain=self.chain(),
            **self._info_fields(),
        )

    def allocated_extents(self) -> Iterator[Extent]:
        with self._extents_lock:  # computed once: the image does not change while open
            if self._extents is None:
                self._extents = self._compute_extents()
        return iter(self._extents)

    def inherited_extents(self) -> list[tuple[int, int]]:
        """The parent's extents inside this disk (a union along the chain is a superset of
        what may hold data: enough, since outside the extents everything reads as zeros)."""
        if self.parent is None:
            return []
        return [
            (e.offset, e.length)
            for e in clip_extents(self.parent.allocated_extents(), self.virtual_size)
        ]

    def read(self, offset: int, length: int) -> bytes:
        check_read_range(offset, length, self.virtual_size)
        return read_via_scratch(self.read_into, offset, length)

    def read_sector_runs(
        self,
        runs: Iterable[tuple[bool, int, int]],
        first_sector: int,
        sector: int,
        in_block: int,
        data_at: int,
        block_start: int,
        dst: memoryview,
    ) -> None:
        """Fill `dst` (bytes `in_block`.. of a block) run by run of a differencing block's
        sector bitmap: a present run from this file at `data_at`, the rest from the parent at
        `block_start`. VHD and VHDX differ only in how they find and order the bits."""
        end = in_block + len(dst)
        for present, s0, run in runs:
            a = max((first_sector + s0) * sector, in_block)
            b = min((first_sector + s0 + run) * sector, end)
            piece = dst[a - in_block : b - in_block]
            if present:
                self._file.read_into(data_at + a, piece)
            else:
                self.read_parent(block_start + a, piece)

    def read_parent(self, pos: int, dst: memoryview) -> None:
        """The parent's bytes at `pos`; zeros past its end (a child may outgrow its parent)."""
        inside = 0
        if self.parent is not None:
            inside = max(0, min(len(dst), self.parent.virtual_size - pos))
            if inside:
                self.parent.read_into(pos, dst[:inside])
        if inside < len(dst):
            dst[inside:] = bytes(len(dst) - inside)

    def fingerprint(self) -> str:
        parts = [self.format_name, self._file.identity(), *self._identity_parts()]
        if self.parent is not None:
            parts.append(self.parent.fingerprint())
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def close(self) -> None:
        self._file.close()
        if self.parent is not None:
            self.parent.close()


def check_chain_depth(path: Path, depth: int) -> None:
    if depth >= MAX_CHAIN_DEPTH:
        raise DiskError(
            "ChainTooDeep",
            f"{path}: the differencing chain is deeper than {MAX_CHAIN_DEPTH} (or loops).",
            "Merge the chain in Hyper-V (Merge-VHD) and replicate the merged disk.",
        )


def open_parent_file(child: Path, parent_path: Path, signature_ok: Any, what: str) -> ImageFile:
    """Open the parent file and check its format signature before parsing it."""
    parent_file = ImageFile(parent_path)
    if not signature_ok(parent_file.pread_short(0, 8)):
        parent_file.close()
        raise DiskError(
            "ParentFormatMismatch",
            f"{child}: its parent {parent_path} is not a {what}.",
            f"A {what}'s parent must be a {what}: point the child at the parent it was made from.",
        )
    return parent_file
