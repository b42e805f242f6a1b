"""Activities of replication: replica blobs, agent commands, verification, recovery points.

Each one is idempotent, because the orchestration may run it again after a crash: creating a
blob that exists, resending a command (the agent dedupes by command id), snapshotting for a
recovery point whose row already exists — all end in the same state.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusMessage
from pydantic import BaseModel, Field

from contracts.commands import AgentCommand, CommandType, DiskTarget, ReplicateCommand, SyncCommand
from contracts.events import DiskResult
from core.clients import blob_service, servicebus_client
from core.sas import blob_sas_url
from core.settings import int_setting, setting
from domain import replication as rules
from orchestrators.inputs import ReplicationInput
from readmodels.items import get_item, update_item
from readmodels.jobs import create_job_with_id
from readmodels.points import delete_point, list_points, save_point
from readmodels.records import HealthView, RecoveryPoint, ReplicatedItem
from readmodels.sites import last_heartbeat

bp = df.Blueprint()
MIB = 1024 * 1024
FOOTER = 512


def replica_blob_size(virtual_size: int) -> int:
    """The Azure-ready fixed VHD: virtual size rounded up to 1 MiB, plus the footer."""
    return -(-virtual_size // MIB) * MIB + FOOTER


class VmRef(BaseModel):
    tenant: str
    vm: str


class CommandInput(VmRef):
    command_id: str
    type: CommandType
    resync: bool = False
    cycle: int = 0
    consistency: str = "crash"


class PointInput(VmRef):
    command_id: str
    consistency: str = "crash"
    taken_at: datetime | None = None
    disks: list[DiskResult] = Field(default_factory=list)


class StatusInput(VmRef):
    event: str
    job_id: str | None = None


class HealthInput(VmRef):
    stalled_seconds: float | None = None
    failure: dict | None = None


def _item(ref: VmRef) -> ReplicatedItem:
    item = get_item(ref.tenant, ref.vm)
    if item is None:
        raise LookupError(f"{ref.tenant}/{ref.vm} is not protected")
    return item


@bp.activity_trigger(input_name="payload")
def prepare_replica(payload: dict) -> list[dict]:
    """One page blob per disk, sized for the fixed-VHD replica (existing blobs are kept)."""
    ref = VmRef.model_validate(payload)
    item = _item(ref)
    service = blob_service()
    sizes = []
    for disk in item.replica_disks:
        blob = service.get_blob_client(disk.container, disk.blob)
        size = replica_blob_size(disk.size)
        try:
            blob.create_page_blob(size, if_none_match="*")
        except ResourceExistsError:
            if blob.get_blob_properties().size != size:
                blob.resize_blob(size)  # the source disk grew while unprotected
        sizes.append({"diskId": disk.disk_id, "blobSize": size})
    return sizes


@bp.activity_trigger(input_name="payload")
def send_agent_command(payload: dict) -> str:
    """A replicate or sync command with a fresh write-only SAS per disk, to the VM's site."""
    request = CommandInput.model_validate(payload)
    item = _item(request)
    disks = [
        DiskTarget(
            disk_id=disk.disk_id,
            path=disk.source_path,
            sas_url=blob_sas_url(disk.container, disk.blob, write=True),
            blob_size=replica_blob_size(disk.size),
        )
        for disk in item.replica_disks
    ]
    if request.type is CommandType.REPLICATE:
        data = ReplicateCommand(disks=disks, resync=request.resync).wire()
    else:
        data = SyncCommand(disks=disks, consistency=request.consistency, cycle=request.cycle).wire()
    command = AgentCommand(
        type=request.type,
        id=request.command_id,
        tenant=request.tenant,
        site=item.site,
        vm=request.vm,
        time=datetime.now(UTC),
        data=data,
    )
    message = ServiceBusMessage(
        command.model_dump_json(by_alias=True),
        message_id=command.id,  # a resend after a crash is dropped by duplicate detection
        content_type="application/json",
        subject=command.type.value,
        application_properties={"site": item.site, "tenant": request.tenant},
    )
    topic = setting("AGENT_COMMANDS_TOPIC", "agent-commands")
    with servicebus_client() as client, client.get_topic_sender(topic) as sender:
        sender.send_messages(message)
    return command.id


def _verify_disk(container: str, blob_name: str, expected_size: int, result: DiskResult) -> None:
    """The replica has the right size, a valid VHD footer, and the bytes the agent wrote."""
    blob = blob_service().get_blob_client(container, blob_name)
    size = blob.get_blob_properties().size
    if size != expected_size or result.blob_size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: blob is {size} bytes, agent reported {result.blob_size}, "
            f"expected {expected_size}"
        )
    footer = blob.download_blob(offset=size - FOOTER, length=FOOTER).readall()
    problem = rules.footer_problem(footer, expected_size - FOOTER)
    if problem:
        raise ReplicaInvalid(f"disk {result.disk_id}: {problem}")
    for span, digest in result.checksums.items():
        offset, length = (int(x) for x in span.split("+"))
        data = blob.download_blob(offset=offset, length=length).readall()
        actual = base64.b64encode(hashlib.md5(data).digest()).decode()
        if actual != digest:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: bytes {offset}+{length} differ from what the agent sent"
            )


class ReplicaInvalid(Exception):
    """The replica in Azure does not match what the agent says it wrote."""


