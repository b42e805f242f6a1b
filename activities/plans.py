"""Activities of recovery plans and drills: claim a group's VMs, record the plan job's steps
in batches, call a runbook, prove a drill's disks, confirm its cleanup, write its report.

The plan's orchestration records every step of its job itself, one activity at a time, so
no two writers ever race on the job's row; a group's VM steps begin in one write.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import Field

from activities.seams import Seam, StepOutcome, VmRef
from application import drills
from application.plans import PlanJobInput, PreparedVm, prepare_vms
from application.runbooks import RunbookCall, call_runbook
from contracts.errors import ErrorDetail
from domain import jobs as job_rules
from domain.plans import DrillState
from domain.replication_state import Operation
from readmodels import jobs
from readmodels import plans as store
from readmodels.plans import DiskProof, DrillCleanup, DrillVm  # the drill's parts cross the hub

bp = df.Blueprint()


class PrepareInput(Seam):
    job: PlanJobInput
    vms: list[str]
    operation: Operation
    phase: str  # 'v' the plan's operation, 'c' a drill's cleanup


class PreparedVms(Seam):
    vms: list[PreparedVm]


@bp.activity_trigger(input_name="payload")
def prepare_plan_vms(payload: dict) -> dict:
    """Check and claim each VM of a group for its operation (idempotent: the VM jobs' ids
    derive from the plan's job)."""
    prepare = PrepareInput.model_validate(payload)
    prepared = prepare_vms(prepare.job, prepare.vms, prepare.operation, prepare.phase)
    return PreparedVms(vms=prepared).out()


class FinishedStep(Seam):
    name: str
    errors: list[ErrorDetail] = Field(default_factory=list)


class PlanStepsInput(Seam):
    tenant: str
    job_id: str
    begin: list[str] = Field(default_factory=list)
    finish: list[FinishedStep] = Field(default_factory=list)


@bp.activity_trigger(input_name="payload")
def record_plan_steps(payload: dict) -> dict:
    """Begin and finish several steps of the plan's job in one write (a group's VMs start
    together, so their steps do too)."""
    steps = PlanStepsInput.model_validate(payload)
    job = jobs.get_job(steps.tenant, steps.job_id)
    if job is None:
        raise LookupError(f"job {steps.tenant}/{steps.job_id} does not exist")
    if job.finished:
        return StepOutcome().out()  # a late or replayed record: a finished job does not change
    now = datetime.now(UTC)
    updated = job
    for name in steps.begin:
        updated = job_rules.start_step(updated, name, now)
    for step in steps.finish:
        updated = job_rules.finish_step(updated, step.name, now, [e.record() for e in step.errors])
    if updated != job:
        jobs.save_job(updated)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def call_plan_runbook(payload: dict) -> dict:
    """POST the plan's context to the action's runbook; a failure is the outcome's errors
    (never raised: a runbook is called once, as ASR does)."""
    return StepOutcome(errors=call_runbook(RunbookCall.model_validate(payload))).out()


class PlanEndInput(Seam):
    tenant: str
    plan: str
    job_id: str


@bp.activity_trigger(input_name="payload")
def release_plan(payload: dict) -> dict:
    end = PlanEndInput.model_validate(payload)
    store.release_plan(end.tenant, end.plan, end.job_id)
    return StepOutcome().out()


# --- drills ------------------------------------------------------------------------------------


@bp.activity_trigger(input_name="payload")
def read_drill_vm(payload: dict) -> dict:
    ref = VmRef.model_validate(payload)
    return drills.vm_facts(ref.tenant, ref.vm).model_dump(mode="json")


class StopVmInput(Seam):
    vm_name: str


class VmStopped(StepOutcome):
    done: bool = False


@bp.activity_trigger(input_name="payload")
def stop_drill_vm(payload: dict) -> dict:
    stop = StopVmInput.model_validate(payload)
    done, errors = drills.stop_vm(stop.vm_name)
    return VmStopped(done=done, errors=errors).out()


class ProveDiskInput(VmRef):
    disk_id: str
    managed_disk_id: str
    point_id: str


class DiskProved(StepOutcome):
    proof: DiskProof | None = None


@bp.activity_trigger(input_name="payload")
def prove_drill_disk(payload: dict) -> dict:
    """Hash the failed-over disk (through grant access) and its point's snapshot."""
    prove = ProveDiskInput.model_validate(payload)
    proof, errors = drills.prove_disk(
        prove.tenant, prove.vm, prove.disk_id, prove.managed_disk_id, prove.point_id
    )
    return DiskProved(proof=proof, errors=errors).out()


class ConfirmInput(Seam):
    tenant: str
    failovers: dict[str, str]  # vm -> its test failover's job id
    vms: list[str]


class CleanupConfirmed(StepOutcome):
    cleanup: DrillCleanup


@bp.activity_trigger(input_name="payload")
def confirm_drill_cleanup(payload: dict) -> dict:
    """List what the drill's failovers made that is still in Azure, and VMs not back to
    Protected: the cleanup is confirmed when both are empty."""
    confirm = ConfirmInput.model_validate(payload)
    left = drills.leftovers(confirm.tenant, confirm.failovers)
    left += [f"VM {vm}" for vm in drills.not_back(confirm.tenant, confirm.vms)]
    cleanup = DrillCleanup(confirmed=not left, leftovers=left, finished=datetime.now(UTC))
    errors = []
    if left:
        errors.append(
            ErrorDetail(
                code="DrillCleanupIncomplete",
                cause=f"After the cleanup these are still there: {', '.join(left)[:800]}.",
                recommendation="Run POST .../recovery-plans/{plan}/cleanup again, or delete "
                "what is named (tagged dr-job) in the recovery resource group.",
            )
        )
    return CleanupConfirmed(cleanup=cleanup, errors=errors).out()


class FinishDrillInput(Seam):
    tenant: str
    drill_id: str
    vms: list[DrillVm]
    cleanup: DrillCleanup | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)


