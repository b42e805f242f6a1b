"""The replication watchdog: a timer runs it (triggers/watchdog.py) to find what ended without
saying so, and to make it right.

Per replicated item, in pages of up to 1000 rows:

1. **A lock that outlived its operation.** The item names an operation job
   (`active_job_id`) whose orchestration has ended without ending it (terminated, failed
   outside its own error handling, purged) or never started (the host stopped between the
   job and the start): the job ends Failed (`OperationInterrupted`, with cause and fix), the
   lock is released, and an interrupted enable leaves ProtectionPending as its own failure
   handling would have. A lock whose job has ended (or never existed) is just released.
2. **A dead delta loop.** The item's status says its loop should run (`domain.watchdog`),
   no operation holds it, and the durable client says its instance is Completed, Failed,
   Terminated or missing. The watchdog takes the VM's lock with a `RestartReplication` job,
   but only if the item row is still exactly as read (its ETag): nothing claimed the VM, moved
   its status or started its loop in between. In the same write health turns `Critical`
   (`ReplicationLoopStopped`, cause and fix); the snapshots of a point the dead loop took but
   never recorded are deleted; then the loop starts again through the same
   path a cancelled failover takes (`resume_replication_loop`): delta, from the last point,
   with a new command generation (the job's). The job ends, the lock is released, and the
   loop's first refresh of health clears the reason. A loop that dies again before making a
   point is restarted after a growing pause.
3. **A dead initial replication.** Before the first point, restarting means a full copy: that
   is the operator's retry route (enable protection again), not the watchdog's. It ends the
   InitialReplication job Failed if it was left unfinished, moves the item back to
   WaitingForInitialReplication and shows `ReplicationLoopStopped` with that route, once.

Nothing here races a loop that is continuing as new or starting: those are Running/Pending
(or ContinuedAsNew) to the durable client, and every starter holds the VM's lock while it
starts one. Every step is idempotent: a second run finds nothing left to do.

Cost of a run: one Query Entities per page of 1000 items, one durable status read per item
that should have a running loop and per item with a lock (the task hub's storage: one read
each); the rest only when something is wrong. See docs/replication.md#the-watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import ResourceNotFoundError

from application.orchestrations import (
    AsrWatchInput,
    ReplicationInput,
    replication_instance,
    resume_replication_loop,
    runtime_status,
)
from azureclients.clients import blob_service
from domain import jobs as job_rules
from domain import watchdog as rules
from domain.errors import ErrorInfo
from domain.failover import FailoverState
from domain.jobs import JobType, StartedBy
from domain.model import HealthState
from domain.replication_state import ReplicationEvent, next_status
from readmodels import jobs
from readmodels.items import ITEMS, claim_unchanged, get_item, release_operation, update_item
from readmodels.points import list_points
from readmodels.records import HealthRecord, Reason, ReplicatedItem
from readmodels.tables import ConcurrentUpdate, Row

log = logging.getLogger("watchdog")
PAGE = 1000  # items per Query Entities: Azure Table Storage's maximum page
RESTART_STEP = "Restart replication from the last recovery point"


@dataclass
class WatchdogRun:
    """What one run found and did, and what it cost; logged as one JSON line."""

    items: int = 0
    item_pages: int = 0
    status_reads: int = 0  # durable client get_status calls (one task hub read each)
    storage_calls: int = 0  # table calls beyond the pages (only when something is wrong)
    restarted: list[str] = field(default_factory=list)  # tenant/vm
    backing_off: list[str] = field(default_factory=list)
    locks_freed: list[str] = field(default_factory=list)  # job ids
    jobs_failed: list[str] = field(default_factory=list)
    initial_stopped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"watchdog": "run", **self.__dict__}


def _decision(kind: str, item: ReplicatedItem, **fields: Any) -> None:
    """One log line per decision, for alerting (Application Insights) and the soak."""
    log.warning(json.dumps({"watchdog": kind, "tenant": item.tenant, "vm": item.vm, **fields}))


def _detail(status: df.DurableOrchestrationStatus | None) -> str | None:
    """What the ended instance said: a termination reason or a failure's first line."""
    output = getattr(status, "output", None) if status else None
    if output in (None, ""):
        return None
    text = output if isinstance(output, str) else json.dumps(output)
    return text.strip().splitlines()[0][:300] if text.strip() else None


