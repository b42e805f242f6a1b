"""The replication watchdog and a VM that Azure Site Recovery replicates, on a stack of its own
(soak/stack.py: Azurite, the broker, devhost and the real agent daemon, each a process; the
watchdog's timer runs every 2 s as devhost schedules it) beside an ARM stand-in of its own
(devhost/arm) whose Site Recovery devhost's app drives through the real SDK.

An asr VM's replication instance runs `watch_asr_replication`, not the agent-driven delta
loop. When it dies, the watchdog must give the VM its watch back: the same instance id
running `watch_asr_replication` again (never `replicate_vm`, which would send the on-prem
agent replication commands for a VM ASR replicates), and the watch copying ASR's state onto
the item again.

The shared e2e control plane keeps the watchdog off (tests/e2e/conftest.py); the existing
watchdog tests' stack (tests/e2e/test_watchdog.py) has no ARM stand-in: hence this module's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests

from devhost.arm import ArmStandIn
from devhost.arm.launch import start_for_app
from soak.stack import Stack, wait_for
from tests.e2e.test_protection import vm_body
from tests.e2e.test_watchdog import ended, restart_jobs

POLICY = "steady"  # 30 s: ASR takes a recovery point every 30 s
SETTINGS = {
    "REPLICATION_WATCHDOG_SCHEDULE": "*/2 * * * * *",
    "REPLICATION_STALL_SECONDS": "30",
    "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "600",
    "REPLICATION_POLICIES": json.dumps(
        {POLICY: {"interval": 30, "retention_hours": 1, "app_consistent_frequency_hours": 0,
                  "rpo_threshold_seconds": 300}}
    ),
    # the watch looks at ASR every second (what test_asr.py's `asr` fixture sets)
    "ASR_POLL_SECONDS": "1",
    "ASR_WATCH_SECONDS": "1",
}  # fmt: skip


@dataclass
class AsrStack:
    stack: Stack
    arm: ArmStandIn
    vault: str  # ASR_VAULT_ID as devhost's app has it


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsrStack]:
    work = tmp_path_factory.mktemp("asr-watchdog")
    stack = Stack(work, site="site-asr-watchdog", settings=dict(SETTINGS))
    # The stand-in's settings, managed identity and CA bundle go to devhost's process only
    # (its settings file): this process's environment, which other modules' planes use, is
    # left alone.
    env: dict[str, str] = {}
    arm = start_for_app(work / "arm", stack.azurite.connection_string, env)
    try:
        arm.config.control_key = stack.master_key
        stack.settings.update(env)
        with stack:
            # A brisk simulated ASR (what test_asr.py's `asr` fixture sets).
            arm.site_recovery_control(
                "settings", {"taskSeconds": 0.2, "initialReplicationSeconds": 4}
            )
            yield AsrStack(stack, arm, env["ASR_VAULT_ID"])
    finally:
        arm.stop()


def discovered(plane: AsrStack, vm: str) -> None:
    """What VMM's ASR provider reports: the VMM server, the cloud `gold` and its VM."""
    plane.arm.site_recovery_control(
        "discover",
        {
            "vault": plane.vault,
            "fabric": {"name": "vmm01", "friendlyName": "vmm01.contoso.local"},
            "cloud": {"name": "cloud-gold", "friendlyName": "gold"},
            "vms": [{"name": vm, "friendlyName": vm, "generation": 1, "osType": "Linux"}],
        },
    )


