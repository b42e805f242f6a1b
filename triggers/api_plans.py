"""Runbook API for recovery plans: the plan (PUT, GET, DELETE, list), its operations (failover,
commit, cleanup, drill: 202 with the plan's job) and its drills' reports (JSON and HTML).

A plan's operation whose VMs are not all ready is refused before anything starts: 409
RecoveryPlanNotReady naming each VM and its status (`errors` lists one per VM)."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func

from application import plans
from application.plans import begin_plan_operation
from contracts.api import PlanFailoverRequest
from contracts.plans import DrillReportView, RecoveryPlanRequest
from domain.jobs import StartedBy
from domain.plans import PlanOperation
from httpapi.answers import job_accepted, json_response
from httpapi.bodies import parse_body
from httpapi.drill_page import html_response
from httpapi.handler import tenant_api
from httpapi.paging import page_args, page_body
from httpapi.runbook_routes import RunbookBlueprint
from readmodels.plans import DrillRecord

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION
PLANS = "tenants/{tenant}/recovery-plans"
PLAN = PLANS + "/{plan}"
DRILLS = PLAN + "/drills"


@bp.route(route=PLANS, methods=["GET"], auth_level=FUNCTION)
async def api_list_recovery_plans(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        page, next_token = await asyncio.to_thread(plans.plan_page, tenant, top, token)
        return json_response(page_body(req, page, next_token))

    return await tenant_api(req, handle)


@bp.route(route=PLAN, methods=["PUT"], auth_level=FUNCTION)
async def api_put_recovery_plan(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        body = parse_body(req, RecoveryPlanRequest)
        name = req.route_params["plan"]
        view, _ = await asyncio.to_thread(plans.put_plan, tenant, name, body)
        return json_response(view)

    return await tenant_api(req, handle)


@bp.route(route=PLAN, methods=["GET"], auth_level=FUNCTION)
async def api_get_recovery_plan(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        view = await asyncio.to_thread(plans.get_plan, tenant, req.route_params["plan"])
        return json_response(view)

    return await tenant_api(req, handle)


@bp.route(route=PLAN, methods=["DELETE"], auth_level=FUNCTION)
async def api_delete_recovery_plan(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        await asyncio.to_thread(plans.delete_plan, tenant, req.route_params["plan"])
        return func.HttpResponse(status_code=204)

    return await tenant_api(req, handle)


async def _operation(
    req: func.HttpRequest,
    client: df.DurableOrchestrationClient,
    operation: PlanOperation,
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = (
            parse_body(req, PlanFailoverRequest) if operation is PlanOperation.FAILOVER else None
        )
        plan = req.route_params["plan"]
        job, created = await begin_plan_operation(
            client, tenant, plan, operation, request, StartedBy.API
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


@bp.route(route=PLAN + "/failover", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_recovery_plan_failover(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _operation(req, client, PlanOperation.FAILOVER)


@bp.route(route=PLAN + "/commit", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_recovery_plan_commit(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _operation(req, client, PlanOperation.COMMIT)


@bp.route(route=PLAN + "/cleanup", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_recovery_plan_cleanup(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _operation(req, client, PlanOperation.CLEANUP)


@bp.route(route=PLAN + "/drill", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_recovery_plan_drill(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _operation(req, client, PlanOperation.DRILL)


def _report(req: func.HttpRequest, drill: DrillRecord) -> DrillReportView:
    base = req.url.split("/api/", 1)[0]
    page = f"{base}/api/tenants/{drill.tenant}/recovery-plans/{drill.plan}/drills/{drill.id}/report"
    return DrillReportView.of(drill, report=page)


@bp.route(route=DRILLS, methods=["GET"], auth_level=FUNCTION)
async def api_list_drills(req: func.HttpRequest) -> func.HttpResponse:
    """The plan's drills, newest first."""

    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        plan = req.route_params["plan"]
        page, next_token = await asyncio.to_thread(plans.drill_page, tenant, plan, top, token)
        return json_response(page_body(req, [_report(req, d) for d in page], next_token))

    return await tenant_api(req, handle)


@bp.route(route=DRILLS + "/{drill}", methods=["GET"], auth_level=FUNCTION)
async def api_get_drill(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        params = req.route_params
        drill = await asyncio.to_thread(plans.drill_of, tenant, params["plan"], params["drill"])
        return json_response(_report(req, drill))

    return await tenant_api(req, handle)


@bp.route(route=DRILLS + "/{drill}/report", methods=["GET"], auth_level=FUNCTION)
async def api_drill_report_page(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        params = req.route_params
        drill = await asyncio.to_thread(plans.drill_of, tenant, params["plan"], params["drill"])
        return html_response(_report(req, drill))

    return await tenant_api(req, handle)
