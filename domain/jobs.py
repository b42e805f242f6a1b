"""Jobs like ASR's jobs page: every operation is a job with steps, state and errors.

Jobs are immutable; every function returns a new Job. Replaying a call (a retried activity)
returns the job unchanged; a move that makes no sense (finishing a finished job) raises
IllegalJobTransition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import DomainError, ErrorInfo


class JobState(StrEnum):
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class StepState(StrEnum):
    NOT_STARTED = "NotStarted"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"


class StartedBy(StrEnum):
    API = "api"
    AGENT = "agent"
    ALERT = "alert"


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
    RECOVERY_PLAN_FAILOVER = "RecoveryPlanFailover"


TERMINAL_JOB = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
TERMINAL_STEP = frozenset(
    {StepState.SUCCEEDED, StepState.FAILED, StepState.CANCELLED, StepState.SKIPPED}
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobStep(_Model):
    name: str = Field(min_length=1)
    state: StepState = StepState.NOT_STARTED
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    errors: tuple[ErrorInfo, ...] = ()


class Job(_Model):
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)  # a JobType value; open for new operations
    tenant: str
    target: str  # the VM (or recovery plan) the job acts on
    started_by: StartedBy
    state: JobState = JobState.NOT_STARTED
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    steps: tuple[JobStep, ...] = ()
    errors: tuple[ErrorInfo, ...] = ()

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_JOB

    def step(self, name: str) -> JobStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise IllegalJobTransition(
            ErrorInfo(
                code="UnknownJobStep",
                cause=f"Job {self.id} has no step '{name}'.",
                recommendation=f"Use one of its steps: {', '.join(s.name for s in self.steps)}.",
            )
        )


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


def new_job(
    *,
    id: str,
    type: str,
    tenant: str,
    target: str,
    started_by: StartedBy | str,
    now: datetime,
    steps: Sequence[str] = (),
) -> Job:
    if len(set(steps)) != len(steps):
        raise ValueError("job step names must be unique")
    return Job(
        id=id,
        type=type,
        tenant=tenant,
        target=target,
        started_by=started_by,
        created_at=now,
        steps=tuple(JobStep(name=n) for n in steps),
    )


def start_job(job: Job, now: datetime) -> Job:
    if job.state == JobState.IN_PROGRESS:
        return job
    if job.done:
        raise _refuse(job, "start it")
    return job.model_copy(update={"state": JobState.IN_PROGRESS, "started_at": now})


def _replace_step(job: Job, step: JobStep) -> tuple[JobStep, ...]:
    return tuple(step if s.name == step.name else s for s in job.steps)


def add_step(job: Job, name: str) -> Job:
    """Append a step found on the way (e.g. one per VM of a recovery plan)."""
    if any(s.name == name for s in job.steps):
        return job
    if job.done:
        raise _refuse(job, f"add step '{name}'")
    return job.model_copy(update={"steps": (*job.steps, JobStep(name=name))})


def start_step(job: Job, name: str, now: datetime) -> Job:
    """The step (and the job, if not yet) goes InProgress. Replays change nothing."""
    step = job.step(name)
    if step.state == StepState.IN_PROGRESS:
        return job
    if job.done or step.state in TERMINAL_STEP:
        raise _refuse(job, f"start step '{name}' ({step.state})")
    job = start_job(job, now)
    started = step.model_copy(update={"state": StepState.IN_PROGRESS, "started_at": now})
    return job.model_copy(update={"steps": _replace_step(job, started)})


def finish_step(job: Job, name: str, now: datetime, errors: Iterable[ErrorInfo] = ()) -> Job:
    """The step Succeeded, or Failed with `errors` (the job stays InProgress: call fail_job
    or go on). A step finished without a start gets `now` as both times. Replays with the
    same outcome change nothing."""
    errors = tuple(errors)
    outcome = StepState.FAILED if errors else StepState.SUCCEEDED
    step = job.step(name)
    if step.state == outcome and step.errors == errors:
        return job
    if job.done or step.state in TERMINAL_STEP:
        raise _refuse(job, f"finish step '{name}' ({step.state})")
    job = start_job(job, now)
    finished = step.model_copy(
        update={
            "state": outcome,
            "started_at": step.started_at or now,
            "ended_at": now,
            "errors": errors,
        }
    )
    return job.model_copy(update={"steps": _replace_step(job, finished)})


def _close(job: Job, now: datetime, state: JobState, leftover: StepState, errors) -> Job:
    steps = tuple(
        s.model_copy(update={"state": leftover, "ended_at": now if s.started_at else None})
        if s.state not in TERMINAL_STEP
        else s
        for s in job.steps
    )
    return job.model_copy(
        update={
            "state": state,
            "started_at": job.started_at or now,
            "ended_at": now,
            "steps": steps,
            "errors": (*job.errors, *errors),
        }
    )


def succeed_job(job: Job, now: datetime) -> Job:
    """Succeeded; steps not run are Skipped. Refused if a step failed (use fail_job)."""
    if job.state == JobState.SUCCEEDED:
        return job
    if job.done:
        raise _refuse(job, "mark it Succeeded")
    failed = [s.name for s in job.steps if s.state == StepState.FAILED]
    if failed:
        raise IllegalJobTransition(
            ErrorInfo(
                code="JobHasFailedSteps",
                cause=f"Job {job.id} cannot succeed: step(s) {', '.join(failed)} failed.",
                recommendation="Fail the job with the steps' errors.",
            )
        )
    return _close(job, now, JobState.SUCCEEDED, StepState.SKIPPED, ())


def fail_job(job: Job, now: datetime, errors: Iterable[ErrorInfo] = ()) -> Job:
    """Failed with `errors` (and the failed steps' errors when none are given); a step in
    progress fails too, steps not started are Skipped."""
    errors = tuple(errors)
    if job.state == JobState.FAILED and (not errors or set(errors) <= set(job.errors)):
        return job
    if job.done:
        raise _refuse(job, "mark it Failed")
    if not errors:
        errors = tuple(e for s in job.steps for e in s.errors)
    steps = tuple(
        s.model_copy(update={"state": StepState.FAILED, "ended_at": now})
        if s.state == StepState.IN_PROGRESS
        else s
        for s in job.steps
    )
    return _close(
        job.model_copy(update={"steps": steps}), now, JobState.FAILED, StepState.SKIPPED, errors
    )


def cancel_job(job: Job, now: datetime, reason: ErrorInfo | None = None) -> Job:
    if job.state == JobState.CANCELLED:
        return job
    if job.done:
        raise _refuse(job, "cancel it")
    return _close(job, now, JobState.CANCELLED, StepState.CANCELLED, (reason,) if reason else ())
