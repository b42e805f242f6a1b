"""An ASR job mirrored into ours: its tasks become our job's steps, with ASR's times, so the
job page shows what Site Recovery is doing (and, when a task fails, why) instead of a
portal page nobody watches; and a job that waits for someone (suspended) resumed or
cancelled."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservicessiterecovery import models

from application import asr_mapping as mapping
from application import asr_protection as asr
from azureclients.arm import asr_vault, site_recovery_client
from domain import jobs as job_rules
from readmodels import jobs


def mirror_job(tenant: str, job_id: str | None, asr_job: str) -> mapping.JobState:
    """ASR's job's tasks as our job's steps (with ASR's times); idempotent."""
    state = asr.job(asr_job)
    if job_id is None:
        return state
    job = jobs.get_job(tenant, job_id)
    if job is None or job.finished:
        return state
    updated = job
    for task in state.tasks:
        if task.state == "NotStarted" or task.start is None:
            continue
        # A task is one step however often it is looked at: started once (its name and
        # ASR's start time), then finished (a replay of the finish changes nothing).
        if not any(s.name == task.name and s.start_time == task.start for s in updated.steps):
            updated = job_rules.start_step(updated, task.name, task.start)
        if task.state in ("Succeeded", "Failed"):
            updated = job_rules.finish_step(
                updated, task.name, task.end or task.start, [e.record() for e in task.errors]
            )
    if updated != job:
        jobs.save_job(updated)
    return state


def resume_job(name: str, comments: str) -> None:
    """Let a suspended ASR job go on (the portal's button on it); not waited for. A refusal
    of a job no longer waiting (a retry after ASR took the first ask) is the goal reached."""
    vault = asr_vault()
    params = models.ResumeJobParams(properties=models.ResumeJobParamsProperties(comments=comments))
    try:
        site_recovery_client().replication_jobs.begin_resume(
            vault.resource_group, vault.name, name, params, polling=False
        )
    except HttpResponseError:
        if asr.job(name).waiting:
            raise


def cancel_job(name: str) -> None:
    """Cancel an ASR job that has not ended; not waited for. One that has ended already
    needs no cancel."""
    vault = asr_vault()
    try:
        site_recovery_client().replication_jobs.begin_cancel(
            vault.resource_group, vault.name, name, polling=False
        )
    except HttpResponseError:
        if not asr.job(name).done:
            raise
