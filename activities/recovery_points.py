"""A recovery point at the end of a replication cycle: verify the replica, snapshot it, prune
by retention, and refresh status, RPO and health, in one activity with one read and one write
of the item; then the next cycle's sync, built from that write, for Service Bus to deliver
when the cycle is due (so a cycle is one wake-up of the app and one activity)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import Field

from activities.seams import Seam, VmRef
from application.commands import CommandTarget, send_replication
from application.health import HEARTBEAT_READ_MAX_AGE, policy_of, refresh
from application.orchestrations import ScheduledCommand
from application.recovery_points import delete_retired, record_point
from application.verification import ReplicaInvalid, verify_disk
from contracts.commands import CommandType
from contracts.events import DiskResult
from domain import replication as rules
from domain.model import HealthState
from domain.replication_state import ReplicationEvent
from domain.retention import Consistency
from readmodels.items import require_item_row, update_item
from readmodels.points import list_points
from readmodels.records import RecoveryPoint, ReplicatedItem
from readmodels.sites import last_heartbeat

bp = df.Blueprint()
log = logging.getLogger(__name__)


class PointInput(VmRef):
    command_id: str  # the point's id: a rerun of the same cycle finds its point
    # InitialReplicationCompleted, DeltaSyncCompleted or ResyncCompleted
    status_event: ReplicationEvent
    consistency: Consistency = Consistency.CRASH
    consistency_note: str | None = None
    taken_at: datetime | None = None
    asked: datetime | None = None  # when the cycle began: takenAt may not be much earlier
    disks: list[DiskResult] = Field(default_factory=list)
    # The next cycle's sync, to send once the point is recorded (the replication loop's).
    then: NextCommand | None = None


class NextCommand(Seam):
    command_id: str
    cycle: int
    not_before: datetime | None = None  # its cycle is due then: Service Bus holds it till then


class PointRecorded(Seam):
    point_id: str
    status: str
    health: HealthState
    # `then`, sent (None: not asked for, or the VM no longer replicates).
    next: ScheduledCommand | None = None


@bp.activity_trigger(input_name="payload")
def record_recovery_point(payload: dict) -> dict:
    """Verify every disk, snapshot them all as one point, prune, and refresh status, RPO and
    health in one write; then send the next cycle's sync if asked (`then`), built from the
    item just written. Idempotent by command id: a rerun finds its point and its status (and
    sends the same command again: the agent takes a command id once). A replica that does
    not match what the agent reported raises ReplicaInvalid."""
    request = PointInput.model_validate(payload)
    row = require_item_row(request.tenant, request.vm)
    item = row.model
    by_disk = {r.disk_id: r for r in request.disks}
    for disk in item.replica_disks:
        if disk.disk_id not in by_disk:
            raise ReplicaInvalid(f"the agent reported nothing for disk {disk.disk_id}")
    # What only reads goes at once: every disk's verification, the VM's points, and the
    # site's heartbeat that refreshing health reads (a cached read, if recent).
    with ThreadPoolExecutor(max_workers=len(item.replica_disks) + 2) as pool:
        checks = [
            pool.submit(
                verify_disk,
                disk.container,
                disk.blob,
                rules.replica_blob_size(disk.size),
                by_disk[disk.disk_id],
            )
            for disk in item.replica_disks
        ]
        listed = pool.submit(list_points, item.tenant, item.vm, pending=True)
        pool.submit(last_heartbeat, item.tenant, item.site, max_age=HEARTBEAT_READ_MAX_AGE)
        for check in checks:
            check.result()  # ReplicaInvalid: nothing is taken
        rows = listed.result()
    now = datetime.now(UTC)
    taken_at = rules.point_time(request.taken_at, sent=request.asked, now=now)
    if request.taken_at is not None and abs(taken_at - request.taken_at) > rules.CLOCK_SKEW:
        log.warning(
            "%s/%s: the agent's takenAt %s is not between its cycle's start (%s) and now; "
            "the point is timed %s",
            *(request.tenant, request.vm, request.taken_at, request.asked, taken_at),
        )
    taken = RecoveryPoint(
        id=request.command_id,
        tenant=item.tenant,
        vm=item.vm,
        time=taken_at,
        consistency=request.consistency,
        note=request.consistency_note,
    )
    point, remaining = record_point(item, taken, policy_of(item), now, rows)

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

    with ThreadPoolExecutor(max_workers=2) as pool:  # the pruned snapshots, beside the item
        retired = pool.submit(delete_retired, item, point)
        updated = update_item(request.tenant, request.vm, record, read=row)
        scheduled = send_next(updated, request.then) if request.then else None
        retired.result()
    return PointRecorded(
        point_id=point.id, status=updated.status, health=updated.health.state, next=scheduled
    ).out()


def send_next(item: ReplicatedItem, then: NextCommand) -> ScheduledCommand | None:
    """The next cycle's sync, from the item as this point left it (no read of its own), for
    Service Bus to enqueue when the cycle is due; None when the VM no longer replicates."""
    if not rules.replicates(item.status):
        return None
    sent = send_replication(
        CommandTarget.of(item),
        CommandType.SYNC,
        then.command_id,
        cycle=then.cycle,
        not_before=then.not_before,
    )
    return ScheduledCommand(
        command_id=then.command_id,
        cycle=then.cycle,
        sent_at=sent.at,
        sequence_number=sent.sequence_number,
    )
