"""The direct provider's failover: a recovery point becomes managed disks, a NIC and a VM.

Each function is a reconcile step: it looks at what exists, starts what is missing (every
create is a PUT with a deterministic name, never waited for here), looks once more (Azure often
ends a small create at once, and a timer would only add its wait) and says whether the goal is
reached. The orchestration calls it again after a durable timer until it is, so no
activity blocks on a long-running operation, and a replay, a retry or a host restart finds
what was made instead of making it twice.

Why a copy first: Azure imports a managed disk from a page blob holding a fixed VHD, not
from a blob snapshot (`creationData.sourceUri` names a blob). The point's snapshot is copied
server-side to a base blob beside the replica (same account, so no data leaves it), imported,
and the copy deleted once the disk exists.

Azure's answers are sorted in two: a refusal no retry can fix (4xx: an unknown size, a quota,
a bad name) is returned as errors with Azure's code and message and what to do; anything
else (throttling, 5xx, a dropped connection) is raised, so the activity's retry policy takes
it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import models as compute
from azure.mgmt.network import models as network

from azureclients.arm import compute_client, network_client, recovery_target
from azureclients.clients import blob_service
from azureclients.sas import blob_sas_url
from contracts.errors import ErrorDetail
from domain import failover as rules
from domain.failover import FailoverType
from readmodels.records import ReplicaDisk, ReplicatedItem, VmRecord

# Status codes Azure answers for a request that will never succeed as it is.
_PERMANENT = {400, 403, 404, 409, 412}
_SUCCEEDED = "Succeeded"
_FAILED = ("Failed", "Canceled")


@dataclass(frozen=True)
class Progress:
    """Where a reconcile step stands: done, or not yet; errors when it cannot be done."""

    done: bool
    errors: tuple[ErrorDetail, ...] = ()
    made: dict[str, str] | None = None  # what it made: disk id -> managed disk id, "vm" -> id


@dataclass(frozen=True)
class Failover:
    """One failover's identity: whose, which job (its tags), which point, which VM name."""

    tenant: str
    vm: str
    job_id: str
    kind: FailoverType
    point_id: str
    vm_name: str

    @property
    def tags(self) -> dict[str, str]:
        return rules.tags(
            tenant=self.tenant,
            vm=self.vm,
            job_id=self.job_id,
            point_id=self.point_id,
            kind=self.kind,
        )


def azure_refusal(error: HttpResponseError, doing: str) -> ErrorDetail | None:
    """A refusal no retry fixes as the team's error shape; None when a retry may help."""
    if error.status_code not in _PERMANENT:
        return None
    code = getattr(error.error, "code", None) or f"Http{error.status_code}"
    message = (getattr(error.error, "message", None) or str(error)).splitlines()[0]
    return ErrorDetail(
        code=f"Azure{code}" if not code.startswith("Azure") else code,
        cause=f"Azure refused to {doing}: {code}: {message}",
        recommendation=_fix_for(code),
    )


def _fix_for(code: str) -> str:
    if "Sku" in code or code in ("InvalidParameter", "VMSizeNotSupported"):
        return (
            "Check the VM's target size (targetSize) against the sizes the recovery region "
            "offers; to change it, disable protection keeping the replica and enable it again "
            "with a valid targetSize, then fail over again."
        )
    if "Quota" in code or code == "OperationNotAllowed":
        return (
            "Raise the subscription's quota for this size family in the recovery region, then "
            "start the failover again."
        )
    return (
        "Fix what Azure names, then start the failover again; what this failover made is "
        "removed by its cleanup."
    )


# --- disks -------------------------------------------------------------------------------


def _copy_blob(disk: ReplicaDisk, point_id: str) -> str:
    return f"failover-{rules.point_key(point_id)}-{disk.blob}"


def reconcile_disks(
    item: ReplicatedItem,
    record: VmRecord,
    failover: Failover,
    snapshots: dict[str, str],
    *,
    started: bool = False,
) -> Progress:
    """Every disk of the point as a managed disk: copy the snapshot to a base blob, import
    it, delete the copy once the disk exists."""
    target = recovery_target()
    disks = compute_client().disks
    os_disk = next((d.id for d in record.vm.disks if d.is_os_disk), None)
    made: dict[str, str] = {}
    done, began = True, False
    for disk in item.replica_disks:
        name = rules.disk_name(failover.vm_name, disk.disk_id, failover.point_id)
        existing = _get(lambda n=name: disks.get(target.resource_group, n))
        if existing is not None and existing.provisioning_state == _SUCCEEDED:
            made[disk.disk_id] = existing.id
            _delete_copy(disk, failover.point_id)
            continue
        done = False
        if existing is not None and existing.provisioning_state in _FAILED:
            return Progress(False, (_failed_resource("managed disk", name, existing),))
        if existing is not None or started:
            continue  # being created
        if disk.disk_id not in snapshots:
            return Progress(False, (_point_lost(failover.point_id, disk.disk_id),))
        copied = _copy_point(disk, failover.point_id, snapshots[disk.disk_id])
        if isinstance(copied, ErrorDetail):
            return Progress(False, (copied,))
        if not copied:
            continue  # the copy runs
        source = blob_service().get_blob_client(disk.container, _copy_blob(disk, failover.point_id))
        body = compute.Disk(
            location=target.location,
            tags=failover.tags,
            os_type=_os_type(record) if disk.disk_id == os_disk else None,
            hyper_v_generation="V2" if record.vm.generation == 2 else "V1",
            creation_data=compute.CreationData(
                create_option="Import",
                source_uri=source.url,
                storage_account_id=target.storage_account_id,
            ),
        )
        try:
            disks.begin_create_or_update(target.resource_group, name, body, polling=False)
        except HttpResponseError as error:
            if refusal := azure_refusal(error, f"create managed disk {name}"):
                return Progress(False, (refusal,))
            raise
        began = True
    if began:
        return reconcile_disks(item, record, failover, snapshots, started=True)
    return Progress(done, made=made)


