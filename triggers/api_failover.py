"""Runbook API for failover: test, planned and unplanned failover, then cleanup (of a test),
commit, cancel, or a change of recovery point; and the way home (provider asr): failback,
its commit, reverse replication. Each answers 202 with its job; a request the VM's status
does not allow now (or its provider does not offer) is a 409 naming what is allowed."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from application.failover import begin_after_failover, begin_failback, begin_failover
from contracts.api import FailbackRequest, FailoverRequest, RecoveryPointRequest
from domain.jobs import StartedBy
from domain.replication_state import Operation
from httpapi.answers import job_accepted
from httpapi.auth import requester
from httpapi.bodies import parse_body
from httpapi.handler import tenant_api
from httpapi.runbook_routes import RunbookBlueprint

bp = RunbookBlueprint()
FUNCTION = func.AuthLevel.FUNCTION
FAILOVER = "tenants/{tenant}/vms/{vm}/failover"
FAILBACK = "tenants/{tenant}/vms/{vm}/failback"


@bp.route(route=FAILOVER, methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failover(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, FailoverRequest)
        vm = req.route_params["vm"]
        job, created = await begin_failover(
            client, tenant, vm, request, StartedBy.API, requester(req)
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


async def _after(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, operation: Operation
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = (
            parse_body(req, RecoveryPointRequest)
            if operation is Operation.CHANGE_RECOVERY_POINT
            else None
        )
        vm = req.route_params["vm"]
        job, created = await begin_after_failover(
            client, tenant, vm, operation, StartedBy.API, request, requester(req)
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


@bp.route(route=f"{FAILOVER}/cleanup", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failover_cleanup(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _after(req, client, Operation.TEST_FAILOVER_CLEANUP)


@bp.route(route=f"{FAILOVER}/commit", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failover_commit(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _after(req, client, Operation.COMMIT)


@bp.route(route=f"{FAILOVER}/cancel", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failover_cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _after(req, client, Operation.CANCEL_FAILOVER)


@bp.route(route=f"{FAILOVER}/recovery-point", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failover_recovery_point(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _after(req, client, Operation.CHANGE_RECOVERY_POINT)


async def _home(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, operation: Operation
) -> func.HttpResponse:
    async def handle(tenant: str) -> func.HttpResponse:
        request = parse_body(req, FailbackRequest) if operation is Operation.FAILBACK else None
        vm = req.route_params["vm"]
        job, created = await begin_failback(
            client, tenant, vm, operation, StartedBy.API, request, requester(req)
        )
        return job_accepted(req, job, created)

    return await tenant_api(req, handle)


@bp.route(route=FAILBACK, methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failback(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _home(req, client, Operation.FAILBACK)


@bp.route(route=f"{FAILBACK}/commit", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_failback_commit(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _home(req, client, Operation.COMMIT_FAILBACK)


@bp.route(route="tenants/{tenant}/vms/{vm}/reprotect", methods=["POST"], auth_level=FUNCTION)
@bp.durable_client_input(client_name="client")
async def api_reprotect(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    return await _home(req, client, Operation.REPROTECT)
