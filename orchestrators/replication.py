"""Replication of one protected VM: initial copy, then a delta cycle every interval, forever.

One instance per VM (`replication-<tenant>-<vm>`) so agent events always find it. Each delta
cycle ends with continue_as_new, keeping history short however long the VM is protected.
Disabling protection terminates the instance (and the next cycle would stop by itself, since
the command activity refuses an unprotected VM); nothing is left half-done, because every
activity is idempotent.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.jobs import JobEndInput, JobStepInput, record_job_end, record_job_step
from activities.replication import (
    CommandInput,
    PointInput,
    StallInput,
    StatusInput,
    VmRef,
    check_stall,
    prepare_replica,
    record_recovery_point,
    send_agent_command,
    set_replication_status,
)
from contracts.commands import CommandType
from contracts.events import EventType, ReplicationCompleted, ReplicationFailed
from domain import replication as rules
from orchestrators.inputs import ReplicationInput

bp = df.Blueprint()

# Table, blob and broker calls fail transiently; the SDK default is one try. Five over ~30 s.
TRANSIENT = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)
# Verification reads the replica right after the agent's last write: allow a short settle.
VERIFY = df.RetryOptions(first_retry_interval_in_milliseconds=3_000, max_number_of_attempts=3)

Outcome = ReplicationCompleted | ReplicationFailed | None
ENABLE = "POST /api/tenants/{tenant}/vms/{vm}/protection"
# A failure ends initial replication but not the delta loop; one text serves both.
RETRY = (
    f"A failed initial replication is retried by enabling protection again ({ENABLE}); "
    "a failed delta sync, by the next cycle."
)
DISABLED = {
    "code": "ProtectionDisabled",
    "cause": "Protection was disabled before initial replication finished.",
    "recommendation": f"Enable protection again ({ENABLE}) to replicate the VM.",
}
NOT_RESPONDING = {
    "code": "AgentNotResponding",
    "cause": "The agent did not finish the replication command after every retry.",
    "recommendation": "Check that the agent service runs on the VMM server and can reach "
    f"Service Bus and Azure Storage. {RETRY}",
}


@bp.orchestration_trigger(context_name="context")
def replicate_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    state = ReplicationInput.model_validate(context.get_input())
    if state.phase == "initial":
        outcome = yield from initial_replication(context, state)
        if outcome != "ok":
            return {"phase": "initial", "outcome": outcome}
        state.phase, state.job_id = "delta", None
    else:
        started = context.current_utc_datetime
        outcome = yield from delta_cycle(context, state)
        if outcome == "stopped":
            return {"phase": "delta", "outcome": outcome, "cycle": state.cycle}
        due = rules.next_cycle_at(started, state.interval_seconds, context.current_utc_datetime)
        if due is not None:
            yield context.create_timer(due)
    context.continue_as_new(state.model_dump(mode="json"))
    return None


def initial_replication(
    context: df.DurableOrchestrationContext, state: ReplicationInput
) -> Generator[Any, Any, str]:
    """Blobs, the replicate command, the first recovery point, then Protected."""
    ref = VmRef(tenant=state.tenant, vm=state.vm).model_dump()
    yield job_step(context, state, "Prepare replica disks")
    yield context.call_activity_with_retry(prepare_replica, TRANSIENT, ref)
    yield job_step(context, state, "Prepare replica disks", finished=True)

    yield job_step(context, state, "Initial replication")
    yield set_status(context, state, "InitialReplicationStarted")
    outcome = yield from run_command(context, state, CommandType.REPLICATE, resync=False)
    if outcome == "stopped":
        yield job_end(context, state, [DISABLED])
        return "stopped"
    if not isinstance(outcome, ReplicationCompleted):
        error = failure_error(outcome)
        yield job_step(context, state, "Initial replication", finished=True, errors=[error])
        yield set_status(context, state, "InitialReplicationFailed", failure=error)
        yield job_end(context, state, [error])
        return "failed"
    yield job_step(context, state, "Initial replication", finished=True)

    yield job_step(context, state, "Create first recovery point")
    try:
        yield recovery_point(context, outcome, state, "InitialReplicationCompleted")
    except Exception as error:  # the replica does not match what the agent sent
        failure = verification_error(error)
        yield job_step(context, state, "Create first recovery point", finished=True,
                       errors=[failure])  # fmt: skip
        yield set_status(context, state, "InitialReplicationFailed", failure=failure)
        yield job_end(context, state, [failure])
        return "failed"
    yield job_step(context, state, "Create first recovery point", finished=True)
    yield job_end(context, state, [])
    return "ok"


def delta_cycle(
    context: df.DurableOrchestrationContext, state: ReplicationInput
) -> Generator[Any, Any, str]:
    """One cycle: sync (or resync), verify, point, prune, RPO. Failures raise health and the
    loop goes on; lost change tracking turns the next cycle into a resynchronization."""
    state.cycle += 1
    if state.resync:
        yield set_status(context, state, "ResyncStarted")
        outcome = yield from run_command(context, state, CommandType.REPLICATE, resync=True)
    else:
        outcome = yield from run_command(context, state, CommandType.SYNC)
    if outcome == "stopped":
        return "stopped"
    if isinstance(outcome, ReplicationCompleted):
        event = "ResyncCompleted" if state.resync else "DeltaSyncCompleted"
        try:
            yield recovery_point(context, outcome, state, event)
            state.resync = False
        except Exception as error:
            yield set_status(context, state, event_for(state), failure=verification_error(error))
        return "ok"
    if isinstance(outcome, ReplicationFailed) and outcome.change_tracking_lost:
        # The agent lost its change log: only a full compare can make the replica right.
        state.resync = True
        yield set_status(context, state, "ChangeTrackingLost", failure=failure_error(outcome))
        return "resync"
    yield set_status(context, state, event_for(state), failure=failure_error(outcome))
    return "failed"


def event_for(state: ReplicationInput) -> str:
    """A status event that keeps the current status (health changes, status does not)."""
    return "ResyncStarted" if state.resync else "DeltaSyncCompleted"


def run_command(
    context: df.DurableOrchestrationContext, state: ReplicationInput, kind: CommandType,
    *, resync: bool = False,
) -> Generator[Any, Any, Outcome | str]:  # fmt: skip
    """Send the command and wait for its outcome. No progress for `stall_seconds` raises
    health to Warning and sends the command again (fresh SAS, same cycle); answers to an
    older cycle (a duplicate, a late reply) are recognised by command id and skipped."""
    done_event = (
        EventType.REPLICATION_INITIAL_COMPLETED
        if kind is CommandType.REPLICATE
        else EventType.REPLICATION_DELTA_COMPLETED
    )
    done = context.wait_for_external_event(done_event.value)
    failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)
    prefix = rules.cycle_prefix(state.generation, kind.value, state.cycle)
    for attempt in range(1, state.max_attempts + 1):
        command = CommandInput(tenant=state.tenant, vm=state.vm, command_id=f"{prefix}{attempt}",
                               type=kind, cycle=state.cycle, resync=resync)  # fmt: skip
        sent = yield context.call_activity_with_retry(
            send_agent_command, TRANSIENT, command.model_dump(mode="json")
        )
        if not sent["sent"]:
            return "stopped"
        wait = state.stall_seconds
        while True:
            timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
            winner = yield context.task_any([done, failed, timer])
            if winner is timer:
                watch = StallInput(
                    tenant=state.tenant,
                    vm=state.vm,
                    command_id=command.command_id,
                    stall_seconds=state.stall_seconds,
                )
                seen = yield context.call_activity_with_retry(
                    check_stall, TRANSIENT, watch.model_dump()
                )  # fmt: skip
                if seen["stalled"]:
                    break  # resend
                wait = max(1, int(state.stall_seconds - seen["quietSeconds"]) + 1)
                continue
            timer.cancel()
            if winner is done:
                completed = ReplicationCompleted.model_validate(done.result)
                done = context.wait_for_external_event(done_event.value)
                if completed.command_id.startswith(prefix):
                    return completed
                continue
            refused = ReplicationFailed.model_validate(failed.result)
            failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)
            if refused.command_id.startswith(prefix):
                return refused
    return None


def failure_error(outcome: Outcome | str) -> dict:
    if isinstance(outcome, ReplicationFailed):
        return {"code": outcome.code, "cause": outcome.cause,
                "recommendation": f"{outcome.recommendation} {RETRY}"}  # fmt: skip
    return dict(NOT_RESPONDING)


def verification_error(error: Exception) -> dict:
    cause = str(error).split("\n")[0].strip() or type(error).__name__
    return {
        "code": "ReplicaVerificationFailed",
        "cause": f"The replica does not match what the agent reported: {cause}",
        "recommendation": "If this repeats, check the agent's disk reader and that nothing "
        f"else writes to the replica container. {RETRY}",
    }


def recovery_point(
    context: df.DurableOrchestrationContext, done: ReplicationCompleted,
    state: ReplicationInput, status_event: str,
) -> df.Task:  # fmt: skip
    point = PointInput(tenant=state.tenant, vm=state.vm, command_id=done.command_id,
                       status_event=status_event, consistency=done.consistency,
                       consistency_note=done.consistency_note,
                       taken_at=done.taken_at, disks=list(done.disks))  # fmt: skip
    return context.call_activity_with_retry(
        record_recovery_point, VERIFY, point.model_dump(mode="json")
    )


def set_status(
    context: df.DurableOrchestrationContext, state: ReplicationInput, event: str,
    *, failure: dict | None = None,
) -> df.Task:  # fmt: skip
    change = StatusInput(tenant=state.tenant, vm=state.vm, event=event, failure=failure)
    return context.call_activity_with_retry(set_replication_status, TRANSIENT, change.model_dump())


def job_step(
    context: df.DurableOrchestrationContext, state: ReplicationInput, name: str,
    *, finished: bool = False, errors: list[dict] | None = None,
) -> df.Task:  # fmt: skip
    record = JobStepInput(tenant=state.tenant, job_id=state.job_id or "", step=name,
                          finished=finished, errors=errors or [])  # fmt: skip
    return context.call_activity_with_retry(record_job_step, TRANSIENT, record.model_dump())


def job_end(
    context: df.DurableOrchestrationContext, state: ReplicationInput, errors: list[dict]
) -> df.Task:
    record = JobEndInput(tenant=state.tenant, job_id=state.job_id or "", errors=errors)
    return context.call_activity_with_retry(record_job_end, TRANSIENT, record.model_dump())
