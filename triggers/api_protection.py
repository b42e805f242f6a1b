"""Runbook API for protecting VMs: list, preflight, enable and disable protection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from application.prerequisites import evaluate_prerequisites
from application.protection import begin_protection, begin_unprotection, present_vm
from application.replicated_items import vm_page
from contracts.api import DisableProtectionRequest, EnableProtectionRequest, PreflightRequest
from domain.jobs import StartedBy
from httpapi.answers import job_accepted, json_response
from httpapi.auth import requester
from httpapi.bodies import parse_body
from httpapi.handler import tenant_api
from httpapi.paging import page_args, page_body
from httpapi.runbook_routes import RunbookBlueprint

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="tenants/{tenant}/vms", methods=["GET"], auth_level=FUNCTION)
async def api_list_vms(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        now = datetime.now(UTC)
        page, next_token = await asyncio.to_thread(vm_page, tenant, top, token, now)
        return json_response(page_body(req, page, next_token))

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/vms/{vm}/preflight", methods=["POST"], auth_level=FUNCTION)
async def api_preflight(req: func.HttpRequest) -> func.HttpResponse:
    """Run every prerequisite rule and report; nothing is changed."""

    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, PreflightRequest)
        record = await present_vm(tenant, req.route_params["vm"])
        report = await asyncio.to_thread(evaluate_prerequisites, tenant, record, request)
        return json_response(report)

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/vms/{vm}/protection", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_enable_protection(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, EnableProtectionRequest)
        record = await present_vm(tenant, req.route_params["vm"])
        job, created = await begin_protection(
            client, tenant, record, request, StartedBy.API, requester(req)
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/vms/{vm}/protection", methods=["DELETE"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_disable_protection(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, DisableProtectionRequest)
        vm = req.route_params["vm"]
        job, created = await begin_unprotection(
            client, tenant, vm, request, StartedBy.API, requester(req)
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)