def _copy_point(disk: ReplicaDisk, point_id: str, snapshot: str) -> bool | ErrorDetail:
    """Start (or follow) the server-side copy of the point's snapshot; True once done."""
    copy = blob_service().get_blob_client(disk.container, _copy_blob(disk, point_id))
    try:
        state = copy.get_blob_properties().copy
        if state.status == "success":
            return True
        if state.status == "pending":
            return False
        copy.delete_blob()  # failed or aborted: start again
    except ResourceNotFoundError:
        pass
    source = blob_sas_url(disk.container, disk.blob, write=False, read=True, snapshot=snapshot)
    try:
        started = copy.start_copy_from_url(source)
    except HttpResponseError as error:
        if error.status_code == 404:
            return _point_lost(point_id, disk.disk_id)
        raise
    return started.get("copy_status") == "success"


def _delete_copy(disk: ReplicaDisk, point_id: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):
        blob_service().get_blob_client(disk.container, _copy_blob(disk, point_id)).delete_blob()


def _point_lost(point_id: str, disk_id: str) -> ErrorDetail:
    return ErrorDetail(
        code="RecoveryPointUnavailable",
        cause=f"The snapshot of disk {disk_id} in recovery point {point_id} no longer exists.",
        recommendation="Fail over again from another point (GET the replicated item for the "
        "points that exist).",
    )


def _os_type(record: VmRecord) -> str:
    return "Windows" if record.vm.os_type == "windows" else "Linux"


# --- network interface --------------------------------------------------------------------


def reconcile_nic(failover: Failover, *, started: bool = False) -> Progress:
    """The VM's NIC in the recovery subnet; a test failover's in the isolated one."""
    target = recovery_target()
    nics = network_client().network_interfaces
    name = rules.nic_name(failover.vm_name)
    existing = _get(lambda: nics.get(target.resource_group, name))
    if existing is not None and existing.provisioning_state == _SUCCEEDED:
        return Progress(True, made={"nic": existing.id})
    if existing is not None and existing.provisioning_state in _FAILED:
        return Progress(False, (_failed_resource("network interface", name, existing),))
    if existing is None and not started:
        subnet = target.test_subnet_id if failover.kind is FailoverType.TEST else target.subnet_id
        body = network.NetworkInterface(
            location=target.location,
            tags=failover.tags,
            ip_configurations=[
                network.NetworkInterfaceIPConfiguration(
                    name="ipconfig1",
                    subnet=network.Subnet(id=subnet),
                    private_ip_allocation_method="Dynamic",
                )
            ],
        )
        try:
            nics.begin_create_or_update(target.resource_group, name, body, polling=False)
        except HttpResponseError as error:
            if refusal := azure_refusal(error, f"create network interface {name}"):
                return Progress(False, (refusal,))
            raise
        return reconcile_nic(failover, started=True)  # Azure often ends a small create at once
    return Progress(False)


# --- virtual machine ----------------------------------------------------------------------


