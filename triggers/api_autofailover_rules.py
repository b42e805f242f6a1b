"""Runbook API for auto-failover rules: what alert fails over which plan, with which
safeguards. PUT creates or replaces (a new rule runs as a dry run until set active); DELETE
makes a decision under way stand down at its next look."""

from __future__ import annotations

import asyncio

import azure.functions as func

from application.autofailover import delete_rule, get_rule, pending_job, put_rule
from contracts.api import AutoFailoverRuleRequest
from contracts.views import AutoFailoverRuleView
from domain.autofailover import AutoFailoverRule
from httpapi.answers import json_response
from httpapi.bodies import parse_body
from httpapi.handler import tenant_api
from httpapi.paging import page_args, page_body
from httpapi.runbook_routes import RunbookBlueprint
from readmodels.autofailover import RULES

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION
RULES_ROUTE = "tenants/{tenant}/auto-failover-rules"


def _view(rule: AutoFailoverRule) -> AutoFailoverRuleView:
    return AutoFailoverRuleView.model_validate(
        {**rule.model_dump(), "pending_job": pending_job(rule.tenant, rule.name)}
    )


@bp.route(route=f"{RULES_ROUTE}/{{rule}}", methods=["PUT"], auth_level=FUNCTION)
async def api_put_auto_failover_rule(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        spec = parse_body(req, AutoFailoverRuleRequest)
        rule, _ = await asyncio.to_thread(put_rule, tenant, req.route_params["rule"], spec)
        return json_response(await asyncio.to_thread(_view, rule))

    return await tenant_api(req, handle)


@bp.route(route=f"{RULES_ROUTE}/{{rule}}", methods=["GET"], auth_level=FUNCTION)
async def api_get_auto_failover_rule(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        rule = await asyncio.to_thread(get_rule, tenant, req.route_params["rule"])
        return json_response(await asyncio.to_thread(_view, rule))

    return await tenant_api(req, handle)


@bp.route(route=f"{RULES_ROUTE}/{{rule}}", methods=["DELETE"], auth_level=FUNCTION)
async def api_delete_auto_failover_rule(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        await asyncio.to_thread(delete_rule, tenant, req.route_params["rule"])
        return func.HttpResponse(status_code=204)

    return await tenant_api(req, handle)


@bp.route(route=RULES_ROUTE, methods=["GET"], auth_level=FUNCTION)
async def api_list_auto_failover_rules(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        page, next_token = await asyncio.to_thread(RULES.page, tenant, top, token)
        views = [await asyncio.to_thread(_view, rule) for rule in page]
        return json_response(page_body(req, views, next_token))

    return await tenant_api(req, handle)
