"""Recovery points as blob snapshots: take one across all of a VM's disks, prune by policy.

Both are idempotent, so an activity that runs them again after a crash ends in the same state.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError

from azureclients.clients import blob_service
from domain import retention
from domain.model import ReplicationPolicy
from readmodels.points import delete_point, save_point
from readmodels.records import RecoveryPoint, ReplicatedItem


def snapshot_point(
    item: ReplicatedItem,
    point_id: str,
    consistency: str,
    taken_at: datetime,
    points: list[RecoveryPoint],
    note: str | None = None,
) -> RecoveryPoint:
    """Snapshot every disk's blob, tagged with the point id, and record the point.

    The agent has finished writing all disks when this runs, so the snapshots hold one
    instant of the VM (crash-consistent, or app-consistent when the agent froze the guest).
    A rerun reuses snapshots already tagged with this point id instead of taking new ones.
    `points` are the VM's recorded points (the caller lists them once for this and pruning)."""
    existing = next((p for p in points if p.id == point_id), None)
    if existing is not None and set(existing.snapshots) >= {d.disk_id for d in item.replica_disks}:
        return existing
    service = blob_service()
    snapshots: dict[str, str] = {}
    for disk in item.replica_disks:
        container = service.get_container_client(disk.container)
        listed = container.list_blobs(name_starts_with=disk.blob, include=["snapshots", "metadata"])
        tagged = [
            b.snapshot
            for b in listed
            if b.snapshot and (b.metadata or {}).get("recoverypoint") == point_id
        ]
        if tagged:
            snapshots[disk.disk_id] = tagged[0]
            continue
        snap = container.get_blob_client(disk.blob).create_snapshot(
            metadata={"recoverypoint": point_id, "consistency": consistency}
        )
        snapshots[disk.disk_id] = snap["snapshot"]
    point = RecoveryPoint(id=point_id, tenant=item.tenant, vm=item.vm, time=taken_at,
                          consistency=consistency, snapshots=snapshots, note=note)  # fmt: skip
    save_point(point)
    return point


def prune_points(
    item: ReplicatedItem, policy: ReplicationPolicy, now: datetime, points: list[RecoveryPoint]
) -> list[RecoveryPoint]:
    """Delete the points retention no longer keeps (snapshots first, oldest first); returns
    the points that remain. `points` are all the VM's points, the one just taken included."""
    by_id = {p.id: p for p in points}
    rules_view = [
        retention.RecoveryPoint(id=p.id, time=p.time, consistency=p.consistency) for p in points
    ]
    doomed = retention.points_to_prune(rules_view, policy, now, pinned=item.pinned_points)
    disks = {d.disk_id: d for d in item.replica_disks}
    service = blob_service()
    for gone in doomed:
        point = by_id[gone.id]
        for disk_id, snapshot in point.snapshots.items():
            if disk := disks.get(disk_id):
                with contextlib.suppress(ResourceNotFoundError):
                    service.get_blob_client(
                        disk.container, disk.blob, snapshot=snapshot
                    ).delete_blob()
        delete_point(point)
    doomed_ids = {p.id for p in doomed}
    return [p for p in points if p.id not in doomed_ids]
