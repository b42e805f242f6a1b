"""Running an operator's executable (a hook, PowerShell) the way the agent must: bounded in time,
stoppable by a cancel, and never leaving what it started behind.

Every child runs in its own process group (a new process group on Windows), so a timeout or a
cancel kills the script and everything it spawned, not just the shell in front of it. Input goes
on stdin, never on a shell command line: names a VMM tenant chose reach a script as data.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POLL_SECONDS = 0.2


class ProcessProblem(Exception):
    """The child could not start or did not finish in time; `str()` says which."""


class ProcessCancelled(Exception):
    """The caller's cancel was set while the child ran (it was stopped)."""


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str

    def last_line(self) -> str:
        """The last non-empty stdout line: scripts log before they answer."""
        lines = [line.strip() for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def parse_command_line(value: str) -> list[str]:
    """A setting naming an executable as argv: a path, or a command line
    (`powershell.exe -File x.ps1`). Windows paths keep their backslashes: split without POSIX
    escapes there, then drop quotes."""
    if os.name != "nt":
        return shlex.split(value)
    return [
        t[1:-1] if len(t) > 1 and t[0] == t[-1] == '"' else t
        for t in shlex.split(value, posix=False)
    ]


def executable_problem(argv: list[str], what: str) -> str | None:
    """Why `argv` cannot run (checked at start, so a typo fails loudly, not at the first use)."""
    if not argv:
        return f"the {what} setting is empty."
    if shutil.which(argv[0]) is None:
        return f"the {what} {argv[0]} is not an executable file (or not on PATH)."
    return None


def run(
    argv: list[str],
    *,
    stdin: str = "",
    timeout: float,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    what: str = "process",
) -> Finished:
    """Run to completion. Raises ProcessProblem on a timeout or a child that cannot start,
    ProcessCancelled on a cancel; either way the child's process group is killed first."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
            **_own_group(),
        )
    except OSError as error:
        raise ProcessProblem(f"the {what} {argv[0]} could not start: {error}") from None
    deadline = time.monotonic() + timeout
    pending: str | None = stdin
    while True:
        try:
            out, err = proc.communicate(pending, timeout=POLL_SECONDS)
            return Finished(proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            pending = None  # sent on the first call; a retry only collects output
        if cancel is not None and cancel.is_set():
            _kill(proc)
            raise ProcessCancelled(f"{what} cancelled")
        if time.monotonic() >= deadline:
            _kill(proc)
            raise ProcessProblem(f"the {what} did not finish within {timeout:g} s and was stopped.")


def _own_group() -> dict[str, Any]:
    """Start the child in its own process group, so a timeout stops what it started too."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        if os.name == "nt":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
        proc.communicate(timeout=5)  # reap it; pipes a stray child holds are abandoned
