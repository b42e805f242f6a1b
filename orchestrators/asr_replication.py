"""Replication of one VM protected by the `asr` provider: Azure Site Recovery copies the data;
this orchestration watches it on durable timers (no activity ever waits on ASR).

The same instance id as the `direct` loop (`replication-<tenant>-<vm>`), started by the same
step of protect and ended the same way by unprotect, so those orchestrations do not know
which provider runs. The InitialReplication job mirrors ASR's: policy and mapping steps, the
enable job's tasks, then initial replication; it ends Succeeded when ASR says Protected, or
Failed with ASR's `serviceErrorDetails`. Then the watch goes on (status, RPO, health),
continuing as new every tick so its history stays short.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.asr_replication import AsrPhase, AsrStepInput, AsrStepped, asr_replication_step
from activities.health import StatusInput, StatusSet, set_replication_status
from application.orchestrations import AsrWatchInput
from domain.replication_state import ReplicationEvent
from orchestrators.retries import AZURE_RESOURCE_MANAGER, STORAGE
from orchestrators.steps import JobSteps, call

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def watch_asr_replication(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    state = AsrWatchInput.model_validate(context.get_input())
    step = AsrStepInput(
        tenant=state.tenant, vm=state.vm, job_id=state.job_id, asr_job=state.asr_job
    )
    seen = yield from call(
        context, asr_replication_step, step, AsrStepped, retry=AZURE_RESOURCE_MANAGER
    )
    job = JobSteps(context, tenant=state.tenant, job_id=state.job_id) if state.job_id else None
    if seen.errors:
        if job is not None:
            failure = seen.errors[0]
            change = StatusInput(
                tenant=state.tenant,
                vm=state.vm,
                event=ReplicationEvent.INITIAL_REPLICATION_FAILED,
                failure=failure,
            )
            yield from call(context, set_replication_status, change, StatusSet, retry=STORAGE)
            yield job.end(seen.errors)
        return {"phase": seen.phase.value, "ended": "failed"}
    if seen.phase is AsrPhase.GONE:
        return {"phase": seen.phase.value, "ended": "disabled"}
    if seen.phase is AsrPhase.PROTECTED and job is not None:
        yield job.finish("Initial replication")
        yield job.end()
        state.job_id = None
    state.asr_job = seen.asr_job
    wait = state.watch_seconds if seen.phase is AsrPhase.PROTECTED else state.poll_seconds
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=wait))
    context.continue_as_new(state.model_dump(mode="json"))
    return None