async def run_watchdog(client: df.DurableOrchestrationClient, now: datetime) -> WatchdogRun:
    """One pass over every replicated item (see the module's docstring)."""
    run = WatchdogRun()
    pages = ITEMS.scan(PAGE)
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        run.item_pages += 1
        for row in page:
            run.items += 1
            try:
                await _watch(client, row, now, run)
            except Exception as error:  # one item never stops the run
                run.errors.append(f"{row.model.tenant}/{row.model.vm}: {error}")
                log.exception("watchdog: %s/%s", row.model.tenant, row.model.vm)
    return run


async def _watch(
    client: df.DurableOrchestrationClient,
    row: Row[ReplicatedItem],
    now: datetime,
    run: WatchdogRun,
) -> None:
    item = row.model
    if item.active_job_id:
        if not await _free_abandoned_lock(client, item, now, run):
            return  # its operation runs: the operation owns the VM
        fresh = await asyncio.to_thread(ITEMS.get, item.tenant, item.vm)
        run.storage_calls += 1
        if fresh is None or fresh.model.active_job_id:
            return
        row, item = fresh, fresh.model
    loop = rules.expected_loop(item.status)
    if loop is rules.Loop.NONE:
        return
    instance = replication_instance(item.tenant, item.vm)
    status = await client.get_status(instance, show_input=loop is rules.Loop.INITIAL)
    run.status_reads += 1
    ended = runtime_status(status)
    if not rules.has_ended(ended):
        return
    if loop is rules.Loop.DELTA:
        await _restart(client, row, ended, _detail(status), now, run)
    else:
        await _initial_stopped(item, status, ended, now, run)


# --- 1. locks ----------------------------------------------------------------------------------


async def _free_abandoned_lock(
    client: df.DurableOrchestrationClient, item: ReplicatedItem, now: datetime, run: WatchdogRun
) -> bool:
    """Release the item's lock if its operation can no longer end its job; True when freed."""
    job_id = item.active_job_id
    assert job_id is not None
    job = await asyncio.to_thread(jobs.get_job, item.tenant, job_id)
    run.storage_calls += 1
    if job is None or job.finished:
        # The job ended and its release was lost, or a claim never wrote its job: a stale
        # lock (it would still show the VM busy). A claim writes its job within moments.
        if job is None and item.updated and now - item.updated < rules.START_GRACE:
            return False
        await _release(item, job_id, run)
        _decision("lockReleased", item, job=job_id, why="its job has ended or does not exist")
        return True
    if job.type == JobType.RESTART_REPLICATION:  # the watchdog's own, with no orchestration
        if now - job.start_time < rules.START_GRACE:
            return False
        error, ended, detail = rules.watchdog_stopped(job_id), None, None
    else:
        status = await client.get_status(job_id)
        run.status_reads += 1
        ended, detail = runtime_status(status), _detail(status)
        if not rules.operation_abandoned(ended, job.start_time, now):
            return False
        error = rules.operation_interrupted(job_id, job.type, ended, detail, item.status)
    # Completed means the orchestration ended its job first: read it again before failing it.
    if not await _fail_job(item.tenant, job_id, error, run):
        await _release(item, job_id, run)
        return True
    await _release(item, job_id, run, interrupted=job.type)
    run.locks_freed.append(job_id)
    _decision(
        "operationInterrupted", item, job=job_id, jobType=job.type, runtimeStatus=ended,
        detail=detail,
    )  # fmt: skip
    return True


async def _fail_job(tenant: str, job_id: str, error: ErrorInfo, run: WatchdogRun) -> bool:
    """End the job Failed with `error`; False when it had ended meanwhile (left as it is)."""
    job = await asyncio.to_thread(jobs.get_job, tenant, job_id)
    run.storage_calls += 1
    if job is None or job.finished:
        return False
    await asyncio.to_thread(jobs.save_job, job_rules.fail_job(job, datetime.now(UTC), [error]))
    run.storage_calls += 1
    run.jobs_failed.append(job_id)
    return True


