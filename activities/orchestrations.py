"""Starting and ending a VM's replication orchestration, as steps of protect and unprotect.

They are activities (not orchestrator code) because they decide on what the task hub and the
read models say now: whether the instance runs, which policy the VM has."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df

from activities.seams import Seam, StepOutcome, VmRef
from application import commands
from application.health import policy_of
from application.orchestrations import (
    REPLICATE,
    WATCH_ASR,
    AsrWatchInput,
    LoopStatus,
    ReplicationInput,
    is_running,
    replication_instance,
    resume_replication_loop,
)
from azureclients.settings import int_setting
from domain.jobs import JobType, StartedBy
from readmodels.items import get_item, require_item_row
from readmodels.jobs import create_job_with_id, get_job

bp = df.Blueprint()


class StartInput(VmRef):
    protect_job_id: str
    started_by: StartedBy = StartedBy.API


class ReplicationStarted(Seam):
    job_id: str  # the InitialReplication job


class StopInput(VmRef):
    reason: str = "Protection was disabled."


class ReplicationStopped(Seam):
    was_running: bool


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def start_replication(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """Start the VM's replication orchestration with its initial-replication job.

    Idempotent: the job id derives from the protect job, and a running instance is kept."""
    start = StartInput.model_validate(payload)
    instance = replication_instance(start.tenant, start.vm)
    job_id = f"{start.protect_job_id}-r"
    if is_running(await client.get_status(instance)):
        return ReplicationStarted(job_id=job_id).out()
    item = (await asyncio.to_thread(require_item_row, start.tenant, start.vm)).model
    policy = policy_of(item)
    protect_job = await asyncio.to_thread(get_job, start.tenant, start.protect_job_id)
    await asyncio.to_thread(
        create_job_with_id,
        start.tenant,
        job_id,
        JobType.INITIAL_REPLICATION,
        start.vm,
        start.started_by,
        protect_job.requested_by if protect_job else None,  # who asked for the protection
    )
    if item.provider == "asr":  # Site Recovery copies the data; its watch runs instead
        watch = AsrWatchInput.from_settings(start.tenant, start.vm, job_id)
        await client.start_new(WATCH_ASR, instance, watch.model_dump(mode="json"))
        return ReplicationStarted(job_id=job_id).out()
    replication = ReplicationInput(
        tenant=start.tenant,
        vm=start.vm,
        generation=start.protect_job_id[-8:],
        job_id=job_id,
        interval_seconds=int(policy.interval),
        stall_seconds=int_setting("REPLICATION_STALL_SECONDS", 300),
    )
    await client.start_new(REPLICATE, instance, replication.model_dump(mode="json"))
    return ReplicationStarted(job_id=job_id).out()


class ResumeInput(VmRef):
    generation: str  # new command ids: the agent dedupes by id, so none may repeat an old one


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def resume_replication(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """Start the VM's delta loop again after a failover that did not happen (failed or
    cancelled): the next cycle syncs what changed since the last point, no full copy. The
    watchdog restarts a dead loop the same way (`application.orchestrations`).

    Idempotent: a running instance is kept."""
    resume = ResumeInput.model_validate(payload)
    await resume_replication_loop(client, resume.tenant, resume.vm, generation=resume.generation)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
@bp.durable_client_input(client_name="client")
async def stop_replication(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """End the VM's replication loop (disable protection, a failover). Idempotent: a finished
    or missing instance is left alone. The loop's last command is cancelled where it is: in
    Service Bus while it waits for its cycle, at the agent (a cancel command) once there."""
    stop = StopInput.model_validate(payload)
    instance = replication_instance(stop.tenant, stop.vm)
    status = await client.get_status(instance)
    running = is_running(status)
    if running:
        await client.terminate(instance, stop.reason)
    last = LoopStatus.of(status)  # the command the loop sent last
    if last.sequence_number is not None:  # still held by Service Bus until its cycle is due
        await asyncio.to_thread(commands.cancel_scheduled, last.sequence_number)
    item = await asyncio.to_thread(get_item, stop.tenant, stop.vm) if last.command_id else None
    if item is not None and last.command_id:  # delivered already: the agent drops it
        cancel = commands.cancel_command(item, last.command_id, datetime.now(UTC))
        await asyncio.to_thread(commands.send, cancel)
    return ReplicationStopped(was_running=running).out()
