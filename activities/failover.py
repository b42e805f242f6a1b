"""Activities of failover: pin the point, reconcile disks, NIC and VM, remove what was made,
record it on the item, and ask the agent to shut the source down.

The reconcile activities answer where their goal stands (`Reconciled`) and never wait for
Azure's long-running operations: the orchestration asks again after a durable timer. A
refusal no retry fixes comes back as errors; anything else is raised for the retry policy.
"""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df
from pydantic import Field

from activities.seams import StepOutcome, VmRef
from application import commands
from application.recovery_vm import (
    Failover,
    Progress,
    reconcile_disks,
    reconcile_nic,
    reconcile_removal,
    reconcile_vm,
)
from contracts.errors import ErrorDetail
from domain import failover as rules
from domain.failover import FailoverState, FailoverType, RecoveryPointNotAvailable
from domain.retention import RecoveryPoint as PointRule
from readmodels.inventory import get_vm
from readmodels.items import require_item_row, update_item
from readmodels.points import list_points
from readmodels.records import FailoverDisk, FailoverRecord, ReplicatedItem

bp = df.Blueprint()


class FailoverRef(VmRef):
    """Which failover: `job_id` is the failover job's (what it makes is tagged with it)."""

    job_id: str
    kind: FailoverType


class PinInput(FailoverRef):
    choice: str = "latest"  # latest | latestAppConsistent | a point id


class PinnedPoint(StepOutcome):
    """The point the VM is made from, and the VM it becomes."""

    point_id: str = ""
    time: datetime | None = None
    snapshots: dict[str, str] = Field(default_factory=dict)
    vm_name: str = ""
    vm_size: str = ""


class BuildInput(FailoverRef):
    point_id: str
    vm_name: str
    vm_size: str = ""
    snapshots: dict[str, str] = Field(default_factory=dict)
    disks: dict[str, str] = Field(default_factory=dict)  # disk id -> managed disk id
    nic_id: str = ""


class RemoveInput(FailoverRef):
    keep_point: str | None = None  # a change of point keeps the new point's disks


class Reconciled(StepOutcome):
    """Where a reconcile step stands; `made` what it made (disk ids -> ARM ids, nic, vm)."""

    done: bool = False
    made: dict[str, str] = Field(default_factory=dict)


class MadeInput(FailoverRef):
    point_id: str
    vm_id: str
    vm_name: str
    vm_size: str
    disks: dict[str, str]


class EndInput(FailoverRef):
    committed: bool = False  # True: keep the record as committed; False: forget it (unpin)


class ShutdownInput(VmRef):
    command_id: str
    timeout_seconds: int


def _reconciled(progress: Progress) -> dict:
    return Reconciled(
        done=progress.done, errors=list(progress.errors), made=progress.made or {}
    ).out()


def _failover(ref: FailoverRef, point_id: str, vm_name: str) -> Failover:
    return Failover(ref.tenant, ref.vm, ref.job_id, ref.kind, point_id, vm_name)


@bp.activity_trigger(input_name="payload")
def pin_recovery_point(payload: dict) -> dict:
    """Choose the point and pin it on the item (retention keeps it while the item names it).

    Idempotent: the failover's record is written once per job; a change of recovery point
    moves the pin to the new point."""
    pin = PinInput.model_validate(payload)
    row = require_item_row(pin.tenant, pin.vm)
    points = list_points(pin.tenant, pin.vm)
    rules_view = [PointRule(id=p.id, time=p.time, consistency=p.consistency) for p in points]
    try:
        chosen = rules.choose_point(rules_view, pin.choice)
    except RecoveryPointNotAvailable as refused:
        return PinnedPoint.refused(refused).out()
    point = next(p for p in points if p.id == chosen.id)
    item = row.model
    target_name = (item.target.target_name if item.target else None) or item.vm_name
    vm_name = rules.vm_name(target_name, pin.kind)
    vm_size = (item.target.target_size if item.target else None) or ""

    def record(current: ReplicatedItem) -> None:
        start_record(current, pin)
        current.failover.recovery_point_id = point.id
        current.failover.recovery_point_time = point.time
        current.failover.vm_name, current.failover.vm_size = vm_name, vm_size

    update_item(pin.tenant, pin.vm, record, read=row)
    return PinnedPoint(
        point_id=point.id,
        time=point.time,
        snapshots=point.snapshots,
        vm_name=vm_name,
        vm_size=vm_size,
    ).out()


