"""Recovery plans: storing them, showing them, and starting their operations.

`begin_plan_operation` is the one way a plan's failover, commit, cleanup or drill starts,
from the runbook API, the drill schedule or an alert: every VM of the plan must allow the
operation now (else 409 naming each VM and its status, and nothing starts), one operation
runs per plan, and the job (target: the plan) exists before its orchestration starts.

The plan's orchestration runs each VM's own operation (the per-VM failover, commit or
cleanup orchestration) as a sub-orchestration; `prepare_vms` is what its step for a group
calls first: it checks each VM again, claims it and builds the VM operation's input.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, Field

from application.errors import Conflict, NotFound
from application.failover import _point_exists
from application.orchestrations import AfterFailoverInput, FailoverInput, failover_orchestration
from azureclients.settings import int_setting
from contracts.api import PlanFailoverRequest
from contracts.errors import ErrorDetail
from contracts.plans import (
    DrillSummaryView,
    PlanVmView,
    RecoveryPlanRequest,
    RecoveryPlanView,
)
from contracts.views import HealthView
from domain import plans as rules
from domain.errors import DomainError, ErrorInfo
from domain.failover import JOB_TYPE, OPERATION, FailoverType, PointChoice
from domain.jobs import Job, StartedBy, fail_job
from domain.plans import Disposition, PlanOperation, RecoveryPlan, VmState
from domain.replication_state import Operation, allowed_operations
from readmodels import jobs
from readmodels import plans as store
from readmodels.items import busy_with, claim_operation, get_item
from readmodels.records import ReplicatedItem

RUN_PLAN = "run_recovery_plan"
PROVE_DRILL_VM = "prove_drill_vm"
DRILL_MAX_AGE_SETTING = "DRILL_MAX_AGE_DAYS"


class PlanJobInput(BaseModel):
    """A plan operation's orchestration input: the plan as it was when the job started."""

    tenant: str
    job_id: str
    plan: RecoveryPlan
    operation: PlanOperation
    kind: FailoverType | None = None  # the failover's type (a drill's is test)
    recovery_point: str = PointChoice.LATEST
    shutdown_timeout_seconds: int = 300
    started_by: StartedBy = StartedBy.API
    requested: datetime


# --- the plan itself ---------------------------------------------------------------------------


class BadPlan(DomainError):
    status = 400


def _not_found(tenant: str, name: str) -> NotFound:
    return NotFound(
        ErrorInfo(
            code="RecoveryPlanNotFound",
            cause=f"Tenant '{tenant}' has no recovery plan '{name}'.",
            recommendation="List plans with GET /api/tenants/{tenant}/recovery-plans, or create "
            "it with PUT /api/tenants/{tenant}/recovery-plans/{plan}.",
        )
    )


def _require(tenant: str, name: str) -> store.PlanRecord:
    record = store.get_plan(tenant, name)
    if record is None:
        raise _not_found(tenant, name)
    return record


def put_plan(tenant: str, name: str, request: RecoveryPlanRequest) -> tuple[RecoveryPlanView, bool]:
    """Create or replace the plan's definition; refused with every reason (400)."""
    plan = RecoveryPlan.model_validate({**request.model_dump(), "name": name})
    errors = rules.plan_errors(plan)
    if errors:
        raise BadPlan(*errors)
    now = datetime.now(UTC)
    record, created = store.put_plan(tenant, plan, now)
    return plan_view(record, now), created


def get_plan(tenant: str, name: str) -> RecoveryPlanView:
    return plan_view(_require(tenant, name), datetime.now(UTC))


def plan_page(
    tenant: str, top: int, token: dict | None
) -> tuple[list[RecoveryPlanView], dict | None]:
    records, next_token = store.page_plans(tenant, top, token)
    now = datetime.now(UTC)
    return [plan_view(record, now) for record in records], next_token


def delete_plan(tenant: str, name: str) -> None:
    record = _require(tenant, name)
    if record.active_job_id:
        active = jobs.get_job(tenant, record.active_job_id)
        if active is not None and not active.finished:
            raise Conflict(
                ErrorInfo(
                    code="RecoveryPlanBusy",
                    cause=f"Plan '{name}' runs job {active.id} ({active.type}).",
                    recommendation=f"Wait for job {active.id} to finish, then delete the plan.",
                )
            )
    store.delete_plan(tenant, name)


