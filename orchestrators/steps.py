"""The one way an orchestrator calls an activity, and records the job's steps around it.

`call` sends the activity its input model as JSON under a retry policy of
`orchestrators.retries` and gives back the activity's answer as the result model it names,
so no orchestrator reads a dict by string keys. `JobSteps` records a job's steps (a step of
one activity with `run`, a longer one with `begin` and `finish`) and its end.

    job = JobSteps(context, tenant=state.tenant, job_id=state.job_id)
    refused = yield from job.run(
        "Enable protection", enable_protection, check, StepOutcome, retry=STORAGE
    )
    if refused.errors:
        yield job.end(refused.errors)
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase
from pydantic import BaseModel

from activities.jobs import JobEndInput, JobStepInput, record_job_end, record_job_step
from activities.seams import StepOutcome
from contracts.errors import ErrorDetail
from orchestrators.retries import STORAGE

Result = TypeVar("Result", bound=BaseModel)
Step = Generator[TaskBase, Any, Result]


def call(
    context: df.DurableOrchestrationContext,
    activity: Any,
    payload: BaseModel,
    returns: type[Result],
    *,
    retry: df.RetryOptions,
) -> Step[Result]:
    """Call `activity` (its function object, so its name cannot drift) with `payload` under
    `retry`; its answer validated as `returns`. Use with `yield from`."""
    answer = yield context.call_activity_with_retry(
        activity, retry, payload.model_dump(mode="json")
    )
    return returns.model_validate(answer)


@dataclass(frozen=True)
class JobSteps:
    """The steps of one job, recorded as the orchestration reaches them (safe to replay)."""

    context: df.DurableOrchestrationContext
    tenant: str
    job_id: str
    vm: str | None = None  # the VM whose operation lock the job's end releases

    def begin(self, name: str) -> TaskBase:
        return self._record(JobStepInput(tenant=self.tenant, job_id=self.job_id, step=name))

    def finish(self, name: str, errors: Sequence[ErrorDetail] = ()) -> TaskBase:
        """Step `name` Succeeded, or Failed with `errors`."""
        return self._record(
            JobStepInput(
                tenant=self.tenant, job_id=self.job_id, step=name, finished=True, errors=errors
            )
        )

    def end(self, errors: Sequence[ErrorDetail] = ()) -> TaskBase:
        """The job Succeeded, or Failed with `errors`; the VM's operation lock is released."""
        record = JobEndInput(tenant=self.tenant, job_id=self.job_id, vm=self.vm, errors=errors)
        return self.context.call_activity_with_retry(record_job_end, STORAGE, record.out())

    def run(
        self,
        name: str,
        activity: Any,
        payload: BaseModel,
        returns: type[Result],
        *,
        retry: df.RetryOptions,
    ) -> Step[Result]:
        """Step `name` is one activity: begun, called under `retry`, finished with the
        errors its answer carries (a StepOutcome's; other answers finish it Succeeded)."""
        yield self.begin(name)
        result = yield from call(self.context, activity, payload, returns, retry=retry)
        yield self.finish(name, result.errors if isinstance(result, StepOutcome) else ())
        return result

    def _record(self, step: JobStepInput) -> TaskBase:
        return self.context.call_activity_with_retry(record_job_step, STORAGE, step.out())
