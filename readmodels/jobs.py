"""Jobs: every operation as a record runbooks and people can read, like ASR's jobs page.

A job id is its orchestration's instance id. Row keys sort newest first (inverted time), so
a page of jobs is the most recent ones without a scan.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pydantic import Field

from domain.jobs import JobState, StartedBy
from readmodels.records import View
from readmodels.tables import ModelTable

_EPOCH_MAX_MS = 10**13


FINISHED = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}


class JobStep(View):
    name: str
    state: JobState = JobState.IN_PROGRESS
    start_time: datetime
    end_time: datetime | None = None
    errors: list[dict] = Field(default_factory=list)


class Job(View):
    id: str
    tenant: str
    type: str  # EnableProtection, DisableProtection, InitialReplication, ...
    target: str  # the VM (or plan) it acts on
    started_by: StartedBy  # api | agent | alert
    state: JobState = JobState.NOT_STARTED
    start_time: datetime
    end_time: datetime | None = None
    steps: list[JobStep] = Field(default_factory=list)
    errors: list[dict] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


JOBS = ModelTable("Jobs", Job)


def new_job_id(now: datetime) -> str:
    """Newest-first sortable, unique, and safe as a table key and an instance id."""
    inverted = _EPOCH_MAX_MS - int(now.timestamp() * 1000)
    return f"{inverted:013d}-{secrets.token_hex(4)}"


def create_job(tenant: str, job_type: str, target: str, started_by: str) -> Job:
    now = datetime.now(UTC)
    job = Job(
        id=new_job_id(now),
        tenant=tenant,
        type=job_type,
        target=target,
        started_by=started_by,
        start_time=now,
    )
    JOBS.upsert(tenant, job.id, job, Target=target, State=job.state.value)
    return job


def create_job_with_id(
    tenant: str, job_id: str, job_type: str, target: str, started_by: str
) -> Job:
    """Create a job whose id the caller derived; an existing one is returned unchanged."""
    job = Job(
        id=job_id,
        tenant=tenant,
        type=job_type,
        target=target,
        started_by=started_by,
        start_time=datetime.now(UTC),
    )
    if not JOBS.insert(tenant, job_id, job, Target=target, State=job.state.value):
        existing = get_job(tenant, job_id)
        assert existing is not None
        return existing
    return job


def get_job(tenant: str, job_id: str) -> Job | None:
    row = JOBS.get(tenant, job_id)
    return row.model if row else None


def save_job(job: Job) -> None:
    JOBS.upsert(job.tenant, job.id, job, Target=job.target, State=job.state.value)


def step_started(job: Job, name: str, now: datetime) -> Job:
    """Start step `name` (again, on a replay: the existing step is reused, not duplicated)."""
    job.state = JobState.IN_PROGRESS
    for step in job.steps:
        if step.name == name and step.end_time is None:
            return job
    job.steps.append(JobStep(name=name, start_time=now))
    return job


def step_finished(job: Job, name: str, now: datetime, errors: list[dict] | None = None) -> Job:
    for step in reversed(job.steps):
        if step.name == name:
            if step.end_time is None:
                step.end_time = now
                step.state = JobState.FAILED if errors else JobState.SUCCEEDED
                step.errors = errors or []
            return job
    job.steps.append(
        JobStep(
            name=name,
            state=JobState.FAILED if errors else JobState.SUCCEEDED,
            start_time=now,
            end_time=now,
            errors=errors or [],
        )
    )
    return job


def job_finished(job: Job, now: datetime, errors: list[dict] | None = None) -> Job:
    if job.finished:
        return job
    job.state = JobState.FAILED if errors else JobState.SUCCEEDED
    job.errors = errors or []
    job.end_time = now
    for step in job.steps:
        if step.end_time is None:
            step.end_time = now
            # The step under way when the job failed is the one that failed (as in
            # domain.jobs.fail_job); on success an open step simply ended with it.
            step.state = JobState.FAILED if errors else JobState.SUCCEEDED
    return job
