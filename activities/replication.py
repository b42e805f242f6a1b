"""Activities of replication: replica blobs, agent commands, verification, recovery points.

Each one is idempotent, because the orchestration may run it again after a crash: creating a
blob that exists, resending a command (the agent dedupes by command id), recording a recovery
point whose row already exists — all end in the same state. The rules they apply live in
`domain/`; these functions only read, decide through the domain, and write.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import threading
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.servicebus import ServiceBusMessage
from pydantic import BaseModel, Field

from activities.replica_points import ReplicaInvalid, prune_points, snapshot_point
from contracts.commands import (
    AgentCommand,
    CancelCommand,
    CommandType,
    DiskTarget,
    ReplicateCommand,
    SyncCommand,
)
from contracts.events import DiskResult
from core.clients import SERVICE_BUS, blob_service, servicebus_client
from core.sas import blob_sas_url
from core.settings import int_setting, json_setting, setting
from domain import replication as rules
from domain.errors import ErrorInfo
from domain.model import HealthState
from domain.prerequisites import health_for as prerequisite_health
from domain.rpo import assess_health
from orchestrators.inputs import ReplicationInput
from readmodels.items import get_item, get_item_row, update_item
from readmodels.jobs import create_job_with_id
from readmodels.points import list_points
from readmodels.records import HealthView, ReplicatedItem
from readmodels.sites import last_heartbeat
from readmodels.tables import Row

bp = df.Blueprint()
FOOTER = rules.FOOTER
# A heartbeat read this recently is fresh enough for health (its timeout is minutes).
HEARTBEAT_READ_MAX_AGE = 5.0
STOPPED = ("NotProtected", "DisablingProtection", "FailoverInProgress", "FailedOver",
           "FailoverCommitted")  # fmt: skip


class VmRef(BaseModel):
    tenant: str
    vm: str


class CommandInput(VmRef):
    command_id: str
    type: CommandType
    resync: bool = False
    cycle: int = 0


class PointInput(VmRef):
    command_id: str
    status_event: str  # InitialReplicationCompleted | DeltaSyncCompleted | ResyncCompleted
    consistency: str = "crash"
    consistency_note: str | None = None
    taken_at: datetime | None = None
    disks: list[DiskResult] = Field(default_factory=list)


class StatusInput(VmRef):
    event: str
    failure: dict | None = None


class StallInput(VmRef):
    command_id: str
    stall_seconds: int


class StartInput(VmRef):
    protect_job_id: str
    started_by: str = "api"


class StopInput(VmRef):
    reason: str = "Protection was disabled."


def _item(ref: VmRef) -> ReplicatedItem:
    return _item_row(ref).model


def _item_row(ref: VmRef) -> Row[ReplicatedItem]:
    row = get_item_row(ref.tenant, ref.vm)
    if row is None:
        raise LookupError(f"{ref.tenant}/{ref.vm} has no replicated item")
    return row


def policy_of(item: ReplicatedItem):
    return rules.policy_named(item.policy, json_setting("REPLICATION_POLICIES", {}))


def health_of(
    item: ReplicatedItem,
    now: datetime,
    *,
    stall_seconds: int | None = None,
    failure: dict | None = None,
) -> tuple[HealthView, float | None, datetime | None]:
    """The item's health from the shared RPO/heartbeat rules, plus a stall (when the upload
    of the current command is being watched) or a failure the agent reported."""
    heartbeat = last_heartbeat(item.tenant, item.site, max_age=HEARTBEAT_READ_MAX_AGE)
    other: list[tuple[HealthState, ErrorInfo]] = []
    if failure:
        other.append((HealthState.CRITICAL, ErrorInfo(**failure)))
    for broken in item.prerequisite_failures:  # rules the VM broke when it last changed
        other.append(
            (
                HealthState(prerequisite_health([broken])),
                ErrorInfo(broken["code"], broken["cause"], broken["recommendation"]),
            )
        )
    assessment = assess_health(
        now=now,
        rpo_threshold_seconds=policy_of(item).rpo_threshold_seconds,
        last_recovery_point=item.last_recovery_point,
        last_heartbeat=heartbeat,
        heartbeat_timeout_seconds=int_setting("AGENT_HEARTBEAT_TIMEOUT_SECONDS", 180),
        upload_in_progress=stall_seconds is not None,
        last_progress=_last_progress(item),
        stall_timeout_seconds=stall_seconds,
        consistency_note=item.consistency_note,
        other=other,
    )
    view = HealthView(
        state=assessment.health.state.value,
        reasons=[r.to_dict() for r in assessment.health.reasons],
    )
    return view, assessment.rpo_seconds, heartbeat


def _last_progress(item: ReplicatedItem) -> datetime | None:
    """When the agent last moved the current command forward (or was sent it)."""
    progress = item.progress
    if progress and progress.command_id == item.command_id and progress.updated:
        return max(progress.updated, item.command_sent or progress.updated)
    return item.command_sent


@bp.activity_trigger(input_name="payload")
def prepare_replica(payload: dict) -> list[dict]:
    """One page blob per disk, sized for the fixed-VHD replica (existing blobs are kept)."""
    item = _item(VmRef.model_validate(payload))
    service = blob_service()
    sizes = []
    for disk in item.replica_disks:
        blob = service.get_blob_client(disk.container, disk.blob)
        size = rules.replica_blob_size(disk.size)
        try:
            blob.create_page_blob(size, if_none_match="*")
        except ResourceExistsError:
            if blob.get_blob_properties().size != size:
                blob.resize_blob(size)  # the source disk grew while unprotected
        sizes.append({"diskId": disk.disk_id, "blobSize": size})
    return sizes


@bp.activity_trigger(input_name="payload")
def send_agent_command(payload: dict) -> dict:
    """A replicate or sync command with a fresh SAS per disk, to the VM's site.

    Returns {"sent": False} when the VM is no longer protected, so the loop ends cleanly.
    The SAS is for that one blob only (sr=b), write-only (read+write for a resync: a full
    compare reads the blob), and short-lived."""
    request = CommandInput.model_validate(payload)
    row = _item_row(request)
    item = row.model
    if item.status in STOPPED:
        return {"sent": False, "status": item.status}
    now = datetime.now(UTC)
    consistency = rules.consistency_for_cycle(policy_of(item), item.last_app_consistent_point, now)
    disks = [
        DiskTarget(
            disk_id=disk.disk_id,
            path=disk.source_path,
            # Write-only; a resynchronization compares with what the blob holds, so it reads.
            sas_url=blob_sas_url(disk.container, disk.blob, write=True, read=request.resync),
            blob_size=rules.replica_blob_size(disk.size),
        )
        for disk in item.replica_disks
    ]
    if request.type is CommandType.REPLICATE:
        data = ReplicateCommand(disks=disks, resync=request.resync).wire()
    else:
        data = SyncCommand(disks=disks, consistency=consistency.value, cycle=request.cycle).wire()
    command = AgentCommand(type=request.type, id=request.command_id, tenant=request.tenant,
                           site=item.site, vm=request.vm, time=now, data=data)  # fmt: skip
    message = ServiceBusMessage(
        command.model_dump_json(by_alias=True),
        message_id=command.id,  # a resend after a crash is dropped by duplicate detection
        session_id=request.vm,
        content_type="application/json",
        subject=command.type.value,
        application_properties={"site": item.site, "tenant": request.tenant},
    )
    _send(message)

    def sent(current: ReplicatedItem) -> None:
        if current.command_id != command.id:
            current.command_id, current.command_sent = command.id, now

    update_item(request.tenant, request.vm, sent, read=row)
    return {"sent": True, "commandId": command.id, "consistency": consistency.value}


_SENDER: dict[str, Any] = {}  # one open client and topic sender per process (opening costs ~1 s)
_SENDER_LOCK = threading.Lock()


def _send(message: ServiceBusMessage) -> None:
    """Send on the process's long-lived sender; a broken link is reopened once, then the
    activity fails and the orchestration's retry policy takes over."""
    topic = setting("AGENT_COMMANDS_TOPIC", "agent-commands")
    key = (topic, os.environ.get(SERVICE_BUS))  # settings may change (tests)
    with _SENDER_LOCK:
        for attempt in (1, 2):
            if _SENDER.get("key") != key or "sender" not in _SENDER:
                _close_sender()
                client = servicebus_client()
                _SENDER.update(client=client, sender=client.get_topic_sender(topic), key=key)
            try:
                _SENDER["sender"].send_messages(message)
                return
            except Exception:
                _close_sender()
                if attempt == 2:
                    raise


