"""Enabling and disabling the protection of a VM, the same way from the runbook API and from
an agent's `protection.requested`: the checks that refuse at once, then the operation."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import azure.durable_functions as df

from application.errors import Conflict, NotFound
from application.operations import start_operation
from application.orchestrations import (
    PROTECT,
    UNPROTECT,
    ProtectInput,
    ReplicationInput,
    ReplicationPhase,
    UnprotectInput,
    is_running,
    replication_instance,
)
from application.providers import tenant_provider
from contracts.api import DisableProtectionRequest, EnableProtectionRequest
from domain.errors import ErrorInfo
from domain.jobs import Job, JobType, StartedBy
from domain.replication_state import (
    ReplicationEvent,
    ReplicationStatus,
    is_protected,
    may_enable_again,
    next_status,
)
from readmodels.inventory import get_vm
from readmodels.items import get_item
from readmodels.jobs import get_job
from readmodels.records import VmRecord

# How long an enable waits for a replication instance whose initial job has just ended to
# return (it does within moments; the bound keeps a stuck one from holding the request).
RETURNING_SECONDS = 10
log = logging.getLogger(__name__)


def vm_not_found(tenant: str, vm: str) -> NotFound:
    return NotFound(
        ErrorInfo(
            code="VmNotFound",
            cause=f"Tenant '{tenant}' has no VM '{vm}' in its inventory.",
            recommendation="Check the VM id in GET /api/tenants/{tenant}/vms; the agent reports "
            "VMs with each inventory snapshot.",
        )
    )


async def present_vm(tenant: str, vm: str) -> VmRecord:
    """The VM as the latest inventory lists it; NotFound when it does not."""
    record = await asyncio.to_thread(get_vm, tenant, vm)
    if record is None or not record.present:
        raise vm_not_found(tenant, vm)
    return record


async def begin_protection(
    client: df.DurableOrchestrationClient,
    tenant: str,
    record: VmRecord,
    request: EnableProtectionRequest,
    started_by: StartedBy,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """Start (or join) the VM's protect operation; refuse if it is protected already.

    A VM whose initial replication failed is protected but stuck: enabling it again runs the
    protect operation anew, which starts a fresh initial replication (the retry route)."""
    vm = record.vm.id
    if request.provider is None:  # the tenant's default, fixed now for the whole operation
        request = request.model_copy(update={"provider": tenant_provider(tenant)})
    item = await asyncio.to_thread(get_item, tenant, vm)
    if item and not item.active_job_id and is_protected(item.status):
        running = await replication_running(client, tenant, vm)
        if not may_enable_again(item.status, running):
            raise already_protected(vm, item.status)
    return await start_operation(
        client,
        orchestrator=PROTECT,
        tenant=tenant,
        vm=vm,
        vm_name=record.vm.name,
        site=record.site,
        job_type=JobType.ENABLE_PROTECTION,
        started_by=started_by,
        requested_by=requested_by,
        build_input=lambda job_id: ProtectInput(
            tenant=tenant, vm=vm, job_id=job_id, request=request, started_by=started_by
        ),
    )


async def begin_unprotection(
    client: df.DurableOrchestrationClient,
    tenant: str,
    vm: str,
    request: DisableProtectionRequest,
    started_by: StartedBy,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """Start (or join) the VM's disable operation; refuse what cannot be disabled now."""
    item = await asyncio.to_thread(get_item, tenant, vm)
    if item is None and await asyncio.to_thread(get_vm, tenant, vm) is None:
        raise vm_not_found(tenant, vm)
    if item is None or (item.status == ReplicationStatus.NOT_PROTECTED and not item.active_job_id):
        raise Conflict(
            ErrorInfo(
                code="NotProtected",
                cause=f"VM '{vm}' is not protected.",
                recommendation="Nothing to do.",
            )
        )
    if not item.active_job_id:
        # Refuse now what the state table refuses (e.g. during a failover), before the
        # orchestration stops replication.
        next_status(item.status, ReplicationEvent.PROTECTION_DISABLE_REQUESTED)
    job, created = await start_operation(
        client,
        orchestrator=UNPROTECT,
        tenant=tenant,
        vm=vm,
        vm_name=item.vm_name,
        site=item.site,
        job_type=JobType.DISABLE_PROTECTION,
        started_by=started_by,
        requested_by=requested_by,
        build_input=lambda job_id: UnprotectInput(
            tenant=tenant, vm=vm, job_id=job_id, request=request
        ),
    )
    if request.delete_replica and created:
        # Deleting a replica loses every recovery point: only ever on an explicit request,
        # and said in the log with who asked and the job that does it.
        log.warning(
            "%s/%s: replica deletion requested by %s (job %s)", tenant, vm, requested_by, job.id
        )
    return job, created


async def replication_running(client: df.DurableOrchestrationClient, tenant: str, vm: str) -> bool:
    """Whether the VM's replication instance still runs (and may yet finish by itself).

    An instance whose initial-replication job has ended is only returning: an operator who
    sees the job Failed and enables again at once is not refused for that moment."""
    instance = replication_instance(tenant, vm)
    deadline = asyncio.get_running_loop().time() + RETURNING_SECONDS
    while True:
        status = await client.get_status(instance, show_input=True)
        if not is_running(status):
            return False
        returning = await asyncio.to_thread(initial_job_ended, tenant, status.input_)
        if not returning or asyncio.get_running_loop().time() > deadline:
            return True
        await asyncio.sleep(0.2)


def initial_job_ended(tenant: str, instance_input: Any) -> bool:
    """Whether this replication instance is in its initial phase and its job has ended."""
    if isinstance(instance_input, str):
        instance_input = json.loads(instance_input)
    if not instance_input:
        return False
    state = ReplicationInput.model_validate(instance_input)
    if state.phase is not ReplicationPhase.INITIAL or not state.job_id:
        return False
    job = get_job(tenant, state.job_id)
    return job is not None and job.finished


def already_protected(vm: str, status: str) -> Conflict:
    return Conflict(
        ErrorInfo(
            code="AlreadyProtected",
            cause=f"VM '{vm}' is already protected (status {status}).",
            recommendation="Nothing to do; to change its target or policy, disable "
            "protection and enable it again.",
        )
    )
