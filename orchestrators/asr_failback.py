"""Failback of a VM that Azure Site Recovery replicates (provider `asr`), its commit, and
reverse replication (reprotect): the way home after a committed failover.

Site Recovery runs them for Hyper-V to Azure as three operations on the protected item, and
so do we, each with its own job that mirrors ASR's (its tasks as our steps, its errors as
cause and fix), followed on durable timers as a failover is:

- failback: a planned failover from Azure (RecoveryToPrimary). ASR copies the Azure VM's
  changes to the on-premises VM (most of them while the Azure VM still runs, unless asked
  to stop it first), shuts the Azure VM down, copies the rest and starts the on-premises VM.
  Where ASR waits before the shutdown (its Complete failover), the job goes on at once, or
  when a person approves it if the request asked for that. A failback that fails (or is
  rejected) leaves the Azure VM running: the VM is FailoverCommitted again.
- commit of the failback: ASR removes what the failover made in Azure; the failover record
  is over. Nothing replicates until reverse replication.
- reverse replication: the on-premises VM replicates to Azure again; the replication watch
  starts again and the VM is Protected.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from activities.failover import EndInput, end_failover
from activities.orchestrations import ResumeInput, resume_replication
from activities.seams import StepOutcome
from application.asr_failover import FAILBACK_ACTION
from application.orchestrations import FailbackInput
from domain.replication_state import Operation, ReplicationEvent
from orchestrators.asr_failover import run_asr_action
from orchestrators.protection import OperationEnded, guarded, status, steps_of
from orchestrators.retries import STORAGE, TASK_HUB
from orchestrators.steps import call

bp = df.Blueprint()
E = ReplicationEvent
Story = Generator[Any, Any, OperationEnded]

# What each operation does to the VM's status: as it starts, when ASR's job succeeds, and
# when it fails (None: the status stays as it is).
_EVENTS: dict[Operation, tuple[E | None, E, E | None]] = {
    Operation.FAILBACK: (E.FAILBACK_STARTED, E.FAILBACK_COMPLETED, E.FAILBACK_FAILED),
    Operation.COMMIT_FAILBACK: (None, E.FAILBACK_COMMITTED, None),
    Operation.REPROTECT: (E.REPROTECT_STARTED, E.REPROTECT_COMPLETED, E.REPROTECT_FAILED),
}


@bp.orchestration_trigger(context_name="context")
def fail_back_through_asr(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict]:
    job = FailbackInput.model_validate(context.get_input())
    failed = _EVENTS[job.operation][2]
    return (yield from guarded(context, job, fail_back(context, job), failed))


def fail_back(context: df.DurableOrchestrationContext, job: FailbackInput) -> Story:
    """The story of one operation on the way home; ASR's tasks are the job's middle steps."""
    steps = steps_of(context, job)
    starts, succeeds, fails = _EVENTS[job.operation]
    if starts is not None:
        started = yield from status(context, job, starts)
        if started.errors:  # the VM's status no longer allows it: nothing was done
            yield steps.end(started.errors)
            return OperationEnded(protected=False, errors=started.errors)

    action = FAILBACK_ACTION[job.operation]
    errors = yield from run_asr_action(
        context,
        job,
        action,
        data_sync=job.data_sync,
        go_on_when_approved=job.complete_on_approval,
    )
    if errors:
        if fails is not None:
            yield from status(context, job, fails)
        yield steps.end(errors)
        return OperationEnded(protected=False, errors=errors)

    if job.operation is Operation.COMMIT_FAILBACK and job.failover_job_id:
        # ASR removed what the failover made in Azure: its record is over (and forgotten).
        over = EndInput(
            tenant=job.tenant, vm=job.vm, job_id=job.failover_job_id, kind=job.failover_type
        )
        yield from call(context, end_failover, over, StepOutcome, retry=STORAGE)
    yield from status(context, job, succeeds)
    if job.operation is Operation.REPROTECT:
        # ASR replicates again: watch it as before. (Protected first: should this step fail,
        # the watchdog starts the watch of a Protected VM, where a retried reprotect would be
        # refused by ASR, which already replicates.)
        watch = ResumeInput(tenant=job.tenant, vm=job.vm, generation=job.job_id[-8:])
        yield from steps.run(
            "Watch replication", resume_replication, watch, StepOutcome, retry=TASK_HUB
        )
    yield steps.end()
    return OperationEnded(protected=job.operation is Operation.REPROTECT)
