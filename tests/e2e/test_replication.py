"""Replication end to end on devhost + Azurite + the local broker: initial
replication, delta cycles, recovery points byte-identical to the disk, stalls, failures, lost
change tracking, RPO breach, duplicate events, devhost restarts, disabling protection.

The agent is scripted (tests/e2e/agent_sim.py): it uploads real qemu-img disks through the SAS
the control plane issued, and misbehaves on cue.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobServiceClient

from tests.e2e.agent_sim import ScriptedAgent, raw_image
from tests.e2e.conftest import ControlPlane, wait_until

TENANT, SITE = "contoso", "site-repl"
MIB = 1024 * 1024
DISK = 64 * MIB


@pytest.fixture(scope="module")
def agent(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    ScriptedAgent
]:  # fmt: skip
    work = tmp_path_factory.mktemp("agent")
    with ScriptedAgent(control_plane.broker.connection_string, TENANT, SITE, work) as running:
        yield running


def make_disk(directory: Path, name: str, size: int = DISK) -> Path:
    path = directory / f"{name}.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(path), str(size)], check=True)
    write(path, 0, 1, 0x11)
    return path


def write(path: Path, offset_mib: int, length_mib: int, pattern: int) -> None:
    subprocess.run(["qemu-io", "-f", "vhdx", "-c",
                    f"write -P {pattern} {offset_mib}M {length_mib}M", str(path)],
                   check=True, capture_output=True)  # fmt: skip


def protect(cp: ControlPlane, vm: str, disk: Path, policy: str = "30s", site: str = SITE) -> str:
    """Report the VM with its real disk, enable protection; the initial replication job id."""
    body = {"id": vm, "name": vm, "generation": 1, "osType": "linux",
            "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 1, "memoryMb": 1024,
            "nics": [{"id": "nic0"}],
            "disks": [{"id": f"{vm}-os", "path": str(disk), "format": "VHDX",
                       "sizeBytes": DISK, "isOsDisk": True}]}  # fmt: skip
    cp.send_event("inventory.snapshot", TENANT,
                  {"cloud": {"id": site, "name": site}, "vms": [body]}, site=site)  # fmt: skip
    wait_until(lambda: cp.call("POST", f"tenants/{TENANT}/vms/{vm}/preflight", json={})
               .status_code == 200)  # fmt: skip
    response = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/protection",
                       json={"targetName": vm, "policy": policy})  # fmt: skip
    assert response.status_code == 202, response.text
    return response.json()["id"] + "-r"


def item(cp: ControlPlane, vm: str) -> dict:
    return cp.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").json()


def job(cp: ControlPlane, job_id: str) -> dict:
    return cp.call("GET", f"tenants/{TENANT}/jobs/{job_id}").json()


def points_after(cp: ControlPlane, vm: str, written: datetime, timeout: float = 75) -> list[dict]:
    """The VM's recovery points taken after `written` (newest first), once there is one."""
    return wait_until(
        lambda: [p for p in item(cp, vm)["recoveryPoints"]
                 if datetime.fromisoformat(p["time"]) > written],
        timeout=timeout,
    )  # fmt: skip


def wait_status(cp: ControlPlane, vm: str, status: str, timeout: float = 60) -> dict:
    return wait_until(lambda: (i := item(cp, vm)).get("status") == status and i, timeout)


def snapshot_bytes(cp: ControlPlane, vm: str, point: dict) -> bytes:
    (disk_id, snapshot), = point["snapshots"].items()  # fmt: skip
    service = BlobServiceClient.from_connection_string(cp.azurite.connection_string)
    container = next(d["container"] for d in item(cp, vm)["replicaDisks"])
    blob = service.get_blob_client(container, f"{disk_id}.vhd", snapshot=snapshot)
    return blob.download_blob(offset=0, length=DISK).readall()


@pytest.fixture(scope="module")
def protected(control_plane: ControlPlane, agent: ScriptedAgent, tmp_path_factory) -> dict:
    """One VM through initial replication, shared by the tests that follow it."""
    vm = "repl-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path_factory.mktemp("disks"), vm)
    job_id = protect(control_plane, vm, disk)
    first = raw_image(disk, tmp_path_factory.mktemp("raw"))
    wait_status(control_plane, vm, "Protected", timeout=90)
    return {"vm": vm, "disk": disk, "job": job_id, "first": first}


def test_initial_replication_protects_the_vm_and_finishes_its_job(
    control_plane: ControlPlane, agent: ScriptedAgent, protected: dict
) -> None:
    cp, vm = control_plane, protected["vm"]
    done = wait_until(
        lambda: (j := job(cp, protected["job"])).get("state") in ("Succeeded", "Failed") and j
    )
    assert done["state"] == "Succeeded", done
    assert [s["name"] for s in done["steps"]] == [
        "Prepare replica disks", "Initial replication", "Create first recovery point"]  # fmt: skip
    shown = item(cp, vm)
    assert shown["health"]["state"] == "Normal", shown["health"]
    assert shown["progress"]["percent"] == 100.0
    assert shown["progress"]["bytesTotal"] == DISK
    assert shown["progress"]["throughputBytesPerS"] > 0
    assert shown["rpoSeconds"] is not None and shown["lastSync"]
    points = shown["recoveryPoints"]
    assert points and {"id", "time", "consistency"} <= set(points[-1])
    # The first point holds exactly the disk as it was.
    assert snapshot_bytes(cp, vm, points[-1]) == protected["first"]


