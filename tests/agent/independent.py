"""The two independent readers from PyPI, behind one call: what they say the disk holds.

dissect.hypervisor (AGPL, test-only) and libvhdi-python (pyvhdi) never share code with ours,
so agreement with both is evidence, not tautology. Differencing VHDX: dissect finds the parent
itself (relative_path); pyvhdi is handed the parent chain explicitly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pyvhdi
from dissect.hypervisor.disk.vhd import VHD
from dissect.hypervisor.disk.vhdx import VHDX


def dissect_read(path: Path, ranges: Sequence[tuple[int, int]] | None = None) -> list[bytes]:
    """dissect's bytes for each (offset, length), or the whole disk."""
    with open(path, "rb") as fh:
        is_vhdx = fh.read(8) == b"vhdxfile"
        fh.seek(0)
        disk = VHDX(fh) if is_vhdx else VHD(fh)
        size = disk.size
        out = []
        for offset, length in ranges or [(0, size)]:
            disk.seek(offset)
            out.append(disk.read(length))
        return out


def pyvhdi_read(
    path: Path,
    parents: Sequence[Path] = (),
    ranges: Sequence[tuple[int, int]] | None = None,
) -> list[bytes]:
    """libvhdi's bytes; `parents` is the chain above `path`, nearest first."""
    files = [pyvhdi.file() for _ in range(1 + len(parents))]
    try:
        for f, p in zip(files, [path, *parents], strict=True):
            f.open(str(p))
        for child, parent in itertools.pairwise(files):
            child.set_parent(parent)
        disk = files[0]
        return [
            disk.read_buffer_at_offset(length, offset)
            for offset, length in ranges or [(0, disk.media_size)]
        ]
    finally:
        for f in files:
            f.close()


def pyvhdi_size(path: Path) -> int:
    f = pyvhdi.file()
    f.open(str(path))
    try:
        return f.media_size
    finally:
        f.close()


def first_difference(a: bytes, b: bytes) -> str | None:
    """None when equal, else where they first differ: readable failures for 64 MiB buffers."""
    if a == b:
        return None
    if len(a) != len(b):
        return f"lengths differ: {len(a)} != {len(b)}"
    step = 4096
    for at in range(0, len(a), step):
        if a[at : at + step] != b[at : at + step]:
            i = next(i for i in range(at, at + step) if a[i] != b[i])
            return f"first difference at byte {i:#x}: {a[i : i + 8].hex()} != {b[i : i + 8].hex()}"
    return "differ"  # pragma: no cover