def drill_max_age_days() -> int:
    return int_setting(DRILL_MAX_AGE_SETTING, 30)


def _summary(drill: store.DrillRecord | None) -> DrillSummaryView | None:
    return DrillSummaryView.of(drill) if drill else None


def plan_view(record: store.PlanRecord, now: datetime) -> RecoveryPlanView:
    """The plan with its VMs as they are now, its drills and the drill policy's verdict."""
    plan = record.plan
    vms = []
    for number, group in enumerate(plan.groups, 1):
        for vm in group.vms:
            item = get_item(record.tenant, vm)
            busy = item is not None and item.active_job_id is not None
            status = item.status if item else "NotProtected"
            vms.append(
                PlanVmView(
                    vm=vm,
                    group=number,
                    status=status,
                    allowed_operations=list(
                        allowed_operations(
                            status, busy=busy, provider=item.provider if item else "direct"
                        )
                    ),
                    active_job_id=item.active_job_id if item else None,
                )
            )
    last = store.last_drill(record.tenant, plan.name)
    passed = store.last_passed_drill(record.tenant, plan.name)
    state, reasons = rules.drill_health(
        passed.requested if passed else None, now, drill_max_age_days()
    )
    schedule = plan.drill_schedule
    return RecoveryPlanView.model_validate(
        {
            **plan.model_dump(),
            "tenant": record.tenant,
            "vms": vms,
            "health": HealthView(
                state=state, reasons=[ErrorDetail.of_info(reason) for reason in reasons]
            ),
            "last_drill": _summary(last),
            "last_passed_drill": _summary(passed),
            "next_drill": rules.next_drill(schedule, last.requested if last else None)
            if schedule
            else None,
            "active_job_id": record.active_job_id,
            "created": record.created,
            "updated": record.updated,
        }
    )


# --- starting an operation ---------------------------------------------------------------------


def _point_problem(
    item: ReplicatedItem | None, kind: FailoverType, choice: str
) -> ErrorInfo | None:
    """The point asked for does not exist for this VM (planned failovers make their own)."""
    if item is None or kind is FailoverType.PLANNED:
        return None
    try:
        _point_exists(item, choice)
    except DomainError as missing:  # no such point; for asr, also ASR not knowing the VM
        return missing.errors[0]
    return None


def vm_states(
    tenant: str, plan: RecoveryPlan, kind: FailoverType | None, choice: str
) -> dict[str, VmState]:
    states = {}
    for vm in plan.vms:
        item = get_item(tenant, vm)
        states[vm] = VmState(
            status=item.status if item else None,
            busy_with=busy_with(item) if item else None,
            point_problem=_point_problem(item, kind, choice) if kind else None,
        )
    return states


async def begin_plan_operation(
    client: df.DurableOrchestrationClient,
    tenant: str,
    plan: str,
    operation: PlanOperation,
    request: PlanFailoverRequest | None,
    started_by: StartedBy,
) -> tuple[Job, bool]:
    """Start the plan's failover (the request says which type and point), commit, cleanup
    or drill (a test failover from `request`'s point, latest if none). A second request
    while the plan's job of the same kind runs gets that job back (created False)."""
    record = await asyncio.to_thread(_require, tenant, plan)
    definition = record.plan
    kind, choice, shutdown = _what(operation, request)
    job_type = rules.job_type(operation, kind)
    active = await asyncio.to_thread(_active_job, record)
    if active is not None:
        if active.type == job_type:
            return active, False
        raise Conflict(
            ErrorInfo(
                code="RecoveryPlanBusy",
                cause=f"Plan '{plan}' runs job {active.id} ({active.type}).",
                recommendation=f"Wait for job {active.id} to finish, then retry.",
            )
        )
    states = await asyncio.to_thread(vm_states, tenant, definition, kind, choice)
    refused = rules.refusals(definition, operation, kind, states)
    if refused:
        raise Conflict(*refused)
    job, created = await asyncio.to_thread(store.claim_plan, tenant, plan, job_type, started_by)
    if not created:
        return job, False
    requested = job.start_time
    if operation is PlanOperation.DRILL:
        drill = store.DrillRecord(
            id=job.id,
            tenant=tenant,
            plan=plan,
            started_by=started_by,
            requested=requested,
            recovery_point=choice,
        )
        await asyncio.to_thread(store.save_drill, drill)
    job_input = PlanJobInput(
        tenant=tenant,
        job_id=job.id,
        plan=definition,
        operation=operation,
        kind=kind,
        recovery_point=choice,
        shutdown_timeout_seconds=shutdown,
        started_by=started_by,
        requested=requested,
    )
    try:
        await client.start_new(RUN_PLAN, job.id, job_input.model_dump(mode="json"))
    except Exception as error:
        failed = fail_job(
            job,
            datetime.now(UTC),
            [
                ErrorInfo(
                    code="OrchestrationNotStarted",
                    cause=f"The plan's orchestration could not be started: {error}",
                    recommendation="Retry the request; check /api/health if it persists.",
                )
            ],
        )
        await asyncio.to_thread(jobs.save_job, failed)
        await asyncio.to_thread(store.release_plan, tenant, plan, job.id)
        raise
    return job, True