def _close_sender() -> None:
    for name in ("sender", "client"):
        if (thing := _SENDER.pop(name, None)) is not None:
            with contextlib.suppress(Exception):
                thing.close()
    _SENDER.pop("key", None)


def _verify_disk(container: str, blob_name: str, expected_size: int, result: DiskResult) -> None:
    """The replica has the right size, a valid VHD footer, and the bytes the agent wrote.

    One ranged read gives both the footer and the blob's size (from Content-Range)."""
    blob = blob_service().get_blob_client(container, blob_name)
    if result.blob_size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: agent reported a {result.blob_size}-byte replica, "
            f"expected {expected_size}"
        )
    total: list[int] = []  # the blob's size, from the ranged read's Content-Range
    try:
        footer = blob.download_blob(
            offset=expected_size - FOOTER,
            length=FOOTER,
            raw_response_hook=lambda r: total.append(_content_range_total(r.http_response)),
        ).readall()
        size = total[-1]
    except HttpResponseError as error:
        if error.status_code != 416:  # 416: the range starts past the end, the blob is short
            raise
        footer, size = b"", blob.get_blob_properties().size
    if size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: blob is {size} bytes, expected {expected_size}"
        )
    if problem := rules.footer_problem(footer, expected_size - FOOTER):
        raise ReplicaInvalid(f"disk {result.disk_id}: {problem}")
    for span, digest in result.checksums.items():
        offset, length = (int(x) for x in span.split("+"))
        data = blob.download_blob(offset=offset, length=length).readall()
        if base64.b64encode(hashlib.md5(data).digest()).decode() != digest:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: bytes {offset}+{length} differ from what the agent sent"
            )


