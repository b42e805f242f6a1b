"""RFC 9457 problem+json responses with the team's error shape (code, cause, recommendation)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from domain.errors import ErrorInfo
from domain.redaction import redact

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    error: ErrorInfo,
    *,
    title: str | None = None,
    errors: list[ErrorInfo] | None = None,
    extra: dict[str, Any] | None = None,
) -> func.HttpResponse:
    cause = redact(error.cause)  # a cause may quote what failed: never a key or SAS in an answer
    body: dict[str, Any] = {
        "type": f"https://dr-control-plane/errors/{error.code}",
        "title": title or error.code,
        "status": status,
        "code": error.code,
        "detail": cause,
        "cause": cause,
        "recommendation": redact(error.recommendation),
    }
    if errors:
        body["errors"] = [{k: redact(v) for k, v in e.to_dict().items()} for e in errors]
    if extra:
        body.update(extra)
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=PROBLEM_JSON)
