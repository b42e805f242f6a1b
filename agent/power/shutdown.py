"""The planned failover's shutdown: the source VM is off when this says so, or it says why not.

A planned failover promises no data loss, so the VM must be off (nothing writes to its disks)
before the final sync; "asked to shut down" is not enough. The procedure:

1. read the power state: already off → succeeded at once (a resent command changes nothing);
2. ask the guest to shut down (VMM `Stop-SCVirtualMachine -Shutdown`, Hyper-V `Stop-VM`, or
   the operator's hook);
3. read the state every few seconds until it is off, or the command's timeout passes;
4. then, only when the command says `forceAfterTimeout`, turn the VM off and confirm;
   otherwise fail with `ShutdownTimedOut` and leave the VM as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.power.control import PowerCancelled, PowerControl, PowerError, VmRef, is_off

log = logging.getLogger("agent.power")
POLL_SECONDS = 2.0
CALL_SECONDS = 120.0  # one state/shutdown call; a slow VMM job answers within this
TURN_OFF_SECONDS = 120.0  # a turned-off VM is off within seconds; VMM's job takes longer


@dataclass(frozen=True)
class ShutdownRequest:
    timeout_seconds: float
    force_after_timeout: bool = False


def shut_down(
    control: PowerControl,
    vm: VmRef,
    request: ShutdownRequest,
    cancel: threading.Event,
    *,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """The `command.result` data for this shutdown. Never raises for what the control plane
    should hear (a PowerError becomes a failed result); raises PowerCancelled."""
    deadline = clock() + request.timeout_seconds

    def left() -> float:
        return max(1.0, min(CALL_SECONDS, deadline - clock()))

    try:
        state = control.state(vm, cancel, left())
        if is_off(state):
            return succeeded(vm, state, "already off")
        log.info("shutting down %s (%s, %s)", vm.id, control.name, state)
        control.shutdown(vm, cancel, left())
        state = _wait_off(control, vm, cancel, deadline, poll_seconds, clock, state)
        if is_off(state):
            return succeeded(vm, state, f"shut down by the guest ({control.name})")
        if not request.force_after_timeout:
            return failed(vm, _timed_out(vm, control, request, state), state)
        log.warning("%s still %s after %g s: turning it off", vm.id, state, request.timeout_seconds)
        control.turn_off(vm, cancel, TURN_OFF_SECONDS)
        after = clock() + TURN_OFF_SECONDS
        state = _wait_off(control, vm, cancel, after, poll_seconds, clock, state)
        if is_off(state):
            return succeeded(
                vm,
                state,
                f"turned off {request.timeout_seconds:g} s after the "
                "guest was asked to shut down (forceAfterTimeout)",
            )
        return failed(
            vm,
            PowerError(
                "TurnOffTimedOut",
                f"VM {vm.id} was turned off ({control.name}) but was still {state} "
                f"{TURN_OFF_SECONDS:g} s later.",
                "Check the VM on its host (a stuck worker process, a host under maintenance) and "
                "turn it off by hand, then run the planned failover again.",
            ),
            state,
        )
    except PowerError as error:
        log.warning("shutdown of %s failed: %s", vm.id, error)
        return failed(vm, error, None)


def _wait_off(
    control: PowerControl,
    vm: VmRef,
    cancel: threading.Event,
    deadline: float,
    poll_seconds: float,
    clock: Callable[[], float],
    state: str,
) -> str:
    """The state once it is off, or the last state seen when the deadline passed."""
    while True:
        if is_off(state):
            return state
        wait = min(poll_seconds, deadline - clock())
        if wait <= 0:
            return state
        if cancel.wait(wait):
            raise PowerCancelled
        state = control.state(vm, cancel, max(1.0, min(CALL_SECONDS, deadline - clock() + 5)))


def _timed_out(
    vm: VmRef, control: PowerControl, request: ShutdownRequest, state: str
) -> PowerError:
    return PowerError(
        "ShutdownTimedOut",
        f"VM {vm.id} was asked to shut down ({control.name}) and was still {state} "
        f"{request.timeout_seconds:g} s later.",
        "Find what keeps the guest up (integration services or ACPI not answering, an "
        "application blocking shutdown, updates installing) and shut it down by hand; or send "
        "the shutdown again with a longer timeoutSeconds, or with forceAfterTimeout: true to "
        "turn it off after the timeout (what the guest had not written is lost).",
    )


def succeeded(vm: VmRef, state: str, detail: str) -> dict[str, Any]:
    log.info("%s is off (%s)", vm.id, detail)
    return {
        "commandId": vm.command_id,
        "status": "succeeded",
        "powerState": state,
        "detail": detail,
    }


def failed(vm: VmRef, error: PowerError, state: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"commandId": vm.command_id, "status": "failed", **error.to_dict()}
    if state:
        out["powerState"] = state
    return out
