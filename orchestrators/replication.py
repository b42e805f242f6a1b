"""Replication of one protected VM: initial copy, then a delta cycle every interval, forever.

One instance per VM (`replication-<tenant>-<vm>`) so agent events always find it. Each delta
cycle ends with continue_as_new, keeping history short however long the VM is protected.
Disabling protection terminates the instance; nothing it leaves behind is half-done, because
every activity is idempotent.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.jobs import JobEndInput, JobStepInput, record_job_end, record_job_step
from activities.replication import (
    CommandInput,
    HealthInput,
    PointInput,
    StatusInput,
    VmRef,
    assess_health,
    create_recovery_point,
    prepare_replica,
    prune_recovery_points,
    send_agent_command,
    set_replication_status,
)
from contracts.commands import CommandType
from contracts.events import EventType, ReplicationCompleted, ReplicationFailed
from orchestrators.inputs import ReplicationInput

bp = df.Blueprint()

# Table and blob calls fail transiently; the SDK default is one try. Five over ~30 s.
TRANSIENT = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)
# Verification reads the replica right after the agent's last write: allow a short settle.
VERIFY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


@bp.orchestration_trigger(context_name="context")
def replicate_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    state = ReplicationInput.model_validate(context.get_input())
    if state.phase == "initial":
        ok = yield from initial_replication(context, state)
        if not ok:
            return {"phase": "initial", "ok": False}
        state.phase, state.job_id = "delta", None
    else:
        yield from delta_cycle(context, state)
    context.continue_as_new(state.model_dump(mode="json"))
    return None


def initial_replication(
    context: df.DurableOrchestrationContext, state: ReplicationInput
) -> Generator[Any, Any, bool]:
    ref = VmRef(tenant=state.tenant, vm=state.vm).model_dump()
    yield job_step(context, state, "Prepare replica disks")
    yield context.call_activity_with_retry(prepare_replica, TRANSIENT, ref)
    yield job_step(context, state, "Prepare replica disks", finished=True)

    yield job_step(context, state, "Initial replication")
    yield set_status(context, state, "InitialReplicationStarted")
    outcome = yield from run_command(context, state, CommandType.REPLICATE, resync=state.resync)
    if isinstance(outcome, ReplicationFailed) or outcome is None:
        error = failure_error(outcome)
        yield job_step(context, state, "Initial replication", finished=True, errors=[error])
        yield health(context, state, failure=error)
        yield set_status(context, state, "InitialReplicationFailed")
        yield job_end(context, state, [error])
        return False
    yield job_step(context, state, "Initial replication", finished=True)

    yield job_step(context, state, "Create first recovery point")
    yield recovery_point(context, state, outcome)
    yield set_status(context, state, "InitialReplicationCompleted")
    yield health(context, state)
    yield job_step(context, state, "Create first recovery point", finished=True)
    yield job_end(context, state, [])
    return True


def delta_cycle(
    context: df.DurableOrchestrationContext, state: ReplicationInput
) -> Generator[Any, Any, None]:
    started: datetime = context.current_utc_datetime
    state.cycle += 1
    if state.resync:
        yield set_status(context, state, "ResyncStarted")
        outcome = yield from run_command(context, state, CommandType.REPLICATE, resync=True)
    else:
        app = bool(state.app_consistent_every) and state.cycle % state.app_consistent_every == 0
        outcome = yield from run_command(
            context, state, CommandType.SYNC, consistency="app" if app else "crash"
        )
    ref = VmRef(tenant=state.tenant, vm=state.vm).model_dump()
    if isinstance(outcome, ReplicationCompleted):
        yield recovery_point(context, state, outcome)
        if state.resync:
            yield set_status(context, state, "ResyncCompleted")
            state.resync = False
        yield context.call_activity_with_retry(prune_recovery_points, TRANSIENT, ref)
        yield health(context, state)
    elif isinstance(outcome, ReplicationFailed) and outcome.change_tracking_lost:
        # The agent lost its change log: only a full compare can make the replica right.
        yield set_status(context, state, "ChangeTrackingLost")
        state.resync = True
        yield health(context, state, failure=failure_error(outcome))
    else:
        yield health(context, state, failure=failure_error(outcome))
    next_cycle = started + timedelta(seconds=state.interval_seconds)
    if next_cycle > context.current_utc_datetime:
        yield context.create_timer(next_cycle)


def run_command(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    kind: CommandType,
    **options: Any,
) -> Generator[Any, Any, ReplicationCompleted | ReplicationFailed | None]:
    """Send the command and wait for its outcome; a silent agent gets the command again.

    Completion events of an older command (a duplicate, or a late answer to a resend) are
    recognised by command id and skipped.
    """
    done_event = (
        EventType.REPLICATION_INITIAL_COMPLETED
        if kind is CommandType.REPLICATE
        else EventType.REPLICATION_DELTA_COMPLETED
    )
    done = context.wait_for_external_event(done_event.value)
    failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)
    for attempt in range(1, state.max_attempts + 1):
        command_id = f"{cycle_prefix(state, kind)}{attempt}"
        command = CommandInput(
            tenant=state.tenant, vm=state.vm, command_id=command_id, type=kind,
            cycle=state.cycle, **options,
        )  # fmt: skip
        yield context.call_activity_with_retry(
            send_agent_command, TRANSIENT, command.model_dump(mode="json")
        )
        deadline = context.current_utc_datetime + timedelta(seconds=state.stall_seconds)
        while True:
            timer = context.create_timer(deadline)
            winner = yield context.task_any([done, failed, timer])
            if winner is timer:
                yield health(context, state, stalled=state.stall_seconds)
                break  # resend: a fresh command with a fresh SAS
            timer.cancel()
            if winner is done:
                result = ReplicationCompleted.model_validate(done.result)
                done = context.wait_for_external_event(done_event.value)
                if result.command_id.startswith(cycle_prefix(state, kind)):
                    return result
                continue
            result = ReplicationFailed.model_validate(failed.result)
            failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)
            if result.command_id == command_id:
                return result
    return None


def cycle_prefix(state: ReplicationInput, kind: CommandType) -> str:
    """Every attempt of one cycle shares it, so a late answer to an earlier attempt counts."""
    return f"{state.generation}-{kind.value}-{state.cycle}-"


def failure_error(outcome: ReplicationFailed | ReplicationCompleted | None) -> dict:
    if isinstance(outcome, ReplicationFailed):
        return {
            "code": outcome.code,
            "cause": outcome.cause,
            "recommendation": outcome.recommendation,
        }
    return {
        "code": "AgentNotResponding",
        "cause": "The agent did not finish the replication command after every retry.",
        "recommendation": "Check that the agent service runs on the VMM server and can reach "
        "Service Bus and Azure Storage; protection resumes when it answers.",
    }


def recovery_point(
    context: df.DurableOrchestrationContext, state: ReplicationInput, done: ReplicationCompleted
) -> df.Task:
    point = PointInput(
        tenant=state.tenant,
        vm=state.vm,
        command_id=done.command_id,
        consistency=done.consistency,
        taken_at=done.taken_at,
        disks=list(done.disks),
    )
    return context.call_activity_with_retry(
        create_recovery_point, VERIFY, point.model_dump(mode="json")
    )


def set_status(
    context: df.DurableOrchestrationContext, state: ReplicationInput, event: str
) -> df.Task:
    change = StatusInput(tenant=state.tenant, vm=state.vm, event=event)
    return context.call_activity_with_retry(set_replication_status, TRANSIENT, change.model_dump())


def health(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    *,
    failure: dict | None = None,
    stalled: float | None = None,
) -> df.Task:
    check = HealthInput(tenant=state.tenant, vm=state.vm, failure=failure, stalled_seconds=stalled)
    return context.call_activity_with_retry(assess_health, TRANSIENT, check.model_dump())


def job_step(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    name: str,
    *,
    finished: bool = False,
    errors: list[dict] | None = None,
) -> df.Task | None:
    record = JobStepInput(
        tenant=state.tenant, job_id=state.job_id or "", step=name, finished=finished,
        errors=errors or [],
    )  # fmt: skip
    return context.call_activity_with_retry(record_job_step, TRANSIENT, record.model_dump())


def job_end(
    context: df.DurableOrchestrationContext, state: ReplicationInput, errors: list[dict]
) -> df.Task:
    record = JobEndInput(tenant=state.tenant, job_id=state.job_id or "", errors=errors)
    return context.call_activity_with_retry(record_job_end, TRANSIENT, record.model_dump())