@bp.activity_trigger(input_name="payload")
def finish_drill(payload: dict) -> dict:
    """The drill's report: each VM's RTO (the drill's request to the VM created, from its
    failover job's step) and RPO (its failover's start minus its point's time: what the point
    lacks when it was used), the plan's; Passed when every VM was proven identical and the
    cleanup confirmed."""
    finish = FinishDrillInput.model_validate(payload)
    drill = store.get_drill(finish.tenant, finish.drill_id)
    if drill is None:
        raise LookupError(f"drill {finish.tenant}/{finish.drill_id} does not exist")
    requested = drill.requested
    vms = []
    for vm in finish.vms:
        vm_job = jobs.get_job(finish.tenant, vm.job_id) if vm.job_id else None
        created = drills.vm_created(vm_job)
        point = vm.recovery_point_time
        vms.append(
            vm.model_copy(
                update={
                    "vm_created": created,
                    "rto_seconds": (created - requested).total_seconds() if created else None,
                    "rpo_seconds": max((vm_job.start_time - point).total_seconds(), 0.0)
                    if vm_job and point
                    else None,
                }
            )
        )
    rtos = [vm.rto_seconds for vm in vms if vm.rto_seconds is not None]
    rpos = [vm.rpo_seconds for vm in vms if vm.rpo_seconds is not None]
    errors = finish.errors  # every failed step's, the proofs' included
    proven = bool(vms) and all(
        vm.disks and all(d.identical for d in vm.disks) and not vm.errors for vm in vms
    )
    passed = proven and finish.cleanup is not None and finish.cleanup.confirmed and not errors
    report = drill.model_copy(
        update={
            "state": DrillState.PASSED if passed else DrillState.FAILED,
            "finished": datetime.now(UTC),
            "vms": vms,
            "cleanup": finish.cleanup,
            "rto_seconds": max(rtos) if len(rtos) == len(vms) and rtos else None,
            "rpo_seconds": max(rpos) if rpos else None,
            "errors": errors,
        }
    )
    store.save_drill(report)
    return StepOutcome().out()