async def _release(
    item: ReplicatedItem, job_id: str, run: WatchdogRun, interrupted: JobType | None = None
) -> None:
    """Free the lock if `job_id` still holds it. For an `interrupted` operation, the status
    moves in the same write as its own failure handling would have moved it."""

    def release(current: ReplicatedItem) -> None:
        if current.active_job_id != job_id:
            return
        current.active_job_id = current.active_job_type = None
        event = rules.interrupted_status_event(interrupted, current.status) if interrupted else None
        if event is not None:
            current.status = next_status(current.status, event)
        failover = current.failover
        if (
            event is ReplicationEvent.TEST_FAILOVER_FAILED
            and failover
            and failover.job_id == job_id
        ):
            failover.state = FailoverState.FAILED

    await asyncio.to_thread(update_item, item.tenant, item.vm, release)
    run.storage_calls += 2


# --- 2. delta loops ----------------------------------------------------------------------------


def _with_reason(health: HealthRecord, reason: ErrorInfo) -> HealthRecord:
    """`health` with `reason` (Critical) in place of any earlier reason of the same code."""
    kept = [r for r in health.reasons if r.code != reason.code]
    return HealthRecord(
        state=HealthState.CRITICAL,
        reasons=[*kept, Reason(severity=HealthState.CRITICAL, **reason.to_dict())],
    )


async def _restart(
    client: df.DurableOrchestrationClient,
    row: Row[ReplicatedItem],
    ended: str | None,
    detail: str | None,
    now: datetime,
    run: WatchdogRun,
) -> None:
    item = row.model
    if not rules.restart_due(
        now, item.loop_restarted, item.loop_restarts, item.last_recovery_point
    ):
        run.backing_off.append(f"{item.tenant}/{item.vm}")
        reason = rules.loop_stopped(ended, detail, restart_job=None)
        if reason.code not in {r.code for r in item.health.reasons}:
            await asyncio.to_thread(_show_if_unchanged, row, reason)
            run.storage_calls += 1
        return
    job_id = jobs.new_job_id(now)
    reason = rules.loop_stopped(ended, detail, restart_job=job_id)
    in_a_row = rules.restarts_in_a_row(
        item.loop_restarted, item.loop_restarts, item.last_recovery_point
    )

    def restarting(current: ReplicatedItem) -> None:
        current.health = _with_reason(current.health, reason)
        current.loop_restarted, current.loop_restarts = now, in_a_row + 1

    claimed = await asyncio.to_thread(
        claim_unchanged, row, job_id, JobType.RESTART_REPLICATION, restarting
    )
    run.storage_calls += 1
    if not claimed:
        return  # the item changed since it was read: the next run looks again
    job = await asyncio.to_thread(
        jobs.create_job_with_id,
        item.tenant,
        job_id,
        JobType.RESTART_REPLICATION,
        item.vm,
        StartedBy.WATCHDOG,
    )
    held = await asyncio.to_thread(get_item, item.tenant, item.vm)
    run.storage_calls += 2
    if held is None or held.active_job_id != job_id:
        # A claim that found no job yet took the VM over: nothing was done under ours.
        await asyncio.to_thread(jobs.delete_job, item.tenant, job_id)
        run.storage_calls += 1
        return
    job = job_rules.start_step(job, RESTART_STEP, datetime.now(UTC))
    swept: list[str] = []
    try:
        swept = await asyncio.to_thread(sweep_unrecorded_snapshots, held)
        run.storage_calls += 1 + len(held.replica_disks) + len(swept)
        await resume_replication_loop(
            client,
            item.tenant,
            item.vm,
            generation=job_id[-8:],
            resync=rules.resynchronizing(held.status),
            item=held,
        )
        run.status_reads += 1
        job = job_rules.succeed_job(
            job_rules.finish_step(job, RESTART_STEP, datetime.now(UTC)), datetime.now(UTC)
        )
        run.restarted.append(f"{item.tenant}/{item.vm}")
    except Exception as error:
        failure = rules.restart_failed(str(error).splitlines()[0][:300] if str(error) else "")
        job = job_rules.fail_job(
            job_rules.finish_step(job, RESTART_STEP, datetime.now(UTC), [failure]),
            datetime.now(UTC),
        )
        run.errors.append(f"{item.tenant}/{item.vm}: {error}")
    await asyncio.to_thread(jobs.save_job, job)
    await asyncio.to_thread(release_operation, item.tenant, item.vm, job_id)
    run.storage_calls += 3
    _decision(
        "loopRestarted" if job.state == job_rules.JobState.SUCCEEDED else "loopRestartFailed",
        item, job=job_id, runtimeStatus=ended, detail=detail, restartsInARow=in_a_row + 1,
        resync=rules.resynchronizing(held.status), snapshotsDeleted=swept,
    )  # fmt: skip