def asr_item(plane: AsrStack, vm: str) -> dict:
    """The replication protected item as ASR (the stand-in) has it."""
    item = (
        f"{plane.vault}/replicationFabrics/vmm01/replicationProtectionContainers/cloud-gold/"
        f"replicationProtectedItems/{vm}"
    )
    token, _ = plane.arm.identity.token("https://management.azure.com")
    response = requests.get(
        f"{plane.arm.endpoint}{item}?api-version=2025-08-01",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(plane.arm.ca_bundle_path),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def agent_commands_for(stack: Stack, vm: str) -> list[dict]:
    """The commands for `vm` the daemon journalled when it received them."""
    journal = stack.work / "agent-state" / "daemon" / "commands"
    found = [json.loads(p.read_text())["command"] for p in sorted(journal.glob("*.json"))]
    return [c for c in found if c.get("vm") == vm]


def reported_in_asr(plane: AsrStack, prefix: str) -> str:
    """A VM the stack's agent reports in VMM's cloud `gold`, which ASR has discovered."""
    stack = plane.stack
    vm = f"{prefix}-{uuid.uuid4().hex[:6]}"
    stack.send_event(
        "inventory.snapshot", {"cloud": {"id": "gold", "name": "gold"}, "vms": [vm_body(vm)]}
    )
    wait_for(
        lambda: stack.call("POST", f"tenants/{stack.tenant}/vms/{vm}/preflight", json={})
        .status_code == 200,
        "the VM listed", 30,
    )  # fmt: skip
    discovered(plane, vm)
    return vm


def enable_with_asr(stack: Stack, vm: str) -> dict:
    """POST protection with provider asr on the 30 s policy: the accepted job."""
    accepted = stack.call("POST", f"tenants/{stack.tenant}/vms/{vm}/protection",
                          json={"provider": "asr", "policy": POLICY})  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    return accepted.json()


def protected_with_asr(plane: AsrStack) -> str:
    """A VM of the stack's site, in VMM's cloud `gold`, that ASR protects on a 30 s policy."""
    stack = plane.stack
    vm = reported_in_asr(plane, "asrw")
    protect = ended(stack, enable_with_asr(stack, vm)["id"], 90)
    assert protect["state"] == "Succeeded", protect
    initial = ended(stack, f"{protect['id']}-r", 90)
    assert initial["state"] == "Succeeded", initial
    wait_for(lambda: stack.item(vm)["status"] == "Protected", "Protected", 60)
    return vm


def test_a_dead_asr_watch_is_restarted_as_the_watch_not_the_agent_loop(plane: AsrStack) -> None:
    stack = plane.stack
    vm = protected_with_asr(plane)
    item = stack.item(vm)
    assert item["provider"] == "asr" and item["lastSync"], item
    instance = f"replication-{stack.tenant}-{vm}"
    running = stack.durable("GET", f"instances/{instance}").json()
    assert running["name"] == "watch_asr_replication", running

    terminated = stack.durable("POST", f"instances/{instance}/terminate?reason=breaking%20deploy")
    assert terminated.status_code == 202, terminated.text

    # (c) the watchdog's RestartReplication job, Succeeded
    [restart] = wait_for(lambda: restart_jobs(stack, vm), "a restart job", 30)
    restart = ended(stack, restart["id"], 30)
    assert restart["state"] == "Succeeded", restart
    assert restart["startedBy"] == "watchdog"
    assert [s["name"] for s in restart["steps"]] == [
        "Restart replication from the last recovery point"
    ]

    # (a) the instance runs again, (b) as the watch, not the agent-driven delta loop
    status = stack.durable("GET", f"instances/{instance}").json()
    assert status["runtimeStatus"] in ("Running", "Pending"), status
    assert status["name"] == "watch_asr_replication", status
    assert status["name"] != "replicate_vm"

    # (d) the watch works again. Its mark: the item's lastSync is ASR's own lastReplicatedTime,
    # of a point ASR took after the restart (a point the old watch cannot have seen). The
    # agent-driven loop would write a time of its own: the stack's agent answers its sync of
    # a VM with no replica disks at once, and that "point" moves lastSync to the time it is
    # recorded. (Health back to Normal alone proves nothing: that loop's refresh clears the
    # watchdog's ReplicationLoopStopped too.)
    restarted = datetime.fromisoformat(restart["endTime"])

    def watched() -> dict | None:
        shown = stack.item(vm)
        if not shown["lastSync"]:
            return None
        synced = datetime.fromisoformat(shown["lastSync"])
        asr = asr_item(plane, vm)["properties"]["providerSpecificDetails"]
        in_asr = datetime.fromisoformat(asr["lastReplicatedTime"])
        return shown if synced > restarted and synced == in_asr else None

    item = wait_for(watched, "the restarted watch copies ASR's newest point", 60)
    assert item["status"] == "Protected"
    assert item["health"]["state"] == "Normal", item["health"]
    assert item["health"]["reasons"] == [], item["health"]  # ASR's (none) replaced the watchdog's
    # RPO is read as of now from that point (application/health.py `as_of`)
    assert item["rpoSeconds"] is not None
    assert item["rpoSeconds"] < (datetime.now(UTC) - restarted).total_seconds()

    # (d2) nothing was ever sent to the on-prem agent for a VM that ASR replicates
    assert agent_commands_for(stack, vm) == []
    assert len(restart_jobs(stack, vm)) == 1  # a running watch is never restarted again


def test_a_dead_asr_watch_during_initial_replication_fails_its_job_and_enabling_again_resumes(
    plane: AsrStack,
) -> None:
    stack = plane.stack
    vm = reported_in_asr(plane, "asri")
    plane.arm.site_recovery_control(
        "settings", {"initialReplicationSeconds": 3600}
    )  # ASR takes its time
    try:
        protect = ended(stack, enable_with_asr(stack, vm)["id"], 90)
        wait_for(lambda: stack.item(vm)["status"] == "InitialReplicationInProgress",
                 "initial replication under way", 60)  # fmt: skip
        instance = f"replication-{stack.tenant}-{vm}"
        assert stack.durable("POST", f"instances/{instance}/terminate?reason=gone").ok

        # The watchdog reads the dead watch's input (the watch's, not the agent loop's) to
        # find the InitialReplication job it left unfinished, and fails it.
        initial = ended(stack, f"{protect['id']}-r", 90)
        assert initial["state"] == "Failed", initial
        [error] = initial["errors"]
        assert error["code"] == "ReplicationLoopStopped"
        assert "ended Terminated: gone" in error["cause"]
        shown = wait_for(
            lambda: (i := stack.item(vm))["status"] == "WaitingForInitialReplication" and i,
            "back to waiting", 30,
        )  # fmt: skip
        assert shown["health"]["state"] == "Critical"
        assert restart_jobs(stack, vm) == []  # enabling again is the operator's to ask for
    finally:
        plane.arm.site_recovery_control("settings", {"initialReplicationSeconds": 4})

    retried = ended(stack, f"{enable_with_asr(stack, vm)['id']}-r", 90)
    assert retried["state"] == "Succeeded", retried
    assert stack.item(vm)["status"] == "Protected"
    assert agent_commands_for(stack, vm) == []
