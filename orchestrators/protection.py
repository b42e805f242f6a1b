"""Enable and disable protection of one VM: the story of each operation, step by step.

The job id is the instance id. Every step is recorded on the job, so an operator sees where
an operation is and, when it fails, every reason with its fix.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel

from activities.jobs import JobEndInput, JobStepInput, record_job_end, record_job_step
from activities.protection import (
    DisableInput,
    PrerequisiteInput,
    StatusInput,
    check_prerequisites,
    disable_protection,
    enable_protection,
    record_protection_event,
)
from activities.replication import StartInput, StopInput, start_replication, stop_replication
from contracts.api import DisableProtectionRequest, EnableProtectionRequest

bp = df.Blueprint()

# Storage and table calls fail transiently (throttling, a restart of Azurite or of Azure's
# front ends). The default is no retry at all; five tries over about a minute ride that out.
TRANSIENT = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)


class ProtectInput(BaseModel):
    tenant: str
    vm: str
    job_id: str
    request: EnableProtectionRequest
    started_by: str = "api"


class UnprotectInput(BaseModel):
    tenant: str
    vm: str
    job_id: str
    request: DisableProtectionRequest


def step(context: df.DurableOrchestrationContext, job: Any, name: str, **kw: Any) -> df.Task:
    record = JobStepInput(tenant=job.tenant, job_id=job.job_id, step=name, **kw)
    return context.call_activity_with_retry(record_job_step, TRANSIENT, record.model_dump())


def end(context: df.DurableOrchestrationContext, job: Any, errors: list[dict]) -> df.Task:
    record = JobEndInput(tenant=job.tenant, job_id=job.job_id, vm=job.vm, errors=errors)
    return context.call_activity_with_retry(record_job_end, TRANSIENT, record.model_dump())


def status(context: df.DurableOrchestrationContext, job: Any, event: str) -> df.Task:
    change = StatusInput(tenant=job.tenant, vm=job.vm, event=event)
    return context.call_activity_with_retry(record_protection_event, TRANSIENT, change.model_dump())


def guarded(
    context: df.DurableOrchestrationContext,
    job: Any,
    story: Generator[Any, Any, dict],
    on_failure: str | None = None,
) -> Generator[Any, Any, dict]:
    """Run `story`; if an activity fails for good (retries spent), the job ends Failed with
    the reason and the VM is released, instead of a job left InProgress forever. The status
    event `on_failure` is applied first where the state table allows it (no-op otherwise)."""
    try:
        return (yield from story)
    except Exception as error:
        if on_failure:
            yield status(context, job, on_failure)
        failure = {
            "code": "OperationFailed",
            "cause": f"A step failed after its retries: {error}",
            "recommendation": "Check /api/health and the host log, then start the operation "
            "again; nothing after the failed step was done.",
        }
        yield end(context, job, [failure])
        return {"errors": [failure]}


@bp.orchestration_trigger(context_name="context")
def protect_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = ProtectInput.model_validate(context.get_input())
    return (yield from guarded(context, job, protect(context, job), "ProtectionFailed"))


def protect(context: df.DurableOrchestrationContext, job: ProtectInput) -> Generator:
    """The story of enabling protection; its steps are the job's steps."""
    check = PrerequisiteInput(tenant=job.tenant, vm=job.vm, request=job.request).model_dump()

    yield step(context, job, "Prerequisites check")
    refused = yield status(context, job, "ProtectionRequested")  # ProtectionPending
    failures = refused or (
        yield context.call_activity_with_retry(check_prerequisites, TRANSIENT, check)
    )
    yield step(context, job, "Prerequisites check", finished=True, errors=failures)
    if failures:
        yield status(context, job, "PrerequisitesFailed")  # back to NotProtected
        yield end(context, job, failures)
        return {"protected": False, "errors": failures}

    yield step(context, job, "Enable protection")
    refused = yield context.call_activity_with_retry(enable_protection, TRANSIENT, check)
    yield step(context, job, "Enable protection", finished=True, errors=refused)
    if refused:
        yield status(context, job, "ProtectionFailed")  # back to NotProtected
        yield end(context, job, refused)
        return {"protected": False, "errors": refused}

    yield step(context, job, "Start initial replication")
    start = StartInput(
        tenant=job.tenant, vm=job.vm, protect_job_id=job.job_id, started_by=job.started_by
    )
    replication_job = yield context.call_activity_with_retry(
        start_replication, TRANSIENT, start.model_dump()
    )
    yield step(context, job, "Start initial replication", finished=True)

    yield end(context, job, [])
    return {"protected": True, "replicationJob": replication_job}


@bp.orchestration_trigger(context_name="context")
def unprotect_vm(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = UnprotectInput.model_validate(context.get_input())
    return (yield from guarded(context, job, unprotect(context, job)))


def unprotect(context: df.DurableOrchestrationContext, job: UnprotectInput) -> Generator:
    """The story of disabling protection."""
    disable = DisableInput(tenant=job.tenant, vm=job.vm, request=job.request).model_dump()

    yield step(context, job, "Stop replication")
    stop = StopInput(tenant=job.tenant, vm=job.vm).model_dump()
    yield context.call_activity_with_retry(stop_replication, TRANSIENT, stop)
    yield step(context, job, "Stop replication", finished=True)

    yield step(context, job, "Disable protection")
    refused = yield context.call_activity_with_retry(disable_protection, TRANSIENT, disable)
    yield step(context, job, "Disable protection", finished=True, errors=refused)

    yield end(context, job, refused)
    return {"protected": bool(refused), "errors": refused}
