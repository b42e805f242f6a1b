"""RFC 9457 problem+json responses with the team's error shape (code, cause, recommendation)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from domain.errors import ErrorInfo

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    error: ErrorInfo,
    *,
    title: str | None = None,
    errors: list[ErrorInfo] | None = None,
    extra: dict[str, Any] | None = None,
) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": f"https://dr-control-plane/errors/{error.code}",
        "title": title or error.code,
        "status": status,
        "code": error.code,
        "detail": error.cause,
        "cause": error.cause,
        "recommendation": error.recommendation,
    }
    if errors:
        body["errors"] = [e.to_dict() for e in errors]
    if extra:
        body.update(extra)
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=PROBLEM_JSON)
