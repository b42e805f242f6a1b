"""A recovery plan's operation, and the drill: the story of each, step by step.

- `run_recovery_plan`: failover (test, planned, unplanned), commit or cleanup of a plan: its
  groups in order; in each, the actions before it, then its VMs in parallel, then the
  actions after it. Each VM's operation is the VM's own orchestration (`fail_over_vm`,
  `commit_failover`, `clean_up_test_failover`) run as a sub-orchestration under a job of its
  own, so a VM fails over exactly as on its own and its job shows the detail. A drill is a
  test failover of the plan, then each VM's disks proven against their points, then the
  cleanup, confirmed, then its report.
- `prove_drill_vm`: one VM of a drill: its test VM powered off, each disk read back and
  hashed beside its point.

The plan's job (target: the plan) has a step per group and per VM ("Group 2: sql-01"), per
action, per proof; the orchestration records every one itself, one write at a time. A VM that
fails does not stop the others; with `stopOnVmFailure` the plan stops after its group. The
history holds everything: a host restart resumes the plan where it was, the VMs' own
orchestrations included.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from activities.plans import (
    CleanupConfirmed,
    ConfirmInput,
    DiskProof,
    DiskProved,
    DrillCleanup,
    DrillVm,
    FinishDrillInput,
    FinishedStep,
    PlanEndInput,
    PlanStepsInput,
    PreparedVms,
    PrepareInput,
    ProveDiskInput,
    StopVmInput,
    VmStopped,
    call_plan_runbook,
    confirm_drill_cleanup,
    finish_drill,
    prepare_plan_vms,
    prove_drill_disk,
    read_drill_vm,
    record_plan_steps,
    release_plan,
    stop_drill_vm,
)
from activities.seams import StepOutcome, VmRef
from application.drills import DrillVmFacts
from application.orchestrations import APPROVAL_EVENT, ApprovalAnswer
from application.plans import PROVE_DRILL_VM, PlanJobInput
from application.runbooks import RunbookCall
from contracts.errors import ErrorDetail
from domain import plans as rules
from domain.failover import FailoverType
from domain.plans import (
    ActionWhen,
    ManualAction,
    OnFailure,
    OnTimeout,
    PlanOperation,
    RunbookAction,
    Stage,
)
from domain.replication_state import Operation
from orchestrators.failover import step_failed
from orchestrators.protection import OperationEnded
from orchestrators.retries import AZURE_RESOURCE_MANAGER, STORAGE, VERIFICATION
from orchestrators.steps import JobSteps, call

bp = df.Blueprint()
Story = Generator[Any, Any, Any]

# A runbook is called once (default changed from our policies' several attempts): the call
# is not idempotent (it may move DNS or start a job), and ASR runs an action once too. The
# activity answers a failure as its outcome; only a host that died mid-call would retry.
RUNBOOK_ONCE = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=1)
# A test VM powers off in seconds to a minute; this long, then the proof fails TimedOut.
STOP_DEADLINE = timedelta(minutes=10)
POLL_FIRST, POLL_MAX = 1.0, 15.0


@dataclass
class Outcome:
    """What the plan's job has done so far (rebuilt the same way on every replay)."""

    errors: list[ErrorDetail] = field(default_factory=list)
    vm_jobs: dict[str, str] = field(default_factory=dict)  # vm -> its operation's job
    failed_vms: set[str] = field(default_factory=set)


# --- the plan's operation -------------------------------------------------------------------