@bp.activity_trigger(input_name="payload")
def create_recovery_point(payload: dict) -> dict:
    """Verify every disk, then snapshot them all as one point (idempotent by command id)."""
    request = PointInput.model_validate(payload)
    item = _item(request)
    by_disk = {r.disk_id: r for r in request.disks}
    for disk in item.replica_disks:
        if disk.disk_id not in by_disk:
            raise ReplicaInvalid(f"the agent reported nothing for disk {disk.disk_id}")
        _verify_disk(disk.container, disk.blob, replica_blob_size(disk.size), by_disk[disk.disk_id])
    existing = {p.id: p for p in list_points(request.tenant, request.vm)}
    if request.command_id in existing:
        return existing[request.command_id].wire()
    service = blob_service()
    snapshots = {}
    for disk in item.replica_disks:
        snap = service.get_blob_client(disk.container, disk.blob).create_snapshot(
            metadata={"recoverypoint": request.command_id, "consistency": request.consistency}
        )
        snapshots[disk.disk_id] = snap["snapshot"]
    point = RecoveryPoint(
        id=request.command_id,
        tenant=request.tenant,
        vm=request.vm,
        time=request.taken_at or datetime.now(UTC),
        consistency=request.consistency,
        snapshots=snapshots,
    )
    save_point(point)

    def record(current: ReplicatedItem) -> None:
        current.last_recovery_point = max(current.last_recovery_point or point.time, point.time)
        current.last_sync = datetime.now(UTC)
        current.progress = None

    update_item(request.tenant, request.vm, record)
    return point.wire()


@bp.activity_trigger(input_name="payload")
def prune_recovery_points(payload: dict) -> list[str]:
    """Delete the points the retention policy no longer keeps, snapshots first."""
    ref = VmRef.model_validate(payload)
    item = _item(ref)
    points = list_points(ref.tenant, ref.vm)
    policy = rules.policy_named(item.policy)
    doomed = rules.points_to_prune(points, policy, datetime.now(UTC))
    disks = {d.disk_id: d for d in item.replica_disks}
    service = blob_service()
    for point in doomed:
        for disk_id, snapshot in point.snapshots.items():
            disk = disks.get(disk_id)
            if disk is None:
                continue
            with contextlib.suppress(ResourceNotFoundError):
                service.get_blob_client(disk.container, disk.blob, snapshot=snapshot).delete_blob()
        delete_point(point)
    return [p.id for p in doomed]


@bp.activity_trigger(input_name="payload")
def set_replication_status(payload: dict) -> str:
    """Move the item through the state machine; an illegal move fails the activity."""
    change = StatusInput.model_validate(payload)

    def apply(item: ReplicatedItem) -> None:
        item.status = rules.next_status(item.status, change.event)

    return update_item(change.tenant, change.vm, apply).status


@bp.activity_trigger(input_name="payload")
def assess_health(payload: dict) -> dict:
    """RPO, agent heartbeat and stalls → health with reasons (the rules are in domain)."""
    check = HealthInput.model_validate(payload)
    item = _item(check)
    now = datetime.now(UTC)
    policy = rules.policy_named(item.policy)
    heartbeat = last_heartbeat(check.tenant, item.site)
    state, reasons, rpo = rules.assess(
        now=now,
        last_point=item.last_recovery_point,
        protected_since=item.updated,
        policy=policy,
        last_heartbeat=heartbeat,
        heartbeat_timeout_s=int_setting("AGENT_HEARTBEAT_TIMEOUT_SECONDS", 180),
        stalled_seconds=check.stalled_seconds,
        failure=check.failure,
    )

    def apply(current: ReplicatedItem) -> None:
        current.health = HealthView(state=state, reasons=reasons)
        current.rpo_seconds = rpo
        current.last_heartbeat = heartbeat

    update_item(check.tenant, check.vm, apply)
    return {"state": state, "rpoSeconds": rpo}


class StartInput(VmRef):
    protect_job_id: str
    started_by: str = "api"


def replication_instance(tenant: str, vm: str) -> str:
    """The one replication orchestration of a VM; agent events are raised to it."""
    return f"replication-{tenant}-{vm}"


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def start_replication(payload: dict, client: df.DurableOrchestrationClient) -> str:
    """Start the VM's replication orchestration with its initial-replication job.

    Idempotent: the job id derives from the protect job, and a running instance is kept.
    """
    start = StartInput.model_validate(payload)
    instance = replication_instance(start.tenant, start.vm)
    job_id = f"{start.protect_job_id}-r"
    status = await client.get_status(instance)
    if status and status.runtime_status in (
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
    ):
        return job_id
    item = _item(start)
    policy = rules.policy_named(item.policy)
    create_job_with_id(start.tenant, job_id, "InitialReplication", start.vm, start.started_by)
    replication = ReplicationInput(
        tenant=start.tenant,
        vm=start.vm,
        generation=start.protect_job_id[-8:],
        job_id=job_id,
        interval_seconds=policy.interval_seconds,
        stall_seconds=int_setting("REPLICATION_STALL_SECONDS", 300),
        app_consistent_every=policy.app_consistent_every_cycles,
    )
    await client.start_new("replicate_vm", instance, replication.model_dump(mode="json"))
    return job_id
