"""The replication watchdog on a stack of its own (soak/stack.py: Azurite, the broker, devhost
and the real agent daemon, each a process): its timer runs every 2 s as devhost schedules it.

- a protect run terminated mid-way through the Durable API frees the VM and fails its job
  with the reason, and enabling again works;
- a replication instance terminated through the Durable API is restarted by the watchdog,
  shown Critical with the reason meanwhile, and its next point is a delta (the daemon's sync
  with a new generation, not a full replicate) byte-identical to the disk; the snapshot of a
  point the dead loop never recorded is deleted;
- a dead initial replication fails its job and points to enabling again, which works;
- a lock whose operation never started (what a host crash between job and start leaves) is
  freed once the start grace has passed.

The shared e2e control plane keeps the watchdog off (its tests write rows no loop stands
behind); here it runs, and nothing else shares its storage or task hub."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from soak.stack import MIB, Stack, make_disk, raw_image, wait_for, write

DISK = 32 * MIB
POLICY = "steady"  # 30 s cycles, crash-consistent only: a healthy VM reads Normal
SETTINGS = {
    "REPLICATION_WATCHDOG_SCHEDULE": "*/2 * * * * *",
    "REPLICATION_STALL_SECONDS": "30",
    "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "600",
    "REPLICATION_POLICIES": json.dumps(
        {POLICY: {"interval": 30, "retention_hours": 1, "app_consistent_frequency_hours": 0,
                  "rpo_threshold_seconds": 300}}
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("watchdog"), site="site-watchdog", settings=SETTINGS) as s:
        yield s


def new_vm(stack: Stack, tmp_path: Path, prefix: str) -> tuple[str, Path]:
    vm = f"{prefix}-{uuid.uuid4().hex[:6]}"
    disk = make_disk(tmp_path / f"{vm}.vhdx", DISK)
    write(disk, 0, 2, 0x21)
    stack.report({vm: disk}, DISK)
    wait_for(
        lambda: stack.call("POST", f"tenants/{stack.tenant}/vms/{vm}/preflight", json={})
        .status_code == 200,
        "the VM listed", 30,
    )  # fmt: skip
    return vm, disk


def enable(stack: Stack, vm: str) -> dict:
    response = stack.call("POST", f"tenants/{stack.tenant}/vms/{vm}/protection",
                          json={"targetName": vm, "policy": POLICY})  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()


def ended(stack: Stack, job_id: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (j := stack.job(job_id))["state"] in ("Succeeded", "Failed", "Cancelled") and j,
        f"job {job_id} ended", timeout,
    )  # fmt: skip


def restart_jobs(stack: Stack, vm: str) -> list[dict]:
    return [j for j in stack.jobs(target=vm) if j["type"] == "RestartReplication"]


def reasons(item: dict) -> dict[str, dict]:
    return {r["code"]: r for r in item["health"]["reasons"]}


def snapshot_bytes(stack: Stack, vm: str, point: dict) -> bytes:
    ((disk_id, snapshot),) = point["snapshots"].items()
    service = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
    container = next(d["container"] for d in stack.item(vm)["replicaDisks"])
    blob = service.get_blob_client(container, f"{disk_id}.vhd", snapshot=snapshot)
    return blob.download_blob(offset=0, length=DISK).readall()


def agent_command(stack: Stack, command_id: str) -> dict:
    """The command as the daemon journalled it when it received it."""
    path = stack.work / "agent-state" / "daemon" / "commands" / f"{command_id}.json"
    return json.loads(path.read_text())


def test_a_protect_run_terminated_mid_way_frees_the_vm_and_fails_its_job(
    stack: Stack, tmp_path: Path
) -> None:
    vm, _ = new_vm(stack, tmp_path, "term")
    job = enable(stack, vm)
    # Freeze storage at once: the run is stuck inside a step, certainly not finished.
    azurite = stack.azurite.process
    assert azurite is not None
    os.killpg(azurite.pid, signal.SIGSTOP)
    try:
        terminated = stack.durable(
            "POST", f"instances/{job['id']}/terminate?reason=operator%20said%20so"
        )
    finally:
        os.killpg(azurite.pid, signal.SIGCONT)
    assert terminated.status_code == 202, terminated.text  # it was running when terminated

    failed = ended(stack, job["id"])
    assert failed["state"] == "Failed", failed
    [error] = failed["errors"]
    assert error["code"] == "OperationInterrupted"
    assert "ended Terminated: operator said so" in error["cause"], error
    assert "free again" in error["recommendation"]
    shown = wait_for(lambda: (i := stack.item(vm))["allowedOperations"] and i, "VM freed", 30)
    assert shown["status"] in ("NotProtected", "WaitingForInitialReplication"), shown
    assert "EnableProtection" in shown["allowedOperations"], shown

    again = enable(stack, vm)
    assert again["created"] and again["id"] != job["id"]
    assert ended(stack, again["id"])["state"] == "Succeeded"
    wait_for(lambda: stack.item(vm)["status"] == "Protected", "Protected after retry", 90)


def test_a_terminated_replication_loop_is_restarted_and_its_next_point_is_a_delta(
    stack: Stack, tmp_path: Path
) -> None:
    vm, disk = new_vm(stack, tmp_path, "loop")
    enable(stack, vm)
    wait_for(lambda: stack.item(vm)["status"] == "Protected", "Protected", 90)
    before = {p["id"] for p in stack.item(vm)["recoveryPoints"]}

    # What a loop that dies between a point's snapshot and its row leaves: a snapshot tagged
    # with a point no row records. The restart deletes it (and nothing recorded).
    replica = next(d for d in stack.item(vm)["replicaDisks"])
    service = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
    blob = service.get_blob_client(replica["container"], f"{replica['diskId']}.vhd")
    unrecorded = blob.create_snapshot(metadata={"recoverypoint": "dead-sync-9-1"})["snapshot"]

    stack.kill("agent")  # the restarted loop's first sync waits for it: its state is seen
    instance = f"replication-{stack.tenant}-{vm}"
    terminated = stack.durable("POST", f"instances/{instance}/terminate?reason=breaking%20deploy")
    assert terminated.status_code == 202, terminated.text

    [restart] = wait_for(lambda: restart_jobs(stack, vm), "a restart job", 30)
    restart = ended(stack, restart["id"])
    assert restart["state"] == "Succeeded", restart
    assert restart["startedBy"] == "watchdog"
    assert [s["name"] for s in restart["steps"]] == [
        "Restart replication from the last recovery point"
    ]
    shown = stack.item(vm)
    assert shown["status"] == "Protected"
    assert shown["health"]["state"] == "Critical", shown["health"]
    stopped = reasons(shown)["ReplicationLoopStopped"]
    assert "ended Terminated: breaking deploy" in stopped["cause"]
    assert restart["id"] in stopped["recommendation"]
    assert shown["allowedOperations"], "the restart job released the VM"
    status = stack.durable("GET", f"instances/{instance}").json()
    assert status["runtimeStatus"] in ("Running", "Pending"), status
    listed = service.get_container_client(replica["container"]).list_blobs(include=["snapshots"])
    left = {b.snapshot for b in listed if b.snapshot}
    assert unrecorded not in left
    recorded = {s for p in stack.item(vm)["recoveryPoints"] for s in p["snapshots"].values()}
    assert recorded and recorded <= left

    write(disk, 8, 3, 0x5E)
    written = datetime.now(UTC)
    expected = raw_image(disk, tmp_path)
    stack.restart("agent")
    newer = wait_for(
        lambda: [p for p in stack.item(vm)["recoveryPoints"]
                 if p["id"] not in before and datetime.fromisoformat(p["time"]) > written],
        "a point after the restart", 120,
    )  # fmt: skip
    point = newer[-1]
    generation = restart["id"][-8:]
    assert point["id"].startswith(f"{generation}-sync-"), point  # a delta of the new loop
    assert agent_command(stack, point["id"])["command"]["type"] == "sync"
    assert snapshot_bytes(stack, vm, point) == expected
    healthy = wait_for(lambda: (i := stack.item(vm))["health"]["state"] == "Normal" and i,
                       "health Normal again", 60)  # fmt: skip
    assert "ReplicationLoopStopped" not in reasons(healthy)
    assert len(restart_jobs(stack, vm)) == 1  # a running loop is never restarted again


def test_a_dead_initial_replication_fails_its_job_and_enabling_again_retries_it(
    stack: Stack, tmp_path: Path
) -> None:
    vm, _ = new_vm(stack, tmp_path, "init")
    stack.kill("agent")  # initial replication waits for the agent
    try:
        protect = enable(stack, vm)
        wait_for(lambda: stack.item(vm)["status"] == "InitialReplicationInProgress",
                 "initial replication under way", 60)  # fmt: skip
        instance = f"replication-{stack.tenant}-{vm}"
        assert stack.durable("POST", f"instances/{instance}/terminate?reason=gone").ok
        initial = ended(stack, protect["id"] + "-r")
        assert initial["state"] == "Failed", initial
        [error] = initial["errors"]
        assert (
            error["code"] == "ReplicationLoopStopped" and "ended Terminated: gone" in error["cause"]
        )
        assert "Enable protection again" in error["recommendation"]
        shown = wait_for(
            lambda: (i := stack.item(vm))["status"] == "WaitingForInitialReplication" and i,
            "back to waiting", 30,
        )  # fmt: skip
        assert shown["health"]["state"] == "Critical"
        assert (
            "Enable protection again" in reasons(shown)["ReplicationLoopStopped"]["recommendation"]
        )
        assert restart_jobs(stack, vm) == []  # a full copy is the operator's to ask for
    finally:
        stack.restart("agent")
    again = enable(stack, vm)
    assert again["created"]
    wait_for(lambda: stack.item(vm)["status"] == "Protected", "Protected after retry", 90)


def test_a_lock_whose_operation_never_started_is_freed_after_the_grace(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a host killed between writing the job and starting its orchestration leaves: the
    job NotStarted, the VM locked, no instance. Written as that crash leaves it, three minutes
    ago (the start grace is two)."""
    from azureclients.clients import reset_cache
    from domain.jobs import JobType, new_job
    from readmodels.items import save_item
    from readmodels.jobs import save_job
    from readmodels.records import ReplicatedItem

    # This process's read models point at the stack's Azurite only while the rows are
    # written; then the setting is restored *before* the cached clients are dropped, so no
    # client made meanwhile (by a devhost another module runs in this process) outlives it.
    vm, job_id = f"crash-{uuid.uuid4().hex[:6]}", f"crashed-{uuid.uuid4().hex[:8]}"
    try:
        with monkeypatch.context() as patched:
            patched.setenv("ReadModelStorage", stack.azurite.connection_string)
            reset_cache()
            then = datetime.now(UTC) - timedelta(minutes=3)
            save_job(new_job(id=job_id, type=JobType.DISABLE_PROTECTION, tenant=stack.tenant,
                             target=vm, started_by="api", now=then))  # fmt: skip
            save_item(ReplicatedItem(tenant=stack.tenant, vm=vm, vm_name=vm, site=stack.site,
                                     status="NotProtected", active_job_id=job_id,
                                     active_job_type=JobType.DISABLE_PROTECTION))  # fmt: skip
    finally:
        reset_cache()
    failed = ended(stack, job_id)
    assert failed["state"] == "Failed"
    [error] = failed["errors"]
    assert error["code"] == "OperationInterrupted" and "was never started" in error["cause"]
    shown = wait_for(lambda: (i := stack.item(vm))["allowedOperations"] and i, "freed", 30)
    assert shown["allowedOperations"] == ["EnableProtection"]