@bp.orchestration_trigger(context_name="context")
def run_recovery_plan(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = PlanJobInput.model_validate(context.get_input())
    steps = JobSteps(context, tenant=job.tenant, job_id=job.job_id)
    outcome = Outcome()
    try:
        if job.operation is PlanOperation.DRILL:
            yield from drill(context, job, steps, outcome)
        else:
            wanted = rules.vm_operation(job.operation, job.kind)
            yield from run_groups(context, job, steps, outcome, wanted)
    except Exception as error:  # a step failed after its retries
        outcome.errors.append(step_failed(error))
        if job.operation is PlanOperation.DRILL:
            yield from report(context, job, [], None, outcome)
    yield steps.end(outcome.errors)
    end = PlanEndInput(tenant=job.tenant, plan=job.plan.name, job_id=job.job_id)
    yield from call(context, release_plan, end, StepOutcome, retry=STORAGE)
    return {"errors": [e.model_dump(mode="json") for e in outcome.errors]}


def run_groups(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    steps: JobSteps,
    outcome: Outcome,
    wanted: Operation,
) -> Generator[Any, Any, bool]:
    """Every group in order with its actions; False when the plan stopped early."""
    for stage in rules.stages(job.plan, job.operation, job.kind):
        for action in stage.before:
            went_on = yield from run_action(
                context, job, steps, outcome, stage, action, ActionWhen.BEFORE
            )
            if not went_on:
                return False
        failed = yield from run_vms(context, job, steps, outcome, stage.name, stage.vms, wanted)
        if failed and job.plan.stop_on_vm_failure:
            outcome.errors.append(stopped_after(stage, failed))
            return False
        for action in stage.after:
            went_on = yield from run_action(
                context, job, steps, outcome, stage, action, ActionWhen.AFTER
            )
            if not went_on:
                return False
    return True


def run_vms(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    steps: JobSteps,
    outcome: Outcome,
    name: str,
    vms: tuple[str, ...],
    wanted: Operation,
    phase: str = "v",
) -> Generator[Any, Any, list[str]]:
    """Step `name`: the VMs' operations in parallel, each a sub-orchestration under a job of
    its own, each with its step ("<name>: <vm>") finished as it ends. The VMs that failed."""
    yield steps.begin(name)
    prepare = PrepareInput(job=job, vms=list(vms), operation=wanted, phase=phase)
    prepared = yield from call(context, prepare_plan_vms, prepare, PreparedVms, retry=STORAGE)
    ready = [p for p in prepared.vms if p.job_id and not p.errors]
    finished = [
        FinishedStep(name=f"{name}: {p.vm} (skipped: {p.skipped})")
        if p.skipped
        else FinishedStep(name=f"{name}: {p.vm}", errors=p.errors)
        for p in prepared.vms
        if p not in ready
    ]
    record = PlanStepsInput(
        tenant=job.tenant,
        job_id=job.job_id,
        begin=[f"{name}: {p.vm}" for p in ready],
        finish=finished,
    )
    yield from call(context, record_plan_steps, record, StepOutcome, retry=STORAGE)
    failed = [p.vm for p in prepared.vms if p.errors]
    group_errors = [e for p in prepared.vms for e in p.errors]
    running = {}
    for p in ready:
        outcome.vm_jobs[p.vm] = p.job_id
        task = context.call_sub_orchestrator(p.orchestrator, p.input, p.job_id)
        running[id(task)] = (task, p.vm)
    pending = [task for task, _ in running.values()]
    while pending:
        winner = yield context.task_any(pending)
        pending = [task for task in pending if task is not winner]
        vm = running[id(winner)][1]
        errors = ended_errors(winner)
        if errors:
            failed.append(vm)
            group_errors += errors
        yield steps.finish(f"{name}: {vm}", errors)
    outcome.failed_vms.update(failed)
    outcome.errors += group_errors
    yield steps.finish(name, group_errors)
    return failed


def ended_errors(task: Any) -> list[ErrorDetail]:
    """Why a VM's operation failed (none: it succeeded)."""
    if task.state is TaskState.FAILED:
        return [step_failed(task.result)]
    return OperationEnded.model_validate(task.result).errors


def run_action(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    steps: JobSteps,
    outcome: Outcome,
    stage: Stage,
    action: ManualAction | RunbookAction,
    when: ActionWhen,
) -> Generator[Any, Any, bool]:
    """Run one action; False when the plan must stop."""
    if isinstance(action, ManualAction):
        return (yield from approval(context, job, steps, outcome, stage, action, when))
    name = f"Runbook: {action.name} ({stage.name}, {when})"
    runbook = RunbookCall(
        tenant=job.tenant,
        job_id=job.job_id,
        plan=job.plan.name,
        action=action.name,
        url=action.url,
        timeout_seconds=action.timeout_seconds,
        group=stage.number,
        when=when,
        kind=job.kind or FailoverType.TEST,
        vms=list(stage.vms),
    )
    answer = yield from steps.run(name, call_plan_runbook, runbook, StepOutcome, retry=RUNBOOK_ONCE)
    outcome.errors += answer.errors
    return not answer.errors or action.on_failure is OnFailure.CONTINUE


def approval(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    steps: JobSteps,
    outcome: Outcome,
    stage: Stage,
    action: ManualAction,
    when: ActionWhen,
) -> Generator[Any, Any, bool]:
    """Step "Approval: …": wait for POST .../jobs/{job}/approve or /reject (the durable event
    `approval`, taken only while this step is under way), up to the action's timeout."""
    name = f"Approval: {action.name} ({stage.name}, {when})"
    yield steps.begin(name)
    deadline = context.current_utc_datetime + timedelta(seconds=action.timeout_seconds)
    answered = context.wait_for_external_event(APPROVAL_EVENT)
    timer = context.create_timer(deadline)
    winner = yield context.task_any([answered, timer])
    if winner is answered:
        timer.cancel()
        answer = ApprovalAnswer.model_validate(answered.result)
        if answer.approved:
            yield steps.finish(name)
            return True
        errors = [rejected(name, answer)]
    elif action.on_timeout is OnTimeout.PROCEED:
        yield steps.finish(name)
        yield steps.finish(f"{name}: no answer within {action.timeout_seconds} s, proceeded")
        return True
    else:
        errors = [unanswered(name, action)]
    yield steps.finish(name, errors)
    outcome.errors += errors
    return False


# --- the drill -------------------------------------------------------------------------------


def drill(
    context: df.DurableOrchestrationContext, job: PlanJobInput, steps: JobSteps, outcome: Outcome
) -> Story:
    """A test failover of the plan, every disk proven against its point, the cleanup
    confirmed, the report written. A plan stopped early is still cleaned up."""
    job = job.model_copy(update={"kind": FailoverType.TEST})
    yield from run_groups(context, job, steps, outcome, Operation.TEST_FAILOVER)
    failovers = dict(outcome.vm_jobs)
    group_of = {vm: number for number, group in enumerate(job.plan.groups, 1) for vm in group.vms}
    proofs = yield from prove(context, job, steps, failovers, group_of, outcome)

    cleanup = Operation.TEST_FAILOVER_CLEANUP
    yield from run_vms(context, job, steps, outcome, "Clean up", job.plan.vms, cleanup, phase="c")
    confirm = ConfirmInput(tenant=job.tenant, failovers=failovers, vms=list(job.plan.vms))
    confirmed = yield from steps.run(
        "Confirm cleanup",
        confirm_drill_cleanup,
        confirm,
        CleanupConfirmed,
        retry=AZURE_RESOURCE_MANAGER,
    )
    outcome.errors += confirmed.errors
    yield from report(context, job, proofs, confirmed.cleanup, outcome)


def prove(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    steps: JobSteps,
    failovers: dict[str, str],
    group_of: dict[str, int],
    outcome: Outcome,
) -> Generator[Any, Any, list[DrillVm]]:
    """ "Prove <vm>" for every VM that failed over, in parallel; its report part."""
    proven = [vm for vm in job.plan.vms if vm in failovers and vm not in outcome.failed_vms]
    begin = PlanStepsInput(
        tenant=job.tenant, job_id=job.job_id, begin=[f"Prove {vm}" for vm in proven]
    )
    yield from call(context, record_plan_steps, begin, StepOutcome, retry=STORAGE)
    running = {}
    for vm in proven:
        part = DrillVm(vm=vm, group=group_of[vm], job_id=failovers[vm])
        instance = f"{job.job_id}-p{job.plan.vms.index(vm):03d}"
        task = context.call_sub_orchestrator(
            PROVE_DRILL_VM, {"tenant": job.tenant, "part": part.model_dump(mode="json")}, instance
        )
        running[id(task)] = (task, part)
    pending = [task for task, _ in running.values()]
    parts = {}
    while pending:
        winner = yield context.task_any(pending)
        pending = [task for task in pending if task is not winner]
        part = running[id(winner)][1]
        if winner.state is TaskState.FAILED:
            part = part.model_copy(update={"errors": [step_failed(winner.result)]})
        else:
            part = DrillVm.model_validate(winner.result)
        parts[part.vm] = part
        errors = [*part.errors, *(differs(part.vm, d) for d in part.disks if not d.identical)]
        outcome.errors += errors
        yield steps.finish(f"Prove {part.vm}", errors)
    # Those that never failed over are in the report with their failover's errors.
    for vm in job.plan.vms:
        if vm not in parts:
            missing = [not_failed_over(vm)]
            parts[vm] = DrillVm(vm=vm, group=group_of[vm], job_id=failovers.get(vm), errors=missing)
    return [parts[vm] for vm in job.plan.vms]


def report(
    context: df.DurableOrchestrationContext,
    job: PlanJobInput,
    proofs: list[DrillVm],
    cleanup: DrillCleanup | None,
    outcome: Outcome,
) -> Story:
    finish = FinishDrillInput(
        tenant=job.tenant, drill_id=job.job_id, vms=proofs, cleanup=cleanup, errors=outcome.errors
    )
    steps = JobSteps(context, tenant=job.tenant, job_id=job.job_id)
    yield from steps.run("Drill report", finish_drill, finish, StepOutcome, retry=STORAGE)


@bp.orchestration_trigger(context_name="context")
def prove_drill_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    """One VM of a drill: power its test VM off, then read back every disk and hash it
    beside its point's snapshot (the disks in parallel)."""
    given = context.get_input()
    tenant, part = given["tenant"], DrillVm.model_validate(given["part"])
    try:
        part = yield from prove_vm(context, tenant, part)
    except Exception as error:
        part = part.model_copy(update={"errors": [*part.errors, step_failed(error)]})
    return part.model_dump(mode="json")


def prove_vm(context: df.DurableOrchestrationContext, tenant: str, part: DrillVm) -> Story:
    ref = VmRef(tenant=tenant, vm=part.vm)
    facts = yield from call(context, read_drill_vm, ref, DrillVmFacts, retry=STORAGE)
    part = part.model_copy(
        update={
            "recovery_point_id": facts.point_id or None,
            "recovery_point_time": facts.point_time,
            "vm_id": facts.vm_id or None,
            "vm_name": facts.vm_name or None,
        }
    )
    if facts.errors:
        return part.model_copy(update={"errors": facts.errors})
    give_up = context.current_utc_datetime + STOP_DEADLINE
    pause = POLL_FIRST
    while True:
        stop = StopVmInput(vm_name=facts.vm_name)
        stopped = yield from call(
            context, stop_drill_vm, stop, VmStopped, retry=AZURE_RESOURCE_MANAGER
        )
        if stopped.errors:
            return part.model_copy(update={"errors": stopped.errors})
        if stopped.done:
            break
        if context.current_utc_datetime >= give_up:
            return part.model_copy(update={"errors": [not_stopped(facts.vm_name)]})
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=pause))
        pause = min(pause * 2, POLL_MAX)
    tasks = [
        context.call_activity_with_retry(
            prove_drill_disk,
            VERIFICATION,
            ProveDiskInput(
                tenant=tenant,
                vm=part.vm,
                disk_id=disk,
                managed_disk_id=managed,
                point_id=facts.point_id,
            ).out(),
        )
        for disk, managed in sorted(facts.disks.items())
    ]
    answers = [DiskProved.model_validate(a) for a in (yield context.task_all(tasks))]
    return part.model_copy(
        update={
            "disks": [a.proof for a in answers if a.proof is not None],
            "errors": [e for a in answers for e in a.errors],
        }
    )


