"""devhost's own error responses: RFC 9457 problem+json with a stable code, the cause and the
fix, the same shape as the app's runbook API errors (core/problem.py), which the host does not
import: it serves any app."""

from __future__ import annotations

import json

from aiohttp import web

TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
          500: "Internal Server Error"}  # fmt: skip


def problem(status: int, code: str, detail: str, fix: str) -> web.Response:
    body = {
        "type": f"https://dr-control-plane/errors/devhost/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
        "cause": detail,
        "recommendation": fix,
    }
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )
