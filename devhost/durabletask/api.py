"""The Durable HTTP API, as the SDK's DurableOrchestrationClient and operators call it.

Two mounts serve the same handlers: the RPC base (`/_durable/<random token>/`), which only
code handed the client binding knows, and the public management URLs under
`/runtime/webhooks/durabletask/`, which need the system key (`code=`), as in Azure.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from devhost.durabletask.engine import DurableEngine, InstanceExists, UnknownFunction
from devhost.durabletask.store import Instance

PUBLIC = "/runtime/webhooks/durabletask"


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def status_json(instance: Instance, *, show_input: bool = True, history: bool = False) -> dict:
    body: dict[str, Any] = {
        "name": instance.name,
        "instanceId": instance.id,
        "createdTime": instance.created,
        "lastUpdatedTime": instance.updated,
        "runtimeStatus": instance.status,
        "customStatus": _json_or_none(instance.custom_status),
        "output": _json_or_none(instance.output),
    }
    if show_input:
        body["input"] = _json_or_none(instance.input)
    if history:
        body["history"] = instance.history
    return body


async def _body_text(request: web.Request, rpc: bool) -> str | None:
    """The JSON text of the value the caller sent.

    The SDK's client (the RPC mount) double-encodes: its body is a JSON string that holds the
    JSON text of the value. Operators and runbooks on the public URLs post the JSON itself.
    """
    raw = await request.text()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "ExceptionMessage": f"The body is not JSON ({error}). Fix: send "
                    "the value as JSON, e.g. a quoted string."
                }
            ),
            content_type="application/json",
        ) from error
    if rpc and isinstance(value, str):
        return value
    return json.dumps(value)


def add_routes(app: web.Application, engine: DurableEngine) -> None:
    def is_rpc(request: web.Request) -> bool:
        return request.path.startswith(f"/_durable/{engine.rpc_token}/")

    def authorized(request: web.Request) -> bool:
        if is_rpc(request):
            return True
        code = request.query.get("code") or request.headers.get("x-functions-key") or ""
        return hmac.compare_digest(code, engine.system_key) or bool(
            engine.admin_key and hmac.compare_digest(code, engine.admin_key)
        )

    def guard(handler):
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not authorized(request):
                return web.json_response({"error": "a valid system key (code=) is required"},
                                         status=401)  # fmt: skip
            return await handler(request)

        return wrapped

    async def start(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            instance_id = engine.start_new(
                name, request.match_info.get("id"), await _body_text(request, is_rpc(request))
            )
        except UnknownFunction as error:
            return web.json_response({"ExceptionMessage": str(error)}, status=400)
        except InstanceExists as error:
            return web.json_response({"ExceptionMessage": str(error)}, status=409)
        links = json.loads(engine.client_binding())["managementUrls"]
        body = {k: v.replace("INSTANCEID", instance_id) for k, v in links.items()}
        body["id"] = instance_id
        return web.json_response(body, status=202)

    async def get_status(request: web.Request) -> web.Response:
        instance = engine.status(
            request.match_info["id"], history=request.query.get("showHistory", "").lower() == "true"
        )
        if instance is None:
            return web.json_response({}, status=404)
        body = status_json(
            instance,
            show_input=request.query.get("showInput", "true").lower() != "false",
            history=request.query.get("showHistory", "").lower() == "true",
        )
        return web.json_response(body, status=202 if instance.running else 200)

    async def list_instances(request: web.Request) -> web.Response:
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        found = engine.store.query(statuses or None, request.query.get("instanceIdPrefix"))
        return web.json_response([status_json(i) for i in found])

    async def raise_event(request: web.Request) -> web.Response:
        instance = engine.status(request.match_info["id"])
        if instance is None:
            return web.json_response({}, status=404)
        if not instance.running:
            return web.json_response({}, status=410)
        engine.raise_event(
            instance.id, request.match_info["event"], await _body_text(request, is_rpc(request))
        )
        return web.json_response({}, status=202)

    async def terminate(request: web.Request) -> web.Response:
        outcome = engine.terminate(request.match_info["id"], request.query.get("reason", ""))
        return web.json_response({}, status={"missing": 404, "finished": 410}.get(outcome, 202))

    async def purge(request: web.Request) -> web.Response:
        deleted = engine.purge(request.match_info["id"])
        return web.json_response({"instancesDeleted": deleted}, status=200 if deleted else 404)

    for base in (f"/_durable/{engine.rpc_token}", PUBLIC):
        app.router.add_post(base + "/orchestrators/{name}", guard(start))
        app.router.add_post(base + "/orchestrators/{name}/{id}", guard(start))
        app.router.add_get(base + "/instances/", guard(list_instances))
        app.router.add_get(base + "/instances", guard(list_instances))
        app.router.add_get(base + "/instances/{id}", guard(get_status))
        app.router.add_delete(base + "/instances/{id}", guard(purge))
        app.router.add_post(base + "/instances/{id}/raiseEvent/{event}", guard(raise_event))
        app.router.add_post(base + "/instances/{id}/terminate", guard(terminate))