def _content_range_total(response: Any) -> int:
    """The full length in a Content-Range header ("bytes 0-511/4096" -> 4096)."""
    return int(response.headers["Content-Range"].rsplit("/", 1)[1])


@bp.activity_trigger(input_name="payload")
def record_recovery_point(payload: dict) -> dict:
    """Verify every disk, snapshot them all as one point, prune, and refresh status, RPO and
    health in one write. Idempotent by command id: a rerun finds its point and its status."""
    request = PointInput.model_validate(payload)
    row = _item_row(request)
    item = row.model
    by_disk = {r.disk_id: r for r in request.disks}
    for disk in item.replica_disks:
        if disk.disk_id not in by_disk:
            raise ReplicaInvalid(f"the agent reported nothing for disk {disk.disk_id}")
        expected = rules.replica_blob_size(disk.size)
        _verify_disk(disk.container, disk.blob, expected, by_disk[disk.disk_id])
    now = datetime.now(UTC)
    points = list_points(request.tenant, request.vm)
    point = snapshot_point(item, request.command_id, request.consistency,
                           request.taken_at or now, points, request.consistency_note)  # fmt: skip
    others = [p for p in points if p.id != point.id]
    remaining = prune_points(item, policy_of(item), now, [point, *others])

    def record(current: ReplicatedItem) -> None:
        current.status = rules.next_status(current.status, request.status_event)
        if current.last_recovery_point is None or point.time >= current.last_recovery_point:
            current.consistency_note = point.note
        current.last_recovery_point = max(current.last_recovery_point or point.time, point.time)
        if point.consistency == "app":
            current.last_app_consistent_point = max(
                current.last_app_consistent_point or point.time, point.time
            )
        current.last_sync = now
        current.recovery_points = len(remaining)
        if current.progress and current.progress.command_id == request.command_id:
            current.progress.percent = 100.0
        current.health, current.rpo_seconds, current.last_heartbeat = health_of(current, now)

    updated = update_item(request.tenant, request.vm, record, read=row)
    return {"point": point.wire(), "status": updated.status, "health": updated.health.state}


