"""Manual approvals: a job's orchestration that waits for a person, and the answer it gets.

An orchestration that needs an approval (a recovery plan's manual action, and any other
that wants one) says so in its custom status (`awaiting`: what it waits for, the event it
waits on, until when) and waits for that event. POST .../jobs/{job}/approve or /reject raises
it with the decision. The event's name is the awaited action's own, so a second click, or
an answer that arrives late, can never answer a later approval of the same job.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import azure.durable_functions as df
from pydantic import BaseModel

from application.errors import Conflict, NotFound
from domain.errors import ErrorInfo
from readmodels.jobs import get_job


class Awaiting(BaseModel):
    """What a job waits for a person to decide (the orchestration's custom status)."""

    event: str  # the external event the decision is raised as
    action: str
    instructions: str = ""
    deadline: datetime


class Decision(BaseModel):
    approved: bool
    comment: str = ""


def awaiting_of(custom_status: object) -> Awaiting | None:
    if isinstance(custom_status, dict) and isinstance(custom_status.get("awaiting"), dict):
        return Awaiting.model_validate(custom_status["awaiting"])
    return None


async def decide(
    client: df.DurableOrchestrationClient,
    tenant: str,
    job_id: str,
    decision: Decision,
) -> Awaiting:
    """Answer the approval job `job_id` waits for; 404 for a job of another tenant or none,
    409 when it waits for no approval now."""
    job = await asyncio.to_thread(get_job, tenant, job_id)
    if job is None:
        raise NotFound(
            ErrorInfo(
                code="JobNotFound",
                cause=f"Tenant '{tenant}' has no job '{job_id}'.",
                recommendation="List jobs with GET /api/tenants/{tenant}/jobs.",
            )
        )
    status = None if job.finished else await client.get_status(job_id)
    awaiting = awaiting_of(status.custom_status) if status is not None else None
    if awaiting is None:
        raise Conflict(
            ErrorInfo(
                code="NoApprovalPending",
                cause=f"Job {job_id} ({job.type}, {job.state}) is not waiting for an approval.",
                recommendation="Approve or reject while the job's step for the manual action "
                "is InProgress (GET the job); an answer after its timeout is too late.",
            )
        )
    await client.raise_event(job_id, awaiting.event, decision.model_dump(mode="json"))
    return awaiting
