"""Planned failover's shutdown: the real daemon takes `shutdown` commands from the local Service
Bus broker and answers `command.result`, through an operator's shutdown hook (a real shell
script keeping the "VM's" power in a file) or through VMM / Hyper-V PowerShell (the stand-in
PowerShell playing back Get-SCVirtualMachine / Get-VM output, as the cmdlets document it)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.hyperv.powershell import SCRIPTS
from contracts.commands import ShutdownCommand
from contracts.events import CommandResult
from tests.agent.daemon_support import Bus, DaemonProcess, command
from tests.agent.hyperv_standin import StandIn, fixture

POLL = ("--shutdown-poll-seconds", "0.3")

# shutdown|status|turnoff VM COMMAND. The VM's power state lives in $DIR/VM.state and its
# guest's behaviour in $DIR/VM.guest: obeys (off a second after the request), ignores, fails.
HOOK = """#!/bin/sh
DIR="{dir}"
echo "$1 $2 $3 name=$DR_VM_NAME disks=$DR_DISK_PATHS" >> "$DIR/calls"
cat > "$DIR/$1-$3.stdin"
guest=$(cat "$DIR/$2.guest" 2>/dev/null)
case "$1" in
status) echo "checking $2"; cat "$DIR/$2.state" ;;
shutdown)
  [ "$guest" = fails ] && {{ echo "Access denied to $2" >&2; exit 4; }}
  [ "$guest" = ignores ] && exit 0
  (sleep 1; echo Off > "$DIR/$2.state") >/dev/null 2>&1 &
  echo "shutdown of $2 requested" ;;
turnoff) echo Off > "$DIR/$2.state" ;;
esac
"""


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    with Bus(tmp_path_factory.mktemp("servicebus")) as running:
        yield running


@pytest.fixture(scope="module")
def hooked(bus: Bus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A daemon whose power control is the shutdown hook; yields the hook's folder."""
    tmp = tmp_path_factory.mktemp("hooked")
    hook = tmp / "shutdown.sh"
    hook.write_text(HOOK.format(dir=tmp))
    hook.chmod(0o755)
    with DaemonProcess(bus, tmp / "state", tmp / "agent.log") as daemon:
        daemon.start("--shutdown-hook", str(hook), *POLL)
        yield tmp


def vm_in(folder: Path, state: str, guest: str = "obeys") -> str:
    vm = "vm-" + uuid.uuid4().hex[:8]
    (folder / f"{vm}.state").write_text(state + "\n")
    (folder / f"{vm}.guest").write_text(guest)
    return vm


def calls_of(folder: Path, vm: str) -> list[str]:
    path = folder / "calls"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split()[0] for line in lines if line.split()[1] == vm]


def shutdown(vm: str, **data: object) -> dict:
    return command("shutdown", vm, ShutdownCommand.model_validate(data).wire())


def test_the_hook_shuts_a_running_vm_down_and_confirms_it_is_off(bus: Bus, hooked: Path) -> None:
    vm = vm_in(hooked, "Running")
    cmd = shutdown(vm, timeoutSeconds=30, vmName="web01", diskPaths=["/vms/web01.vhdx"])
    bus.send(cmd)
    result = CommandResult.model_validate(bus.events.result_of(cmd["id"]))
    assert result.status == "succeeded", result
    assert result.power_state == "Off" and result.detail.startswith("shut down by the guest")
    calls = calls_of(hooked, vm)
    assert calls[:2] == ["status", "shutdown"] and set(calls[2:]) == {"status"}, calls
    # The hook was told which VM, in its environment and on stdin.
    line = next(x for x in (hooked / "calls").read_text().splitlines() if f"shutdown {vm}" in x)
    assert 'name=web01 disks=["/vms/web01.vhdx"]' in line
    assert '"vmName": "web01"' in (hooked / f"shutdown-{cmd['id']}.stdin").read_text()


def test_a_vm_already_off_succeeds_at_once_and_a_duplicate_does_nothing_twice(
    bus: Bus, hooked: Path
) -> None:
    vm = vm_in(hooked, "Off")
    cmd = shutdown(vm, timeoutSeconds=30)
    bus.send(cmd)
    result = bus.events.result_of(cmd["id"])
    assert result["status"] == "succeeded" and result["detail"] == "already off", result
    assert calls_of(hooked, vm) == ["status"]  # never asked to shut down
    (hooked / f"{vm}.state").write_text("Running\n")  # the operator started it again meanwhile
    bus.send(cmd, message_id="again-" + cmd["id"])  # the same command again (a redelivery)
    log = hooked / "agent.log"
    deadline = time.monotonic() + 30
    while f"command {cmd['id']} again (done)" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    time.sleep(1)
    assert calls_of(hooked, vm) == ["status"]  # nothing ran twice: the VM was left running


