"""A person's answer to a job that waits for approval (an auto-failover decision, a plan's
manual action): raised as the durable event `approval` to the job's instance (instance id =
job id), which the orchestration waits for. A job that does not wait now refuses the answer,
so an early click cannot approve something not yet asked."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df

from application.errors import Conflict, NotFound
from application.orchestrations import APPROVAL_EVENT, ApprovalAnswer
from domain.errors import ErrorInfo
from domain.jobs import Job, awaiting_approval
from readmodels.jobs import get_job


async def answer_approval(
    client: df.DurableOrchestrationClient, tenant: str, job_id: str, approved: bool, by: str
) -> Job:
    job = await asyncio.to_thread(get_job, tenant, job_id)
    if job is None:
        raise NotFound(
            ErrorInfo(
                code="JobNotFound",
                cause=f"Tenant '{tenant}' has no job '{job_id}'.",
                recommendation="List jobs with GET /api/tenants/{tenant}/jobs.",
            )
        )
    if not awaiting_approval(job):
        state = "finished" if job.finished else "not waiting for approval"
        raise Conflict(
            ErrorInfo(
                code="JobNotAwaitingApproval",
                cause=f"Job {job_id} ({job.type}) is {state} ({job.state}).",
                recommendation="Answer only a job whose step 'Approval' is in progress "
                "(GET /api/tenants/{tenant}/jobs/{job} shows its steps).",
            )
        )
    answer = ApprovalAnswer(approved=approved, by=by)
    await client.raise_event(job_id, APPROVAL_EVENT, answer.model_dump(mode="json"))
    return job
