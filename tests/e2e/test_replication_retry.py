"""Retrying a failed initial replication by enabling protection again, end to end on devhost +
Azurite + the local broker, with the scripted agent of test_replication.py failing on cue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.agent_sim import ScriptedAgent, raw_image
from tests.e2e.conftest import ControlPlane, wait_until
from tests.e2e.test_replication import (
    SITE,
    TENANT,
    item,
    job,
    make_disk,
    protect,
    snapshot_bytes,
    wait_status,
)

ROUTE = "POST /api/tenants/{tenant}/vms/{vm}/protection"


@pytest.fixture(scope="module")
def agent(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScriptedAgent]:
    """The site's scripted agent for this module's VMs only (see `only_scripted`)."""
    work = tmp_path_factory.mktemp("agent")
    connection = control_plane.broker.connection_string
    with ScriptedAgent(connection, TENANT, SITE, work, only_scripted=True) as running:
        yield running


def ended(cp: ControlPlane, job_id: str) -> dict:
    return wait_until(
        lambda: (j := job(cp, job_id)).get("state") in ("Succeeded", "Failed") and j, 90
    )


def enable(cp: ControlPlane, vm: str) -> dict:
    response = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/protection", json={"policy": "30s"})
    return {"status": response.status_code, **response.json()}


def refuse(sim: ScriptedAgent, command: dict) -> None:
    """What the agent sends when it cannot read the disk (as agent_sim's "fail")."""
    sim.event("replication.failed", command["vm"], {
        "commandId": command["id"], "code": "DiskReadFailed",
        "cause": "The VHDX's log is dirty and cannot be replayed read-only.",
        "recommendation": "Start the VM once in Hyper-V so the log is replayed.",
    })  # fmt: skip


def test_enabling_again_retries_a_failed_initial_replication(
    control_plane: ControlPlane,
    agent: ScriptedAgent,
    tmp_path: Path,
) -> None:
    cp, vm = control_plane, "retry-" + uuid.uuid4().hex[:6]
    held: list[dict] = []

    def script(command: dict) -> str:
        if not held:
            held.append(command)
            return "silent"  # held: refused by hand once the 409 is checked
        return "upload"

    agent.scripts[vm] = script
    disk = make_disk(tmp_path, vm)
    first_job = protect(cp, vm, disk)
    wait_until(lambda: held, timeout=60)

    # While initial replication runs, enabling again is refused as before.
    assert wait_status(cp, vm, "InitialReplicationInProgress")
    running = enable(cp, vm)
    assert (running["status"], running["code"]) == (409, "AlreadyProtected"), running

    refuse(agent, held[0])
    failed = ended(cp, first_job)
    assert failed["state"] == "Failed", failed
    (error,) = failed["errors"]
    assert error["code"] == "DiskReadFailed" and "dirty" in error["cause"]
    assert ROUTE in error["recommendation"], "the job names the route that retries"
    shown = item(cp, vm)
    assert (shown["status"], shown["health"]["state"]) == (
        "WaitingForInitialReplication", "Critical")  # fmt: skip
    reason = next(r for r in shown["health"]["reasons"] if r["code"] == "DiskReadFailed")
    assert ROUTE in reason["recommendation"]

    # Enabling again at once (the job just said Failed) starts a new protect operation.
    retry = enable(cp, vm)
    assert (retry["status"], retry["type"], retry["created"]) == (202, "EnableProtection", True)
    assert retry["id"] + "-r" != first_job
    assert ended(cp, retry["id"])["state"] == "Succeeded"
    second = ended(cp, retry["id"] + "-r")
    assert (second["type"], second["state"]) == ("InitialReplication", "Succeeded"), second

    done = wait_status(cp, vm, "Protected", timeout=90)
    assert done["health"]["state"] == "Normal", done["health"]
    assert done["replicaDisks"] == shown["replicaDisks"], "the same replica blobs, reused"
    assert snapshot_bytes(cp, vm, done["recoveryPoints"][0]) == raw_image(disk, tmp_path)
    assert job(cp, first_job)["state"] == "Failed", "the first job keeps its outcome"
    replicates = [s.command["id"] for s in agent.commands
                  if s.command["vm"] == vm and s.command["type"] == "replicate"]  # fmt: skip
    assert len(replicates) == 2 and replicates[0] != replicates[1]
    assert replicates[1].startswith(f"{retry['id'][-8:]}-"), "a new generation of commands"

    # Now protected with a point: enabling again is refused as before.
    protected = enable(cp, vm)
    assert (protected["status"], protected["code"]) == (409, "AlreadyProtected"), protected
