"""Files only the agent's account may read: the state dir holds commands with their SAS URLs.

Every file the daemon writes goes through `write_private`: created 0600 (owner read/write)
inside directories made 0700, then renamed into place, so a crash leaves the old file or the
new one and no moment exists where another account could read it. On Windows the mode bits
mean little; there the state dir's ACL (the installer's job, see docs/agent.md) protects it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Make `path` (and missing parents) with mode 0700; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    with contextlib.suppress(OSError):
        os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Atomically replace `path` with `data`, readable by the owner only."""
    raw = data.encode() if isinstance(data, str) else data
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # an existing tmp file keeps its mode through O_CREAT
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