def test_the_sas_is_write_only_for_that_one_blob_and_short_lived(
    control_plane: ControlPlane, agent: ScriptedAgent, protected: dict
) -> None:
    replicate = next(
        s.command
        for s in agent.commands
        if s.command["vm"] == protected["vm"] and s.command["type"] == "replicate"
    )
    sas_url = replicate["data"]["disks"][0]["sasUrl"]  # fmt: skip
    query = parse_qs(urlsplit(sas_url).query)
    assert query["sr"] == ["b"] and query["sp"] == ["w"]  # write only: no read, delete, list
    expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    assert expiry - datetime.now(UTC) <= timedelta(minutes=61)
    # The same signature on another blob of the container is refused.
    other = sas_url.replace(f"{protected['vm']}-os.vhd", "someone-else.vhd")
    with pytest.raises(HttpResponseError) as refused:
        BlobClient.from_blob_url(other).create_page_blob(512)
    assert refused.value.status_code == 403
    # Nor may it read or delete the replica (recovery points are the control plane's).
    with pytest.raises(HttpResponseError) as unread:
        BlobClient.from_blob_url(sas_url).download_blob(offset=0, length=512).readall()
    assert unread.value.status_code == 403
    with pytest.raises(HttpResponseError) as undeletable:
        BlobClient.from_blob_url(sas_url).delete_blob()
    assert undeletable.value.status_code == 403


def test_a_delta_cycle_makes_a_point_byte_identical_to_the_disk_when_it_was_taken(
    control_plane: ControlPlane, agent: ScriptedAgent, protected: dict, tmp_path: Path
) -> None:
    cp, vm = control_plane, protected["vm"]
    write(protected["disk"], 8, 2, 0x5A)
    written = datetime.now(UTC)
    expected = raw_image(protected["disk"], tmp_path)
    newer = points_after(cp, vm, written)
    assert snapshot_bytes(cp, vm, newer[-1]) == expected
    # Earlier points are snapshots: they still hold the disk as it was then.
    points = item(cp, vm)["recoveryPoints"]
    assert snapshot_bytes(cp, vm, points[-1]) == protected["first"]
    syncs = [s for s in agent.commands if s.command["vm"] == vm and s.command["type"] == "sync"]
    assert syncs, "delta cycles ask the agent to sync"
    assert item(cp, vm)["status"] == "Protected"


def test_a_duplicate_completion_changes_nothing(
    control_plane: ControlPlane, agent: ScriptedAgent, protected: dict
) -> None:
    cp, vm = control_plane, protected["vm"]
    agent.scripts[vm] = lambda c: "silent"  # hold the loop still while we look
    time.sleep(2)
    before = item(cp, vm)
    completion = next(e for s in agent.commands if s.command["vm"] == vm
                      for e in s.events if e["type"].endswith(".completed"))  # fmt: skip
    agent.send(completion)  # the same event again (same id: deduplicated)
    agent.event(completion["type"], vm, completion["data"])  # same outcome, a new event id
    time.sleep(5)
    after = item(cp, vm)
    assert [p["id"] for p in after["recoveryPoints"]] == [p["id"] for p in before["recoveryPoints"]]
    assert after["status"] == "Protected" and after["lastSync"] == before["lastSync"]
    agent.scripts.pop(vm)
    # The loop goes on: the next cycle (a resend of the silent one) still makes a point.
    count = len(after["recoveryPoints"])
    wait_until(lambda: len(item(cp, vm)["recoveryPoints"]) > count, timeout=90)