def _active_job(record: store.PlanRecord) -> Job | None:
    if not record.active_job_id:
        return None
    active = jobs.get_job(record.tenant, record.active_job_id)
    return active if active is not None and not active.finished else None


def _what(
    operation: PlanOperation, request: PlanFailoverRequest | None
) -> tuple[FailoverType | None, str, int]:
    """The failover type, point choice and shutdown timeout an operation runs with."""
    if operation is PlanOperation.FAILOVER:
        if request is None:
            raise BadPlan(
                ErrorInfo(
                    code="FailoverTypeMissing",
                    cause="A plan's failover needs its type (test, planned or unplanned).",
                    recommendation='Send {"type": "test"} (or planned, unplanned).',
                )
            )
        kind = FailoverType(request.type)
    elif operation is PlanOperation.DRILL:
        kind = FailoverType.TEST
    else:
        return None, PointChoice.LATEST, 300
    choice = request.recovery_point if request else PointChoice.LATEST
    problem = rules.point_choice_problem(kind, choice)
    if problem:
        raise Conflict(problem)
    return kind, choice, request.shutdown_timeout_seconds if request else 300


# --- a group's VMs, as the plan's orchestration reaches them ------------------------------------


class PreparedVm(BaseModel):
    """One VM of a group: its operation claimed and ready to run as a sub-orchestration
    (`orchestrator`, `input`, instance id `job_id`), skipped (nothing to do), or refused."""

    vm: str
    job_id: str | None = None
    orchestrator: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    skipped: str | None = None  # why there is nothing to do
    errors: list[ErrorDetail] = Field(default_factory=list)


def vm_job_id(plan_job_id: str, plan: RecoveryPlan, vm: str, phase: str) -> str:
    """The VM operation's job id, derived from the plan's job so a step run again after a
    crash claims the same job (phase: 'v' the plan's operation, 'c' a drill's cleanup)."""
    return f"{plan_job_id}-{phase}{plan.vms.index(vm):03d}"


def prepare_vms(
    job: PlanJobInput, vms: list[str], operation: Operation, phase: str
) -> list[PreparedVm]:
    """Check each VM again (it may have changed since the request) and claim it for its
    operation under a job id derived from the plan's job."""
    stall = int_setting("REPLICATION_STALL_SECONDS", 300)
    prepared = []
    for vm in vms:
        item = get_item(job.tenant, vm)
        state = VmState(
            status=item.status if item else None,
            busy_with=busy_with(item) if item else None,
            point_problem=_point_problem(item, job.kind, job.recovery_point)
            if operation in (Operation.TEST_FAILOVER, Operation.UNPLANNED_FAILOVER)
            else None,
        )
        job_id = vm_job_id(job.job_id, job.plan, vm, phase)
        if item is not None and item.active_job_id == job_id:
            state = VmState(status=item.status)  # our own claim, made before a crash
        verdict, why = rules.disposition(operation, state)
        if verdict is Disposition.SKIP:
            prepared.append(PreparedVm(vm=vm, skipped=why))
            continue
        if verdict is Disposition.REFUSE or item is None:
            error = ErrorDetail(
                code="RecoveryPlanVmNotReady",
                cause=f"VM '{vm}' cannot run {operation} now: it is {why}.",
                recommendation="Look at the VM's replicated item (allowedOperations); run the "
                "operation on the VM on its own once it allows it.",
            )
            prepared.append(PreparedVm(vm=vm, errors=[error]))
            continue
        prepared.append(_claim(job, item, operation, job_id, stall))
    return prepared


