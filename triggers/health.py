"""GET /api/health: liveness, the one route that needs no key."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"status": "ok"}), status_code=200, mimetype="application/json"
    )
