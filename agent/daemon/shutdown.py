"""One `shutdown` command: checked, then the shutdown procedure, answered by `command.result`.

The command comes from the network, so each field is checked before anything runs. A command
that waited in the queue longer than its own timeout (plus a grace for clock skew) is refused
rather than run late: the failover that sent it has given up by then, and a VM shut down an
hour after the operator restarted it would be an outage the agent caused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.errors import AgentError
from agent.power.control import PowerCancelled, PowerControl, VmRef
from agent.power.shutdown import POLL_SECONDS, ShutdownRequest, failed, shut_down

RESULT = "command.result"
DEFAULT_TIMEOUT_SECONDS = 300
TIMEOUT_RANGE = (5, 3600)
LATE_GRACE = timedelta(minutes=5)
MAX_DISKS = 256


def run_shutdown(
    command: dict[str, Any],
    control: PowerControl | None,
    cancel: threading.Event,
    *,
    known: Callable[[str], tuple[str | None, tuple[str, ...]]] | None = None,
    poll_seconds: float = POLL_SECONDS,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """(`command.result`, data), or None when cancelled. `known(vm)` is what the agent's own
    inventory says of the VM (name, disk paths): preferred over what the command carries."""
    vm_id, command_id = str(command["vm"]), str(command["id"])
    try:
        request, name, disks = parse(command, now or datetime.now(UTC))
        if control is None:
            raise AgentError(
                "ShutdownNotConfigured",
                "this agent has no way to shut VMs down: no shutdown hook "
                "(AGENT_SHUTDOWN_HOOK) and no VMM or Hyper-V access (AGENT_HYPERV is off).",
                "Set AGENT_HYPERV=vmm (or host) on the VMM server's agent, or give it a "
                "shutdown hook; then run the planned failover again. Or shut the VM down by "
                "hand and fail over.",
            )
    except AgentError as error:
        return RESULT, failed(VmRef(vm_id, command_id), error, None)
    own_name, own_disks = known(vm_id) if known else (None, ())
    vm = VmRef(vm_id, command_id, own_name or name, own_disks or disks)
    try:
        return RESULT, shut_down(control, vm, request, cancel, poll_seconds=poll_seconds)
    except PowerCancelled:
        return None


def parse(
    command: dict[str, Any], now: datetime
) -> tuple[ShutdownRequest, str | None, tuple[str, ...]]:
    """The request, the name and the disk paths; AgentError BadCommand or ShutdownExpired."""
    data = command.get("data")
    if not isinstance(data, dict):
        raise _bad("its data is not an object.")
    timeout = data.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    low, high = TIMEOUT_RANGE
    if not isinstance(timeout, int) or isinstance(timeout, bool) or not low <= timeout <= high:
        raise _bad(f"timeoutSeconds must be an integer from {low} to {high}.")
    force = data.get("forceAfterTimeout", False)
    if not isinstance(force, bool):
        raise _bad("forceAfterTimeout must be true or false.")
    name = data.get("vmName")
    if name is not None and not _text(name, 256):
        raise _bad("vmName must be text of 1 to 256 printable characters.")
    disks = data.get("diskPaths", [])
    if not isinstance(disks, list) or len(disks) > MAX_DISKS:
        raise _bad(f"diskPaths must be a list of at most {MAX_DISKS} paths.")
    if not all(_text(d, 1024) for d in disks):
        raise _bad("each of diskPaths must be text of 1 to 1024 printable characters.")
    sent = _time(command.get("time"))
    if now - sent > timedelta(seconds=timeout) + LATE_GRACE:
        raise AgentError(
            "ShutdownExpired",
            f"the shutdown was sent at {sent.isoformat()} and reached the agent "
            f"{(now - sent).total_seconds():.0f} s later, past its {timeout} s timeout: the "
            "failover that sent it has given up.",
            "Nothing was done to the VM. Start the planned failover again if it is still "
            "wanted; check why the agent was offline (its heartbeat) first.",
        )
    return ShutdownRequest(timeout, force), name, tuple(disks)


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise _bad("its time is missing.")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"its time {value[:40]!r} is not an ISO 8601 time.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _text(value: object, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def _bad(why: str) -> AgentError:
    return AgentError(
        "BadCommand",
        f"the shutdown command is malformed: {why}",
        "Nothing was done to the VM. Send the command as the contract says (timeoutSeconds, "
        "forceAfterTimeout, vmName, diskPaths); a control plane and agent of different "
        "versions may disagree: upgrade the older one.",
    )
