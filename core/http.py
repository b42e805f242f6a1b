"""What every runbook API handler shares: tenant auth, body parsing, errors as problem+json.

Handlers stay the story of the request; the mapping of failures to HTTP lives here once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import azure.functions as func
from pydantic import BaseModel, ValidationError

from core.auth import authorize_tenant
from core.problem import problem
from domain.errors import DomainError, ErrorInfo

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_NOT_CARRIED = ("top", "continuationToken", "code")


class BadRequest(DomainError):
    status = 400


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


def parse_body(req: func.HttpRequest, model: type[Model]) -> Model:
    """The request body as `model`, or a 400 that lists every field that is wrong."""
    raw = req.get_body() or b"{}"
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(
            ErrorInfo(
                code="BodyNotJson",
                cause=f"The request body is not valid JSON ({error}).",
                recommendation="Send a JSON object with Content-Type: application/json.",
            )
        ) from error
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadRequest(*validation_errors(error)) from error


def validation_errors(error: ValidationError) -> list[ErrorInfo]:
    """One ErrorInfo per wrong field, naming the field and what it must be."""
    infos = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        infos.append(
            ErrorInfo(
                code="InvalidField",
                cause=f"{where}: {item['msg']}.",
                recommendation=f"Fix '{where}' and send the request again.",
            )
        )
    return infos


def page_args(req: func.HttpRequest) -> tuple[int, dict[str, Any] | None]:
    """`top` and the decoded `continuationToken` of a list request."""
    try:
        top = int(req.params.get("top", DEFAULT_PAGE_SIZE))
    except ValueError:
        top = -1
    if not 1 <= top <= MAX_PAGE_SIZE:
        raise BadRequest(
            ErrorInfo(
                code="InvalidPageSize",
                cause=f"top={req.params.get('top')!r} is not a whole number from 1 to "
                f"{MAX_PAGE_SIZE}.",
                recommendation=f"Use top between 1 and {MAX_PAGE_SIZE} (default "
                f"{DEFAULT_PAGE_SIZE}).",
            )
        )
    token = req.params.get("continuationToken")
    if not token:
        return top, None
    try:
        return top, json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(
            ErrorInfo(
                code="InvalidContinuationToken",
                cause="The continuationToken is not one this API issued.",
                recommendation="Pass the nextLink of the previous page unchanged.",
            )
        ) from error


def page_body(req: func.HttpRequest, items: list[Any], token: dict[str, Any] | None) -> dict:
    """An Azure-style page: `value` and, when more remain, `nextLink`."""
    body: dict[str, Any] = {"value": items}
    if token:
        encoded = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        base = req.url.split("?", 1)[0]
        # Filters (state, target, ...) carry over, so the next page is of the same list; a key
        # passed as ?code= does not: a link may be logged or shared.
        kept = {k: v for k, v in req.params.items() if k not in _NOT_CARRIED}
        query = {"top": req.params.get("top", str(DEFAULT_PAGE_SIZE)), **kept}
        body["nextLink"] = f"{base}?{urlencode({**query, 'continuationToken': encoded})}"
    return body


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
        log.exception("unhandled error in %s %s", req.method, req.url)
        return problem(
            500,
            ErrorInfo(
                code="InternalError",
                cause="The control plane failed while handling this request.",
                recommendation="Retry; if it persists, look up the request in the logs.",
            ),
        )
