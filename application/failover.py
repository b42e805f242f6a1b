"""Starting failover operations, the same way from the runbook API and (later) a plan or an
alert: the VM's status must allow the operation (`allowedOperations`), no other operation
may run on it, and the point asked for must exist, or nothing starts and the refusal says
why and what is allowed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import azure.durable_functions as df
from pydantic import BaseModel

from application import asr_failover, asr_protection
from application.errors import Conflict, NotFound
from application.operations import start_operation
from application.orchestrations import (
    AfterFailoverInput,
    FailbackInput,
    FailoverInput,
    failover_orchestration,
)
from application.prerequisites import vm_gone
from azureclients.settings import int_setting
from contracts.api import FailbackRequest, FailoverRequest, RecoveryPointRequest
from domain import failover as rules
from domain.errors import ErrorInfo
from domain.failover import FailoverType, PointChoice
from domain.jobs import Job, StartedBy
from domain.replication_state import Operation, require_operation
from domain.retention import RecoveryPoint as PointRule
from readmodels.inventory import get_vm
from readmodels.items import busy_with, get_item
from readmodels.points import list_points
from readmodels.records import ReplicatedItem


def _item(tenant: str, vm: str) -> ReplicatedItem:
    item = get_item(tenant, vm)
    if item is None:
        raise NotFound(
            ErrorInfo(
                code="ReplicatedItemNotFound",
                cause=f"VM '{vm}' of tenant '{tenant}' has never been protected.",
                recommendation="Enable protection with POST "
                "/api/tenants/{tenant}/vms/{vm}/protection; failover starts from its points.",
            )
        )
    return item


def _allowed(item: ReplicatedItem, operation: Operation) -> None:
    """409 unless the VM's status allows `operation` and no job holds the VM."""
    require_operation(item.status, operation, busy_with=busy_with(item), provider=item.provider)


def _point_exists(item: ReplicatedItem, choice: str) -> None:
    """Refuse now (409) a point that does not exist, rather than in the job: among ASR's
    points for a VM ASR replicates, among ours for the others."""
    if item.provider == "asr":
        record = get_vm(item.tenant, item.vm)
        if record is None:
            raise NotFound(vm_gone(item.vm).info())
        asr_failover.choose_point(asr_protection.place_of(record, item), choice)
        return
    points = list_points(item.tenant, item.vm)
    rules.choose_point(
        [PointRule(id=p.id, time=p.time, consistency=p.consistency) for p in points], choice
    )


async def _start(
    client: df.DurableOrchestrationClient,
    item: ReplicatedItem,
    operation: Operation,
    started_by: StartedBy,
    requested_by: str | None,
    build_input: Callable[[str], BaseModel],
) -> tuple[Job, bool]:
    """Claim the VM under `operation`'s job and start the orchestration its provider runs
    `operation` with."""
    return await start_operation(
        client,
        orchestrator=failover_orchestration(item.provider, operation),
        tenant=item.tenant,
        vm=item.vm,
        vm_name=item.vm_name,
        site=item.site,
        job_type=rules.JOB_TYPE[operation],
        started_by=started_by,
        requested_by=requested_by,
        build_input=build_input,
    )


async def begin_failover(
    client: df.DurableOrchestrationClient,
    tenant: str,
    vm: str,
    request: FailoverRequest,
    started_by: StartedBy,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    kind = FailoverType(request.type)
    item = await asyncio.to_thread(_item, tenant, vm)
    _allowed(item, rules.OPERATION[kind])
    if kind is FailoverType.PLANNED and request.recovery_point != PointChoice.LATEST:
        raise Conflict(
            ErrorInfo(
                code="PlannedFailoverMakesItsPoint",
                cause=f"A planned failover starts from the point its final sync makes, not "
                f"from '{request.recovery_point}'.",
                recommendation="Leave recoveryPoint out (or 'latest') for a planned failover; "
                "to start from an older point, fail over unplanned.",
            )
        )
    if kind is not FailoverType.PLANNED:
        await asyncio.to_thread(_point_exists, item, request.recovery_point)
    stall = int_setting("REPLICATION_STALL_SECONDS", 300)
    return await _start(
        client,
        item,
        rules.OPERATION[kind],
        started_by,
        requested_by,
        lambda job_id: FailoverInput(
            tenant=tenant,
            vm=vm,
            job_id=job_id,
            type=kind,
            recovery_point=request.recovery_point,
            shutdown_timeout_seconds=request.shutdown_timeout_seconds,
            stall_seconds=stall,
            started_by=started_by,
        ),
    )


async def begin_after_failover(
    client: df.DurableOrchestrationClient,
    tenant: str,
    vm: str,
    operation: Operation,
    started_by: StartedBy,
    request: RecoveryPointRequest | None = None,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """Cleanup, commit, cancel or a change of recovery point of the VM's failover."""
    item = await asyncio.to_thread(_item, tenant, vm)
    _allowed(item, operation)
    failover = item.failover
    if failover is None:  # the status allows it, so the record was lost: say so
        raise Conflict(
            ErrorInfo(
                code="FailoverRecordMissing",
                cause=f"VM '{vm}' is {item.status} but its failover record is missing.",
                recommendation="Look for resources tagged dr-vm in the recovery resource group "
                "and remove them by hand; then disable and enable protection.",
            )
        )
    choice = request.recovery_point if request else PointChoice.LATEST
    if operation is Operation.CHANGE_RECOVERY_POINT:
        await asyncio.to_thread(_point_exists, item, choice)
    return await _start(
        client,
        item,
        operation,
        started_by,
        requested_by,
        lambda job_id: AfterFailoverInput(
            tenant=tenant,
            vm=vm,
            job_id=job_id,
            failover_job_id=failover.job_id,
            type=failover.type,
            recovery_point=choice,
            operation=operation,
        ),
    )


async def begin_failback(
    client: df.DurableOrchestrationClient,
    tenant: str,
    vm: str,
    operation: Operation,
    started_by: StartedBy,
    request: FailbackRequest | None = None,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """Failback of a committed failover, its commit, or reverse replication: refused (409)
    unless the VM's status allows it and its provider offers it (a direct VM does not)."""
    item = await asyncio.to_thread(_item, tenant, vm)
    _allowed(item, operation)
    failover = item.failover
    request = request or FailbackRequest()
    return await _start(
        client,
        item,
        operation,
        started_by,
        requested_by,
        lambda job_id: FailbackInput(
            tenant=tenant,
            vm=vm,
            job_id=job_id,
            operation=operation,
            data_sync=request.data_sync,
            complete_on_approval=request.complete_on_approval,
            failover_job_id=failover.job_id if failover else None,
            failover_type=failover.type if failover else FailoverType.UNPLANNED,
        ),
    )
