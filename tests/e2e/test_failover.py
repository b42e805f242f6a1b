"""Failover end to end on devhost + Azurite + the local broker + the local ARM stand-in, with
the real agent daemon replicating qemu-img disks: a recovery point becomes an Azure VM with
its target name and size, and its managed disk holds exactly the point's bytes (read through
grant access with the real azure-mgmt-compute client, as an operator would)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobServiceClient

from devhost.arm import ArmStandIn
from readmodels.items import update_item
from tests.e2e.agent_sim import raw_image
from tests.e2e.conftest import ControlPlane, wait_until
from tests.e2e.daemon import TENANT, Agent
from tests.e2e.test_replication import DISK, item, job, make_disk, points_after, protect, write
from tools.read_disk import read_disk

# The operator's shutdown hook for the daemon: `shutdown` marks the VM off (a guest that shuts
# down at once), `status` says Running until then. Arguments: ACTION VM COMMAND.
SHUTDOWN_HOOK = """#!/bin/sh
cat > /dev/null
case "$1" in
shutdown) touch "{dir}/off-$2" ;;
status) if [ -e "{dir}/off-$2" ]; then echo Off; else echo Running; fi ;;
turnoff) touch "{dir}/off-$2" ;;
esac
"""


@pytest.fixture
def hooks(tmp_path: Path) -> Path:
    directory = tmp_path / "hooks"
    directory.mkdir()
    hook = directory / "shutdown.sh"
    hook.write_text(SHUTDOWN_HOOK.format(dir=directory))
    hook.chmod(0o755)
    return directory


@pytest.fixture
def running(daemon: Agent, hooks: Path, arm: ArmStandIn) -> Iterator[Agent]:
    """The daemon with a shutdown hook, beside the control plane and its ARM stand-in."""
    daemon.start("--shutdown-hook", str(hooks / "shutdown.sh"))
    yield daemon


class Azure:
    """The stand-in as a person sees it, through the real SDK clients."""

    def __init__(self) -> None:
        import os

        self.group = os.environ["RECOVERY_RESOURCE_GROUP"]
        subscription, endpoint = os.environ["AZURE_SUBSCRIPTION_ID"], os.environ["ARM_ENDPOINT"]
        credential = DefaultAzureCredential()
        self.compute = ComputeManagementClient(credential, subscription, base_url=endpoint)
        self.network = NetworkManagementClient(credential, subscription, base_url=endpoint)
        self.endpoint = endpoint

    def made_for(self, vm: str) -> dict[str, list]:
        """Every VM, disk and NIC the failovers of `vm` made (by their tags)."""

        def ours(resource) -> bool:
            return (resource.tags or {}).get("dr-vm") == vm

        return {
            "vms": [v for v in self.compute.virtual_machines.list(self.group) if ours(v)],
            "disks": [d for d in self.compute.disks.list_by_resource_group(self.group) if ours(d)],
            "nics": [n for n in self.network.network_interfaces.list(self.group) if ours(n)],
        }

    def disk_bytes(self, disk_id: str, vm_name: str, tmp: Path) -> bytes:
        """The managed disk's bytes, read through grant access (the VM stopped first, as
        Azure refuses access to a running VM's disk)."""
        self.compute.virtual_machines.begin_power_off(self.group, vm_name).result()
        out = tmp / f"{uuid.uuid4().hex}.vhd"
        read_disk(disk_id, out, self.endpoint, 600)
        return out.read_bytes()


@pytest.fixture
def azure(arm: ArmStandIn) -> Azure:
    return Azure()


def protected_vm(cp: ControlPlane, tmp_path: Path, prefix: str) -> tuple[str, Path]:
    vm = f"{prefix}-{uuid.uuid4().hex[:6]}"
    disk = make_disk(tmp_path, vm)
    write(disk, 20, 3, 0x3C)
    protect(cp, vm, disk, site="site-daemon")
    wait_until(lambda: item(cp, vm).get("status") == "Protected", 90)
    return vm, disk


def fail_over(cp: ControlPlane, vm: str, **body) -> dict:
    response = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failover", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def after(cp: ControlPlane, vm: str, what: str, **body) -> dict:
    response = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failover/{what}", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def ended(cp: ControlPlane, job_id: str, timeout: float = 120) -> dict:
    return wait_until(
        lambda: (j := job(cp, job_id)).get("state") in ("Succeeded", "Failed") and j, timeout
    )


