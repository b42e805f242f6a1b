"""Runbook API for protecting VMs: list, preflight, enable and disable protection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from activities.protection import evaluate_prerequisites
from activities.replication import RUNNING, replication_instance
from contracts.api import (
    DisableProtectionRequest,
    EnableProtectionRequest,
    PreflightReport,
    PreflightRequest,
)
from core.http import Conflict, NotFound, page_args, page_body, parse_body, tenant_api
from core.problem import json_response
from domain.errors import ErrorInfo
from domain.jobs import Job
from domain.replication_state import is_protected, may_enable_again, next_status
from orchestrators.inputs import ReplicationInput
from orchestrators.protection import ProtectInput, UnprotectInput
from readmodels.inventory import VMS, get_vm
from readmodels.items import ITEMS, get_item
from readmodels.jobs import get_job
from readmodels.records import VmRecord
from triggers.operations import start_operation

bp = df.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION
# How long an enable waits for a replication instance whose initial job has just ended to
# return (it does within moments; the bound keeps a stuck one from holding the request).
RETURNING_SECONDS = 10


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
    record = await asyncio.to_thread(get_vm, tenant, vm)
    if record is None or not record.present:
        raise vm_not_found(tenant, vm)
    return record


def job_accepted(req: func.HttpRequest, job: Job, created: bool) -> func.HttpResponse:
    base = req.url.split("/api/", 1)[0]
    location = f"{base}/api/tenants/{job.tenant}/jobs/{job.id}"
    body = {**job.wire(), "created": created, "href": location}
    return json_response(body, 202, headers={"Location": location, "Retry-After": "5"})


@bp.route(route="tenants/{tenant}/vms", methods=["GET"], auth_level=FUNCTION)
async def api_list_vms(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        records, next_token = await asyncio.to_thread(VMS.page, tenant, top, token)
        items = {i.vm: i for i in await asyncio.to_thread(lambda: list(ITEMS.all(tenant)))}
        value = []
        for record in records:
            item = items.get(record.vm.id)
            value.append(
                {
                    **record.wire(),
                    "protectionStatus": item.status if item else "NotProtected",
                    "health": item.health.wire() if item else None,
                    "activeJobId": item.active_job_id if item else None,
                }
            )
        return json_response(page_body(req, value, next_token))

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/vms/{vm}/preflight", methods=["POST"], auth_level=FUNCTION)
async def api_preflight(req: func.HttpRequest) -> func.HttpResponse:
    """Run every prerequisite rule and report; nothing is changed."""

    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, PreflightRequest)
        record = await present_vm(tenant, req.route_params["vm"])
        report = await asyncio.to_thread(evaluate_prerequisites, tenant, record, request)
        return json_response(PreflightReport.model_validate(report).model_dump(by_alias=True))

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/vms/{vm}/protection", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_enable_protection(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, EnableProtectionRequest)
        record = await present_vm(tenant, req.route_params["vm"])
        job, created = await begin_protection(client, tenant, record, request, "api")
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


async def begin_protection(
    client: df.DurableOrchestrationClient,
    tenant: str,
    record: VmRecord,
    request: EnableProtectionRequest,
    started_by: str,
) -> tuple[Job, bool]:
    """Start (or join) the VM's protect operation; refuse if it is protected already.

    A VM whose initial replication failed is protected but stuck: enabling it again runs the
    protect operation anew, which starts a fresh initial replication (the retry route)."""
    vm = record.vm.id
    item = await asyncio.to_thread(get_item, tenant, vm)
    if item and not item.active_job_id and is_protected(item.status):
        running = await replication_running(client, tenant, vm)
        if not may_enable_again(item.status, running):
            raise already_protected(vm, item.status)
    return await start_operation(
        client,
        orchestrator="protect_vm",
        tenant=tenant,
        vm=vm,
        vm_name=record.vm.name,
        site=record.site,
        job_type="EnableProtection",
        started_by=started_by,
        build_input=lambda job_id: ProtectInput(
            tenant=tenant, vm=vm, job_id=job_id, request=request, started_by=started_by
        ).model_dump(mode="json"),
    )


async def replication_running(client: df.DurableOrchestrationClient, tenant: str, vm: str) -> bool:
    """Whether the VM's replication instance still runs (and may yet finish by itself).

    An instance whose initial-replication job has ended is only returning: an operator who
    sees the job Failed and enables again at once is not refused for that moment."""
    instance = replication_instance(tenant, vm)
    deadline = asyncio.get_running_loop().time() + RETURNING_SECONDS
    while True:
        status = await client.get_status(instance, show_input=True)
        if not (status and status.runtime_status in RUNNING):
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
    if state.phase != "initial" or not state.job_id:
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


@bp.route(route="tenants/{tenant}/vms/{vm}/protection", methods=["DELETE"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_disable_protection(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, DisableProtectionRequest)
        vm = req.route_params["vm"]
        item = await asyncio.to_thread(get_item, tenant, vm)
        if item is None and await asyncio.to_thread(get_vm, tenant, vm) is None:
            raise vm_not_found(tenant, vm)
        if item is None or (item.status == "NotProtected" and not item.active_job_id):
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
            next_status(item.status, "ProtectionDisableRequested")
        job, created = await start_operation(
            client,
            orchestrator="unprotect_vm",
            tenant=tenant,
            vm=vm,
            vm_name=item.vm_name,
            site=item.site,
            job_type="DisableProtection",
            started_by="api",
            build_input=lambda job_id: UnprotectInput(
                tenant=tenant, vm=vm, job_id=job_id, request=request
            ).model_dump(mode="json"),
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)
