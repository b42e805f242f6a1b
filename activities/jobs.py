"""Activities that keep a job's record current as its orchestration moves through steps.

The moves are `domain.jobs`' (safe to replay); these activities load, apply and save.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import Field

from activities.seams import Seam
from contracts.errors import ErrorDetail
from domain import jobs as rules
from readmodels import jobs
from readmodels.items import release_operation

bp = df.Blueprint()


class JobStepInput(Seam):
    tenant: str
    job_id: str
    step: str
    finished: bool = False
    errors: list[ErrorDetail] = Field(default_factory=list)


class JobEndInput(Seam):
    tenant: str
    job_id: str
    vm: str | None = None  # release this VM's operation lock when the job ends
    errors: list[ErrorDetail] = Field(default_factory=list)


def _load(tenant: str, job_id: str) -> rules.Job:
    job = jobs.get_job(tenant, job_id)
    if job is None:
        raise LookupError(f"job {tenant}/{job_id} does not exist")
    return job


@bp.activity_trigger(input_name="payload")
def record_job_step(payload: dict) -> None:
    step = JobStepInput.model_validate(payload)
    job = _load(step.tenant, step.job_id)
    if job.finished:
        return  # a late or replayed record: a finished job does not change
    now = datetime.now(UTC)
    if step.finished:
        updated = rules.finish_step(job, step.step, now, [e.record() for e in step.errors])
    else:
        updated = rules.start_step(job, step.step, now)
    if updated != job:
        jobs.save_job(updated)


@bp.activity_trigger(input_name="payload")
def record_job_end(payload: dict) -> None:
    end = JobEndInput.model_validate(payload)
    job = _load(end.tenant, end.job_id)
    now = datetime.now(UTC)
    errors = [e.record() for e in end.errors]
    ended = rules.fail_job(job, now, errors) if errors else rules.succeed_job(job, now)
    if ended != job:
        jobs.save_job(ended)
    if end.vm:
        release_operation(end.tenant, end.vm, end.job_id)