def snapshot_blob(cp: ControlPlane, vm: str, point: dict) -> bytes:
    """The whole replica snapshot of a point: the fixed VHD with its footer."""
    shown = item(cp, vm)
    ((disk_id, snapshot),) = point["snapshots"].items()
    container = shown["replicaDisks"][0]["container"]
    service = BlobServiceClient.from_connection_string(cp.azurite.connection_string)
    return (
        service.get_blob_client(container, f"{disk_id}.vhd", snapshot=snapshot)
        .download_blob()
        .readall()
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_test_failover_makes_the_point_a_vm_and_cleanup_leaves_nothing(
    control_plane: ControlPlane, running: Agent, azure: Azure, tmp_path: Path
) -> None:
    cp = control_plane
    vm, disk = protected_vm(cp, tmp_path, "tfo")
    source = raw_image(disk, tmp_path)
    shown = item(cp, vm)
    assert {"TestFailover", "PlannedFailover", "UnplannedFailover"} <= set(
        shown["allowedOperations"]
    )
    point = shown["recoveryPoints"][0]

    started = fail_over(cp, vm, type="test", recoveryPoint=point["id"])
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", done
    assert done["type"] == "TestFailover"
    assert [s["name"] for s in done["steps"]] == [
        "Choose recovery point",
        "Create disks",
        "Create network interface",
        "Create virtual machine",
    ]
    shown = item(cp, vm)
    failover = shown["failover"]
    assert shown["status"] == "TestFailoverSucceeded"
    assert shown["allowedOperations"] == ["TestFailoverCleanup"]
    assert (failover["type"], failover["state"]) == ("test", "Succeeded")
    assert failover["recoveryPointId"] == point["id"]
    assert (
        failover["vmName"] == f"{vm}-test" and failover["vmSize"] == shown["target"]["targetSize"]
    )

    made = azure.made_for(vm)
    [azure_vm] = made["vms"]
    assert azure_vm.id == failover["vmId"] and azure_vm.name == f"{vm}-test"
    assert azure_vm.hardware_profile.vm_size == shown["target"]["targetSize"]
    assert (
        azure_vm.tags["dr-job"] == started["id"] and azure_vm.tags["dr-purpose"] == "test-failover"
    )
    [nic] = made["nics"]
    assert nic.ip_configurations[0].subnet.id.endswith("/subnets/isolated")  # the test network
    [managed] = made["disks"]
    assert failover["disks"] == [{"diskId": f"{vm}-os", "managedDiskId": managed.id}]
    assert managed.hyper_v_generation == "V1" and managed.os_type == "Linux"

    bytes_ = azure.disk_bytes(managed.id, azure_vm.name, tmp_path)
    assert sha(bytes_) == sha(snapshot_blob(cp, vm, point))  # the point, footer and all
    assert bytes_[:DISK] == source  # and the source at that time
    write(disk, 44, 1, 0x44)  # replication goes on during a test failover
    written = datetime.now(UTC)
    assert points_after(cp, vm, written)
    assert item(cp, vm)["status"] == "TestFailoverSucceeded"

    cleanup = after(cp, vm, "cleanup")
    assert ended(cp, cleanup["id"])["state"] == "Succeeded"
    assert azure.made_for(vm) == {"vms": [], "disks": [], "nics": []}
    shown = item(cp, vm)
    assert shown["status"] == "Protected" and shown["failover"] is None
    container = shown["replicaDisks"][0]["container"]
    service = BlobServiceClient.from_connection_string(cp.azurite.connection_string)
    leftovers = [b.name for b in service.get_container_client(container).list_blobs()]
    assert leftovers == [f"{vm}-os.vhd"], "no copy of a point is left behind"


def test_a_planned_failover_loses_no_write_made_before_it_was_asked_for(
    control_plane: ControlPlane, running: Agent, azure: Azure, hooks: Path, tmp_path: Path
) -> None:
    cp = control_plane
    vm, disk = protected_vm(cp, tmp_path, "pfo")
    write(disk, 40, 2, 0x77)  # the last writes of the source before it is shut down
    expected = raw_image(disk, tmp_path)

    started = fail_over(cp, vm, type="planned")
    done = ended(cp, started["id"], 180)
    assert done["state"] == "Succeeded", done
    assert [s["name"] for s in done["steps"]][:3] == [
        "Stop replication",
        "Shut down the source VM",
        "Final sync",
    ]
    assert (hooks / f"off-{vm}").exists(), "the agent shut the source down"
    shown = item(cp, vm)
    assert shown["status"] == "FailedOver"
    assert set(shown["allowedOperations"]) == {"Commit", "ChangePit", "CancelFailover"}
    failover = shown["failover"]
    assert failover["vmName"] == shown["target"]["targetName"]
    final = next(p for p in shown["recoveryPoints"] if p["id"] == failover["recoveryPointId"])
    assert final["id"].startswith(started["id"])  # the point the final sync made
    [managed] = azure.made_for(vm)["disks"]
    assert azure.disk_bytes(managed.id, failover["vmName"], tmp_path)[:DISK] == expected

    commit = after(cp, vm, "commit")
    assert ended(cp, commit["id"])["state"] == "Succeeded"
    shown = item(cp, vm)
    assert shown["status"] == "FailoverCommitted"
    assert shown["failover"]["state"] == "Committed"
    assert shown["allowedOperations"] == ["DisableProtection"]
    assert len(azure.made_for(vm)["vms"]) == 1, "commit keeps the Azure VM"
    # No failback on the direct provider (yet): refused, saying what is allowed instead.
    refused = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failback", json={})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "OperationNotOfferedByProvider"
    assert "DisableProtection" in refused.json()["recommendation"]


def test_an_unplanned_failover_to_an_older_point_and_a_change_of_point(
    control_plane: ControlPlane, running: Agent, azure: Azure, tmp_path: Path
) -> None:
    cp = control_plane
    vm, disk = protected_vm(cp, tmp_path, "ufo")
    older = item(cp, vm)["recoveryPoints"][0]
    older_bytes = raw_image(disk, tmp_path)
    write(disk, 50, 1, 0x55)
    written = datetime.now(UTC)
    newer = points_after(cp, vm, written)[0]

    started = fail_over(cp, vm, type="unplanned", recoveryPoint=older["id"])
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", done
    assert "Stop replication" in [s["name"] for s in done["steps"]]
    shown = item(cp, vm)
    assert shown["status"] == "FailedOver" and shown["failover"]["recoveryPointId"] == older["id"]
    [managed] = azure.made_for(vm)["disks"]
    name = shown["failover"]["vmName"]
    assert azure.disk_bytes(managed.id, name, tmp_path)[:DISK] == older_bytes

    changed = after(cp, vm, "recovery-point", recoveryPoint=newer["id"])
    assert ended(cp, changed["id"])["state"] == "Succeeded", job(cp, changed["id"])
    shown = item(cp, vm)
    assert shown["status"] == "FailedOver" and shown["failover"]["recoveryPointId"] == newer["id"]
    made = azure.made_for(vm)
    [managed] = made["disks"]  # the older point's disk is gone
    assert len(made["vms"]) == 1
    assert managed.tags["dr-recovery-point"] == newer["id"]
    assert sha(azure.disk_bytes(managed.id, name, tmp_path)) == sha(snapshot_blob(cp, vm, newer))

    cancel = after(cp, vm, "cancel")
    assert ended(cp, cancel["id"])["state"] == "Succeeded"
    assert azure.made_for(vm) == {"vms": [], "disks": [], "nics": []}
    assert item(cp, vm)["status"] == "Protected"
    write(disk, 30, 1, 0x31)  # replication resumed: the next cycle sends it
    written = datetime.now(UTC)
    expected = raw_image(disk, tmp_path)
    resumed = points_after(cp, vm, written)[0]
    assert snapshot_blob(cp, vm, resumed)[:DISK] == expected


def test_refusals_name_the_status_the_running_job_and_what_is_allowed(
    control_plane: ControlPlane, running: Agent, azure: Azure, tmp_path: Path
) -> None:
    cp = control_plane
    vm, _ = protected_vm(cp, tmp_path, "ref")
    first = fail_over(cp, vm, type="test")
    again = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failover", json={"type": "unplanned"})
    assert again.status_code == 409
    assert again.json()["code"] == "OperationInProgress" and first["id"] in again.json()["cause"]
    assert ended(cp, first["id"])["state"] == "Succeeded"

    commit = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failover/commit")
    assert commit.status_code == 409
    problem = commit.json()
    assert problem["code"] == "OperationNotAllowed"
    assert "TestFailoverSucceeded" in problem["cause"]
    assert problem["recommendation"].endswith("Allowed now: TestFailoverCleanup.")
    missing = cp.call(
        "POST", f"tenants/{TENANT}/vms/{vm}/failover/recovery-point", json={"recoveryPoint": "x"}
    )
    assert missing.status_code == 409
    assert ended(cp, after(cp, vm, "cleanup")["id"])["state"] == "Succeeded"

    unknown = cp.call(
        "POST", f"tenants/{TENANT}/vms/{vm}/failover", json={"type": "test", "recoveryPoint": "x"}
    )
    assert unknown.status_code == 409 and unknown.json()["code"] == "RecoveryPointNotFound"
    never = cp.call("POST", f"tenants/{TENANT}/vms/never-{vm}/failover", json={"type": "test"})
    assert never.status_code == 404 and never.json()["code"] == "ReplicatedItemNotFound"
    disabled = cp.call("DELETE", f"tenants/{TENANT}/vms/{vm}/protection")
    assert ended(cp, disabled.json()["id"])["state"] == "Succeeded"
    refused = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/failover", json={"type": "planned"})
    assert refused.status_code == 409 and refused.json()["code"] == "OperationNotAllowed"
    assert "while the VM is NotProtected" in refused.json()["cause"]
    assert refused.json()["recommendation"].endswith("Allowed now: EnableProtection.")
    assert item(cp, vm)["allowedOperations"] == ["EnableProtection"]


def test_a_size_azure_refuses_fails_the_job_with_cause_and_fix(
    control_plane: ControlPlane, running: Agent, azure: Azure, tmp_path: Path
) -> None:
    cp = control_plane
    vm, _ = protected_vm(cp, tmp_path, "size")

    def retired(current) -> None:  # a size Azure no longer offers since the VM was protected
        current.target = current.target.model_copy(update={"target_size": "Standard_Retired_v1"})

    update_item(TENANT, vm, retired)
    started = fail_over(cp, vm, type="test")
    done = ended(cp, started["id"])
    assert done["state"] == "Failed"
    [error] = done["errors"]
    assert "Standard_Retired_v1" in error["cause"] and "targetSize" in error["recommendation"]
    shown = item(cp, vm)
    assert shown["status"] == "TestFailoverFailed"
    assert shown["allowedOperations"] == ["TestFailoverCleanup"]
    assert ended(cp, after(cp, vm, "cleanup")["id"])["state"] == "Succeeded"
    assert azure.made_for(vm) == {"vms": [], "disks": [], "nics": []}


def test_devhost_killed_mid_failover_resumes_without_a_second_vm_or_disk(
    control_plane: ControlPlane, running: Agent, azure: Azure, tmp_path: Path
) -> None:
    cp = control_plane
    vm, _ = protected_vm(cp, tmp_path, "kill")
    started = fail_over(cp, vm, type="test")
    wait_until(
        lambda: any(s["name"] == "Create disks" for s in job(cp, started["id"]).get("steps", [])),
        60,
        interval=0.05,
    )
    cp.restart_host()
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", done
    made = azure.made_for(vm)
    assert (len(made["vms"]), len(made["disks"]), len(made["nics"])) == (1, 1, 1)
    assert ended(cp, after(cp, vm, "cleanup")["id"])["state"] == "Succeeded"


def test_an_unplanned_failover_asked_for_while_a_delta_cycle_runs(
    control_plane: ControlPlane,
    daemon: Agent,
    hooks: Path,
    arm: ArmStandIn,
    azure: Azure,
    tmp_path: Path,
) -> None:
    """The cycle in flight is cancelled; the VM is made from the point chosen when asked,
    whatever that cycle had half-written to the replica meanwhile."""
    cp = control_plane
    daemon.start("--shutdown-hook", str(hooks / "shutdown.sh"), "--bandwidth", "1MB/s")
    vm, disk = protected_vm(cp, tmp_path, "busy")
    chosen = item(cp, vm)["recoveryPoints"][0]
    chosen_bytes = snapshot_blob(cp, vm, chosen)
    write(disk, 24, 16, 0x6B)  # 16 MiB: about 16 s of upload at the cap
    running_cycle = wait_until(
        lambda: (
            (p := item(cp, vm).get("progress"))
            and 0 < p["bytesDone"] < p["bytesTotal"]
            and p["percent"] < 100
            and p
        ),
        90,
        interval=0.1,
    )
    assert running_cycle["bytesDone"] < running_cycle["bytesTotal"]

    started = fail_over(cp, vm, type="unplanned", recoveryPoint=chosen["id"])
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", done
    shown = item(cp, vm)
    assert shown["status"] == "FailedOver" and shown["failover"]["recoveryPointId"] == chosen["id"]
    [managed] = azure.made_for(vm)["disks"]
    disk_bytes = azure.disk_bytes(managed.id, shown["failover"]["vmName"], tmp_path)
    assert sha(disk_bytes) == sha(chosen_bytes)
    assert ended(cp, after(cp, vm, "cancel")["id"])["state"] == "Succeeded"