# --- errors ------------------------------------------------------------------------------------


def stopped_after(stage: Stage, failed: list[str]) -> ErrorDetail:
    return ErrorDetail(
        code="RecoveryPlanStopped",
        cause=f"VM(s) {', '.join(failed)} of group {stage.number} failed and the plan says "
        "stopOnVmFailure: the groups after it were not started.",
        recommendation="Fix what the VMs' jobs name, then fail those VMs over on their own, "
        "or clean up (or cancel) and run the plan again.",
    )


def rejected(name: str, answer: ApprovalAnswer) -> ErrorDetail:
    return ErrorDetail(
        code="ApprovalRejected",
        cause=f"{name} was rejected by {answer.by}: the plan stopped there.",
        recommendation="What earlier groups did stays as it is: commit, clean up or cancel "
        "their VMs (the plan's /commit or /cleanup acts on those that have something to do).",
    )


def unanswered(name: str, action: ManualAction) -> ErrorDetail:
    return ErrorDetail(
        code="ApprovalTimedOut",
        cause=f"{name} had no answer within {action.timeout_seconds} s and the action says "
        "abandon: the plan stopped there.",
        recommendation="Run the plan again and answer in time (POST .../jobs/{job}/approve), "
        "or give the action a longer timeoutSeconds or onTimeout 'proceed'.",
    )


def differs(vm: str, disk: DiskProof) -> ErrorDetail:
    return ErrorDetail(
        code="DrillDiskDiffers",
        cause=f"Disk '{disk.disk_id}' of VM '{vm}' read back {disk.bytes} bytes with SHA-256 "
        f"{disk.sha256}; its recovery point holds {disk.point_bytes} bytes with SHA-256 "
        f"{disk.point_sha256}.",
        recommendation="The failed-over disk is not the point: keep the drill's job and "
        "report, and check how the managed disk was made (its failover's 'Create disks').",
    )


def not_failed_over(vm: str) -> ErrorDetail:
    return ErrorDetail(
        code="DrillVmNotFailedOver",
        cause=f"VM '{vm}' has no test VM: its test failover failed or the plan stopped first.",
        recommendation="See the drill job's step for the VM and its own job.",
    )


def not_stopped(vm_name: str) -> ErrorDetail:
    return ErrorDetail(
        code="TimedOut",
        cause=f"Test VM {vm_name} did not power off within {STOP_DEADLINE}; its disks cannot "
        "be read while it runs.",
        recommendation="Stop the VM in the recovery resource group and run the drill again.",
    )