def reconcile_vm(
    record: VmRecord,
    failover: Failover,
    size: str,
    disks: dict[str, str],
    nic_id: str,
    *,
    started: bool = False,
) -> Progress:
    """The VM with the target name and size on the point's disks. A VM of that name on other
    disks (a change of recovery point) is deleted first, then made anew."""
    target = recovery_target()
    vms = compute_client().virtual_machines
    name = failover.vm_name
    os_disk = next((d.id for d in record.vm.disks if d.is_os_disk), None)
    if os_disk not in disks:
        os_disk = next(iter(disks))
    existing = _get(lambda: vms.get(target.resource_group, name))
    if existing is not None:
        current = existing.storage_profile.os_disk.managed_disk.id
        if current.lower() != disks[os_disk].lower():
            _begin_delete(vms.begin_delete, target.resource_group, name)
            return Progress(False)
        if existing.provisioning_state == _SUCCEEDED:
            return Progress(True, made={"vm": existing.id})
        if existing.provisioning_state in _FAILED:
            return Progress(False, (_failed_resource("virtual machine", name, existing),))
        return Progress(False)
    if started:
        return Progress(False)
    data = [d for d in disks if d != os_disk]
    body = compute.VirtualMachine(
        location=target.location,
        tags=failover.tags,
        hardware_profile=compute.HardwareProfile(vm_size=size),
        storage_profile=compute.StorageProfile(
            os_disk=compute.OSDisk(
                os_type=_os_type(record),
                create_option="Attach",
                managed_disk=compute.ManagedDiskParameters(id=disks[os_disk]),
            ),
            data_disks=[
                compute.DataDisk(
                    lun=lun,
                    create_option="Attach",
                    managed_disk=compute.ManagedDiskParameters(id=disks[disk_id]),
                )
                for lun, disk_id in enumerate(data)
            ],
        ),
        network_profile=compute.NetworkProfile(
            network_interfaces=[compute.NetworkInterfaceReference(id=nic_id, primary=True)]
        ),
    )
    try:
        vms.begin_create_or_update(target.resource_group, name, body, polling=False)
    except HttpResponseError as error:
        if refusal := azure_refusal(error, f"create virtual machine {name} ({size})"):
            return Progress(False, (refusal,))
        raise
    return reconcile_vm(record, failover, size, disks, nic_id, started=True)


# --- removal ------------------------------------------------------------------------------


def reconcile_removal(
    item: ReplicatedItem, job_id: str, *, keep_point: str | None = None
) -> Progress:
    """Delete what failover job `job_id` made for this VM, found by its tags: VMs first, then
    NICs, then disks (Azure refuses to delete a disk a VM holds), then the point copies.
    Done when listing finds none (`keep_point`: the disks of that point stay, e.g. after a
    change of recovery point the new ones). Nothing another job or VM made is touched."""
    target = recovery_target()
    compute_api, network_api = compute_client(), network_client()

    def ours(resource: Any) -> bool:
        return rules.made_by(resource.tags, tenant=item.tenant, vm=item.vm, job_id=job_id)

    group = target.resource_group
    vms = [v for v in compute_api.virtual_machines.list(group) if ours(v)]
    if keep_point is None:
        # VMs, then NICs: each listed again right after its deletes started, so deletes that
        # end at once do not wait for the orchestration's next poll.
        for vm in vms:
            _begin_delete(compute_api.virtual_machines.begin_delete, group, vm.name)
        if vms and [v for v in compute_api.virtual_machines.list(group) if ours(v)]:
            return Progress(False)
        vms = []
        nics = [n for n in network_api.network_interfaces.list(group) if ours(n)]
        for nic in nics:
            _begin_delete(network_api.network_interfaces.begin_delete, group, nic.name)
        if nics and [n for n in network_api.network_interfaces.list(group) if ours(n)]:
            return Progress(False)
    held = {
        disk.managed_disk.id.lower()
        for vm in vms
        for disk in [vm.storage_profile.os_disk, *(vm.storage_profile.data_disks or [])]
        if disk.managed_disk is not None
    }
    disks = [
        d
        for d in compute_api.disks.list_by_resource_group(group)
        if ours(d)
        and (d.tags or {}).get(rules.TAG_POINT) != keep_point
        and d.id.lower() not in held
    ]
    for disk in disks:
        _begin_delete(compute_api.disks.begin_delete, group, disk.name)
    if disks:  # listed again: deletes that ended at once need no further poll
        disks = [
            d
            for d in compute_api.disks.list_by_resource_group(group)
            if ours(d) and (d.tags or {}).get(rules.TAG_POINT) != keep_point
        ]
    for replica in item.replica_disks:
        container = blob_service().get_container_client(replica.container)
        for blob in container.list_blobs(name_starts_with="failover-"):
            if blob.name.endswith(f"-{replica.blob}") and (
                keep_point is None or rules.point_key(keep_point) not in blob.name
            ):
                with contextlib.suppress(ResourceNotFoundError):
                    container.delete_blob(blob.name)
    return Progress(not disks)


# --- shared -------------------------------------------------------------------------------


def _get(read: Any) -> Any | None:
    try:
        return read()
    except ResourceNotFoundError:
        return None


def _begin_delete(begin_delete: Any, group: str, name: str) -> None:
    """Start deleting a resource (not waited for: the next listing says whether it is gone)."""
    with contextlib.suppress(ResourceNotFoundError):
        begin_delete(group, name, polling=False)


def _failed_resource(kind: str, name: str, resource: Any) -> ErrorDetail:
    return ErrorDetail(
        code="AzureProvisioningFailed",
        cause=f"Azure could not create {kind} {name} (provisioning {resource.provisioning_state}).",
        recommendation="Look at the resource's activity log in the recovery resource group; "
        "clean up or cancel the failover and start it again.",
    )
