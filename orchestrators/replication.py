"""Replication of one protected VM: initial copy, then a delta cycle every interval, forever.

One instance per VM (`replication-<tenant>-<vm>`) so agent events always find it. Each delta
cycle ends with continue_as_new, keeping history short however long the VM is protected.
Disabling protection terminates the instance (and the next cycle would stop by itself, since
the command activity refuses a VM that no longer replicates); nothing is left half-done,
because every activity is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel

from activities.commands import CommandInput, CommandSent, send_agent_command
from activities.health import (
    StallInput,
    StallSeen,
    StatusInput,
    StatusSet,
    check_stall,
    set_replication_status,
)
from activities.recovery_points import (
    NextCommand,
    PointInput,
    PointRecorded,
    record_recovery_point,
)
from activities.replica import ReplicaPrepared, prepare_replica
from activities.seams import VmRef
from application.orchestrations import (
    LoopStatus,
    ReplicationInput,
    ReplicationPhase,
    ScheduledCommand,
)
from contracts.commands import CommandType
from contracts.errors import ErrorDetail
from contracts.events import EventType, ReplicationCompleted, ReplicationFailed
from domain import replication as rules
from domain.replication_state import ReplicationEvent
from orchestrators.retries import AGENT_COMMAND, STORAGE, VERIFICATION
from orchestrators.steps import JobSteps, Step, call

bp = df.Blueprint()
E = ReplicationEvent


class CommandEnd(StrEnum):
    """How waiting for the agent ended when it did not end with the agent's answer."""

    STOPPED = "stopped"  # the VM no longer replicates: the loop ends
    UNANSWERED = "unanswered"  # every send went unanswered (stalled)


class CycleOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # health says why; the next cycle tries again
    RESYNC = "resync"  # the agent lost change tracking: the next cycle is a full compare
    STOPPED = "stopped"


class ReplicationEnded(BaseModel):
    """What an instance that ends (rather than continuing as new) returns."""

    phase: ReplicationPhase
    outcome: CycleOutcome
    cycle: int


Answer = ReplicationCompleted | ReplicationFailed | CommandEnd
ENABLE = "POST /api/tenants/{tenant}/vms/{vm}/protection"
# A failure ends initial replication but not the delta loop; one text serves both.
RETRY = (
    f"A failed initial replication is retried by enabling protection again ({ENABLE}); "
    "a failed delta sync, by the next cycle."
)
DISABLED = ErrorDetail(
    code="ProtectionDisabled",
    cause="Protection was disabled before initial replication finished.",
    recommendation=f"Enable protection again ({ENABLE}) to replicate the VM.",
)
NOT_RESPONDING = ErrorDetail(
    code="AgentNotResponding",
    cause="The agent did not finish the replication command after every retry.",
    recommendation="Check that the agent service runs on the VMM server and can reach "
    f"Service Bus and Azure Storage. {RETRY}",
)


@bp.orchestration_trigger(context_name="context")
def replicate_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    state = ReplicationInput.model_validate(context.get_input())
    if state.command_id:  # a new execution (continue_as_new) names the last command again
        sequence = state.scheduled.sequence_number if state.scheduled else None
        announce(context, state, state.command_id, sequence)
    if state.phase is ReplicationPhase.INITIAL:
        outcome = yield from initial_replication(context, state)
        if outcome is not CycleOutcome.OK:
            return ended(state, outcome)
        state.phase, state.job_id = ReplicationPhase.DELTA, None
    else:
        scheduled = state.scheduled
        started = scheduled.sent_at if scheduled else context.current_utc_datetime
        outcome = yield from delta_cycle(context, state, started)
        if outcome is CycleOutcome.STOPPED:
            return ended(state, outcome)
        if state.scheduled is None:  # no point sent the next sync (a failed cycle, a resync)
            now = context.current_utc_datetime
            due = rules.next_cycle_at(started, state.interval_seconds, now)
            if state.schedule_ahead and not state.resync:
                if not (yield from schedule_next(context, state, due)):
                    return ended(state, CycleOutcome.STOPPED)
            elif due is not None:  # a resync is sent when due; so did an older version's loop
                yield context.create_timer(due)
    state.schedule_ahead = True
    context.continue_as_new(state.model_dump(mode="json"))
    return None


def schedule_next(
    context: df.DurableOrchestrationContext, state: ReplicationInput, due: datetime | None
) -> Generator[Any, Any, bool]:
    """Send the next cycle's sync now, for Service Bus to enqueue at `due` (at once when the
    cycle is late), when no recorded point sent it: the loop then sleeps until the agent
    answers, with no timer to wake it for the send. False when the VM no longer replicates
    (the loop ends)."""
    then = next_command(state, due)
    announce(context, state, then.command_id)
    command = CommandInput(
        tenant=state.tenant,
        vm=state.vm,
        command_id=then.command_id,
        type=CommandType.SYNC,
        cycle=then.cycle,
        not_before=due,
    )
    sent = yield from call(context, send_agent_command, command, CommandSent, retry=AGENT_COMMAND)
    if not sent.sent:
        return False
    state.scheduled = ScheduledCommand(
        command_id=then.command_id,
        cycle=then.cycle,
        sent_at=sent.sent_at or context.current_utc_datetime,
        sequence_number=sent.sequence_number,
    )
    announce(context, state, then.command_id, sent.sequence_number)
    return True


def next_command(state: ReplicationInput, due: datetime | None) -> NextCommand:
    """The next cycle's sync (its first attempt), due at `due` (None: now)."""
    cycle = state.cycle + 1
    return NextCommand(
        command_id=rules.cycle_prefix(state.generation, CommandType.SYNC.value, cycle) + "1",
        cycle=cycle,
        not_before=due,
    )


def ended(state: ReplicationInput, outcome: CycleOutcome) -> dict:
    return ReplicationEnded(phase=state.phase, outcome=outcome, cycle=state.cycle).model_dump(
        mode="json"
    )


def initial_replication(
    context: df.DurableOrchestrationContext, state: ReplicationInput
) -> Generator[Any, Any, CycleOutcome]:
    """Blobs, the replicate command, the first recovery point, then Protected."""
    assert state.job_id is not None
    started = context.current_utc_datetime
    job = JobSteps(context, tenant=state.tenant, job_id=state.job_id)
    ref = VmRef(tenant=state.tenant, vm=state.vm)
    yield from job.run(
        "Prepare replica disks", prepare_replica, ref, ReplicaPrepared, retry=STORAGE
    )

    yield job.begin("Initial replication")
    yield from set_status(context, state, E.INITIAL_REPLICATION_STARTED)
    answer = yield from run_command(context, state, CommandType.REPLICATE, resync=False)
    if answer is CommandEnd.STOPPED:
        yield job.end([DISABLED])
        return CycleOutcome.STOPPED
    if not isinstance(answer, ReplicationCompleted):
        error = failure_error(answer)
        yield job.finish("Initial replication", [error])
        yield from set_status(context, state, E.INITIAL_REPLICATION_FAILED, failure=error)
        yield job.end([error])
        return CycleOutcome.FAILED
    yield job.finish("Initial replication")

    yield job.begin("Create first recovery point")
    try:
        yield from recovery_point(
            context, answer, state, E.INITIAL_REPLICATION_COMPLETED, asked=started
        )
    except Exception as error:  # the replica does not match what the agent sent
        failure = verification_error(error)
        yield job.finish("Create first recovery point", [failure])
        yield from set_status(context, state, E.INITIAL_REPLICATION_FAILED, failure=failure)
        yield job.end([failure])
        return CycleOutcome.FAILED
    yield job.finish("Create first recovery point")
    yield job.end()
    return CycleOutcome.OK


