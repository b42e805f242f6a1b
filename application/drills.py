"""A drill's proof: every failed-over disk read back through grant access and hashed beside
its recovery point's snapshot, the times that make the plan's RTO and RPO, and the cleanup
confirmed by listing what is left in Azure.

Nothing is taken from a field: the disk's bytes are downloaded through the read SAS Azure
grants (as an operator would, `tools.read_disk`), the point's from its blob snapshot, and
both are hashed here. Azure grants no access to a disk of a running VM, so the test VM is
powered off first (it is deleted by the cleanup right after).

One activity reads one disk whole (about a minute per 10 GiB at storage's speed); on a plan
whose activities may not run that long, the host's functionTimeout is the limit to raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as compute
from azure.storage.blob import BlobClient
from pydantic import BaseModel, Field

from application.recovery_vm import azure_refusal
from azureclients.arm import compute_client, network_client, recovery_target
from azureclients.clients import blob_service
from contracts.errors import ErrorDetail
from domain import failover as failover_rules
from domain.failover import FailoverState
from domain.jobs import Job
from domain.replication_state import ReplicationStatus
from readmodels.items import get_item
from readmodels.points import list_points
from readmodels.records import ReplicatedItem

DOWNLOAD_WORKERS = 4
ACCESS_SECONDS = 3600
CREATED_STEP = "Create virtual machine"  # the per-VM failover's step that makes the VM
_STOPPED = {"PowerState/stopped", "PowerState/deallocated"}


class DrillVmFacts(BaseModel):
    """What the test failover of one VM made, as its replicated item records it."""

    vm: str
    vm_name: str = ""
    vm_id: str = ""
    point_id: str = ""
    point_time: datetime | None = None
    disks: dict[str, str] = Field(default_factory=dict)  # source disk -> managed disk id
    errors: list[ErrorDetail] = Field(default_factory=list)


def vm_facts(tenant: str, vm: str) -> DrillVmFacts:
    item = get_item(tenant, vm)
    failover = item.failover if item else None
    if failover is None or failover.state is not FailoverState.SUCCEEDED or not failover.vm_id:
        return DrillVmFacts(vm=vm, errors=[_no_test_vm(vm, item)])
    return DrillVmFacts(
        vm=vm,
        vm_name=failover.vm_name or "",
        vm_id=failover.vm_id,
        point_id=failover.recovery_point_id or "",
        point_time=failover.recovery_point_time,
        disks={d.disk_id: d.managed_disk_id for d in failover.disks},
    )


def stop_vm(vm_name: str) -> tuple[bool, list[ErrorDetail]]:
    """Power the test VM off (Azure grants no disk access while it runs). Done when its
    instance view says stopped; the power-off is asked for and not waited on."""
    group = recovery_target().resource_group
    vms = compute_client().virtual_machines
    try:
        view = vms.instance_view(group, vm_name)
        codes = {status.code for status in view.statuses or []}
        if codes & _STOPPED:
            return True, []
        vms.begin_power_off(group, vm_name, polling=False)
    except HttpResponseError as error:
        refusal = azure_refusal(error, f"power off test VM {vm_name}")
        if refusal is None:
            raise
        return False, [refusal]
    return False, []


def _hash(chunks: Iterable[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def prove_disk(
    tenant: str, vm: str, disk_id: str, managed_disk_id: str, point_id: str
) -> tuple[dict | None, list[ErrorDetail]]:
    """(the proof's fields, errors): the managed disk's bytes and the point snapshot's, each
    with its SHA-256."""
    item = get_item(tenant, vm)
    replica = next((d for d in item.replica_disks if d.disk_id == disk_id), None) if item else None
    point = next((p for p in list_points(tenant, vm) if p.id == point_id), None)
    snapshot = point.snapshots.get(disk_id) if point else None
    if replica is None or snapshot is None:
        return None, [
            ErrorDetail(
                code="RecoveryPointGone",
                cause=f"The snapshot of disk '{disk_id}' in point '{point_id}' of VM '{vm}' is "
                "no longer there, so the disk cannot be compared with it.",
                recommendation="A failover pins its point against retention; check that "
                "protection was not disabled with deleteReplica during the drill.",
            )
        ]
    source = blob_service().get_blob_client(replica.container, replica.blob, snapshot=snapshot)
    point_bytes, point_sha = _hash(source.download_blob(max_concurrency=DOWNLOAD_WORKERS).chunks())

    group, name = recovery_target().resource_group, managed_disk_id.rsplit("/", 1)[-1]
    disks = compute_client().disks
    try:
        access = disks.begin_grant_access(
            group, name, compute.GrantAccessData(access="Read", duration_in_seconds=ACCESS_SECONDS)
        ).result()
    except HttpResponseError as error:
        refusal = azure_refusal(error, f"grant read access to disk {name}")
        if refusal is None:
            raise
        return None, [refusal]
    try:
        read = BlobClient.from_blob_url(access.access_sas).download_blob(
            max_concurrency=DOWNLOAD_WORKERS
        )
        size, sha = _hash(read.chunks())
    finally:
        disks.begin_revoke_access(group, name).result()
    proof = {
        "disk_id": disk_id,
        "managed_disk_id": managed_disk_id,
        "bytes": size,
        "sha256": sha,
        "point_bytes": point_bytes,
        "point_sha256": point_sha,
    }
    return proof, []


def leftovers(tenant: str, failovers: dict[str, str]) -> list[str]:
    """ARM ids of whatever the drill's test failovers made that is still there (VMs, disks,
    NICs tagged with their jobs): none once the cleanup is done."""
    group = recovery_target().resource_group
    compute_api, network_api = compute_client(), network_client()

    def made(resource) -> bool:
        return any(
            failover_rules.made_by(resource.tags, tenant=tenant, vm=vm, job_id=job_id)
            for vm, job_id in failovers.items()
        )

    found = [v.id for v in compute_api.virtual_machines.list(group) if made(v)]
    found += [d.id for d in compute_api.disks.list_by_resource_group(group) if made(d)]
    found += [n.id for n in network_api.network_interfaces.list(group) if made(n)]
    return found


def not_back(tenant: str, vms: Iterable[str]) -> list[str]:
    """VMs that are not Protected again after the cleanup."""
    back = []
    for vm in vms:
        item = get_item(tenant, vm)
        if item is None or item.status != ReplicationStatus.PROTECTED:
            back.append(f"{vm} ({item.status if item else 'gone'})")
    return back


def vm_created(job: Job | None) -> datetime | None:
    """When the VM's failover job had made the Azure VM (its step's end)."""
    if job is None:
        return None
    step = next((s for s in job.steps if s.name == CREATED_STEP and s.end_time), None)
    return step.end_time if step else None


def _no_test_vm(vm: str, item: ReplicatedItem | None) -> ErrorDetail:
    status = item.status if item else "NotProtected"
    return ErrorDetail(
        code="TestVmMissing",
        cause=f"VM '{vm}' has no test VM to prove (it is {status}).",
        recommendation="Its test failover job says why; the drill cleans up what was made.",
    )
