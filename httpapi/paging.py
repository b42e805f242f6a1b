"""Azure-style pages of a list: `top`, an opaque `continuationToken`, and `nextLink`."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import azure.functions as func

from azureclients.clients import valid_key
from domain.errors import ErrorInfo
from httpapi.bodies import BadRequest

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_NOT_CARRIED = ("top", "continuationToken", "code")
TOKEN_KEYS = {"PartitionKey", "RowKey"}


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
    invalid = BadRequest(
        ErrorInfo(
            code="InvalidContinuationToken",
            cause="The continuationToken is not one this API issued.",
            recommendation="Pass the nextLink of the previous page unchanged.",
        )
    )
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, RecursionError) as error:  # binascii, JSON, UTF-8, too deep
        raise invalid from error
    # What this API issues: a table position, {"PartitionKey": "...", "RowKey": "..."}.
    if not (
        isinstance(decoded, dict)
        and decoded
        and set(decoded) <= TOKEN_KEYS
        and all(isinstance(v, str) and valid_key(v) for v in decoded.values())
    ):
        raise invalid
    return top, decoded


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
