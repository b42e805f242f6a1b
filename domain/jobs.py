"""Jobs like ASR's jobs page: every operation is a job with steps, state and errors.

This is the one job model: the rules live here (pure, no I/O); `readmodels.jobs` only stores
and loads it, and the runbook API shows it as `contracts.views.JobView` (camelCase).

Jobs are immutable; every function returns a new Job. The moves are safe to replay, because
the activities that make them are retried and replayed: a replayed step start reuses the open
step, a replayed step finish keeps the first outcome, and a finished job does not change. Steps
are recorded as the orchestration reaches them (a step has a start time); a step finished
without a recorded start is recorded with `now` as both times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.autofailover import Evidence
from domain.errors import DomainError, ErrorInfo
from domain.redaction import redact


class JobState(StrEnum):  # of a job, and of each of its steps
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class StartedBy(StrEnum):
    API = "api"
    AGENT = "agent"
    ALERT = "alert"
    SCHEDULE = "schedule"  # a plan's drill schedule
    WATCHDOG = "watchdog"  # the control plane itself, restarting what stopped (a timer)


class JobType(StrEnum):
    ENABLE_PROTECTION = "EnableProtection"
    DISABLE_PROTECTION = "DisableProtection"
    INITIAL_REPLICATION = "InitialReplication"
    RESYNCHRONIZATION = "Resynchronization"
    TEST_FAILOVER = "TestFailover"
    TEST_FAILOVER_CLEANUP = "TestFailoverCleanup"
    PLANNED_FAILOVER = "PlannedFailover"
    UNPLANNED_FAILOVER = "UnplannedFailover"
    COMMIT_FAILOVER = "CommitFailover"
    CANCEL_FAILOVER = "CancelFailover"
    CHANGE_RECOVERY_POINT = "ChangeRecoveryPoint"
    FAILBACK = "Failback"
    COMMIT_FAILBACK = "CommitFailback"
    REPROTECT = "Reprotect"
    RECOVERY_PLAN_FAILOVER = "RecoveryPlanFailover"
    AUTO_FAILOVER_DECISION = "AutoFailoverDecision"
    RECOVERY_PLAN_TEST_FAILOVER = "RecoveryPlanTestFailover"
    RECOVERY_PLAN_PLANNED_FAILOVER = "RecoveryPlanPlannedFailover"
    RECOVERY_PLAN_UNPLANNED_FAILOVER = "RecoveryPlanUnplannedFailover"
    RECOVERY_PLAN_COMMIT = "RecoveryPlanCommit"
    RECOVERY_PLAN_TEST_FAILOVER_CLEANUP = "RecoveryPlanTestFailoverCleanup"
    RECOVERY_PLAN_DRILL = "RecoveryPlanDrill"
    RESTART_REPLICATION = "RestartReplication"  # the watchdog restarts a dead delta loop


# A step of this name (or "Approval: <what>") waits for a person's POST .../jobs/{job}/approve or
# /reject; only a job with such a step under way takes an answer.
APPROVAL_STEP = "Approval"

FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

Errors = Iterable[ErrorInfo | Mapping[str, str]]
# An error is the team's shape (code, cause, recommendation) plus what its producer adds, e.g.
# a prerequisite's `source`; kept as given so runbooks see every field.
ErrorList = tuple[dict[str, Any], ...]
_ERROR_KEYS = ("code", "cause", "recommendation")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class JobStep(_Model):
    name: str
    state: JobState = JobState.IN_PROGRESS
    start_time: AwareDatetime
    end_time: AwareDatetime | None = None
    errors: ErrorList = Field(default_factory=tuple)


class Job(_Model):
    id: str  # its orchestration's instance id
    tenant: str
    type: JobType
    target: str  # the VM (or recovery plan) the job acts on
    started_by: StartedBy
    # Who asked: "key sha256:<first 12 hex>" for a runbook's key (a fingerprint: the prefix of
    # its hash in TENANT_KEY_HASHES, never the key), "entra:<name>" for the operator signed in
    # to the console with Entra ID, "agent <site>" for an agent's request.
    requested_by: str | None = None
    state: JobState = JobState.NOT_STARTED
    start_time: AwareDatetime  # when the job was created (ASR's StartTime)
    end_time: AwareDatetime | None = None
    steps: tuple[JobStep, ...] = Field(default_factory=tuple)
    errors: ErrorList = Field(default_factory=tuple)
    # What an auto-failover decision weighed (the alert, heartbeat age, RPO, each safeguard).
    evidence: Evidence | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class IllegalJobTransition(DomainError):
    status = 409


def _refuse(job: Job, action: str) -> IllegalJobTransition:
    return IllegalJobTransition(
        ErrorInfo(
            code="IllegalJobTransition",
            cause=f"Cannot {action} while job {job.id} is {job.state}.",
            recommendation="A finished job does not change; start a new job instead.",
        )
    )


def _errors(errors: Errors) -> ErrorList:
    """Errors as dicts; each must carry at least a code, a cause and a recommendation."""
    out = []
    for e in errors:
        error = e.to_dict() if isinstance(e, ErrorInfo) else dict(e)
        # A job is kept and shown: a secret a cause quotes (an SDK names the URL it called)
        # goes no further.
        error.update({k: redact(v) for k, v in error.items() if isinstance(v, str)})
        missing = [k for k in _ERROR_KEYS if not error.get(k)]
        if missing:
            raise ValueError(
                f"job error {error!r} lacks {', '.join(missing)}: give every error a code, "
                "a cause and a recommendation (domain.errors.ErrorInfo)"
            )
        out.append(error)
    return tuple(out)


def _open_step(job: Job, name: str) -> int | None:
    """Index of the run of step `name` that is under way, if any."""
    for i, step in enumerate(job.steps):
        if step.name == name and step.end_time is None:
            return i
    return None


def _running(job: Job) -> JobState:
    return JobState.IN_PROGRESS if job.state == JobState.NOT_STARTED else job.state


def new_job(
    *,
    id: str,
    type: JobType | str,
    tenant: str,
    target: str,
    started_by: StartedBy | str,
    now: datetime,
    requested_by: str | None = None,
) -> Job:
    """A job NotStarted, created `now`; `type` must be a JobType, `started_by` api, agent or
    alert, `requested_by` who asked (see Job)."""
    return Job(
        id=id,
        tenant=tenant,
        type=type,
        target=target,
        started_by=started_by,
        requested_by=requested_by,
        start_time=now,
    )


def start_step(job: Job, name: str, now: datetime) -> Job:
    """Step `name` (and the job, if not yet) goes InProgress. A replay while the step is under
    way reuses it; a step started again after it finished is recorded as a new run."""
    if _open_step(job, name) is not None:
        return job
    if job.finished:
        raise _refuse(job, f"start step '{name}'")
    step = JobStep(name=name, start_time=now)
    return job.model_copy(update={"state": _running(job), "steps": (*job.steps, step)})


def finish_step(job: Job, name: str, now: datetime, errors: Errors = ()) -> Job:
    """Step `name` Succeeded, or Failed with `errors` (the job stays InProgress: call fail_job
    or go on). A replay, once the step has ended, keeps the first outcome; a step finished
    without a recorded start is recorded with `now` as both times."""
    errors = _errors(errors)
    outcome = JobState.FAILED if errors else JobState.SUCCEEDED
    at = _open_step(job, name)
    if at is None:
        if any(s.name == name for s in job.steps):
            return job  # already ended: a replay
        if job.finished:
            raise _refuse(job, f"finish step '{name}'")
        step = JobStep(name=name, state=outcome, start_time=now, end_time=now, errors=errors)
        return job.model_copy(update={"state": _running(job), "steps": (*job.steps, step)})
    ended = job.steps[at].model_copy(update={"state": outcome, "end_time": now, "errors": errors})
    steps = (*job.steps[:at], ended, *job.steps[at + 1 :])
    return job.model_copy(update={"state": _running(job), "steps": steps})


def _close(job: Job, now: datetime, state: JobState, open_steps: JobState, errors) -> Job:
    """The job ends `state`; a step still under way ends with it as `open_steps`."""
    steps = tuple(
        s.model_copy(update={"state": open_steps, "end_time": now}) if s.end_time is None else s
        for s in job.steps
    )
    return job.model_copy(
        update={"state": state, "end_time": now, "steps": steps, "errors": (*job.errors, *errors)}
    )


def succeed_job(job: Job, now: datetime) -> Job:
    """Succeeded; a step under way ended with it (Succeeded). A finished job does not change.
    Refused if a step failed (use fail_job)."""
    if job.finished:
        return job
    failed = [s.name for s in job.steps if s.state == JobState.FAILED]
    if failed:
        raise IllegalJobTransition(
            ErrorInfo(
                code="JobHasFailedSteps",
                cause=f"Job {job.id} cannot succeed: step(s) {', '.join(failed)} failed.",
                recommendation="Fail the job with the steps' errors.",
            )
        )
    return _close(job, now, JobState.SUCCEEDED, JobState.SUCCEEDED, ())


def fail_job(job: Job, now: datetime, errors: Errors = ()) -> Job:
    """Failed with `errors` (the failed steps' errors when none are given); the step under way
    is the one that failed. A finished job does not change (the first end wins)."""
    if job.finished:
        return job
    errors = _errors(errors) or tuple(e for s in job.steps for e in s.errors)
    return _close(job, now, JobState.FAILED, JobState.FAILED, errors)


def awaiting_approval(job: Job) -> bool:
    """Whether a step of the job waits for a person's approval now."""
    return not job.finished and any(
        s.end_time is None and (s.name == APPROVAL_STEP or s.name.startswith(APPROVAL_STEP + ":"))
        for s in job.steps
    )


def with_evidence(job: Job, evidence: Evidence) -> Job:
    """The job with what its decision weighed as of now; a finished job does not change."""
    if job.finished:
        return job
    return job.model_copy(update={"evidence": evidence})


def cancel_job(job: Job, now: datetime, reason: ErrorInfo | None = None) -> Job:
    """Cancelled; a step under way is Cancelled too. A finished job does not change."""
    if job.finished:
        return job
    reasons = _errors([reason] if reason else [])
    return _close(job, now, JobState.CANCELLED, JobState.CANCELLED, reasons)
