"""What every runbook API handler shares: the route's tenant authorized, failures mapped to
problem+json once, so handlers stay the story of the request."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import azure.functions as func

from domain.errors import DomainError, ErrorInfo
from httpapi.auth import authorize_tenant
from httpapi.problems import problem

log = logging.getLogger(__name__)


async def tenant_api(
    req: func.HttpRequest, handler: Callable[[str], Awaitable[func.HttpResponse]]
) -> func.HttpResponse:
    """Authorize the route's tenant, run the handler, map failures to problem+json."""
    tenant = req.route_params.get("tenant", "")
    try:
        authorize_tenant(req, tenant)
        return await handler(tenant)
    except DomainError as error:
        status = getattr(error, "status", 400)
        first = error.errors[0]
        return problem(status, first, errors=list(error.errors) if len(error.errors) > 1 else None)
    except Exception:
        # The path only: a key sent as ?code= is in the URL's query.
        log.exception("unhandled error in %s %s", req.method, urlsplit(req.url).path)
        return problem(
            500,
            ErrorInfo(
                code="InternalError",
                cause="The control plane failed while handling this request.",
                recommendation="Retry; if it persists, look up the request in the logs.",
            ),
        )
