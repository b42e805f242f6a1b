"""Enable and disable protection of one VM: the story of each operation, step by step.

The job id is the instance id. Every step is recorded on the job, so an operator sees where
an operation is and, when it fails, every reason with its fix.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, Field

from activities.orchestrations import (
    ReplicationStarted,
    ReplicationStopped,
    StartInput,
    StopInput,
    start_replication,
    stop_replication,
)
from activities.protection import (
    DisableInput,
    PrerequisiteInput,
    ProtectionEventInput,
    check_prerequisites,
    disable_protection,
    enable_protection,
    record_protection_event,
)
from activities.seams import StepOutcome
from application.orchestrations import FailbackInput, ProtectInput, UnprotectInput
from contracts.errors import ErrorDetail
from domain.replication_state import ReplicationEvent
from orchestrators.retries import STORAGE, TASK_HUB
from orchestrators.steps import JobSteps, Step, call

bp = df.Blueprint()
E = ReplicationEvent


class OperationEnded(BaseModel):
    """What an operation's instance returns (its job says the same, step by step)."""

    protected: bool
    errors: list[ErrorDetail] = Field(default_factory=list)
    replication_job: str | None = None  # the InitialReplication job a protect handed over to


def status(context: df.DurableOrchestrationContext, job: Any, event: E) -> Step[StepOutcome]:
    """Move the VM's status by `event`; an illegal move comes back as the outcome's errors."""
    change = ProtectionEventInput(tenant=job.tenant, vm=job.vm, event=event)
    return call(context, record_protection_event, change, StepOutcome, retry=STORAGE)


def guarded(
    context: df.DurableOrchestrationContext,
    job: ProtectInput | UnprotectInput | FailbackInput,
    story: Generator[Any, Any, OperationEnded],
    on_failure: E | None = None,
) -> Generator[Any, Any, dict]:
    """Run `story`; if an activity fails for good (retries spent), the job ends Failed with
    the reason and the VM is released, instead of a job left InProgress forever. The status
    event `on_failure` is applied first where the state table allows it (no-op otherwise)."""
    try:
        ended = yield from story
    except Exception as error:
        if on_failure:
            yield from status(context, job, on_failure)
        failure = ErrorDetail(
            code="OperationFailed",
            cause=f"A step failed after its retries: {error}",
            recommendation="Check /api/health and the host log, then start the operation "
            "again; nothing after the failed step was done.",
        )
        yield steps_of(context, job).end([failure])
        ended = OperationEnded(protected=False, errors=[failure])
    return ended.model_dump(mode="json")


def steps_of(context: df.DurableOrchestrationContext, job: Any) -> JobSteps:
    return JobSteps(context, tenant=job.tenant, job_id=job.job_id, vm=job.vm)


@bp.orchestration_trigger(context_name="context")
def protect_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = ProtectInput.model_validate(context.get_input())
    return (yield from guarded(context, job, protect(context, job), E.PROTECTION_FAILED))


def protect(
    context: df.DurableOrchestrationContext, job: ProtectInput
) -> Generator[Any, Any, OperationEnded]:
    """The story of enabling protection; its steps are the job's steps."""
    steps = steps_of(context, job)
    check = PrerequisiteInput(tenant=job.tenant, vm=job.vm, request=job.request)

    yield steps.begin("Prerequisites check")
    refused = yield from status(context, job, E.PROTECTION_REQUESTED)  # ProtectionPending
    if not refused.errors:
        refused = yield from call(context, check_prerequisites, check, StepOutcome, retry=STORAGE)
    yield steps.finish("Prerequisites check", refused.errors)
    if refused.errors:
        yield from status(context, job, E.PREREQUISITES_FAILED)  # back to NotProtected
        yield steps.end(refused.errors)
        return OperationEnded(protected=False, errors=refused.errors)

    refused = yield from steps.run(
        "Enable protection", enable_protection, check, StepOutcome, retry=STORAGE
    )
    if refused.errors:
        yield from status(context, job, E.PROTECTION_FAILED)  # back to NotProtected
        yield steps.end(refused.errors)
        return OperationEnded(protected=False, errors=refused.errors)

    start = StartInput(
        tenant=job.tenant, vm=job.vm, protect_job_id=job.job_id, started_by=job.started_by
    )
    started = yield from steps.run(
        "Start initial replication", start_replication, start, ReplicationStarted, retry=TASK_HUB
    )

    yield steps.end()
    return OperationEnded(protected=True, replication_job=started.job_id)


@bp.orchestration_trigger(context_name="context")
def unprotect_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = UnprotectInput.model_validate(context.get_input())
    return (yield from guarded(context, job, unprotect(context, job)))


def unprotect(
    context: df.DurableOrchestrationContext, job: UnprotectInput
) -> Generator[Any, Any, OperationEnded]:
    """The story of disabling protection."""
    steps = steps_of(context, job)
    stop = StopInput(tenant=job.tenant, vm=job.vm)
    disable = DisableInput(tenant=job.tenant, vm=job.vm, request=job.request)

    yield from steps.run(
        "Stop replication", stop_replication, stop, ReplicationStopped, retry=TASK_HUB
    )
    refused = yield from steps.run(
        "Disable protection", disable_protection, disable, StepOutcome, retry=STORAGE
    )

    yield steps.end(refused.errors)
    return OperationEnded(protected=bool(refused.errors), errors=refused.errors)
