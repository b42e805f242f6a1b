"""Run one of the agent's PowerShell scripts and read its JSON answer.

A script gets its action as `-Action WORD` (a fixed vocabulary) and everything else as JSON on
stdin, never on its command line: a VM or disk name chosen by a VMM tenant reaches the script
as data, not as a parameter it could inject. It answers with one JSON line on stdout (the last
line; what it logged before is ignored), or exits non-zero with the reason on stderr. Exit code
3 means "no such VM or disk" (VmNotFound), so a deleted VM is not mistaken for a broken host.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import process
from agent.errors import AgentError

SCRIPTS = Path(__file__).with_name("scripts")
REASON_CHARS = 500
NOT_FOUND = 3
GUID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
SOURCES = ("vmm", "host")


class Cancelled(Exception):
    """The caller's cancel was set while the script ran (it was stopped)."""


def default_executable() -> str:
    """Windows PowerShell where the VMM console installs its module; PowerShell 7 elsewhere."""
    return "powershell.exe" if os.name == "nt" else "pwsh"


def check_guid(value: str, what: str) -> str:
    """VMM and Hyper-V name VMs by GUID: anything else is refused before a script runs."""
    if not GUID.match(value):
        raise AgentError(
            "BadVmId",
            f"{what} {value[:80]!r} is not a GUID; VMM and Hyper-V identify VMs by GUID.",
            "Send the VM id the agent's inventory reported (the VMM ID or Hyper-V VMId).",
        )
    return value


@dataclass(frozen=True)
class PowerShell:
    """How to reach VMM (`source="vmm"`, on `vmm_server`) or the local Hyper-V host."""

    executable: list[str]
    source: str = "vmm"
    vmm_server: str = "localhost"
    timeout_seconds: float = 300.0

    @property
    def label(self) -> str:
        return "VMM" if self.source == "vmm" else "Hyper-V"

    def run(
        self,
        script: str,
        action: str,
        request: dict[str, Any] | None = None,
        *,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The script's JSON answer. Raises AgentError (PowerShellFailed, PowerShellBadOutput,
        VmNotFound) or Cancelled."""
        argv = [
            *self.executable,
            "-NoProfile",
            "-NonInteractive",
            "-ExecutionPolicy",
            "Bypass",
            "-File",
            str(SCRIPTS / script),
            "-Action",
            action,
        ]
        body = {"source": self.source, "vmmServer": self.vmm_server, **(request or {})}
        try:
            done = process.run(
                argv,
                stdin=json.dumps(body),
                timeout=timeout or self.timeout_seconds,
                cancel=cancel,
                what=f"PowerShell script {script} {action}",
            )
        except process.ProcessCancelled:
            raise Cancelled from None
        except process.ProcessProblem as problem:
            raise AgentError("PowerShellFailed", str(problem), _fix(self)) from None
        reason = (done.stderr.strip() or done.last_line())[-REASON_CHARS:] or "no reason given"
        if done.code == NOT_FOUND:
            raise AgentError(
                "VmNotFound",
                f"{self.label} knows no such VM or disk ({script} {action}: {reason}).",
                "The VM may have been deleted or moved to a host this agent does not manage; "
                "check it in the VMM console, then let the next inventory report it.",
            )
        if done.code != 0:
            raise AgentError(
                "PowerShellFailed",
                f"{script} {action} exited with {done.code}: {reason}",
                _fix(self),
            )
        try:
            return json.loads(done.last_line())
        except ValueError:
            raise AgentError(
                "PowerShellBadOutput",
                f"{script} {action} printed no JSON as its last line ({done.last_line()[:200]!r}).",
                "Run the script by hand on the VMM server (its stdin is the JSON request) and "
                "look for errors its output hides; a profile or module that prints on load can "
                "also cause this.",
            ) from None


def _fix(shell: PowerShell) -> str:
    if shell.source == "vmm":
        return (
            "Check that the agent's account can reach VMM (the VirtualMachineManager module is "
            f"installed and Get-SCVMMServer -ComputerName {shell.vmm_server} works for it), "
            "then let the agent try again."
        )
    return (
        "Check that the agent's account is a Hyper-V administrator on this host (Get-VM works "
        "for it), then let the agent try again."
    )
