"""Runbook API for manual approvals: POST .../jobs/{job}/approve or /reject answers the
manual action a job waits for (a recovery plan's, or any job that asks for one); 202 with
what was answered. 409 NoApprovalPending when the job waits for none (any more)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from application.approvals import Decision, decide
from contracts.plans import ApprovalRequest, ApprovalView
from httpapi.answers import json_response
from httpapi.bodies import parse_body
from httpapi.handler import tenant_api

bp = df.Blueprint()
FUNCTION = func.AuthLevel.FUNCTION
JOB = "tenants/{tenant}/jobs/{job}"


async def _answer(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, approved: bool
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        body = parse_body(req, ApprovalRequest)
        job_id = req.route_params["job"]
        decision = Decision(approved=approved, comment=body.comment)
        awaiting = await decide(client, tenant, job_id, decision)
        base = req.url.split("/api/", 1)[0]
        view = ApprovalView(
            job_id=job_id,
            action=awaiting.action,
            decision="approved" if approved else "rejected",
            comment=body.comment,
            href=f"{base}/api/tenants/{tenant}/jobs/{job_id}",
        )
        return json_response(view, 202)

    return await tenant_api(req, handle)


@bp.route(route=JOB + "/approve", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_approve_job(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _answer(req, client, approved=True)


@bp.route(route=JOB + "/reject", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_reject_job(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _answer(req, client, approved=False)
