"""Projecting what agents report (inventory snapshots, VM changes) into the Vms table.

Events can arrive twice or late: a snapshot older than what a VM row already reflects does
not overwrite it, and applying the same snapshot again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.inventory import InventoryVm, VmmCloudRef
from readmodels.records import VmRecord
from readmodels.tables import ModelTable

VMS = ModelTable("Vms", VmRecord)


@dataclass(frozen=True)
class SnapshotOutcome:
    upserted: list[str]
    gone: list[str]
    stale: list[str]


def apply_snapshot(
    tenant: str,
    site: str,
    cloud: VmmCloudRef,
    vms: list[InventoryVm],
    *,
    event_id: str,
    event_time: datetime,
) -> SnapshotOutcome:
    """Upsert every listed VM of the cloud; mark the cloud's unlisted VMs as gone.

    One read of the tenant's rows, then batched writes: a snapshot of a large cloud costs a
    few round trips, not two per VM. A VM whose row reflects a newer event is left alone."""
    current = {record.vm.id: record for record in VMS.all(tenant)}
    writes: list[tuple[str, VmRecord, dict]] = []
    upserted, stale, gone = [], [], []
    for vm in vms:
        known = current.get(vm.id)
        if known is not None and known.last_seen > event_time:
            stale.append(vm.id)
            continue
        record = VmRecord(tenant=tenant, site=site, cloud=cloud, vm=vm, present=True,
                          last_seen=event_time, last_event_id=event_id)  # fmt: skip
        writes.append((vm.id, record, {"Site": site, "Present": True}))
        upserted.append(vm.id)
    listed = {vm.id for vm in vms}
    for record in current.values():
        if (
            record.site == site
            and record.cloud.id == cloud.id
            and record.vm.id not in listed
            and record.present
            and record.last_seen <= event_time
        ):
            record.present = False
            record.last_seen = event_time
            record.last_event_id = event_id
            writes.append((record.vm.id, record, {"Site": site, "Present": False}))
            gone.append(record.vm.id)
    VMS.upsert_many(tenant, writes)
    return SnapshotOutcome(upserted=upserted, gone=gone, stale=stale)


def upsert_vm(
    tenant: str,
    site: str,
    cloud: VmmCloudRef,
    vm: InventoryVm,
    *,
    event_id: str,
    event_time: datetime,
) -> bool:
    """Write the VM unless the row already reflects a newer event; True when written."""
    current = VMS.get(tenant, vm.id)
    if current is not None and current.model.last_seen > event_time:
        return False
    record = VmRecord(
        tenant=tenant,
        site=site,
        cloud=cloud,
        vm=vm,
        present=True,
        last_seen=event_time,
        last_event_id=event_id,
    )
    VMS.upsert(tenant, vm.id, record, Site=site, Present=True)
    return True


def get_vm(tenant: str, vm_id: str) -> VmRecord | None:
    row = VMS.get(tenant, vm_id)
    return row.model if row else None