def delta_cycle(
    context: df.DurableOrchestrationContext, state: ReplicationInput, started: datetime
) -> Generator[Any, Any, CycleOutcome]:
    """One cycle (it began at `started`): sync (or resync), verify, point, prune, RPO, and
    the next cycle's sync, sent with the point. Failures raise health and the loop goes on;
    lost change tracking turns the next cycle into a resynchronization."""
    state.cycle += 1
    scheduled, state.scheduled = state.scheduled, None
    if state.resync:
        yield from set_status(context, state, E.RESYNC_STARTED)
        answer = yield from run_command(context, state, CommandType.REPLICATE, resync=True)
    else:
        sent = scheduled if scheduled and scheduled.cycle == state.cycle else None
        answer = yield from run_command(context, state, CommandType.SYNC, sent=sent)
    if answer is CommandEnd.STOPPED:
        return CycleOutcome.STOPPED
    if isinstance(answer, ReplicationCompleted):
        event = E.RESYNC_COMPLETED if state.resync else E.DELTA_SYNC_COMPLETED
        then = None
        if state.schedule_ahead:  # (an older version's execution waits on a timer instead)
            due = started + timedelta(seconds=state.interval_seconds)
            then = next_command(state, due)
        try:
            recorded = yield from recovery_point(
                context, answer, state, event, asked=started, then=then
            )
            state.resync, state.scheduled = False, recorded.next
            if recorded.next is not None:
                announce(context, state, recorded.next.command_id, recorded.next.sequence_number)
        except Exception as error:
            yield from set_status(
                context, state, unchanged(state), failure=verification_error(error)
            )
        return CycleOutcome.OK
    if isinstance(answer, ReplicationFailed) and answer.change_tracking_lost:
        # The agent lost its change log: only a full compare can make the replica right.
        state.resync = True
        yield from set_status(context, state, E.CHANGE_TRACKING_LOST, failure=failure_error(answer))
        return CycleOutcome.RESYNC
    yield from set_status(context, state, unchanged(state), failure=failure_error(answer))
    return CycleOutcome.FAILED


def unchanged(state: ReplicationInput) -> E:
    """A status event that keeps the current status (health changes, status does not)."""
    return E.RESYNC_STARTED if state.resync else E.DELTA_SYNC_COMPLETED


@dataclass(frozen=True)
class CommandWait:
    """One command to send and wait for: whose, how its attempts are named, how long it may
    stall.

    The replication loop's commands are its cycle's (`cycle_prefix`); an operation's own
    commands (a planned failover's final sync) start with its job id, so their answers are
    raised to it instead of to the loop."""

    tenant: str
    vm: str
    prefix: str  # attempt n is sent as f"{prefix}{n}"
    stall_seconds: int
    max_attempts: int
    cycle: int = 0
    resync: bool = False
    final_sync: bool = False
    sent: Callable[[str], None] | None = None  # told each command's id before it is sent
    first: ScheduledCommand | None = None  # attempt 1, already sent (by the cycle before)


def run_command(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    kind: CommandType,
    *,
    resync: bool = False,
    sent: ScheduledCommand | None = None,
) -> Generator[Any, Any, Answer]:
    """The replication cycle's command, sent and waited for (see `send_and_wait`); `sent`:
    its first attempt, which the cycle before sent for Service Bus to enqueue when due."""
    wait = CommandWait(
        tenant=state.tenant,
        vm=state.vm,
        prefix=rules.cycle_prefix(state.generation, kind.value, state.cycle),
        stall_seconds=state.stall_seconds,
        max_attempts=state.max_attempts,
        cycle=state.cycle,
        resync=resync,
        sent=lambda command_id: announce(context, state, command_id),
        first=sent,
    )
    return (yield from send_and_wait(context, wait, kind))


def announce(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    command_id: str,
    sequence_number: int | None = None,
) -> None:
    """The loop's status names the command the agent was last sent (and, while Service Bus
    holds it, its sequence number): stopping the loop cancels that one."""
    state.command_id = command_id
    status = LoopStatus(command_id=command_id, sequence_number=sequence_number)
    context.set_custom_status(status.model_dump(mode="json"))


