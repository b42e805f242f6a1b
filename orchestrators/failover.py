"""Failover of one VM, and what follows it: the story of each operation, step by step.

- `fail_over_vm`: test, planned or unplanned. A recovery point becomes managed disks, a NIC
  and a VM with the target name and size. Planned first shuts the source down through the
  agent and syncs it one last time, so the point holds every write made before the request;
  unplanned starts from the chosen point at once and stops replication; test leaves
  replication alone and lands in the isolated network as `<name>-test`.
- `clean_up_test_failover`, `commit_failover`, `cancel_failover`, `change_recovery_point`.

The job id is the instance id. A step that fails for good ends the job Failed with cause and
fix: a test failover waits for its cleanup; a failover that did not happen removes what it
made and resumes replication from the last point (delta, not a full copy).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.failover import (
    BuildInput,
    EndInput,
    FailoverRef,
    MadeInput,
    PinInput,
    PinnedPoint,
    Reconciled,
    RemoveInput,
    ShutdownInput,
    end_failover,
    mark_failover_failed,
    pin_recovery_point,
    reconcile_failover_disks,
    reconcile_failover_nic,
    reconcile_failover_vm,
    record_failover_made,
    remove_failover_resources,
    send_shutdown,
)
from activities.orchestrations import (
    ReplicationStopped,
    ResumeInput,
    StopInput,
    resume_replication,
    stop_replication,
)
from activities.recovery_points import PointInput, PointRecorded, record_recovery_point
from activities.seams import StepOutcome
from application.orchestrations import AfterFailoverInput, FailoverInput
from contracts.commands import CommandType
from contracts.errors import ErrorDetail
from contracts.events import CommandResult, EventType, ReplicationCompleted, ReplicationFailed
from domain import failover as rules
from domain.failover import FailoverType
from domain.replication_state import ReplicationEvent
from orchestrators.protection import OperationEnded, status
from orchestrators.replication import CommandWait, send_and_wait
from orchestrators.retries import AZURE_RESOURCE_MANAGER, STORAGE, TASK_HUB, VERIFICATION
from orchestrators.steps import JobSteps, Step, call

bp = df.Blueprint()
E = ReplicationEvent
Story = Generator[Any, Any, OperationEnded]

# How long a reconcile step may take before the job fails with TimedOut: importing a large
# disk is the long one in Azure (its bytes are copied into the managed disk).
DISKS_DEADLINE = timedelta(hours=6)
RESOURCE_DEADLINE = timedelta(minutes=30)
POLL_FIRST, POLL_MAX = 1.0, 15.0  # seconds between reconcile calls, doubling
# The agent may take the guest's shutdown time and then confirm it; this much more, then the
# failover stops waiting for its answer.
SHUTDOWN_GRACE = timedelta(minutes=2)


# --- fail over -----------------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def fail_over_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
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
    """The story of a failover; its steps are the job's steps."""
    started = yield from status(context, job, rules.STARTED[job.type])
    if started.errors:  # the VM's status no longer allows it: nothing was done
        yield steps.end(started.errors)
        return OperationEnded(protected=True, errors=started.errors)

    choice = job.recovery_point
    if job.type is FailoverType.PLANNED:
        final = yield from shut_down_and_sync(context, job, steps)
        if isinstance(final, list):
            return (yield from failover_failed(context, job, steps, final))
        choice = final
    pinned = yield from steps.run(
        "Choose recovery point",
        pin_recovery_point,
        pin_input(job, choice),
        PinnedPoint,
        retry=STORAGE,
    )
    if pinned.errors:
        return (yield from failover_failed(context, job, steps, pinned.errors))
    if job.type is FailoverType.UNPLANNED:
        yield from steps.run(
            "Stop replication",
            stop_replication,
            StopInput(tenant=job.tenant, vm=job.vm, reason="Unplanned failover"),
            ReplicationStopped,
            retry=TASK_HUB,
        )

    made = yield from build_vm(context, steps, ref_of(job), pinned)
    if isinstance(made, list):
        return (yield from failover_failed(context, job, steps, made))
    yield from status(context, job, rules.COMPLETED[job.type])
    yield steps.end()
    return OperationEnded(protected=job.type is FailoverType.TEST)


