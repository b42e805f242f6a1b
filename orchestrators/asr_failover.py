"""Failover of a VM that Azure Site Recovery replicates (provider `asr`), step by step.

The same operations, routes, statuses and jobs as the direct provider's failover; what
differs is who builds the Azure VM. Here ASR does: each operation is one ASR action on the
protected item, and its job's tasks become our job's steps (with ASR's errors as cause and
fix), followed on durable timers — no activity waits on ASR.

- `fail_over_through_asr`: test, planned or unplanned. Test and unplanned start from the
  chosen point (latest, latest app-consistent, or one by name); planned lets ASR shut the
  source down and synchronise it first, and records the point that made.
- `after_failover_through_asr`: cleanup of a test failover, commit (the replication watch
  ends: the Azure VM is the VM from now on), change of recovery point. ASR offers no cancel
  of a Hyper-V-to-Azure failover; the API refuses it before anything starts.

The job id is the instance id. An ASR job that fails ends ours Failed with ASR's errors: a
test failover then waits for its cleanup, a failover that did not happen leaves the VM
Protected (ASR's item never left it).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.asr_failover import (
    AsrActionInput,
    AsrJobFollowed,
    AsrJobInput,
    AsrJobRef,
    AsrMadeInput,
    AsrStarted,
    cancel_asr_job,
    choose_asr_point,
    follow_asr_job,
    record_asr_failover_made,
    resume_asr_job,
    start_asr_action,
)
from activities.failover import (
    EndInput,
    FailoverRef,
    PinInput,
    PinnedPoint,
    end_failover,
    mark_failover_failed,
)
from activities.orchestrations import ReplicationStopped, StopInput, stop_replication
from activities.seams import StepOutcome
from application.asr_failover import (
    AFTER_FAILOVER_ACTION,
    FAILOVER_ACTION,
    WITH_POINT,
    AsrAction,
)
from application.orchestrations import (
    APPROVAL_EVENT,
    AfterFailoverInput,
    ApprovalAnswer,
    FailoverInput,
)
from contracts.errors import ErrorDetail
from domain import failover as rules
from domain.failover import DataSync, FailoverType
from domain.replication_state import Operation, ReplicationEvent
from orchestrators.failover import (
    after_failover,
    after_ref,
    ref_of,
    step_failed,
    steps_of,
    timed_out,
)
from orchestrators.protection import OperationEnded, status
from orchestrators.retries import AZURE_RESOURCE_MANAGER, STORAGE, TASK_HUB
from orchestrators.steps import JobSteps, Step, call

bp = df.Blueprint()
E = ReplicationEvent
Story = Generator[Any, Any, OperationEnded]

# An ASR failover job takes minutes (Azure builds the VM); give up on it after this long.
ASR_JOB_DEADLINE = timedelta(hours=2)
# How long a suspended ASR job waits for a person's approval (a weekend's maintenance window)
# before it is cancelled.
APPROVAL_DAYS = 3
POLL_FIRST, POLL_MAX = 2.0, 30.0  # seconds between looks at the ASR job, doubling

# What each operation after a failover does to the VM's status when ASR's job succeeds.
_AFTER_EVENT = {
    Operation.TEST_FAILOVER_CLEANUP: E.TEST_FAILOVER_CLEANED_UP,
    Operation.COMMIT: E.FAILOVER_COMMITTED,
    Operation.CHANGE_RECOVERY_POINT: E.RECOVERY_POINT_CHANGED,
}


@bp.orchestration_trigger(context_name="context")
def fail_over_through_asr(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = FailoverInput.model_validate(context.get_input())
    steps = steps_of(context, job)
    try:
        ended = yield from fail_over(context, job, steps)
    except Exception as error:  # a step failed after its retries
        ended = yield from failover_failed(context, job, steps, [step_failed(error)])
    return ended.model_dump(mode="json")


def fail_over(
    context: df.DurableOrchestrationContext, job: FailoverInput, steps: JobSteps
) -> Story:
    """The story of a failover through ASR; ASR's tasks are the job's middle steps."""
    started = yield from status(context, job, rules.STARTED[job.type])
    if started.errors:  # the VM's status no longer allows it: nothing was done
        yield steps.end(started.errors)
        return OperationEnded(protected=True, errors=started.errors)

    ref = ref_of(job)
    action = FAILOVER_ACTION[job.type]
    point = None
    if action in WITH_POINT:
        pinned = yield from choose_point(steps, ref, job.recovery_point)
        if pinned.errors:
            return (yield from failover_failed(context, job, steps, pinned.errors))
        point = pinned.point_id

    errors = yield from run_asr_action(context, ref, action, point)
    if errors:
        return (yield from failover_failed(context, job, steps, errors))
    made = AsrMadeInput(**ref.model_dump(), action=action)
    yield from call(context, record_asr_failover_made, made, StepOutcome, retry=STORAGE)
    yield from status(context, job, rules.COMPLETED[job.type])
    yield steps.end()
    return OperationEnded(protected=job.type is FailoverType.TEST)


def failover_failed(
    context: df.DurableOrchestrationContext,
    job: FailoverInput,
    steps: JobSteps,
    errors: list[ErrorDetail],
) -> Story:
    """A test failover waits for its cleanup (TestFailoverFailed); a failover that did not
    happen leaves the VM Protected, as ASR's item is (FailoverFailed)."""
    ref = ref_of(job)
    try:
        if job.type is FailoverType.TEST:
            yield from call(context, mark_failover_failed, ref, StepOutcome, retry=STORAGE)
        else:
            ended = EndInput(**ref.model_dump())
            yield from call(context, end_failover, ended, StepOutcome, retry=STORAGE)
        yield from status(context, job, rules.FAILED[job.type])
    except Exception as error:  # the job ends Failed all the same, saying what is left
        errors = [*errors, step_failed(error)]
    yield steps.end(errors)
    return OperationEnded(protected=True, errors=errors)


