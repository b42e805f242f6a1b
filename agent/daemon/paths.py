"""Which disk files the agent may read: only under the folders its operator allows.

A command names disk paths, and a command is hostile input: `C:\\VMs\\..\\Windows\\...`, a
symbolic link planted in a VM folder, or a differencing disk whose recorded parent lives
elsewhere must not make the agent read (and upload) a file the operator never meant to
replicate. So each path is resolved (`..` and symbolic links followed to the real file) and
must lie under one of AGENT_ALLOWED_DISK_ROOTS, itself resolved, before the file is opened; a
differencing disk's parent chain is checked the same way before any of its data is read.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import AgentError


def parse_roots(value: str | None) -> list[Path] | None:
    """The setting (folders separated by `;` on Windows, `:` elsewhere); None: unrestricted.
    Raises ValueError naming a root that is not an existing absolute folder."""
    if not value:
        return None
    roots = []
    for part in value.split(os.pathsep):
        if not part.strip():
            continue
        root = Path(part.strip())
        if not root.is_absolute() or not root.is_dir():
            raise ValueError(f"allowed disk root {part!r} is not an existing absolute folder")
        roots.append(root.resolve())
    return roots or None


def check_path(path: str | Path, roots: list[Path] | None) -> Path:
    """The real path of `path`, if it lies under an allowed root; else DiskPathNotAllowed."""
    given = Path(path)
    if roots is None:
        return given
    if not given.is_absolute():
        raise _refused(str(path), "it is a relative path", roots)
    real = given.resolve()  # follows `..` and every symbolic link, even a dangling one
    if not any(_under(real, root) for root in roots):
        shown = str(real) if str(real) != str(given) else "it"
        raise _refused(str(path), f"{shown} is outside them", roots)
    return real


def check_chain(chain: list[Path], roots: list[Path] | None) -> None:
    """Every file of a differencing chain (parents the disk itself records) is allowed too."""
    for link in chain:
        check_path(link, roots)


def _under(path: Path, root: Path) -> bool:
    a, b = os.path.normcase(str(path)), os.path.normcase(str(root))
    return a == b or os.path.commonpath([a, b]) == b


def _refused(path: str, why: str, roots: list[Path]) -> AgentError:
    return AgentError(
        "DiskPathNotAllowed",
        f"the disk {path[:300]} may not be read: this agent reads disks only under "
        f"{', '.join(str(r) for r in roots)} (AGENT_ALLOWED_DISK_ROOTS), and {why}. Nothing "
        "was read.",
        "If the disk is really the VM's, add its folder to AGENT_ALLOWED_DISK_ROOTS on the VMM "
        "server and restart the agent; otherwise find out who sent a command naming it.",
    )