def shut_down_and_sync(
    context: df.DurableOrchestrationContext, job: FailoverInput, steps: JobSteps
) -> Generator[Any, Any, str | list[ErrorDetail]]:
    """Planned: stop the loop, have the agent shut the source down and confirm it is off,
    then sync it one last time. The final point's id, or why there is none."""
    yield from steps.run(
        "Stop replication",
        stop_replication,
        StopInput(tenant=job.tenant, vm=job.vm, reason="Planned failover"),
        ReplicationStopped,
        retry=TASK_HUB,
    )

    yield steps.begin("Shut down the source VM")
    command_id = f"{job.job_id}-shutdown"
    answered = context.wait_for_external_event(EventType.COMMAND_RESULT.value)
    shutdown = ShutdownInput(
        tenant=job.tenant,
        vm=job.vm,
        command_id=command_id,
        timeout_seconds=job.shutdown_timeout_seconds,
    )
    yield from call(context, send_shutdown, shutdown, StepOutcome, retry=STORAGE)
    deadline = (
        context.current_utc_datetime
        + timedelta(seconds=job.shutdown_timeout_seconds)
        + SHUTDOWN_GRACE
    )
    timer = context.create_timer(deadline)
    while True:
        winner = yield context.task_any([answered, timer])
        if winner is timer:
            errors = [shutdown_unconfirmed(job)]
            yield steps.finish("Shut down the source VM", errors)
            return errors
        result = CommandResult.model_validate(answered.result)
        answered = context.wait_for_external_event(EventType.COMMAND_RESULT.value)
        if result.command_id == command_id:
            break
    timer.cancel()
    if result.status != "succeeded":
        errors = [shutdown_refused(result)]
        yield steps.finish("Shut down the source VM", errors)
        return errors
    yield steps.finish("Shut down the source VM")

    yield steps.begin("Final sync")
    prefix = f"{job.job_id}-final-sync-"
    wait = CommandWait(
        tenant=job.tenant,
        vm=job.vm,
        prefix=prefix,
        stall_seconds=job.stall_seconds,
        max_attempts=3,
        final_sync=True,
    )
    answer = yield from send_and_wait(context, wait, CommandType.SYNC)
    if not isinstance(answer, ReplicationCompleted):
        errors = [final_sync_failed(answer)]
        yield steps.finish("Final sync", errors)
        return errors
    point = PointInput(
        tenant=job.tenant,
        vm=job.vm,
        command_id=answer.command_id,
        status_event=E.DELTA_SYNC_COMPLETED,
        consistency=answer.consistency,
        consistency_note=answer.consistency_note,
        taken_at=answer.taken_at,
        disks=list(answer.disks),
    )
    yield from call(context, record_recovery_point, point, PointRecorded, retry=VERIFICATION)
    yield steps.finish("Final sync")
    return answer.command_id  # a point's id is the id of the command that made it


def build_vm(
    context: df.DurableOrchestrationContext,
    steps: JobSteps,
    ref: FailoverRef,
    pinned: PinnedPoint,
) -> Generator[Any, Any, dict[str, str] | list[ErrorDetail]]:
    """The point's disks, a NIC and the VM, then the item shows them. What was made, by
    disk id (and "vm"), or why it could not be."""
    build = BuildInput(
        **ref.model_dump(),
        point_id=pinned.point_id,
        vm_name=pinned.vm_name,
        vm_size=pinned.vm_size,
        snapshots=pinned.snapshots,
    )
    disks = yield from reconcile(
        context, steps, "Create disks", reconcile_failover_disks, build, DISKS_DEADLINE
    )
    if disks.errors:
        return disks.errors
    nic = yield from reconcile(
        context,
        steps,
        "Create network interface",
        reconcile_failover_nic,
        build,
        RESOURCE_DEADLINE,
    )
    if nic.errors:
        return nic.errors
    build = build.model_copy(update={"disks": disks.made, "nic_id": nic.made["nic"]})
    vm = yield from reconcile(
        context,
        steps,
        "Create virtual machine",
        reconcile_failover_vm,
        build,
        RESOURCE_DEADLINE,
    )
    if vm.errors:
        return vm.errors
    made = MadeInput(
        **ref.model_dump(),
        point_id=pinned.point_id,
        vm_id=vm.made["vm"],
        vm_name=pinned.vm_name,
        vm_size=pinned.vm_size,
        disks=disks.made,
    )
    yield from call(context, record_failover_made, made, StepOutcome, retry=STORAGE)
    return {**disks.made, "vm": vm.made["vm"]}


def failover_failed(
    context: df.DurableOrchestrationContext,
    job: FailoverInput,
    steps: JobSteps,
    errors: list[ErrorDetail],
) -> Story:
    """A test failover waits for its cleanup (TestFailoverFailed). A failover that did not
    happen removes what it made and resumes replication (FailoverFailed: Protected)."""
    ref = ref_of(job)
    try:
        if job.type is FailoverType.TEST:
            yield from call(context, mark_failover_failed, ref, StepOutcome, retry=STORAGE)
            yield from status(context, job, rules.FAILED[job.type])
        else:
            yield from remove_resources(context, steps, ref, "Remove what the failover made")
            yield from call(
                context, end_failover, EndInput(**ref.model_dump()), StepOutcome, retry=STORAGE
            )
            yield from status(context, job, rules.FAILED[job.type])
            yield from resume(context, steps, job.tenant, job.vm, job.job_id)
    except Exception as error:  # the job ends Failed all the same, saying what is left
        errors = [*errors, step_failed(error)]
    yield steps.end(errors)
    return OperationEnded(protected=True, errors=errors)


