"""Activities that keep a job's record current as its orchestration moves through steps."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import BaseModel, Field

from readmodels import jobs
from readmodels.items import release_operation

bp = df.Blueprint()


class JobStepInput(BaseModel):
    tenant: str
    job_id: str
    step: str
    finished: bool = False
    errors: list[dict] = Field(default_factory=list)


class JobEndInput(BaseModel):
    tenant: str
    job_id: str
    vm: str | None = None  # release this VM's operation lock when the job ends
    errors: list[dict] = Field(default_factory=list)


def _load(tenant: str, job_id: str) -> jobs.Job:
    job = jobs.get_job(tenant, job_id)
    if job is None:
        raise LookupError(f"job {tenant}/{job_id} does not exist")
    return job


@bp.activity_trigger(input_name="payload")
def record_job_step(payload: dict) -> None:
    step = JobStepInput.model_validate(payload)
    job = _load(step.tenant, step.job_id)
    now = datetime.now(UTC)
    if step.finished:
        jobs.step_finished(job, step.step, now, step.errors)
    else:
        jobs.step_started(job, step.step, now)
    jobs.save_job(job)


@bp.activity_trigger(input_name="payload")
def record_job_end(payload: dict) -> None:
    end = JobEndInput.model_validate(payload)
    job = _load(end.tenant, end.job_id)
    jobs.save_job(jobs.job_finished(job, datetime.now(UTC), end.errors))
    if end.vm:
        release_operation(end.tenant, end.vm, end.job_id)
