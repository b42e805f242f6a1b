"""Finding a differencing disk's parent from the Windows paths the child records.

Hyper-V writes Windows paths (`.\\base.vhdx`, `C:\\VMs\\base.vhdx`,
`\\\\?\\Volume{...}\\VMs\\base.vhdx`). The agent may run elsewhere (a Linux copy of the
folder), so after the relative path we look for the recorded file name next to the child and
in the caller's search folders. The identity check (GUID) is the caller's: a name match alone
proves nothing.
"""

from __future__ import annotations

import ntpath
from collections.abc import Iterable, Sequence
from pathlib import Path

from agent.errors import DiskError


def windows_relative(child_dir: Path, value: str) -> Path | None:
    """A Windows relative path (`.\\a\\b.vhdx`, `..\\b.vhdx`) resolved against `child_dir`."""
    if not value or ntpath.isabs(value) or ntpath.splitdrive(value)[0]:
        return None
    parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
    return child_dir.joinpath(*parts) if parts else None


def windows_basename(value: str) -> str:
    """The file name of any Windows or POSIX path (drive, volume GUID and UNC forms too)."""
    return ntpath.basename(value.replace("/", "\\"))


def parent_candidates(
    child: Path,
    *,
    relative: Sequence[str],
    absolute: Sequence[str],
    search_dirs: Iterable[Path],
) -> list[Path]:
    """Where to look for the parent, in order, without duplicates.

    1. each relative path against the child's folder; 2. each absolute path as is (when the
    agent runs on Windows, or the path is POSIX); 3. every recorded file name in the child's
    folder, then in each search folder.
    """
    child_dir = child.parent
    found: list[Path] = []

    def add(p: Path | None) -> None:
        if p is not None and p not in found:
            found.append(p)

    for value in relative:
        add(windows_relative(child_dir, value))
    for value in absolute:
        if value.startswith("/") or (ntpath.splitdrive(value)[0] and Path(value).drive):
            add(Path(value))
    names = [windows_basename(v) for v in (*relative, *absolute) if v]
    for folder in (child_dir, *search_dirs):
        for name in names:
            if name:
                add(Path(folder) / name)
    return found


def find_parent(child: Path, candidates: Sequence[Path], recorded: Sequence[str]) -> Path:
    """The first candidate that exists, or a DiskError naming what was recorded and tried."""
    for path in candidates:
        if path.is_file():
            return path
    shown = ", ".join(repr(r) for r in recorded if r) or "nothing"
    tried = ", ".join(str(p) for p in candidates) or "nothing"
    raise DiskError(
        "ParentNotFound",
        f"{child} is a differencing disk whose parent cannot be found: it records {shown}; "
        f"tried {tried}.",
        "Copy the parent disk next to the child (same file name), or pass the folder holding it "
        "with --search-dir; or merge the chain in Hyper-V (Merge-VHD) and replicate the result.",
    )