# --- after a failover ------------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def clean_up_test_failover(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = AfterFailoverInput.model_validate(context.get_input())
    return (yield from after_failover(context, job, clean_up(context, job)))


def clean_up(context: df.DurableOrchestrationContext, job: AfterFailoverInput) -> Story:
    """Delete exactly what the test failover made (by its tags), confirm by listing, then
    the VM is Protected again and its point unpinned."""
    steps = steps_of(context, job)
    removed = yield from remove_resources(
        context, steps, after_ref(job), "Delete the test failover's resources"
    )
    if removed.errors:
        yield steps.end(removed.errors)
        return OperationEnded(protected=True, errors=removed.errors)
    yield from call(
        context, end_failover, EndInput(**after_ref(job).model_dump()), StepOutcome, retry=STORAGE
    )
    yield from status(context, job, E.TEST_FAILOVER_CLEANED_UP)
    yield steps.end()
    return OperationEnded(protected=True)


@bp.orchestration_trigger(context_name="context")
def commit_failover(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = AfterFailoverInput.model_validate(context.get_input())
    return (yield from after_failover(context, job, commit(context, job)))


def commit(context: df.DurableOrchestrationContext, job: AfterFailoverInput) -> Story:
    """The Azure VM is the VM from now on: replication of the source has ended; the replica
    and its points stay until protection is disabled with deleteReplica."""
    steps = steps_of(context, job)
    ended = EndInput(**after_ref(job).model_dump(), committed=True)
    yield from steps.run("Commit the failover", end_failover, ended, StepOutcome, retry=STORAGE)
    yield from status(context, job, E.FAILOVER_COMMITTED)
    yield steps.end()
    return OperationEnded(protected=False)


@bp.orchestration_trigger(context_name="context")
def cancel_failover(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = AfterFailoverInput.model_validate(context.get_input())
    return (yield from after_failover(context, job, cancel(context, job)))


def cancel(context: df.DurableOrchestrationContext, job: AfterFailoverInput) -> Story:
    """Undo a failover that was not committed: delete what it made and replicate the source
    again from its last point. (A planned failover shut the source down: start it again.)"""
    steps = steps_of(context, job)
    removed = yield from remove_resources(
        context, steps, after_ref(job), "Delete the failed-over VM's resources"
    )
    if removed.errors:
        yield steps.end(removed.errors)
        return OperationEnded(protected=False, errors=removed.errors)
    yield from call(
        context, end_failover, EndInput(**after_ref(job).model_dump()), StepOutcome, retry=STORAGE
    )
    yield from status(context, job, E.FAILOVER_CANCELLED)
    yield from resume(context, steps, job.tenant, job.vm, job.job_id)
    yield steps.end()
    return OperationEnded(protected=True)


@bp.orchestration_trigger(context_name="context")
def change_recovery_point(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = AfterFailoverInput.model_validate(context.get_input())
    return (yield from after_failover(context, job, change_point(context, job)))


def change_point(context: df.DurableOrchestrationContext, job: AfterFailoverInput) -> Story:
    """Rebuild the failed-over VM from another point: new disks, the VM made anew on them
    (same name, size and NIC), then the old disks deleted."""
    steps = steps_of(context, job)
    ref = after_ref(job)
    pin = PinInput(**ref.model_dump(), choice=job.recovery_point)
    pinned = yield from steps.run(
        "Choose recovery point", pin_recovery_point, pin, PinnedPoint, retry=STORAGE
    )
    if pinned.errors:
        yield steps.end(pinned.errors)
        return OperationEnded(protected=False, errors=pinned.errors)
    made = yield from build_vm(context, steps, ref, pinned)
    if isinstance(made, list):
        yield steps.end(made)
        return OperationEnded(protected=False, errors=made)
    old = RemoveInput(**ref.model_dump(), keep_point=pinned.point_id)
    yield from reconcile(
        context,
        steps,
        "Delete the previous point's disks",
        remove_failover_resources,
        old,
        RESOURCE_DEADLINE,
    )
    yield from status(context, job, E.RECOVERY_POINT_CHANGED)
    yield steps.end()
    return OperationEnded(protected=False)


def after_failover(
    context: df.DurableOrchestrationContext, job: AfterFailoverInput, story: Story
) -> Generator[Any, Any, dict]:
    """Run `story`; a step that fails after its retries ends the job Failed with the reason
    (the VM keeps its status: the operation can be asked for again)."""
    try:
        ended = yield from story
    except Exception as error:
        failure = step_failed(error)
        yield steps_of(context, job).end([failure])
        ended = OperationEnded(protected=False, errors=[failure])
    return ended.model_dump(mode="json")


# --- shared steps ------------------------------------------------------------------------------


def reconcile(
    context: df.DurableOrchestrationContext,
    steps: JobSteps,
    name: str,
    activity: Any,
    payload: Any,
    deadline: timedelta,
) -> Step[Reconciled]:
    """Step `name`: call the reconcile activity until it is done or refuses, waiting on a
    durable timer between calls (no activity ever blocks on Azure)."""
    yield steps.begin(name)
    give_up = context.current_utc_datetime + deadline
    pause = POLL_FIRST
    while True:
        result = yield from call(
            context, activity, payload, Reconciled, retry=AZURE_RESOURCE_MANAGER
        )
        if result.done or result.errors:
            yield steps.finish(name, result.errors)
            return result
        if context.current_utc_datetime >= give_up:
            result = Reconciled(errors=[timed_out(name, deadline)])
            yield steps.finish(name, result.errors)
            return result
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=pause))
        pause = min(pause * 2, POLL_MAX)


def remove_resources(
    context: df.DurableOrchestrationContext, steps: JobSteps, ref: FailoverRef, name: str
) -> Step[Reconciled]:
    remove = RemoveInput(**ref.model_dump())
    return reconcile(context, steps, name, remove_failover_resources, remove, RESOURCE_DEADLINE)


def resume(
    context: df.DurableOrchestrationContext, steps: JobSteps, tenant: str, vm: str, job_id: str
) -> Step[StepOutcome]:
    """Replication of the source again, from its last point (a delta cycle)."""
    again = ResumeInput(tenant=tenant, vm=vm, generation=job_id[-8:])
    return steps.run("Resume replication", resume_replication, again, StepOutcome, retry=TASK_HUB)


def steps_of(context: df.DurableOrchestrationContext, job: Any) -> JobSteps:
    return JobSteps(context, tenant=job.tenant, job_id=job.job_id, vm=job.vm)


def ref_of(job: FailoverInput) -> FailoverRef:
    return FailoverRef(tenant=job.tenant, vm=job.vm, job_id=job.job_id, kind=job.type)


def after_ref(job: AfterFailoverInput) -> FailoverRef:
    return FailoverRef(tenant=job.tenant, vm=job.vm, job_id=job.failover_job_id, kind=job.type)


def pin_input(job: FailoverInput, choice: str) -> PinInput:
    return PinInput(**ref_of(job).model_dump(), choice=choice)


# --- errors ------------------------------------------------------------------------------------


def step_failed(error: Exception) -> ErrorDetail:
    return ErrorDetail(
        code="OperationFailed",
        cause=f"A step failed after its retries: {str(error).splitlines()[0][:500]}",
        recommendation="Check /api/health and the host log, then ask for the operation again "
        "(allowedOperations on the replicated item says what applies now).",
    )


def timed_out(name: str, deadline: timedelta) -> ErrorDetail:
    return ErrorDetail(
        code="TimedOut",
        cause=f"'{name}' did not finish within {deadline}.",
        recommendation="Look at the resources in the recovery resource group; clean up or "
        "cancel the failover and start it again.",
    )


def shutdown_unconfirmed(job: FailoverInput) -> ErrorDetail:
    return ErrorDetail(
        code="ShutdownNotConfirmed",
        cause=f"The agent did not confirm within {job.shutdown_timeout_seconds} s (and "
        f"{int(SHUTDOWN_GRACE.total_seconds())} s more) that VM '{job.vm}' is off.",
        recommendation="Check that the agent runs on the VMM server (its heartbeat) and that "
        "the VM can shut down; replication resumes. Retry the planned failover, or fail over "
        "unplanned from the latest point if the site is lost.",
    )


def shutdown_refused(result: CommandResult) -> ErrorDetail:
    return ErrorDetail(
        code=result.code or "ShutdownFailed",
        cause=result.cause or f"The agent could not shut the VM down ({result.detail}).",
        recommendation=result.recommendation
        or "Shut the VM down in VMM, then retry the planned failover; replication resumes.",
    )


def final_sync_failed(answer: object) -> ErrorDetail:
    if isinstance(answer, ReplicationFailed):
        return ErrorDetail(
            code=answer.code,
            cause=f"The final sync failed: {answer.cause}",
            recommendation=f"{answer.recommendation} The source VM is shut down: start it "
            "again in VMM, or retry the planned failover.",
        )
    return ErrorDetail(
        code="AgentNotResponding",
        cause="The agent did not finish the final sync after every retry.",
        recommendation="Check that the agent runs and reaches Azure Storage; the source VM is "
        "shut down: start it again in VMM, or fail over unplanned from the latest point.",
    )
