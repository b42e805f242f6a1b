"""GET /api/openapi.json: the runbook API's OpenAPI document, from the models the code uses.

Every HTTP function of the app is declared here once; tests check both ways that the app
serves exactly these routes, and that the answers of the end-to-end calls match the schemas.
"""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from contracts.api import (
    DisableProtectionRequest,
    EnableProtectionRequest,
    HealthReport,
    OpenApiDocument,
    PreflightReport,
    PreflightRequest,
)
from contracts.openapi import Route, document
from core.problem import json_response
from domain.jobs import Job
from readmodels.records import HealthView, RecoveryPoint, ReplicatedItem, VmRecord

bp = func.Blueprint()


class VmView(VmRecord):
    """A discovered VM with its protection (GET .../vms)."""

    protection_status: str = Field(description="NotProtected, or the replication status.")
    health: HealthView | None = None
    active_job_id: str | None = None


class JobAccepted(Job):
    """The job of an operation that was started (or was already running: created false)."""

    created: bool
    href: str = Field(description="GET this URL to follow the job.")


class ReplicatedItemDetail(ReplicatedItem):
    recovery_points: list[RecoveryPoint] = Field(default_factory=list)


PAGING = {"top": "Page size, 1-1000 (default 100).", "continuationToken": "From nextLink."}
BUSY = "The VM is busy with another operation (OperationInProgress)."

ROUTES: list[Route] = [
    Route("GET", "/health", "Liveness and dependencies (no key needed).", "health",
          response=HealthReport, auth=False, errors={503: "A dependency is unavailable."}),
    Route("GET", "/openapi.json", "This document.", "openapi", response=OpenApiDocument),
    Route("GET", "/tenants/{tenant}/vms", "Discovered VMs with protection status.",
          "api_list_vms", response=VmView, list_of=True, query=PAGING),
    Route("POST", "/tenants/{tenant}/vms/{vm}/preflight",
          "Run every prerequisite check; nothing is changed.", "api_preflight",
          request=PreflightRequest, response=PreflightReport),
    Route("POST", "/tenants/{tenant}/vms/{vm}/protection", "Enable protection.",
          "api_enable_protection", request=EnableProtectionRequest, response=JobAccepted,
          status=202, errors={409: f"Already protected (AlreadyProtected). {BUSY}"}),
    Route("DELETE", "/tenants/{tenant}/vms/{vm}/protection", "Disable protection.",
          "api_disable_protection", request=DisableProtectionRequest, response=JobAccepted,
          status=202,
          errors={409: f"Not protected (NotProtected), or not now (IllegalTransition). {BUSY}"}),
    Route("GET", "/tenants/{tenant}/replicated-items", "Protected VMs and their replication.",
          "api_list_replicated_items", response=ReplicatedItem, list_of=True, query=PAGING),
    Route("GET", "/tenants/{tenant}/replicated-items/{vm}",
          "Status, health, progress, RPO and recovery points of one VM.",
          "api_get_replicated_item", response=ReplicatedItemDetail),
    Route("GET", "/tenants/{tenant}/jobs", "Jobs, newest first.", "api_list_jobs",
          response=Job, list_of=True,
          query={**PAGING, "state": "Filter by state, e.g. Failed.",
                 "target": "Filter by VM id."}),
    Route("GET", "/tenants/{tenant}/jobs/{job}", "One job with steps and errors.",
          "api_get_job", response=Job),
    Route("GET", "/console", "The operator console: an HTML page that reads this API with the key "
          "in x-functions-key (open it once with ?code=<key>; see docs/console.md).",
          "console_page"),
]  # fmt: skip


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(document(ROUTES, title="DR control plane runbook API", version="1.0"))
