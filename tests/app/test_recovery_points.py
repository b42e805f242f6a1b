"""Recording a recovery point: what one cycle sends to storage, and what a rerun of the
activity finds and does after a crash between any two of its steps (no second snapshot, no
snapshot left behind, the VM never without its newest point).

The real `record_recovery_point` activity against Azurite, behind the benchmark's counting
proxy. A crash is the state a first run leaves when it stops after a step, made with the
same calls it makes (a pending row, a tagged snapshot, a transaction).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobClient

from activities.recovery_points import PointRecorded, record_recovery_point
from agent.footer import Footer
from application.recovery_points import TAG
from azureclients.clients import blob_service
from bench.meters import StorageMeter
from domain.replication import replica_blob_size
from readmodels.items import get_item, save_item, update_item
from readmodels.points import commit_point, list_points, save_point
from readmodels.records import (
    FailoverRecord,
    RecoveryPoint,
    ReplicaDisk,
    ReplicatedItem,
)

TENANT = "points"
DISK = 4 * 1024 * 1024
SIZE = replica_blob_size(DISK)
# Retention 0: every cycle prunes the point before it, as every cycle does in steady state.
POLICIES = {
    "zero": {
        "interval": 30,
        "retention_hours": 0,
        "app_consistent_frequency_hours": 0,
        "rpo_threshold_seconds": 3600,
    }
}


@pytest.fixture(autouse=True)
def zero_retention(read_models: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATION_POLICIES", json.dumps(POLICIES))


def protected_vm() -> tuple[str, BlobClient]:
    vm = "vm-" + uuid.uuid4().hex[:8]
    container = f"replica-{TENANT}-{vm}"
    blob_service().create_container(container)
    blob = blob_service().get_blob_client(container, "os.vhd")
    blob.create_page_blob(SIZE)
    blob.upload_page(Footer.new(SIZE - 512).to_bytes(), offset=SIZE - 512, length=512)
    disk = ReplicaDisk(
        disk_id="os", container=container, size=DISK, blob="os.vhd", source_path="D:\\os.vhdx"
    )
    save_item(
        ReplicatedItem(
            tenant=TENANT,
            vm=vm,
            vm_name=vm,
            site="site",
            status="Protected",
            provider="direct",
            policy="zero",
            replica_disks=[disk],
        )
    )
    return vm, blob


def cycle(vm: str, n: int, taken_at: datetime | None = None) -> dict:
    return {
        "tenant": TENANT,
        "vm": vm,
        "command_id": f"gen-sync-{n}-1",
        "status_event": "DeltaSyncCompleted",
        "consistency": "crash",
        "taken_at": (taken_at or datetime.now(UTC) - timedelta(seconds=100 - n)).isoformat(),
        "disks": [{"diskId": "os", "blobSize": SIZE, "bytesSent": 0, "checksums": {}}],
    }


def record(payload: dict) -> PointRecorded:
    return PointRecorded.model_validate(record_recovery_point(payload))


def snapshots(blob: BlobClient) -> dict[str, str]:
    """Snapshot id -> the point its tag names."""
    container = blob_service().get_container_client(blob.container_name)
    listed = container.list_blobs(
        name_starts_with=blob.blob_name, include=["snapshots", "metadata"]
    )
    return {b.snapshot: (b.metadata or {}).get(TAG, "") for b in listed if b.snapshot}


def ids(vm: str, pending: bool = False) -> list[str]:
    return [p.id for p in list_points(TENANT, vm, pending=pending)]


def calls(meter: StorageMeter) -> Counter[str]:
    return Counter({k.split("|", 1)[1]: v for k, v in meter.counts().items()})


def test_a_cycle_lists_no_snapshots_and_writes_its_point_and_prunes_in_one_transaction(
    storage_calls: StorageMeter,
) -> None:
    vm, blob = protected_vm()
    record(cycle(vm, 1))
    before = calls(storage_calls)
    record(cycle(vm, 2))
    spent = calls(storage_calls) - before
    assert spent == Counter(
        {
            "blob|GetBlob": 1,  # the footer (verification)
            "snapshot|SnapshotBlob": 1,
            "snapshot|DeleteSnapshot": 1,  # point 2 in, point 1 out
            "table|QueryEntity": 1,
            "table|UpdateEntity": 1,  # the item, read and written
            "table|QueryEntities": 1,  # the VM's points
            "table|InsertOrReplaceEntity": 1,  # point 2 pending, before its snapshot
            "table|EntityGroupTransaction": 1,  # point 2 whole, point 1's row deleted
        }
    ), spent
    assert ids(vm) == ["gen-sync-2-1"] and list(snapshots(blob).values()) == ["gen-sync-2-1"]


def test_a_rerun_after_the_point_was_recorded_takes_nothing_again() -> None:
    vm, blob = protected_vm()
    first = record(cycle(vm, 1))
    again = record(cycle(vm, 1))
    assert first.point_id == again.point_id == "gen-sync-1-1"
    assert len(snapshots(blob)) == 1 and ids(vm, pending=True) == ["gen-sync-1-1"]


def test_a_rerun_after_a_crash_between_the_snapshot_and_the_point_takes_no_second_snapshot(
    storage_calls: StorageMeter,
) -> None:
    vm, blob = protected_vm()
    payload = cycle(vm, 1)
    taken_at = datetime.fromisoformat(payload["taken_at"])
    pending = RecoveryPoint(
        id="gen-sync-1-1", tenant=TENANT, vm=vm, time=taken_at, consistency="crash", pending=True
    )
    save_point(pending)  # what the first run did: the pending row, then the snapshot
    snap = blob.create_snapshot(metadata={TAG: "gen-sync-1-1", "consistency": "crash"})
    assert ids(vm) == []  # readers never see a pending point
    before = calls(storage_calls)
    record(payload)
    spent = calls(storage_calls) - before
    assert spent["blob|ListBlobs"] == 1 and spent["snapshot|SnapshotBlob"] == 0
    (point,) = list_points(TENANT, vm, pending=True)
    assert point.snapshots == {"os": snap["snapshot"]} and not point.pending
    assert list(snapshots(blob)) == [snap["snapshot"]]


def test_a_rerun_after_a_crash_before_the_snapshot_takes_it() -> None:
    vm, blob = protected_vm()
    payload = cycle(vm, 1)
    pending = RecoveryPoint(
        id="gen-sync-1-1",
        tenant=TENANT,
        vm=vm,
        consistency="crash",
        time=datetime.fromisoformat(payload["taken_at"]),
        pending=True,
    )
    save_point(pending)
    record(payload)
    (point,) = list_points(TENANT, vm)
    assert list(snapshots(blob)) == [point.snapshots["os"]]


def test_a_rerun_after_a_crash_before_the_pruned_snapshot_was_deleted_deletes_it() -> None:
    vm, blob = protected_vm()
    record(cycle(vm, 1))
    (old,) = list_points(TENANT, vm)
    payload = cycle(vm, 2)
    # The first run of cycle 2: its snapshot, then the transaction; then it stopped.
    snap = blob.create_snapshot(metadata={TAG: "gen-sync-2-1", "consistency": "crash"})
    new = RecoveryPoint(
        id="gen-sync-2-1",
        tenant=TENANT,
        vm=vm,
        consistency="crash",
        time=datetime.fromisoformat(payload["taken_at"]),
        snapshots={"os": snap["snapshot"]},
        retired={"os": [old.snapshots["os"]]},
    )
    commit_point(new, [old])
    assert set(snapshots(blob)) == {old.snapshots["os"], snap["snapshot"]}
    record(payload)
    assert list(snapshots(blob)) == [snap["snapshot"]] and ids(vm) == ["gen-sync-2-1"]


def test_a_point_left_pending_by_a_cycle_that_failed_is_cleared_by_the_next() -> None:
    vm, blob = protected_vm()
    record(cycle(vm, 1))
    left = cycle(vm, 2)  # its activity failed for good after the snapshot
    save_point(
        RecoveryPoint(
            id="gen-sync-2-1",
            tenant=TENANT,
            vm=vm,
            consistency="crash",
            time=datetime.fromisoformat(left["taken_at"]),
            pending=True,
        )
    )
    blob.create_snapshot(metadata={TAG: "gen-sync-2-1", "consistency": "crash"})
    record(cycle(vm, 3))
    assert ids(vm, pending=True) == ["gen-sync-3-1"]
    assert list(snapshots(blob).values()) == ["gen-sync-3-1"]


def test_a_point_a_failover_pinned_is_not_pruned() -> None:
    vm, blob = protected_vm()
    record(cycle(vm, 1))

    def pin(item: ReplicatedItem) -> None:
        item.failover = FailoverRecord(job_id="job", type="test", recovery_point_id="gen-sync-1-1")

    update_item(TENANT, vm, pin)
    record(cycle(vm, 2))
    record(cycle(vm, 3))  # prunes 2, keeps the pinned 1
    assert ids(vm) == ["gen-sync-3-1", "gen-sync-1-1"]
    assert sorted(snapshots(blob).values()) == ["gen-sync-1-1", "gen-sync-3-1"]
    item = get_item(TENANT, vm)
    assert item is not None and item.recovery_points == 2
