"""Runbook API: a person's answer to a job waiting for approval (an auto-failover decision
that asks before it fails a plan over, a plan's manual action). The answer goes to the job's
orchestration as the durable event `approval`, with who gave it (the fingerprint of the key
used, never the key, or the operator signed in to the console)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from application.approvals import answer_approval
from httpapi.answers import job_accepted
from httpapi.auth import key_hash, presented_key
from httpapi.handler import tenant_api
from httpapi.runbook_routes import RunbookBlueprint
from httpapi.signin import acting_operator

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION
JOB = "tenants/{tenant}/jobs/{job}"


def approver(req: func.HttpRequest) -> str:
    """Who answered: `entra:<name>` for the operator signed in to the console, else the first
    16 hex digits of the key's SHA-256 ("api" without a key)."""
    operator = acting_operator()
    if operator is not None:
        return operator.requested_by
    key = presented_key(req)
    return f"key:{key_hash(key)[:16]}" if key else "api"


async def _answer(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, approved: bool
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        job_id = req.route_params["job"]
        job = await answer_approval(client, tenant, job_id, approved, approver(req))
        return job_accepted(req, job, created=False)

    return await tenant_api(req, handle)


@bp.route(route=f"{JOB}/approve", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_approve_job(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _answer(req, client, approved=True)


@bp.route(route=f"{JOB}/reject", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_reject_job(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _answer(req, client, approved=False)