def test_a_stalled_upload_warns_then_sends_the_command_again(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "stall-" + uuid.uuid4().hex[:6]
    seen: list[str] = []

    def script(command: dict) -> str:
        seen.append(command["id"])
        return "silent" if len(seen) == 1 else "upload"

    agent.scripts[vm] = script
    protect(cp, vm, make_disk(tmp_path, vm))
    warned = wait_until(lambda: (h := item(cp, vm)["health"])["state"] == "Warning" and h, 60)
    assert "ReplicationStalled" in {r["code"] for r in warned["reasons"]}
    wait_status(cp, vm, "Protected", timeout=60)
    assert seen[0].endswith("-1") and seen[1].endswith("-2"), seen
    assert item(cp, vm)["health"]["state"] == "Normal"


def test_a_failed_upload_fails_the_job_with_the_agents_reason(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "fail-" + uuid.uuid4().hex[:6]
    agent.scripts[vm] = lambda c: "fail"
    job_id = protect(cp, vm, make_disk(tmp_path, vm))
    done = wait_until(
        lambda: (j := job(cp, job_id)).get("state") in ("Succeeded", "Failed") and j, 60
    )
    assert done["state"] == "Failed"
    error = done["errors"][0]
    assert error["code"] == "DiskReadFailed" and "dirty" in error["cause"]
    assert error["recommendation"]
    shown = item(cp, vm)
    assert shown["status"] == "WaitingForInitialReplication"
    assert shown["health"]["state"] == "Critical"
    assert "DiskReadFailed" in {r["code"] for r in shown["health"]["reasons"]}


def test_lost_change_tracking_resynchronizes_with_a_read_write_sas(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "lost-" + uuid.uuid4().hex[:6]
    syncs: list[str] = []

    def script(command: dict) -> str:
        if command["type"] == "sync":
            syncs.append(command["id"])
            return "lost" if len(syncs) == 1 else "upload"
        return "upload"

    agent.scripts[vm] = script
    protect(cp, vm, make_disk(tmp_path, vm))
    wait_until(lambda: item(cp, vm)["status"] in ("ResynchronizationRequired",
                                                  "ResynchronizationInProgress"), 90)  # fmt: skip
    wait_until(lambda: item(cp, vm)["status"] == "Protected" and len(
        item(cp, vm)["recoveryPoints"]) >= 2, 90)  # fmt: skip
    resync = [s.command for s in agent.commands
              if s.command["vm"] == vm and s.command["data"].get("resync")]  # fmt: skip
    assert resync, "a resynchronization is a replicate command with resync set"
    assert resync[0]["type"] == "replicate" and "-replicate-" in resync[0]["id"]
    sas = parse_qs(urlsplit(resync[0]["data"]["disks"][0]["sasUrl"]).query)
    assert sas["sp"] == ["rw"], "a full compare reads the blob"


def test_an_rpo_breach_turns_health_critical_with_the_reason(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "rpo-" + uuid.uuid4().hex[:6]
    answered: list[str] = []

    def script(command: dict) -> str:
        answered.append(command["id"])
        return "upload" if len(answered) == 1 else "silent"  # the agent goes quiet

    agent.scripts[vm] = script
    protect(cp, vm, make_disk(tmp_path, vm), policy="tight")  # RPO threshold 30 s
    wait_status(cp, vm, "Protected")
    critical = wait_until(
        lambda: (h := item(cp, vm)["health"])["state"] == "Critical" and h, timeout=90
    )
    breach = next(r for r in critical["reasons"] if r["code"] == "RpoThresholdExceeded")
    assert "30 s" in breach["cause"] and breach["recommendation"]
    assert item(cp, vm)["rpoSeconds"] > 30


def test_devhost_restarted_mid_cycle_finishes_the_cycle(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "restart-" + uuid.uuid4().hex[:6]
    held: list[dict] = []

    def script(command: dict) -> str:
        if command["type"] == "sync" and not held:
            held.append(command)
            return "silent"  # answered by hand once devhost is back
        return "upload"

    agent.scripts[vm] = script
    protect(cp, vm, make_disk(tmp_path, vm))
    wait_status(cp, vm, "Protected", timeout=90)
    wait_until(lambda: held, timeout=60)
    count = len(item(cp, vm)["recoveryPoints"])
    cp.restart_host(downtime=1)
    agent.last_sent.pop(f"{vm}-os", None)  # resend all: nothing is lost if devhost lost nothing
    for event in agent.upload(held[0]):
        assert event
    wait_until(lambda: len(item(cp, vm)["recoveryPoints"]) > count, timeout=60)
    assert item(cp, vm)["status"] == "Protected"


def test_disabling_protection_ends_the_loop_and_deletes_the_replica(
    control_plane: ControlPlane, agent: ScriptedAgent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "off-" + uuid.uuid4().hex[:6]
    protect(cp, vm, make_disk(tmp_path, vm))
    container = wait_status(cp, vm, "Protected", timeout=90)["replicaDisks"][0]["container"]
    response = cp.call("DELETE", f"tenants/{TENANT}/vms/{vm}/protection",
                       json={"deleteReplica": True})  # fmt: skip
    assert response.status_code == 202
    done = wait_until(
        lambda: (j := job(cp, response.json()["id"])).get("state") in ("Succeeded", "Failed") and j
    )
    assert done["state"] == "Succeeded", done
    shown = item(cp, vm)
    assert shown["status"] == "NotProtected" and shown["recoveryPoints"] == []
    service = BlobServiceClient.from_connection_string(cp.azurite.connection_string)
    with pytest.raises(ResourceNotFoundError):
        service.get_container_client(container).get_container_properties()
    cancels = wait_until(
        lambda: [
            s for s in agent.commands if s.command["vm"] == vm and s.command["type"] == "cancel"
        ]
    )
    assert cancels, "the agent is told to drop the running upload"  # fmt: skip
    sent = len([s for s in agent.commands if s.command["vm"] == vm])
    time.sleep(35)  # a whole 30 s interval: no cycle runs any more
    assert len([s for s in agent.commands if s.command["vm"] == vm]) == sent
