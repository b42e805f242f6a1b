"""What a hostile or broken agent's values do to a protected VM, through the real activity and
application code on Azurite: a recovery point's time from the future or from long ago, and a
disk added to the VM after protection was enabled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.recovery_points import record_recovery_point
from application.prerequisites import recheck_protected_vm
from contracts.inventory import InventoryVm, VmmCloudRef
from readmodels.inventory import upsert_vm
from readmodels.items import get_item
from readmodels.points import list_points
from tests.app.test_replica_verification import TENANT, point, protected_vm

pytestmark = pytest.mark.usefixtures("read_models")
MIB = 1024 * 1024


def test_a_point_from_the_future_or_from_long_ago_is_timed_inside_its_cycle() -> None:
    vm, _ = protected_vm()
    now = datetime.now(UTC)
    future = point(vm, "g-sync-1-1")
    future["asked"] = (now - timedelta(minutes=1)).isoformat()
    future["taken_at"] = (now + timedelta(days=365)).isoformat()
    record_recovery_point(future)
    item = get_item(TENANT, vm)
    assert item.last_recovery_point <= datetime.now(UTC), "a future point would hide RPO"

    past = point(vm, "g-sync-2-1")
    past["asked"] = datetime.now(UTC).isoformat()
    past["taken_at"] = (now - timedelta(days=30)).isoformat()
    record_recovery_point(past)
    times = {p.id: p.time for p in list_points(TENANT, vm)}
    # Both kept (the 30s policy keeps 4 hours): a point of 30 days ago was pruned at once.
    assert set(times) == {"g-sync-1-1", "g-sync-2-1"}
    assert times["g-sync-2-1"] >= now - timedelta(minutes=10)


def test_a_disk_added_to_a_protected_vm_makes_it_critical_naming_the_disk() -> None:
    vm, _ = protected_vm()

    def report(*disk_ids: str) -> None:
        disks = [{"id": d, "path": f"D:\\{d}.vhdx", "format": "VHDX", "sizeBytes": 4 * MIB,
                  "isOsDisk": d == "os"} for d in disk_ids]  # fmt: skip
        body = {
            "id": vm,
            "name": vm,
            "generation": 1,
            "osType": "linux",
            "osName": "Other Linux (64-bit)",
            "vcpus": 1,
            "memoryMb": 1024,
            "disks": disks,
        }
        upsert_vm(TENANT, "site", VmmCloudRef(id="c", name="c"), InventoryVm.model_validate(body),
                  event_id="e", event_time=datetime.now(UTC))  # fmt: skip

    report("os")
    assert recheck_protected_vm(TENANT, vm) == "Normal"
    report("os", "data")
    assert recheck_protected_vm(TENANT, vm) == "Critical"
    (reason,) = [r for r in get_item(TENANT, vm).health.reasons if r.code == "DiskNotReplicated"]
    assert "data" in reason.cause and "enable it again" in reason.recommendation
    report("os")  # the disk is detached again: the reason goes
    assert recheck_protected_vm(TENANT, vm) == "Normal"
