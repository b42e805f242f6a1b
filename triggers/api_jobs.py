"""Runbook API for jobs: what is running, what failed and why."""

from __future__ import annotations

import asyncio

import azure.functions as func

from application.errors import NotFound
from contracts.views import JobView
from domain.errors import ErrorInfo
from httpapi.answers import json_response
from httpapi.handler import tenant_api
from httpapi.paging import page_args, page_body
from httpapi.runbook_routes import RunbookBlueprint
from readmodels.jobs import JOBS, get_job

bp = RunbookBlueprint()
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
        return json_response(page_body(req, [JobView.of(j) for j in page], next_token))

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
        return json_response(JobView.of(job))

    return await tenant_api(req, handle)