def test_a_guest_that_ignores_the_shutdown_fails_at_the_timeout_and_is_left_running(
    bus: Bus, hooked: Path
) -> None:
    vm = vm_in(hooked, "Running", guest="ignores")
    cmd = shutdown(vm, timeoutSeconds=5)
    started = time.monotonic()
    bus.send(cmd)
    result = CommandResult.model_validate(bus.events.result_of(cmd["id"]))
    assert 5 <= time.monotonic() - started < 30
    assert result.status == "failed" and result.code == "ShutdownTimedOut", result
    assert "still Running 5 s later" in result.cause and "forceAfterTimeout" in (
        result.recommendation or ""
    )
    assert result.power_state == "Running"
    assert "turnoff" not in calls_of(hooked, vm)  # not forced: the VM is as it was


def test_force_after_timeout_turns_the_vm_off_and_says_so(bus: Bus, hooked: Path) -> None:
    vm = vm_in(hooked, "Running", guest="ignores")
    cmd = shutdown(vm, timeoutSeconds=5, forceAfterTimeout=True)
    bus.send(cmd)
    result = bus.events.result_of(cmd["id"])
    assert result["status"] == "succeeded" and result["powerState"] == "Off", result
    assert result["detail"].startswith("turned off 5 s after")
    assert calls_of(hooked, vm)[:2] == ["status", "shutdown"] and "turnoff" in calls_of(hooked, vm)


def test_a_failing_hook_is_reported_with_its_reason(bus: Bus, hooked: Path) -> None:
    vm = vm_in(hooked, "Running", guest="fails")
    cmd = shutdown(vm, timeoutSeconds=30)
    bus.send(cmd)
    result = CommandResult.model_validate(bus.events.result_of(cmd["id"]))
    assert result.status == "failed" and result.code == "ShutdownHookFailed", result
    assert "exited with 4: Access denied to " + vm in result.cause
    assert result.recommendation


def test_a_shutdown_that_waited_past_its_timeout_is_refused_and_nothing_is_done(
    bus: Bus, hooked: Path
) -> None:
    vm = vm_in(hooked, "Running")
    late = command("shutdown", vm, {"timeoutSeconds": 60},
                   sent=datetime.now(UTC) - timedelta(hours=1))  # fmt: skip
    bus.send(late)
    result = bus.events.result_of(late["id"])
    assert result["status"] == "failed" and result["code"] == "ShutdownExpired", result
    assert calls_of(hooked, vm) == []


@pytest.mark.parametrize(
    "data, why",
    [
        ({"timeoutSeconds": 99999}, "timeoutSeconds must be an integer from 5 to 3600"),
        ({"timeoutSeconds": "60"}, "timeoutSeconds must be an integer"),
        ({"forceAfterTimeout": "yes"}, "forceAfterTimeout must be true or false"),
        ({"vmName": "web\x0001"}, "vmName must be text"),
        ({"diskPaths": ["x"] * 300}, "diskPaths must be a list of at most 256"),
    ],
)
def test_a_malformed_shutdown_is_refused_before_anything_runs(
    bus: Bus, hooked: Path, data: dict, why: str
) -> None:
    vm = vm_in(hooked, "Running")
    cmd = command("shutdown", vm, data)
    bus.send(cmd)
    result = bus.events.result_of(cmd["id"])
    assert result["code"] == "BadCommand" and why in result["cause"], result
    assert calls_of(hooked, vm) == []


def test_a_command_type_the_agent_does_not_know_is_refused(bus: Bus, hooked: Path) -> None:
    cmd = command("defragment", "vm-x", {})
    bus.send(cmd)
    result = bus.events.result_of(cmd["id"])
    assert result["status"] == "failed" and result["code"] == "UnknownCommand", result


# --- VMM and Hyper-V through PowerShell --------------------------------------------------------

WEB01 = fixture("power-vmm.json")["output"]["ID"]
DB01 = fixture("power-host.json")["output"]["VMId"]


