"""A recovery point at the end of a replication cycle: verify the replica, snapshot it, prune
by retention, and refresh status, RPO and health, in one activity and one item write."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import Field

from activities.seams import Seam, VmRef
from application.health import policy_of, refresh
from application.recovery_points import prune_points, snapshot_point
from application.verification import ReplicaInvalid, verify_disk
from contracts.events import DiskResult
from domain import replication as rules
from domain.model import HealthState
from domain.replication_state import ReplicationEvent
from domain.retention import Consistency
from readmodels.items import require_item_row, update_item
from readmodels.points import list_points
from readmodels.records import ReplicatedItem

bp = df.Blueprint()
log = logging.getLogger(__name__)


class PointInput(VmRef):
    command_id: str  # the point's id: a rerun of the same cycle finds its point
    # InitialReplicationCompleted, DeltaSyncCompleted or ResyncCompleted
    status_event: ReplicationEvent
    consistency: Consistency = Consistency.CRASH
    consistency_note: str | None = None
    taken_at: datetime | None = None
    disks: list[DiskResult] = Field(default_factory=list)


class PointRecorded(Seam):
    point_id: str
    status: str
    health: HealthState


@bp.activity_trigger(input_name="payload")
def record_recovery_point(payload: dict) -> dict:
    """Verify every disk, snapshot them all as one point, prune, and refresh status, RPO and
    health in one write. Idempotent by command id: a rerun finds its point and its status.
    A replica that does not match what the agent reported raises ReplicaInvalid."""
    request = PointInput.model_validate(payload)
    row = require_item_row(request.tenant, request.vm)
    item = row.model
    by_disk = {r.disk_id: r for r in request.disks}
    for disk in item.replica_disks:
        if disk.disk_id not in by_disk:
            raise ReplicaInvalid(f"the agent reported nothing for disk {disk.disk_id}")
        expected = rules.replica_blob_size(disk.size)
        verify_disk(disk.container, disk.blob, expected, by_disk[disk.disk_id])
    now = datetime.now(UTC)
    taken_at = rules.point_time(request.taken_at, sent=item.command_sent, now=now)
    if request.taken_at is not None and abs(taken_at - request.taken_at) > rules.CLOCK_SKEW:
        log.warning(
            "%s/%s: the agent's takenAt %s is not between the command's sending (%s) and now; "
            "the point is timed %s",
            *(request.tenant, request.vm, request.taken_at, item.command_sent, taken_at),
        )
    points = list_points(request.tenant, request.vm)
    point = snapshot_point(
        item,
        request.command_id,
        request.consistency,
        taken_at,
        points,
        request.consistency_note,
    )
    others = [p for p in points if p.id != point.id]
    remaining = prune_points(item, policy_of(item), now, [point, *others])

    def record(current: ReplicatedItem) -> None:
        current.status = rules.next_status(current.status, request.status_event)
        if current.last_recovery_point is None or point.time >= current.last_recovery_point:
            current.consistency_note = point.note
        current.last_recovery_point = max(current.last_recovery_point or point.time, point.time)
        if point.consistency == Consistency.APP:
            current.last_app_consistent_point = max(
                current.last_app_consistent_point or point.time, point.time
            )
        current.last_sync = now
        current.recovery_points = len(remaining)
        if current.progress and current.progress.command_id == request.command_id:
            current.progress.percent = 100.0
        refresh(current, now)

    updated = update_item(request.tenant, request.vm, record, read=row)
    return PointRecorded(
        point_id=point.id, status=updated.status, health=updated.health.state
    ).out()