@bp.activity_trigger(input_name="payload")
def check_stall(payload: dict) -> dict:
    """How long the current command has made no progress; past the limit, health says so.

    The orchestration asks this when its stall timer fires instead of following every
    progress event itself, so progress never grows its history."""
    check = StallInput.model_validate(payload)
    item = _item(check)
    now = datetime.now(UTC)
    last = _last_progress(item) if item.command_id == check.command_id else None
    quiet = (now - last).total_seconds() if last else float(check.stall_seconds)
    stalled = last is None or rules.is_stalled(last, check.stall_seconds, now)

    def watch(current: ReplicatedItem) -> None:
        # Every watch refreshes health: a silent agent shows up in RPO and heartbeat too.
        current.health, current.rpo_seconds, current.last_heartbeat = health_of(
            current, now, stall_seconds=check.stall_seconds if stalled else None
        )

    update_item(check.tenant, check.vm, watch)
    return {"stalled": stalled, "quietSeconds": quiet}


@bp.activity_trigger(input_name="payload")
def set_replication_status(payload: dict) -> dict:
    """Move the item through the state machine, with health (and a failure's reason)."""
    change = StatusInput.model_validate(payload)
    now = datetime.now(UTC)

    def apply(item: ReplicatedItem) -> None:
        item.status = rules.next_status(item.status, change.event)
        item.health, item.rpo_seconds, item.last_heartbeat = health_of(
            item, now, failure=change.failure
        )

    item = update_item(change.tenant, change.vm, apply)
    return {"status": item.status, "health": item.health.state}


def replication_instance(tenant: str, vm: str) -> str:
    """The one replication orchestration of a VM; agent events are raised to it."""
    return f"replication-{tenant}-{vm}"


RUNNING = (df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending)


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def start_replication(payload: dict, client: df.DurableOrchestrationClient) -> str:
    """Start the VM's replication orchestration with its initial-replication job.

    Idempotent: the job id derives from the protect job, and a running instance is kept."""
    start = StartInput.model_validate(payload)
    instance = replication_instance(start.tenant, start.vm)
    job_id = f"{start.protect_job_id}-r"
    status = await client.get_status(instance)
    if status and status.runtime_status in RUNNING:
        return job_id
    item = _item(start)
    policy = policy_of(item)
    create_job_with_id(start.tenant, job_id, "InitialReplication", start.vm, start.started_by)
    replication = ReplicationInput(
        tenant=start.tenant,
        vm=start.vm,
        generation=start.protect_job_id[-8:],
        job_id=job_id,
        interval_seconds=int(policy.interval),
        stall_seconds=int_setting("REPLICATION_STALL_SECONDS", 300),
    )
    await client.start_new("replicate_vm", instance, replication.model_dump(mode="json"))
    return job_id


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def stop_replication(payload: dict, client: df.DurableOrchestrationClient) -> bool:
    """End the VM's replication loop (disable protection). Idempotent: a finished or missing
    instance is left alone. The agent drops the running upload on the cancel command."""
    stop = StopInput.model_validate(payload)
    instance = replication_instance(stop.tenant, stop.vm)
    status = await client.get_status(instance)
    running = bool(status and status.runtime_status in RUNNING)
    if running:
        await client.terminate(instance, stop.reason)
    item = await asyncio.to_thread(get_item, stop.tenant, stop.vm)
    if item is not None and item.command_id:
        await asyncio.to_thread(_send_cancel, item, stop.reason)
    return running


def _send_cancel(item: ReplicatedItem, reason: str) -> None:
    """Tell the agent to drop the upload of the loop that just ended."""
    assert item.command_id is not None
    command = AgentCommand(
        type=CommandType.CANCEL, id=f"{item.command_id}-cancel", tenant=item.tenant,
        site=item.site, vm=item.vm, time=datetime.now(UTC),
        data=CancelCommand(command_id=item.command_id).wire(),
    )  # fmt: skip
    _send(
        ServiceBusMessage(
            command.model_dump_json(by_alias=True), message_id=command.id, session_id=item.vm,
            content_type="application/json", subject=command.type.value,
            application_properties={"site": item.site, "tenant": item.tenant},
        )
    )  # fmt: skip
