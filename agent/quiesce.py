"""The quiesce hook: how the agent gets an app-consistent image of a running VM's disks.

The agent does not know how a guest is quiesced; the operator configures an executable that
does (on Hyper-V, a script that takes a production checkpoint: VSS in the guest freezes the
applications, the VHDX files stop changing and new writes go to an .avhdx). The contract,
documented in docs/agent.md:

    HOOK freeze VM_ID COMMAND_ID   stdin: {"vm", "commandId", "disks": [{"diskId", "path"}]}
                                   exit 0, stdout: {"disks": [{"diskId", "path"}]} naming the
                                   frozen image to read for each disk (may be the same path);
                                   or exit non-zero with the reason on stderr.
    HOOK thaw VM_ID COMMAND_ID     same stdin; always after a freeze was tried, so the
                                   checkpoint is merged. Must succeed when nothing is frozen.

Both run under a timeout; a hook that hangs is killed with its whole process group. A freeze
leaves a marker in the state dir until its thaw ran, so a daemon killed in between thaws at its
next start instead of leaving the checkpoint behind.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import process
from agent.private import write_private
from agent.process import executable_problem, parse_command_line

log = logging.getLogger("agent.quiesce")
DEFAULT_TIMEOUT_SECONDS = 120.0
REASON_CHARS = 500  # of the hook's stderr, in a note the control plane shows


class QuiesceFailed(Exception):
    """The hook did not freeze the disks (or did not thaw them); `str()` says why."""


class QuiesceCancelled(Exception):
    """The command was cancelled while the hook ran."""


def parse_hook(value: str) -> list[str]:
    """The hook setting as argv: a path, or a command line (`powershell.exe -File x.ps1`)."""
    return parse_command_line(value)


def hook_problem(argv: list[str]) -> str | None:
    """Why this hook cannot run (checked at start, so a typo fails loudly, not every cycle)."""
    return executable_problem(argv, "quiesce hook")


@dataclass(frozen=True)
class Hook:
    """The configured executable, its timeout, and where freeze markers are kept."""

    argv: list[str]
    timeout_seconds: float
    state_dir: Path

    @property
    def marker_dir(self) -> Path:
        return self.state_dir / "daemon" / "quiesce"

    def session(self, vm: str, command_id: str, disks: list[dict[str, Any]]) -> Session:
        named = [{"diskId": d["diskId"], "path": d["path"]} for d in disks]  # never the SAS
        return Session(self, {"vm": vm, "commandId": command_id, "disks": named})

    def thaw_leftovers(self) -> None:
        """Thaw what a killed daemon froze and never thawed (its markers survived)."""
        for marker in sorted(self.marker_dir.glob("*.json")):
            try:
                request = json.loads(marker.read_text())
                request["vm"], request["commandId"], request["disks"]
            except (OSError, ValueError, KeyError, TypeError):
                marker.unlink(missing_ok=True)
                continue
            log.warning("thawing %s of %s: frozen by an earlier run that did not thaw it",
                        request["commandId"], request["vm"])  # fmt: skip
            Session(self, request).thaw()


class Session:
    """One freeze and its thaw, for one command."""

    def __init__(self, hook: Hook, request: dict[str, Any]) -> None:
        self.hook, self.request = hook, request
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request["commandId"])
        self.marker = hook.marker_dir / f"{safe}.json"

    def freeze(self, cancel: threading.Event) -> dict[str, Path]:
        """Disk id → the frozen image to read. Raises QuiesceFailed or QuiesceCancelled; the
        caller thaws in every case (a failed freeze may have left half a checkpoint)."""
        write_private(self.marker, json.dumps(self.request))
        out = self._call("freeze", cancel)
        return frozen_paths(out, [d["diskId"] for d in self.request["disks"]])

    def thaw(self) -> str | None:
        """Run thaw (never cancelled: the checkpoint must be merged); the problem, if any."""
        try:
            self._call("thaw", None)
        except QuiesceFailed as failed:
            log.error("quiesce hook thaw of %s failed: %s", self.request["commandId"], failed)
            return str(failed)
        finally:
            self.marker.unlink(missing_ok=True)
        return None

    def _call(self, action: str, cancel: threading.Event | None) -> str:
        argv = [*self.hook.argv, action, self.request["vm"], self.request["commandId"]]
        code, out, err = run_hook(argv, json.dumps(self.request), self.hook.timeout_seconds,
                                  cancel, action)  # fmt: skip
        if code != 0:
            reason = err.strip()[-REASON_CHARS:] or "no reason on stderr"
            raise QuiesceFailed(f"the quiesce hook's {action} exited with {code}: {reason}")
        return out


def frozen_paths(stdout: str, disk_ids: list[str]) -> dict[str, Path]:
    """The freeze answer, checked: every disk named once, each image an existing file."""
    try:
        named = {d["diskId"]: Path(d["path"]) for d in _answer(stdout)["disks"]}
    except (ValueError, KeyError, TypeError) as error:
        raise QuiesceFailed(
            'the quiesce hook\'s freeze printed no {"disks": [{"diskId", "path"}]} JSON on '
            f"stdout ({type(error).__name__}: {error})."
        ) from None
    missing = [d for d in disk_ids if d not in named]
    if missing:
        raise QuiesceFailed(f"the quiesce hook's freeze named no image for disk {missing[0]}.")
    for disk_id in disk_ids:
        if not named[disk_id].is_file():
            raise QuiesceFailed(f"the frozen image of disk {disk_id}, {named[disk_id]}, "
                                "is not a file the agent can read.")  # fmt: skip
    return {d: named[d] for d in disk_ids}


def _answer(stdout: str) -> Any:
    """The JSON on stdout; if a script logged lines before it, its last line."""
    try:
        return json.loads(stdout)
    except ValueError:
        lines = [line for line in stdout.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else json.loads(stdout)


def run_hook(argv: list[str], stdin: str, timeout: float, cancel: threading.Event | None,
             action: str) -> tuple[int, str, str]:  # fmt: skip
    """(exit code, stdout, stderr). Raises QuiesceFailed on a timeout or a hook that cannot
    start, QuiesceCancelled on a cancel; either way the hook's process group is killed."""
    try:
        done = process.run(argv, stdin=stdin, timeout=timeout, cancel=cancel,
                           what=f"quiesce hook's {action}")  # fmt: skip
    except process.ProcessCancelled:
        raise QuiesceCancelled(f"{action} cancelled") from None
    except process.ProcessProblem as problem:
        raise QuiesceFailed(str(problem)) from None
    return done.code, done.stdout, done.stderr