@bp.orchestration_trigger(context_name="context")
def after_failover_through_asr(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict]:
    job = AfterFailoverInput.model_validate(context.get_input())
    return (yield from after_failover(context, job, after(context, job)))


def after(context: df.DurableOrchestrationContext, job: AfterFailoverInput) -> Story:
    """Cleanup, commit or change of point: ASR's action, then the item and status say so."""
    assert job.operation is not None, "the asr provider's after-failover names its operation"
    steps = steps_of(context, job)
    failover = after_ref(job)
    action = AFTER_FAILOVER_ACTION[job.operation]
    point = None
    if action is AsrAction.APPLY_RECOVERY_POINT:
        pinned = yield from choose_point(steps, failover, job.recovery_point)
        if pinned.errors:
            yield steps.end(pinned.errors)
            return OperationEnded(protected=False, errors=pinned.errors)
        point = pinned.point_id

    mirrored = AsrJobRef(tenant=job.tenant, vm=job.vm, job_id=job.job_id)
    errors = yield from run_asr_action(context, mirrored, action, point)
    if errors:
        yield steps.end(errors)
        return OperationEnded(protected=False, errors=errors)

    if job.operation is Operation.CHANGE_RECOVERY_POINT:
        made = AsrMadeInput(**failover.model_dump(), action=action)
        yield from call(context, record_asr_failover_made, made, StepOutcome, retry=STORAGE)
    else:
        ended = EndInput(**failover.model_dump(), committed=job.operation is Operation.COMMIT)
        yield from call(context, end_failover, ended, StepOutcome, retry=STORAGE)
    if job.operation is Operation.COMMIT:  # nothing replicates any more: the watch ends
        stop = StopInput(tenant=job.tenant, vm=job.vm, reason="Failover committed")
        yield from steps.run(
            "End the replication watch",
            stop_replication,
            stop,
            ReplicationStopped,
            retry=TASK_HUB,
        )
    yield from status(context, job, _AFTER_EVENT[job.operation])
    yield steps.end()
    return OperationEnded(protected=job.operation is Operation.TEST_FAILOVER_CLEANUP)


def choose_point(steps: JobSteps, failover: FailoverRef, choice: str) -> Step[PinnedPoint]:
    """Step 'Choose recovery point': ASR's point for `choice`, pinned on the failover record."""
    pin = PinInput(**failover.model_dump(), choice=choice)
    return steps.run(
        "Choose recovery point", choose_asr_point, pin, PinnedPoint, retry=AZURE_RESOURCE_MANAGER
    )


