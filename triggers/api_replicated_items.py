"""Runbook API for replicated items: status, health, progress, RPO and recovery points.

Health, RPO and the agent's heartbeat are as of the request, not as of the last cycle
(`application.health.as_of`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import azure.functions as func

from application.replicated_items import item_detail, item_page
from httpapi.answers import json_response
from httpapi.handler import tenant_api
from httpapi.paging import page_args, page_body
from httpapi.runbook_routes import RunbookBlueprint

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION


@bp.route(route="tenants/{tenant}/replicated-items", methods=["GET"], auth_level=FUNCTION)
async def api_list_replicated_items(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        top, token = page_args(req)
        now = datetime.now(UTC)
        page, next_token = await asyncio.to_thread(item_page, tenant, top, token, now)
        return json_response(page_body(req, page, next_token))

    return await tenant_api(req, handle)


@bp.route(route="tenants/{tenant}/replicated-items/{vm}", methods=["GET"], auth_level=FUNCTION)
async def api_get_replicated_item(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        now = datetime.now(UTC)
        detail = await asyncio.to_thread(item_detail, tenant, req.route_params["vm"], now)
        return json_response(detail)

    return await tenant_api(req, handle)