def start_record(current: ReplicatedItem, ref: FailoverRef) -> None:
    """The item's failover record is this failover's: kept if it is, started anew if not."""
    if current.failover is None or current.failover.job_id != ref.job_id:
        current.failover = FailoverRecord(
            job_id=ref.job_id, type=ref.kind, started=datetime.now(UTC)
        )


@bp.activity_trigger(input_name="payload")
def reconcile_failover_disks(payload: dict) -> dict:
    build = BuildInput.model_validate(payload)
    item = require_item_row(build.tenant, build.vm).model
    record = get_vm(build.tenant, build.vm)
    if record is None:
        return Reconciled(errors=[_vm_gone(build.vm)]).out()
    failover = _failover(build, build.point_id, build.vm_name)
    return _reconciled(reconcile_disks(item, record, failover, build.snapshots))


@bp.activity_trigger(input_name="payload")
def reconcile_failover_nic(payload: dict) -> dict:
    build = BuildInput.model_validate(payload)
    return _reconciled(reconcile_nic(_failover(build, build.point_id, build.vm_name)))


@bp.activity_trigger(input_name="payload")
def reconcile_failover_vm(payload: dict) -> dict:
    build = BuildInput.model_validate(payload)
    record = get_vm(build.tenant, build.vm)
    if record is None:
        return Reconciled(errors=[_vm_gone(build.vm)]).out()
    failover = _failover(build, build.point_id, build.vm_name)
    return _reconciled(reconcile_vm(record, failover, build.vm_size, build.disks, build.nic_id))


@bp.activity_trigger(input_name="payload")
def remove_failover_resources(payload: dict) -> dict:
    remove = RemoveInput.model_validate(payload)
    item = require_item_row(remove.tenant, remove.vm).model
    return _reconciled(reconcile_removal(item, remove.job_id, keep_point=remove.keep_point))


@bp.activity_trigger(input_name="payload")
def record_failover_made(payload: dict) -> dict:
    """The item shows the Azure VM and its disks; the failover Succeeded."""
    made = MadeInput.model_validate(payload)

    def record(current: ReplicatedItem) -> None:
        if current.failover is None or current.failover.job_id != made.job_id:
            current.failover = FailoverRecord(job_id=made.job_id, type=made.kind)
        current.failover.state = FailoverState.SUCCEEDED
        current.failover.vm_id, current.failover.vm_name = made.vm_id, made.vm_name
        current.failover.vm_size = made.vm_size
        current.failover.disks = [
            FailoverDisk(disk_id=disk, managed_disk_id=managed)
            for disk, managed in made.disks.items()
        ]

    update_item(made.tenant, made.vm, record)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def end_failover(payload: dict) -> dict:
    """Committed (the record stays, as ASR shows a committed item's VM), failed (kept for
    its cleanup), or over (cleaned up, cancelled: forgotten, which unpins its point)."""
    end = EndInput.model_validate(payload)

    def record(current: ReplicatedItem) -> None:
        if current.failover is None or current.failover.job_id != end.job_id:
            return
        if end.committed:
            current.failover.state = FailoverState.COMMITTED
        else:
            current.failover = None

    update_item(end.tenant, end.vm, record)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def mark_failover_failed(payload: dict) -> dict:
    ref = FailoverRef.model_validate(payload)

    def record(current: ReplicatedItem) -> None:
        if current.failover is not None and current.failover.job_id == ref.job_id:
            current.failover.state = FailoverState.FAILED

    update_item(ref.tenant, ref.vm, record)
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def send_shutdown(payload: dict) -> dict:
    """Ask the site's agent to shut the source VM down and confirm it is off."""
    request = ShutdownInput.model_validate(payload)
    item = require_item_row(request.tenant, request.vm).model
    now = datetime.now(UTC)
    commands.send(commands.shutdown_command(item, request.command_id, request.timeout_seconds, now))
    return StepOutcome().out()


def _vm_gone(vm: str) -> ErrorDetail:
    return ErrorDetail(
        code="VmNotFound",
        cause=f"VM '{vm}' is no longer in the inventory, so its generation and OS are unknown.",
        recommendation="Check that the agent still reports the VM (its next inventory "
        "snapshot lists it again), then fail over again.",
    )