@pytest.fixture
def standin(tmp_path: Path) -> StandIn:
    return StandIn(tmp_path / "hyperv", {"power": {
        WEB01: {"state": "running", "shutdown": "obeys", "status_calls_until_off": 2},
        DB01: {"state": "running", "shutdown": "ignores"},
    }})  # fmt: skip


def test_vmm_shuts_the_vm_down_and_reads_powerOff(
    bus: Bus, standin: StandIn, tmp_path: Path
) -> None:
    with DaemonProcess(bus, tmp_path / "state", tmp_path / "agent.log", standin.env,
                       site="site-vmm") as daemon:  # fmt: skip
        daemon.start("--hyperv", "vmm", "--vmm-server", "vmm01.contoso.local", *POLL)
        cmd = command("shutdown", WEB01, {"timeoutSeconds": 30}, site="site-vmm")
        bus.send(cmd)
        result = bus.events.result_of(cmd["id"])
        assert result["status"] == "succeeded" and result["powerState"] == "PowerOff", result
        assert result["detail"] == "shut down by the guest (VMM)"
        # A VM id that is not a GUID never reaches PowerShell; an unknown one is VmNotFound.
        bad = command("shutdown", "web01; Stop-Computer", {"timeoutSeconds": 30}, site="site-vmm")
        gone = command("shutdown", str(uuid.uuid4()), {"timeoutSeconds": 30}, site="site-vmm")
        bus.send(bad)
        bus.send(gone)
        assert bus.events.result_of(bad["id"])["code"] == "BadVmId"
        assert bus.events.result_of(gone["id"])["code"] == "VmNotFound"
    calls = standin.calls("power.ps1")
    mine = [c for c in calls if c["request"]["vmId"] == WEB01]
    assert [c["action"] for c in mine][:2] == ["status", "shutdown"], mine
    assert {c["action"] for c in mine[2:]} == {"status"} and len(mine) >= 4
    assert all(c["request"] == {"source": "vmm", "vmmServer": "vmm01.contoso.local",
                                "vmId": WEB01} for c in mine)  # fmt: skip
    assert mine[0]["argv"][:6] == ["-NoProfile", "-NonInteractive", "-ExecutionPolicy",
                                   "Bypass", "-File", str(SCRIPTS / "power.ps1")]  # fmt: skip
    assert not [c for c in calls if "Stop-Computer" in c["request"]["vmId"]]
    # The action the stand-in played is the one the script takes with VMM's cmdlets.
    script = (SCRIPTS / "power.ps1").read_text()
    assert "Stop-SCVirtualMachine -VM $vm -Shutdown" in script
    assert "Get-SCVirtualMachine -ID $id -VMMServer $server" in script


def test_a_hyperv_host_turns_an_unresponsive_vm_off_when_forced(
    bus: Bus, standin: StandIn, tmp_path: Path
) -> None:
    with DaemonProcess(bus, tmp_path / "state", tmp_path / "agent.log", standin.env,
                       site="site-host") as daemon:  # fmt: skip
        daemon.start("--hyperv", "host", *POLL)
        cmd = command("shutdown", DB01, {"timeoutSeconds": 5, "forceAfterTimeout": True},
                      site="site-host")  # fmt: skip
        bus.send(cmd)
        result = bus.events.result_of(cmd["id"])
    assert result["status"] == "succeeded" and result["powerState"] == "Off", result
    actions = [c["action"] for c in standin.calls("power.ps1")]
    assert actions[:2] == ["status", "shutdown"] and actions[-2:] == ["turnoff", "status"]
    assert all(c["request"]["source"] == "host" for c in standin.calls())
    script = (SCRIPTS / "power.ps1").read_text()
    assert "Stop-VM -VM $vm -TurnOff -Force" in script and "Get-VM -Id $id" in script


def test_without_a_hook_or_hyperv_a_shutdown_is_refused_with_the_fix(
    bus: Bus, tmp_path: Path
) -> None:
    with DaemonProcess(bus, tmp_path / "state", tmp_path / "agent.log", site="site-host") as d:
        d.start(*POLL)
        cmd = command("shutdown", "vm-1", {"timeoutSeconds": 30}, site="site-host")
        bus.send(cmd)
        result = bus.events.result_of(cmd["id"])
    assert result["code"] == "ShutdownNotConfigured" and "AGENT_HYPERV" in result["recommendation"]