def send_and_wait(
    context: df.DurableOrchestrationContext, wait: CommandWait, kind: CommandType
) -> Generator[Any, Any, Answer]:
    """Send the command and wait for its answer. No progress for `stall_seconds` raises
    health to Warning and sends the command again (fresh SAS, same cycle). Only the answer to
    the attempt sent last counts: a duplicate, a late reply to an older cycle, and a late
    reply to an earlier attempt of this one are skipped. An earlier attempt may still have
    been writing while the resent one wrote: its completion would snapshot a replica that
    mixes two moments."""
    done_event = (
        EventType.REPLICATION_INITIAL_COMPLETED
        if kind is CommandType.REPLICATE
        else EventType.REPLICATION_DELTA_COMPLETED
    )
    done = context.wait_for_external_event(done_event.value)
    failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)

    for attempt in range(1, wait.max_attempts + 1):
        command = CommandInput(
            tenant=wait.tenant,
            vm=wait.vm,
            command_id=f"{wait.prefix}{attempt}",
            type=kind,
            cycle=wait.cycle,
            resync=wait.resync,
            final_sync=wait.final_sync,
        )
        if attempt == 1 and wait.first is not None:
            command.command_id, sent_at = wait.first.command_id, wait.first.sent_at
        else:
            if wait.sent is not None:
                wait.sent(command.command_id)
            sent = yield from call(
                context, send_agent_command, command, CommandSent, retry=AGENT_COMMAND
            )
            if not sent.sent:
                return CommandEnd.STOPPED
            # (a result an older version recorded has no time: the episode's is close to it)
            sent_at = sent.sent_at or context.current_utc_datetime
        quiet_for = wait.stall_seconds
        while True:
            # From when the agent gets it (a command enqueued when due: from then).
            due = max(context.current_utc_datetime, sent_at) + timedelta(seconds=quiet_for)
            timer = context.create_timer(due)
            winner = yield context.task_any([done, failed, timer])
            if winner is timer:
                seen = yield from watch(context, wait, command.command_id, sent_at)
                if seen.stalled:
                    break  # resend
                quiet_for = max(1, int(wait.stall_seconds - seen.quiet_seconds) + 1)
                continue
            timer.cancel()
            if winner is done:
                completed = ReplicationCompleted.model_validate(done.result)
                done = context.wait_for_external_event(done_event.value)
                if completed.command_id == command.command_id:
                    return completed
                continue
            refused = ReplicationFailed.model_validate(failed.result)
            failed = context.wait_for_external_event(EventType.REPLICATION_FAILED.value)
            if refused.command_id == command.command_id:
                return refused
    return CommandEnd.UNANSWERED


def watch(
    context: df.DurableOrchestrationContext,
    wait: CommandWait,
    command_id: str,
    sent_at: datetime,
) -> Step[StallSeen]:
    """How long the command, sent at `sent_at`, has been quiet (the stall timer fired)."""
    check = StallInput(
        tenant=wait.tenant,
        vm=wait.vm,
        command_id=command_id,
        sent_at=sent_at,
        stall_seconds=wait.stall_seconds,
    )
    return call(context, check_stall, check, StallSeen, retry=STORAGE)


def failure_error(answer: Answer) -> ErrorDetail:
    if isinstance(answer, ReplicationFailed):
        return ErrorDetail(
            code=answer.code,
            cause=answer.cause,
            recommendation=f"{answer.recommendation} {RETRY}",
        )
    return NOT_RESPONDING


def verification_error(error: Exception) -> ErrorDetail:
    cause = str(error).split("\n")[0].strip() or type(error).__name__
    return ErrorDetail(
        code="ReplicaVerificationFailed",
        cause=f"The replica does not match what the agent reported: {cause}",
        recommendation="If this repeats, check the agent's disk reader and that nothing "
        f"else writes to the replica container. {RETRY}",
    )


def recovery_point(
    context: df.DurableOrchestrationContext,
    done: ReplicationCompleted,
    state: ReplicationInput | CommandWait,
    status_event: E,
    *,
    asked: datetime | None = None,
    then: NextCommand | None = None,
) -> Step[PointRecorded]:
    """Record the point (`asked`: when its cycle began, the earliest the agent's takenAt may
    be, less clock skew); `then`: the next cycle's sync, sent once it is recorded."""
    point = PointInput(
        tenant=state.tenant,
        vm=state.vm,
        command_id=done.command_id,
        status_event=status_event,
        consistency=done.consistency,
        consistency_note=done.consistency_note,
        taken_at=done.taken_at,
        asked=asked,
        disks=list(done.disks),
        then=then,
    )
    return call(context, record_recovery_point, point, PointRecorded, retry=VERIFICATION)


def set_status(
    context: df.DurableOrchestrationContext,
    state: ReplicationInput,
    event: E,
    *,
    failure: ErrorDetail | None = None,
) -> Step[StatusSet]:
    change = StatusInput(tenant=state.tenant, vm=state.vm, event=event, failure=failure)
    return call(context, set_replication_status, change, StatusSet, retry=STORAGE)
