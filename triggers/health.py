"""GET /api/health: liveness and the state of each dependency; the one route without a key.

It answers 200 when every dependency answers and 503 otherwise, naming which one failed, so
a monitor can alert on it. It reveals no tenant data and no configuration values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import azure.functions as func

from azureclients.clients import blob_service, table_service

bp = func.Blueprint()


def _probe(check: Callable[[], object]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        check()
        return {"status": "ok", "latencyMs": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as error:  # a health probe reports, it never raises
        return {"status": "unavailable", "error": type(error).__name__}


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    dependencies = {
        "readModels": _probe(lambda: next(iter(table_service().list_tables()), None)),
        "replicaStorage": _probe(lambda: blob_service().get_account_information()),
    }
    healthy = all(d["status"] == "ok" for d in dependencies.values())
    body = {"status": "ok" if healthy else "degraded", "dependencies": dependencies}
    return func.HttpResponse(
        json.dumps(body), status_code=200 if healthy else 503, mimetype="application/json"
    )
