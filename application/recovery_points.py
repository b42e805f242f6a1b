"""Recovery points as blob snapshots: take one across all of a VM's disks, prune by policy.

`record_point` is idempotent, so an activity that runs it again after a crash ends in the
same state, and it spends per cycle (one disk): the points' query, a pending row, the
snapshot, one transaction for the point and the rows it prunes, and the pruned snapshot's
deletion. Its steps, and what a rerun finds after a crash between two of them:

1. a pending row for the point, before any snapshot: a rerun finds it and lists the disk's
   snapshots for the ones tagged with the point's id (a first run finds no row, so it knows
   no snapshot of this point can exist, and lists nothing);
2. a snapshot of each disk, tagged with the point's id;
3. one entity-group transaction: the point, whole, and the deletion of the rows retention
   prunes; the point's row names the pruned snapshots (`retired`);
4. those snapshots deleted: a rerun deletes the point's `retired` again (gone is fine).

The VM always has its newest point: a pruned row goes only with the new point's, and a
pruned snapshot only after that.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError

from azureclients.clients import blob_service
from domain import retention
from domain.model import ReplicationPolicy
from readmodels.points import commit_point, save_point
from readmodels.records import RecoveryPoint, ReplicatedItem

TAG = "recoverypoint"  # the snapshot metadata naming the point it belongs to


def record_point(
    item: ReplicatedItem,
    point: RecoveryPoint,
    policy: ReplicationPolicy,
    now: datetime,
    rows: list[RecoveryPoint],
) -> tuple[RecoveryPoint, list[RecoveryPoint]]:
    """Snapshot every disk's blob as `point` (its snapshots filled in here), record it, and
    prune what retention no longer keeps (steps 1 to 3; `delete_retired` is step 4). `rows`
    are the VM's point rows as just read, pending ones included. Returns the point as
    recorded and the VM's points that remain, it included.

    The agent has finished writing all disks when this runs, so the snapshots hold one
    instant of the VM (crash-consistent, or app-consistent when the agent froze the guest)."""
    mine = next((p for p in rows if p.id == point.id), None)
    disks = {d.disk_id for d in item.replica_disks}
    if mine is not None and not mine.pending and set(mine.snapshots) >= disks:
        point = mine  # a rerun: the point was recorded; what follows it may not have been
    else:
        point = _take(item, point if mine is None else mine.model_copy(update={"pending": True}))
    stale = [p for p in rows if p.pending and p.id != point.id]
    others = [p for p in rows if not p.pending and p.id != point.id]
    doomed = _doomed(item, policy, now, point, others)
    if doomed or stale or point.pending:
        left = _tagged(item, {p.id for p in stale}) if stale else {}
        retired = _by_disk([*_pairs(point.retired), *_snapshots_of([*doomed, *left.values()])])
        point = point.model_copy(update={"retired": retired, "pending": False})
        commit_point(point, doomed + stale)
    gone = {p.id for p in doomed}
    return point, [point, *(p for p in others if p.id not in gone)]


def _take(item: ReplicatedItem, point: RecoveryPoint) -> RecoveryPoint:
    """Snapshots of every disk for `point`. A new point gets its pending row first; a pending
    row found means a run before this one may have taken some: those tagged are reused."""
    if point.pending:
        found = _tagged(item, {point.id}).get(point.id, {})
    else:
        point = point.model_copy(update={"pending": True, "snapshots": {}})
        save_point(point)  # step 1: from here on a rerun looks for this point's snapshots
        found = {}
    service = blob_service()
    snapshots = dict(point.snapshots) | found
    for disk in item.replica_disks:
        if disk.disk_id in snapshots:
            continue
        blob = service.get_blob_client(disk.container, disk.blob)
        snap = blob.create_snapshot(metadata={TAG: point.id, "consistency": point.consistency})
        snapshots[disk.disk_id] = snap["snapshot"]
    return point.model_copy(update={"snapshots": snapshots})


def _doomed(
    item: ReplicatedItem,
    policy: ReplicationPolicy,
    now: datetime,
    point: RecoveryPoint,
    others: list[RecoveryPoint],
) -> list[RecoveryPoint]:
    """The recorded points retention no longer keeps (never the one just taken, nor a point
    a failover pinned), oldest first."""
    by_id = {p.id: p for p in others}
    rules_view = [
        retention.RecoveryPoint(id=p.id, time=p.time, consistency=p.consistency)
        for p in [point, *others]
    ]
    doomed = retention.points_to_prune(rules_view, policy, now, pinned=item.pinned_points)
    return [by_id[p.id] for p in doomed if p.id in by_id]


def _tagged(item: ReplicatedItem, ids: set[str]) -> dict[str, dict[str, str]]:
    """Point id -> disk id -> snapshot, for the snapshots of the disks tagged with one of
    `ids` (a List Blobs per disk: only a rerun, or a point left pending, needs it)."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for disk in item.replica_disks:
        container = blob_service().get_container_client(disk.container)
        listed = container.list_blobs(name_starts_with=disk.blob, include=["snapshots", "metadata"])
        for blob in listed:
            tag = (blob.metadata or {}).get(TAG)
            if blob.name == disk.blob and blob.snapshot and tag in ids:
                found[tag].setdefault(disk.disk_id, blob.snapshot)
    return found


def _snapshots_of(points: Iterable[RecoveryPoint | dict[str, str]]) -> list[tuple[str, str]]:
    """(disk id, snapshot) of these points, or of disk id -> snapshot maps."""
    maps = [p.snapshots if isinstance(p, RecoveryPoint) else p for p in points]
    return [pair for snapshots in maps for pair in snapshots.items()]


def _pairs(by_disk: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(disk_id, s) for disk_id, ids in by_disk.items() for s in ids]


def _by_disk(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for disk_id, snapshot in pairs:
        if snapshot not in out[disk_id]:
            out[disk_id].append(snapshot)
    return dict(out)


def delete_retired(item: ReplicatedItem, point: RecoveryPoint) -> None:
    """Step 4: delete the snapshots of the points `point` pruned (those already gone too)."""
    disks = {d.disk_id: d for d in item.replica_disks}
    service = blob_service()
    for disk_id, ids in point.retired.items():
        if disk := disks.get(disk_id):
            for snapshot in ids:
                with contextlib.suppress(ResourceNotFoundError):
                    service.get_blob_client(
                        disk.container, disk.blob, snapshot=snapshot
                    ).delete_blob()
