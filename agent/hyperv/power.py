"""Power control through VMM (`Stop-SCVirtualMachine`) or Hyper-V (`Stop-VM`), by power.ps1.

The script answers each action with the VM's documented properties: VMM's `ID`, `Name`,
`VirtualMachineState` (`Running`, `PowerOff`, ...) and `Status`; Hyper-V's `VMId`, `Name` and
`State` (`Running`, `Off`, ...). Shutdown and turn-off return once VMM or Hyper-V took them:
the shutdown procedure reads the state until it is off.
"""

from __future__ import annotations

import threading
from typing import Any

from agent.errors import AgentError
from agent.hyperv.powershell import Cancelled, PowerShell, check_guid
from agent.power.control import PowerCancelled, PowerError, VmRef


class HyperVPower:
    def __init__(self, shell: PowerShell) -> None:
        self.shell = shell
        self.name = shell.label

    def state(self, vm: VmRef, cancel: threading.Event, timeout: float) -> str:
        return self._state(self._run("status", vm, cancel, timeout))

    def shutdown(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None:
        self._run("shutdown", vm, cancel, timeout)

    def turn_off(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None:
        self._run("turnoff", vm, cancel, timeout)

    def _run(self, action: str, vm: VmRef, cancel: threading.Event, timeout: float) -> Any:
        try:
            check_guid(vm.id, "VM id")
            return self.shell.run(
                "power.ps1", action, {"vmId": vm.id}, cancel=cancel, timeout=timeout
            )
        except Cancelled:
            raise PowerCancelled from None
        except AgentError as error:
            raise PowerError(error.code, error.cause, error.recommendation) from None

    def _state(self, answer: Any) -> str:
        key = "VirtualMachineState" if self.shell.source == "vmm" else "State"
        state = answer.get(key) if isinstance(answer, dict) else None
        if not isinstance(state, str) or not state:
            raise PowerError(
                "PowerShellBadOutput",
                f"power.ps1 status answered no {key} ({str(answer)[:200]}).",
                "Run power.ps1 -Action status by hand on the VMM server and check its output.",
            )
        return state[:64]
