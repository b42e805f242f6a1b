"""GET /api/openapi.json: the runbook API's OpenAPI document, from the models the code uses."""

from __future__ import annotations

import azure.functions as func

from contracts.api import DisableProtectionRequest, EnableProtectionRequest, PreflightRequest
from contracts.openapi import Route, document
from core.problem import json_response
from readmodels.jobs import Job
from readmodels.records import ReplicatedItem, VmRecord

bp = func.Blueprint()

PAGING = {"top": "Page size, 1-1000 (default 100).", "continuationToken": "From nextLink."}

ROUTES: list[Route] = [
    Route("GET", "/health", "Liveness and dependencies.", "health", auth=False),
    Route("GET", "/openapi.json", "This document.", "openapi"),
    Route("GET", "/tenants/{tenant}/vms", "Discovered VMs with protection status.",
          "api_list_vms", response=VmRecord, list_of=True, query=PAGING),
    Route("POST", "/tenants/{tenant}/vms/{vm}/preflight",
          "Run every prerequisite check; nothing is changed.", "api_preflight",
          request=PreflightRequest),
    Route("POST", "/tenants/{tenant}/vms/{vm}/protection", "Enable protection.",
          "api_enable_protection", request=EnableProtectionRequest, response=Job, status=202),
    Route("DELETE", "/tenants/{tenant}/vms/{vm}/protection", "Disable protection.",
          "api_disable_protection", request=DisableProtectionRequest, response=Job, status=202),
    Route("GET", "/tenants/{tenant}/replicated-items", "Protected VMs and their replication.",
          "api_list_replicated_items", response=ReplicatedItem, list_of=True, query=PAGING),
    Route("GET", "/tenants/{tenant}/replicated-items/{vm}",
          "Status, health, progress, RPO and recovery points of one VM.",
          "api_get_replicated_item", response=ReplicatedItem),
    Route("GET", "/tenants/{tenant}/jobs", "Jobs, newest first.", "api_list_jobs",
          response=Job, list_of=True,
          query={**PAGING, "state": "Filter by state.", "target": "Filter by VM."}),
    Route("GET", "/tenants/{tenant}/jobs/{job}", "One job with steps and errors.",
          "api_get_job", response=Job),
]  # fmt: skip


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(document(ROUTES, title="DR control plane runbook API", version="1.0"))