def sweep_unrecorded_snapshots(item: ReplicatedItem) -> list[str]:
    """Delete the snapshots a dead loop took for a point it never recorded (it ended between
    the snapshot and the point's row): tagged with a point id no recorded point has. Only
    while the VM's lock is held and its loop is dead, so no cycle is recording one now; a
    snapshot without the tag is not the loop's and is left alone. Cost: one query of the
    VM's points and one List Blobs per disk. Returns the deleted snapshots."""
    recorded = {point.id for point in list_points(item.tenant, item.vm)}
    service = blob_service()
    deleted = []
    for disk in item.replica_disks:
        container = service.get_container_client(disk.container)
        listed = container.list_blobs(name_starts_with=disk.blob, include=["snapshots", "metadata"])
        for blob in listed:
            point = (blob.metadata or {}).get("recoverypoint")
            if blob.name == disk.blob and blob.snapshot and point and point not in recorded:
                with contextlib.suppress(ResourceNotFoundError):
                    container.get_blob_client(blob.name, snapshot=blob.snapshot).delete_blob()
                deleted.append(f"{disk.container}/{blob.name}@{blob.snapshot} ({point})")
    return deleted


def _show_if_unchanged(row: Row[ReplicatedItem], reason: ErrorInfo) -> None:
    """Show `reason` on the item, only if it is still as read (no operation took it)."""
    item = row.model.model_copy(deep=True)
    item.health = _with_reason(item.health, reason)
    item.updated = datetime.now(UTC)
    try:
        ITEMS.replace(item.tenant, item.vm, item, row.etag, Status=item.status)
    except ConcurrentUpdate:
        return


# --- 3. initial replication ------------------------------------------------------------------


async def _initial_stopped(
    item: ReplicatedItem,
    status: df.DurableOrchestrationStatus | None,
    ended: str | None,
    now: datetime,
    run: WatchdogRun,
) -> None:
    detail = _detail(status)
    reason = rules.initial_stopped(ended, detail)
    job_ids = await asyncio.to_thread(_initial_jobs, item, status, now)
    run.storage_calls += 1
    failed = [job_id for job_id in job_ids if await _fail_job(item.tenant, job_id, reason, run)]
    explained = any(r.severity == HealthState.CRITICAL for r in item.health.reasons)
    if explained and not failed:
        return  # a failed initial replication: its job and health already say it all

    def stopped(current: ReplicatedItem) -> None:
        if current.active_job_id or rules.expected_loop(current.status) is not rules.Loop.INITIAL:
            return  # someone is retrying it (or it moved on) meanwhile
        current.status = next_status(current.status, ReplicationEvent.INITIAL_REPLICATION_FAILED)
        current.health = _with_reason(current.health, reason)

    await asyncio.to_thread(update_item, item.tenant, item.vm, stopped)
    run.storage_calls += 2
    run.initial_stopped.append(f"{item.tenant}/{item.vm}")
    _decision("initialReplicationStopped", item, runtimeStatus=ended, detail=detail, jobs=failed)


def _initial_jobs(
    item: ReplicatedItem, status: df.DurableOrchestrationStatus | None, now: datetime
) -> list[str]:
    """The InitialReplication job(s) the dead instance may have left unfinished: the one its
    input names, else (no instance left) any of the VM's created before this run began."""
    raw = getattr(status, "input_", None) if status else None
    if isinstance(raw, str):
        raw = json.loads(raw) if raw else None
    if raw:  # the direct loop's input, or the asr provider's watch's: both name the job
        kind = AsrWatchInput if item.provider == "asr" else ReplicationInput
        job_id = kind.model_validate(raw).job_id
        return [job_id] if job_id else []
    found = jobs.unfinished_jobs(item.tenant, item.vm, JobType.INITIAL_REPLICATION)
    return [job.id for job in found if job.start_time < now]
