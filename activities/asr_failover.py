"""Activities of the `asr` provider's failover: choose ASR's recovery point, start ASR's
operation, follow its job into ours, and record on the item what ASR made.

None of them waits for ASR: starting returns the ASR job's name, following looks once and
says whether the job has ended; the orchestration asks again after a durable timer. A
refusal no retry fixes comes back as errors; anything else is raised for the retry policy.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.failover import FailoverRef, PinInput, PinnedPoint, start_record
from activities.seams import StepOutcome, VmRef
from application import asr_failover, asr_jobs
from application import asr_protection as asr
from application.asr_failover import AsrAction
from application.asr_jobs import mirror_job
from application.prerequisites import vm_gone
from azureclients.arm import recovery_target
from domain.errors import DomainError
from domain.failover import DataSync, FailoverState
from readmodels.inventory import get_vm
from readmodels.items import require_item_row, update_item
from readmodels.records import ReplicatedItem, VmRecord

bp = df.Blueprint()


class AsrJobRef(VmRef):
    """Our job `job_id`, which mirrors an ASR job on the VM's protected item."""

    job_id: str


class AsrActionInput(AsrJobRef):
    """`action` on the VM's protected item; `job_id` is our job that mirrors ASR's."""

    action: AsrAction
    point: str | None = None  # the ASR point's name, for the actions that take one
    data_sync: DataSync = DataSync.WHILE_RUNNING  # a failback's


class AsrStarted(StepOutcome):
    asr_job: str | None = None  # the ASR job to follow (its name)


class AsrJobInput(AsrJobRef):
    asr_job: str


class AsrJobFollowed(StepOutcome):
    done: bool = False  # the ASR job has ended (Succeeded, or Failed with `errors`)
    # Suspended until someone resumes it: what it waits for, as ASR says (stateDescription).
    waiting_for: str | None = None


class AsrMadeInput(FailoverRef):
    """Record what ASR made for the failover `job_id` (a change of point: the new point)."""

    action: AsrAction


def _placed(item: ReplicatedItem) -> tuple[VmRecord, asr.AsrLocation]:
    """The VM's record, and where ASR keeps it (remembered on its item by the watch)."""
    record = get_vm(item.tenant, item.vm)
    if record is None:
        raise DomainError(vm_gone(item.vm).info())
    return record, asr.place_of(record, item)


@bp.activity_trigger(input_name="payload")
def choose_asr_point(payload: dict) -> dict:
    """ASR's point the failover starts from, pinned on the item's failover record (written
    once per failover job; a change of point moves it)."""
    pin = PinInput.model_validate(payload)
    row = require_item_row(pin.tenant, pin.vm)
    try:
        _, location = _placed(row.model)
        point = asr_failover.choose_point(location, pin.choice)
    except DomainError as refused:
        return PinnedPoint.refused(refused).out()
    action = asr_failover.FAILOVER_ACTION.get(pin.kind, AsrAction.APPLY_RECOVERY_POINT)
    vm_name = asr_failover.recovery_vm_name(location, action)

    def record(current: ReplicatedItem) -> None:
        start_record(current, pin)
        current.failover.recovery_point_id = point.name
        current.failover.recovery_point_time = point.time

    update_item(pin.tenant, pin.vm, record, read=row)
    return PinnedPoint(point_id=point.name, time=point.time, vm_name=vm_name).out()


@bp.activity_trigger(input_name="payload")
def start_asr_action(payload: dict) -> dict:
    """Start the ASR operation (its job's name), or ASR's refusal."""
    request = AsrActionInput.model_validate(payload)
    item = require_item_row(request.tenant, request.vm).model
    try:
        record, location = _placed(item)
        point = None
        if request.point is not None:
            point = asr_failover.choose_point(location, request.point)
    except DomainError as refused:
        return AsrStarted.refused(refused).out()
    started = asr_failover.start(
        location, request.action, point, data_sync=request.data_sync, record=record
    )
    if started.errors:
        return AsrStarted(errors=started.errors).out()
    return AsrStarted(asr_job=started.job).out()


@bp.activity_trigger(input_name="payload")
def follow_asr_job(payload: dict) -> dict:
    """One look at the ASR job: its tasks onto our job's steps; ended or not, and why not ok."""
    request = AsrJobInput.model_validate(payload)
    state = mirror_job(request.tenant, request.job_id, request.asr_job)
    if not state.done:
        return AsrJobFollowed(waiting_for=state.description if state.waiting else None).out()
    return AsrJobFollowed(done=True, errors=[] if state.succeeded else list(state.errors)).out()


@bp.activity_trigger(input_name="payload")
def resume_asr_job(payload: dict) -> dict:
    """Let the suspended ASR job go on (a failback's Complete failover)."""
    request = AsrJobInput.model_validate(payload)
    asr_jobs.resume_job(
        request.asr_job, comments=f"Resumed by the DR control plane, job {request.job_id}."
    )
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def cancel_asr_job(payload: dict) -> dict:
    """Cancel the ASR job (a failback someone rejected before the Azure VM was shut down)."""
    request = AsrJobInput.model_validate(payload)
    asr_jobs.cancel_job(request.asr_job)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def record_asr_failover_made(payload: dict) -> dict:
    """The item shows the Azure VM ASR made and the point it was made from."""
    made = AsrMadeInput.model_validate(payload)
    item = require_item_row(made.tenant, made.vm).model
    try:
        _, location = _placed(item)
    except DomainError as refused:
        return StepOutcome.refused(refused).out()
    vm_name = asr_failover.recovery_vm_name(location, made.action)
    where = recovery_target()
    group = (item.target.target_resource_group if item.target else None) or where.resource_group
    vm_id = (
        f"/subscriptions/{where.subscription}/resourceGroups/{group}/providers/"
        f"Microsoft.Compute/virtualMachines/{vm_name}"
    )
    point = asr_failover.failover_point(location)

    def record(current: ReplicatedItem) -> None:
        start_record(current, made)
        current.failover.state = FailoverState.SUCCEEDED
        current.failover.vm_id, current.failover.vm_name = vm_id, vm_name
        if point is not None:  # planned: the point ASR's final synchronisation made
            current.failover.recovery_point_id = point.name
            current.failover.recovery_point_time = point.time

    update_item(made.tenant, made.vm, record)
    return StepOutcome().out()
