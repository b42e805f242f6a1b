"""The operator's shutdown hook: power control for VMs the agent cannot reach itself.

The agent runs the executable the operator configured (AGENT_SHUTDOWN_HOOK) with a verb:

    HOOK shutdown VM_ID COMMAND_ID   ask the guest to shut down; exit 0 once asked (or if the
                                     VM is already off), non-zero with the reason otherwise
    HOOK status   VM_ID COMMAND_ID   exit 0; the last stdout line is the power state
                                     (`Off`, `PowerOff` or `Stopped` mean off)
    HOOK turnoff  VM_ID COMMAND_ID   pull the plug (only when the command forces it)

Its environment carries DR_VM_ID, DR_VM_NAME, DR_DISK_PATHS (a JSON list), DR_COMMAND_ID and
DR_ACTION, and stdin the same as JSON. A separate status hook (AGENT_POWER_STATE_HOOK) answers
`status` instead when the operator has one (a monitoring query, say). Every call runs under a
timeout, in its own process group.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

from agent import process
from agent.power.control import PowerCancelled, PowerError, VmRef

REASON_CHARS = 500


@dataclass(frozen=True)
class HookPower:
    argv: list[str]
    status_argv: list[str] | None = None
    name: str = "shutdown hook"

    def state(self, vm: VmRef, cancel: threading.Event, timeout: float) -> str:
        answer = self._call(self.status_argv or self.argv, "status", vm, cancel, timeout)
        if not answer:
            raise PowerError(
                "ShutdownHookBadAnswer",
                "the shutdown hook's status printed no power state on stdout.",
                "Make `HOOK status VM_ID COMMAND_ID` print the VM's power state (e.g. Off or "
                "Running) as its last line and exit 0.",
            )
        return answer[:64]

    def shutdown(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None:
        self._call(self.argv, "shutdown", vm, cancel, timeout)

    def turn_off(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None:
        self._call(self.argv, "turnoff", vm, cancel, timeout)

    def _call(
        self, argv: list[str], verb: str, vm: VmRef, cancel: threading.Event, timeout: float
    ) -> str:
        """The hook's last stdout line; PowerError when it fails, times out or cannot run."""
        request = {
            "vm": vm.id,
            "vmName": vm.name,
            "commandId": vm.command_id,
            "diskPaths": list(vm.disk_paths),
            "action": verb,
        }
        env = {
            **os.environ,
            "DR_VM_ID": vm.id,
            "DR_VM_NAME": vm.name or "",
            "DR_DISK_PATHS": json.dumps(list(vm.disk_paths)),
            "DR_COMMAND_ID": vm.command_id,
            "DR_ACTION": verb,
        }
        try:
            done = process.run(
                [*argv, verb, vm.id, vm.command_id],
                stdin=json.dumps(request),
                timeout=timeout,
                cancel=cancel,
                env=env,
                what=f"shutdown hook's {verb}",
            )
        except process.ProcessCancelled:
            raise PowerCancelled from None
        except process.ProcessProblem as problem:
            raise PowerError("ShutdownHookFailed", str(problem), _FIX) from None
        if done.code != 0:
            reason = (done.stderr.strip() or done.last_line())[-REASON_CHARS:]
            raise PowerError(
                "ShutdownHookFailed",
                f"the shutdown hook's {verb} exited with {done.code}: "
                f"{reason or 'no reason given'}",
                _FIX,
            )
        return done.last_line()


_FIX = (
    "Run the hook by hand with the same arguments on the VMM server to see why, fix it "
    "(or the VM), then send the shutdown again; the VM was not shut down by the agent."
)
