"""Starting an operation on a VM, the same way from HTTP, from an agent event or an alert.

One operation per VM at a time: a second request while one runs gets the running job back.
The job row exists before its orchestration starts, so the 202's job link always resolves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import BaseModel

from application.errors import Conflict
from domain.errors import ErrorInfo
from domain.jobs import Job, JobType, StartedBy, fail_job
from readmodels import jobs
from readmodels.items import claim_operation, release_operation


async def start_operation(
    client: df.DurableOrchestrationClient,
    *,
    orchestrator: str,
    tenant: str,
    vm: str,
    vm_name: str,
    site: str,
    job_type: JobType,
    started_by: StartedBy,
    requested_by: str | None,
    build_input: Callable[[str], BaseModel],
) -> tuple[Job, bool]:
    """Claim the VM, create the job and start `orchestrator` with instance id = job id.

    `build_input(job_id)` gives the orchestration input; `requested_by` who asked (the job
    keeps it). Returns (job, created).
    """
    job, created = await asyncio.to_thread(
        lambda: claim_operation(
            tenant, vm, vm_name, site, job_type, started_by, requested_by=requested_by
        )
    )
    if not created:
        if job.type != job_type:
            raise Conflict(
                ErrorInfo(
                    code="OperationInProgress",
                    cause=f"VM '{vm}' is busy with job {job.id} ({job.type}).",
                    recommendation=f"Wait for job {job.id} to finish, then retry.",
                )
            )
        return job, False
    try:
        await client.start_new(orchestrator, job.id, build_input(job.id).model_dump(mode="json"))
    except Exception as error:
        # Nothing runs for this job: say so on the job and free the VM for a retry.
        failed = fail_job(
            job,
            datetime.now(UTC),
            [
                ErrorInfo(
                    code="OrchestrationNotStarted",
                    cause=f"The orchestration could not be started: {error}",
                    recommendation="Retry the request; check /api/health if it persists.",
                )
            ],
        )
        await asyncio.to_thread(jobs.save_job, failed)
        await asyncio.to_thread(release_operation, tenant, vm, job.id)
        raise
    return job, True