def run_asr_action(
    context: df.DurableOrchestrationContext,
    job: AsrJobRef,
    action: AsrAction,
    point: str | None = None,
    data_sync: DataSync = DataSync.WHILE_RUNNING,
    go_on_when_approved: bool = False,
) -> Generator[Any, Any, list[ErrorDetail]]:
    """Start `action` in ASR and follow its job until it ends, its tasks becoming the
    steps of our job `job.job_id`. The errors when ASR refused it or its job failed.

    A job ASR suspends until someone resumes it (a failback's Complete failover, once the
    Azure VM's changes are copied while it runs) is resumed at once, or, with
    `go_on_when_approved`, when a person approves our job (rejected: ASR's job is
    cancelled)."""
    ours = job.model_dump(include={"tenant", "vm", "job_id"})
    request = AsrActionInput(**ours, action=action, point=point, data_sync=data_sync)
    started = yield from call(
        context, start_asr_action, request, AsrStarted, retry=AZURE_RESOURCE_MANAGER
    )
    if started.errors or started.asr_job is None:
        return started.errors or [no_job(action)]
    follow = AsrJobInput(**ours, asr_job=started.asr_job)
    give_up = context.current_utc_datetime + ASR_JOB_DEADLINE
    pause = POLL_FIRST
    resumed = False  # until ASR shows the job going on again: it may take a look or two
    while True:
        seen = yield from call(
            context, follow_asr_job, follow, AsrJobFollowed, retry=AZURE_RESOURCE_MANAGER
        )
        if seen.done:
            return seen.errors
        resumed = resumed and seen.waiting_for is not None
        if seen.waiting_for is not None and not resumed:
            steps = JobSteps(context, tenant=job.tenant, job_id=job.job_id, vm=job.vm)
            errors = yield from go_on(context, steps, follow, action, go_on_when_approved)
            if errors:
                return errors
            resumed = True
            give_up, pause = context.current_utc_datetime + ASR_JOB_DEADLINE, POLL_FIRST
        elif context.current_utc_datetime >= give_up:
            return [timed_out(f"Azure Site Recovery's {action} job", ASR_JOB_DEADLINE)]
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=pause))
        pause = min(pause * 2, POLL_MAX)


# What resuming a suspended ASR job does, by the action whose job it is.
_GO_ON = {AsrAction.FAILBACK: "Complete the failback (shut the Azure VM down, copy the rest)"}


def go_on(
    context: df.DurableOrchestrationContext,
    steps: JobSteps,
    follow: AsrJobInput,
    action: AsrAction,
    when_approved: bool,
) -> Generator[Any, Any, list[ErrorDetail]]:
    """Resume ASR's suspended job: at once, or once a person approves (POST .../approve on
    our job). Rejected, or no answer within APPROVAL_DAYS: ASR's job is cancelled."""
    what = _GO_ON.get(action, f"Resume Azure Site Recovery's {action} job")
    if when_approved:
        name = f"Approval: {what[0].lower()}{what[1:]}"
        yield steps.begin(name)
        answered = context.wait_for_external_event(APPROVAL_EVENT)
        timer = context.create_timer(context.current_utc_datetime + timedelta(days=APPROVAL_DAYS))
        winner = yield context.task_any([answered, timer])
        if winner is answered:
            timer.cancel()
            answer = ApprovalAnswer.model_validate(answered.result)
            rejected = not_approved(name, "ApprovalRejected", f"rejected by {answer.by}")
            errors = [] if answer.approved else [rejected]
        else:
            unanswered = f"not answered within {APPROVAL_DAYS} days"
            errors = [not_approved(name, "ApprovalTimedOut", unanswered)]
        yield steps.finish(name, errors)
        if errors:
            yield from steps.run(
                "Cancel Azure Site Recovery's job",
                cancel_asr_job,
                follow,
                StepOutcome,
                retry=AZURE_RESOURCE_MANAGER,
            )
            return errors
    yield from steps.run(what, resume_asr_job, follow, StepOutcome, retry=AZURE_RESOURCE_MANAGER)
    return []


def not_approved(name: str, code: str, how: str) -> ErrorDetail:
    return ErrorDetail(
        code=code,
        cause=f"{name} was {how}; Azure Site Recovery's job was cancelled.",
        recommendation="Nothing changed where the VM runs; ask for the operation again "
        "when it may go on.",
    )


def no_job(action: AsrAction) -> ErrorDetail:
    return ErrorDetail(
        code="AsrJobNotReturned",
        cause=f"Azure Site Recovery accepted {action} but named no job to follow.",
        recommendation="Look at the item's jobs in the Recovery Services vault; ask for the "
        "operation again once it shows no job running.",
    )
