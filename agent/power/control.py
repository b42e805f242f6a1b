"""What every way of reaching a VM's power must do, and the words it answers in."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from agent.errors import AgentError

# Power states that mean "off" as each source spells them: VMM's VirtualMachineState
# `PowerOff`, Hyper-V's VMState `Off`, and what a hook may print.
OFF_STATES = frozenset({"off", "poweroff", "poweredoff", "stopped"})


def is_off(state: str) -> bool:
    return state.strip().lower().replace(" ", "").replace("_", "") in OFF_STATES


@dataclass(frozen=True)
class VmRef:
    """The VM a power command is about, with what a hook may want to know of it."""

    id: str
    command_id: str
    name: str | None = None
    disk_paths: tuple[str, ...] = ()


class PowerError(AgentError):
    """Power control failed (the hook or PowerShell refused, the VM is unknown, ...)."""


class PowerCancelled(Exception):
    """The command was cancelled while a power call ran."""


class PowerControl(Protocol):
    """`state` answers the source's own word for the power state; `shutdown` asks the guest
    to shut down (returns once asked, not once off); `turn_off` pulls the plug."""

    name: str

    def state(self, vm: VmRef, cancel: threading.Event, timeout: float) -> str: ...

    def shutdown(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None: ...

    def turn_off(self, vm: VmRef, cancel: threading.Event, timeout: float) -> None: ...
