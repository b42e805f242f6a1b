"""Jobs: every operation as a record runbooks and people can read, like ASR's jobs page.

The job and its rules are `domain.jobs`; this module only stores and loads it. A job id is its
orchestration's instance id. Row keys sort newest first (inverted time), so a page of jobs is
the most recent ones without a scan.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError

from domain.jobs import Job, JobType, new_job
from readmodels.tables import ModelTable

_EPOCH_MAX_MS = 10**13

JOBS = ModelTable("Jobs", Job)


def new_job_id(now: datetime) -> str:
    """Newest-first sortable, unique, and safe as a table key and an instance id."""
    inverted = _EPOCH_MAX_MS - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{secrets.token_hex(4)}"


def _columns(job: Job) -> dict[str, str]:
    """The columns the jobs list filters on (?target=, ?state=)."""
    return {"Target": job.target, "State": job.state.value}


def create_job(
    tenant: str, job_type: JobType, target: str, started_by: str, requested_by: str | None = None
) -> Job:
    """A new job, NotStarted, with a fresh newest-first id."""
    job_id = new_job_id(datetime.now(UTC))
    return create_job_with_id(tenant, job_id, job_type, target, started_by, requested_by)


def create_job_with_id(
    tenant: str,
    job_id: str,
    job_type: JobType,
    target: str,
    started_by: str,
    requested_by: str | None = None,
) -> Job:
    """Create a job whose id the caller derived; an existing one is returned unchanged."""
    job = new_job(
        id=job_id,
        type=job_type,
        tenant=tenant,
        target=target,
        started_by=started_by,
        now=datetime.now(UTC),
        requested_by=requested_by,
    )
    if not JOBS.insert(tenant, job_id, job, **_columns(job)):
        existing = get_job(tenant, job_id)
        assert existing is not None
        return existing
    return job


def get_job(tenant: str, job_id: str) -> Job | None:
    row = JOBS.get(tenant, job_id)
    return row.model if row else None


def save_job(job: Job) -> None:
    JOBS.upsert(job.tenant, job.id, job, **_columns(job))


def delete_job(tenant: str, job_id: str) -> None:
    """Remove a job that never ran (a claim that lost its race); a missing one is fine."""
    with contextlib.suppress(ResourceNotFoundError):
        JOBS.delete(tenant, job_id)


def unfinished_jobs(tenant: str, target: str, job_type: JobType) -> list[Job]:
    """The jobs of `job_type` on `target` that have not ended (NotStarted or InProgress)."""
    query = "Target eq @target and (State eq 'NotStarted' or State eq 'InProgress')"
    jobs = JOBS.all(tenant, query, {"target": target})
    return [job for job in jobs if job.type == job_type and not job.finished]
