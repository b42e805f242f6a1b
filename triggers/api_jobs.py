"""Runbook API for jobs and replicated items: what is running, what failed and why."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.functions as func

from core.http import NotFound, page_args, page_body, tenant_api
from core.problem import json_response
from domain.errors import ErrorInfo
from domain.rpo import rpo_seconds
from readmodels.items import ITEMS, get_item
from readmodels.jobs import JOBS, get_job
from readmodels.points import list_points
from readmodels.records import ReplicatedItem

bp = func.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="tenants/{tenant}/jobs", methods=["GET"], auth_level=FUNCTION)
async def api_list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    """Newest first; filter with ?state=Failed or ?target=<vm>."""

    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        clauses, params = [], {}
        if state := req.params.get("state"):
            clauses.append("State eq @state")
            params["state"] = state
        if target := req.params.get("target"):
            clauses.append("Target eq @target")
            params["target"] = target
        page, next_token = await asyncio.to_thread(
            JOBS.page, tenant, top, token, " and ".join(clauses), params
        )
        return json_response(page_body(req, [j.wire() for j in page], next_token))

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/jobs/{job}", methods=["GET"], auth_level=FUNCTION)
async def api_get_job(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        job_id = req.route_params["job"]
        job = await asyncio.to_thread(get_job, tenant, job_id)
        if job is None:
            raise NotFound(
                ErrorInfo(
                    code="JobNotFound",
                    cause=f"Tenant '{tenant}' has no job '{job_id}'.",
                    recommendation="List jobs with GET /api/tenants/{tenant}/jobs.",
                )
            )
        return json_response(job.wire())

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/replicated-items", methods=["GET"], auth_level=FUNCTION)
async def api_list_replicated_items(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        page, next_token = await asyncio.to_thread(
            ITEMS.page, tenant, top, token, "Status ne 'NotProtected'"
        )
        return json_response(page_body(req, [live(i) for i in page], next_token))

    return await tenant_api(req, handle)


def live(item: ReplicatedItem) -> dict:
    """The item as stored, with its RPO as of now (between cycles the stored one ages)."""
    view = item.wire()
    if item.last_recovery_point is not None:
        view["rpoSeconds"] = rpo_seconds(item.last_recovery_point, datetime.now(UTC))
    return view


@bp.route(route="tenants/{tenant}/replicated-items/{vm}", methods=["GET"], auth_level=FUNCTION)
async def api_get_replicated_item(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        vm = req.route_params["vm"]
        item = await asyncio.to_thread(get_item, tenant, vm)
        if item is None:
            raise NotFound(
                ErrorInfo(
                    code="ReplicatedItemNotFound",
                    cause=f"VM '{vm}' of tenant '{tenant}' has never been protected.",
                    recommendation="Enable protection with POST "
                    "/api/tenants/{tenant}/vms/{vm}/protection.",
                )
            )
        points = await asyncio.to_thread(list_points, tenant, vm)
        return json_response({**live(item), "recoveryPoints": [p.wire() for p in points]})

    return await tenant_api(req, handle)