# What follows a failover, on each VM.
_AFTER = frozenset({Operation.COMMIT, Operation.TEST_FAILOVER_CLEANUP})


def _claim(
    job: PlanJobInput, item: ReplicatedItem, operation: Operation, job_id: str, stall: int
) -> PreparedVm:
    orchestrator = failover_orchestration(item.provider, operation)
    if operation in _AFTER:
        job_type = JOB_TYPE[operation]
        failover = item.failover
        if failover is None:
            return PreparedVm(
                vm=item.vm,
                errors=[
                    ErrorDetail(
                        code="FailoverRecordMissing",
                        cause=f"VM '{item.vm}' is {item.status} but its failover record is "
                        "missing.",
                        recommendation="Look for resources tagged dr-vm in the recovery "
                        "resource group and remove them by hand.",
                    )
                ],
            )
        payload: BaseModel = AfterFailoverInput(
            tenant=job.tenant,
            vm=item.vm,
            job_id=job_id,
            failover_job_id=failover.job_id,
            type=failover.type,
            operation=operation,
        )
    else:
        kind = job.kind or FailoverType.TEST
        job_type = JOB_TYPE[OPERATION[kind]]
        payload = FailoverInput(
            tenant=job.tenant,
            vm=item.vm,
            job_id=job_id,
            type=kind,
            recovery_point=job.recovery_point,
            shutdown_timeout_seconds=job.shutdown_timeout_seconds,
            stall_seconds=stall,
            started_by=job.started_by,
        )
    claimed, ours = claim_operation(
        job.tenant, item.vm, item.vm_name, item.site, job_type, job.started_by, job_id=job_id
    )
    if not ours:
        return PreparedVm(
            vm=item.vm,
            errors=[
                ErrorDetail(
                    code="OperationInProgress",
                    cause=f"VM '{item.vm}' is busy with job {claimed.id} ({claimed.type}).",
                    recommendation=f"Wait for job {claimed.id} to finish, then run the "
                    "operation on the VM on its own.",
                )
            ],
        )
    return PreparedVm(
        vm=item.vm,
        job_id=job_id,
        orchestrator=orchestrator,
        input=payload.model_dump(mode="json"),
    )


def record_refused_drill(tenant: str, plan: str, errors: list[ErrorInfo], now: datetime) -> Job:
    """A scheduled drill that could not start is a failed job and a failed drill, so the
    plan shows it (and the schedule waits for the next slot instead of trying every minute)."""
    job = jobs.create_job(
        tenant, rules.job_type(PlanOperation.DRILL, None), plan, StartedBy.SCHEDULE
    )
    failed = fail_job(job, now, errors)
    jobs.save_job(failed)
    store.save_drill(
        store.DrillRecord(
            id=job.id,
            tenant=tenant,
            plan=plan,
            state=rules.DrillState.FAILED,
            started_by=StartedBy.SCHEDULE,
            requested=job.start_time,
            finished=now,
            errors=[ErrorDetail.of_info(e) for e in errors],
        )
    )
    return failed


# --- drills as the API shows them ---------------------------------------------------------------


def drill_of(tenant: str, plan: str, drill_id: str) -> store.DrillRecord:
    drill = store.get_drill(tenant, drill_id)
    if drill is None or drill.plan != plan:
        raise NotFound(
            ErrorInfo(
                code="DrillNotFound",
                cause=f"Plan '{plan}' of tenant '{tenant}' has no drill '{drill_id}'.",
                recommendation="List the plan's drills with GET "
                "/api/tenants/{tenant}/recovery-plans/{plan}/drills.",
            )
        )
    return drill


def drill_page(
    tenant: str, plan: str, top: int, token: dict | None
) -> tuple[list[store.DrillRecord], dict | None]:
    _require(tenant, plan)
    return store.page_drills(tenant, plan, top, token)
