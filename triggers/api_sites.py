"""Runbook API for sites: the one bandwidth cap (and schedule) the site's agent shares among
all its transfers, applied by the agent at once."""

from __future__ import annotations

import asyncio

import azure.functions as func

from application.sites import bandwidth_of, set_bandwidth
from contracts.api import SiteBandwidthRequest
from contracts.commands import BandwidthCommand
from contracts.views import SiteBandwidthView
from httpapi.answers import json_response
from httpapi.bodies import parse_body
from httpapi.handler import tenant_api
from httpapi.runbook_routes import RunbookBlueprint

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION
BANDWIDTH = "tenants/{tenant}/sites/{site}/bandwidth"


@bp.route(route=BANDWIDTH, methods=["PUT"], auth_level=FUNCTION)
async def api_set_site_bandwidth(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        body = parse_body(req, SiteBandwidthRequest)
        setting = BandwidthCommand.model_validate(body.model_dump())
        site = req.route_params["site"]
        record = await asyncio.to_thread(set_bandwidth, tenant, site, setting)
        return json_response(SiteBandwidthView.of(record), 202)

    return await tenant_api(req, handle)


@bp.route(route=BANDWIDTH, methods=["GET"], auth_level=FUNCTION)
async def api_get_site_bandwidth(req: func.HttpRequest) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        record = await asyncio.to_thread(bandwidth_of, tenant, req.route_params["site"])
        return json_response(SiteBandwidthView.of(record))

    return await tenant_api(req, handle)
