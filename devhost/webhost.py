"""The local Functions host: HTTP, Event Grid, timer and Service Bus triggers, Durable.

It serves `/api/<route>` with real `func.HttpRequest`/`func.HttpResponse`, enforces auth levels
with keys from settings, runs async functions on one long-lived event loop (the Durable client
keeps a module-level aiohttp session) and sync ones in a thread pool, and logs one JSON line
per invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import inspect
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost import invocation_log
from devhost.durabletask import DurableEngine
from devhost.functions import FunctionSpec, functions_of, index
from devhost.ncrontab import Schedule
from devhost.problems import problem
from devhost.sb_trigger import ServiceBusTriggerRunner, servicebus_timeouts

log = logging.getLogger("devhost")
ROUTE_PREFIX = "api"


def parse_keys(text: str) -> dict[str, str]:
    """`name=value,name=value` (a bare value is named 'default')."""
    keys = {}
    for n, part in enumerate(p.strip() for p in (text or "").split(",") if p.strip()):
        name, sep, value = part.partition("=")
        keys[name if sep else f"key{n}"] = value if sep else name
    return keys


def durable_system_key(master_key: str) -> str | None:
    """DEVHOST_DURABLE_KEY, else a key derived from the master key.

    Stable across restarts (status URLs handed out before a crash keep working) without
    putting the master key itself into every URL the Durable client returns.
    """
    configured = os.environ.get("DEVHOST_DURABLE_KEY")
    if configured:
        return configured
    if not master_key:
        return None
    return hmac.new(master_key.encode(), b"durabletask_extension", "sha256").hexdigest()


_BINDING = re.compile(r"%([A-Za-z0-9_.:-]+)%")


def binding_settings(text: str) -> list[str]:
    """The app settings a binding expression names (`%NAME%`), as the Functions host resolves
    them in trigger properties such as a timer's schedule."""
    return _BINDING.findall(text)


def resolve_bindings(text: str) -> str:
    """`text` with each `%NAME%` replaced by that app setting (checked at start)."""
    return _BINDING.sub(lambda m: os.environ[m.group(1)], text)


def disabled(spec: FunctionSpec) -> bool:
    """`AzureWebJobs.<name>.Disabled` true (or 1): the host does not start the function's
    trigger, as in Azure. (devhost honours it for timers.)"""
    value = os.environ.get(f"AzureWebJobs.{spec.name}.Disabled", "")
    return value.strip().lower() in ("true", "1")


class DevHost:
    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        data_dir: Path = Path(".devhost"),
        activity_concurrency: int | None = None,
        host_json: Path | None = Path("host.json"),
    ) -> None:
        functions = functions_of(app)
        self.specs = index(functions)
        self.host, self.port = host, port
        self.data_dir = data_dir
        self.master_key = os.environ.get("DEVHOST_MASTER_KEY", "")
        self.host_keys = parse_keys(os.environ.get("DEVHOST_HOST_KEYS", ""))
        settings = json.loads(host_json.read_text()) if host_json and host_json.exists() else {}
        extensions = settings.get("extensions", {})
        self.route_prefix = extensions.get("http", {}).get("routePrefix", ROUTE_PREFIX).strip("/")
        self.sb_settings = extensions.get("serviceBus", {})
        durable = extensions.get("durableTask", {})
        self.engine = DurableEngine(
            functions,
            db_path=data_dir / "durable.sqlite",
            hub_name=durable.get("hubName", "DrControlPlane"),
            # An explicit limit (--activity-concurrency) wins over host.json's.
            activity_concurrency=activity_concurrency
            or int(durable.get("maxConcurrentActivityFunctions", 16)),
            system_key=durable_system_key(self.master_key),
            admin_key=self.master_key or None,
        )
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fn")
        self._runner: web.AppRunner | None = None
        self._background: list[asyncio.Task] = []
        self._sb: list[ServiceBusTriggerRunner] = []

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _check_settings(self) -> None:
        from devhost.settings import require

        needed = [("DEVHOST_MASTER_KEY", "the admin key every protected route accepts")]
        for spec in self.specs:
            if spec.trigger_type == "serviceBusTrigger":
                connection = spec.trigger.get("connection") or "AzureWebJobsServiceBus"
                needed.append((connection, f"the Service Bus connection of {spec.name}"))
            if spec.trigger_type == "timerTrigger" and not disabled(spec):
                for name in binding_settings(str(spec.trigger.get("schedule", ""))):
                    needed.append((name, f"the schedule of {spec.name} (%{name}%)"))
        require(needed)

    async def start(self) -> None:
        self._check_settings()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.engine.add_routes(app)
        app.router.add_route("*", f"/{self.route_prefix}/{{tail:[\\s\\S]*}}", self._http)
        app.router.add_route("*", "/runtime/webhooks/eventgrid", self._eventgrid)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.engine.base_url = self.base_url
        await self.engine.start()
        for spec in self.specs:
            if spec.trigger_type == "timerTrigger" and disabled(spec):
                log.info("devhost: %s is disabled (AzureWebJobs.%s.Disabled)", spec.name, spec.name)
            elif spec.trigger_type == "timerTrigger":
                self._background.append(asyncio.create_task(self._timer(spec)))
            elif spec.trigger_type == "serviceBusTrigger":
                await self._start_servicebus(spec)

    async def stop(self) -> None:
        for runner in self._sb:
            await runner.stop()
        for task in self._background:
            task.cancel()
        await self.engine.stop()
        if self._runner:
            await self._runner.cleanup()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> list[str]:
        lines = []
        for spec in self.specs:
            if spec.route is not None:
                methods = ",".join(spec.methods)
                lines.append(
                    f"{spec.name}: [{methods}] {self.base_url}/{self.route_prefix}/"
                    f"{spec.route.template} ({spec.auth_level})"
                )
            else:
                lines.append(f"{spec.name}: {spec.trigger_type}")
        return lines

    # --- invocation --------------------------------------------------------------------------

    async def invoke(self, spec: FunctionSpec, trigger_value: Any, **info: Any) -> Any:
        kwargs = {spec.trigger_param: trigger_value}
        for name in spec.client_params:
            kwargs[name] = self.engine.client_binding()
        started = time.perf_counter()
        outcome = "succeeded"
        try:
            if inspect.iscoroutinefunction(spec.user):
                return await spec.user(**kwargs)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.pool, functools.partial(spec.user, **kwargs))
        except Exception:
            outcome = "failed"
            raise
        finally:
            invocation_log.record(
                spec.name, spec.trigger_type, instance=None,
                seconds=time.perf_counter() - started, outcome=outcome,
                invocationId=info.pop("invocation_id", None) or uuid.uuid4().hex, **info,
            )  # fmt: skip

    # --- HTTP --------------------------------------------------------------------------------

    @staticmethod
    def _has_key(request: web.Request) -> bool:
        return bool(request.headers.get("x-functions-key") or request.query.get("code"))

    def _key_level(self, request: web.Request) -> str | None:
        """'admin' for the master key, 'function' for a host key, None otherwise."""
        key = request.headers.get("x-functions-key") or request.query.get("code") or ""
        if self.master_key and hmac.compare_digest(key, self.master_key):
            return "admin"
        if any(hmac.compare_digest(key, v) for v in self.host_keys.values()):
            return "function"
        return None

    def _match(
        self, method: str, path: str
    ) -> tuple[FunctionSpec | None, dict[str, str], list[str]]:
        """The function for this method and path, its route values, and (when none serves the
        method) the methods the functions on that path do serve."""
        other_methods: list[str] = []
        for spec in self.specs:
            if spec.route is None:
                continue
            params = spec.route.match(path)
            if params is None:
                continue
            if method in spec.methods:
                return spec, params, []
            other_methods += spec.methods
        return None, {}, other_methods

    async def _http(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        spec, params, other_methods = self._match(request.method, path)
        if spec is None:
            where = f"{request.method} /{self.route_prefix}/{path}"
            if other_methods:  # as Azure: a method the route does not declare is not found
                return problem(
                    404,
                    "MethodNotServed",
                    f"No function serves {where}.",
                    f"This route serves {', '.join(other_methods)}.",
                )
            return problem(
                404,
                "RouteNotFound",
                f"No function serves {where}.",
                "Check the path; `python -m devhost --list` prints every route.",
            )
        if spec.auth_level != "anonymous":
            level = self._key_level(request)
            if level is None or (spec.auth_level == "admin" and level != "admin"):
                needed = "the master key" if spec.auth_level == "admin" else "a function key"
                return problem(
                    401,
                    "InvalidKey" if self._has_key(request) else "KeyRequired",
                    f"{spec.name} is at auth level '{spec.auth_level}' and needs {needed}.",
                    "Send it in the x-functions-key header or as ?code=; the keys are "
                    "DEVHOST_HOST_KEYS and DEVHOST_MASTER_KEY in local.settings.json.",
                )
        body = await request.read()
        req = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=params,
            body=body,
        )
        try:
            response = await self.invoke(spec, req, route=path, method=request.method)
        except Exception:
            log.exception("function %s raised", spec.name)
            return problem(
                500,
                "FunctionFailed",
                f"The function {spec.name} raised.",
                "See the host log for the traceback.",
            )
        if response is None:
            return web.Response(status=204)
        headers = dict(response.headers)
        headers.pop("Content-Length", None)
        content_type = headers.pop("Content-Type", None) or response.mimetype
        return web.Response(
            status=response.status_code,
            body=response.get_body(),
            headers=headers,
            content_type=content_type.split(";")[0] if content_type else None,
            charset=response.charset if content_type and content_type.startswith("text") else None,
        )

    # --- Event Grid ----------------------------------------------------------------------------

    async def _eventgrid(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":  # CloudEvents abuse protection handshake
            origin = request.headers.get("WebHook-Request-Origin", "*")
            return web.Response(status=200, headers={"WebHook-Allowed-Origin": origin})
        if request.method != "POST":
            return problem(
                405,
                "MethodNotAllowed",
                f"{request.method} is not an Event Grid delivery.",
                "Event Grid delivers events with POST.",
            )
        if self._key_level(request) != "admin":
            return problem(
                401,
                "InvalidKey" if self._has_key(request) else "KeyRequired",
                "The Event Grid webhook needs the system key.",
                "Add ?code=<DEVHOST_MASTER_KEY> to the subscription's endpoint.",
            )
        name = request.query.get("functionName", "")
        spec = next(
            (s for s in self.specs if s.name == name and s.trigger_type == "eventGridTrigger"),
            None,
        )
        if spec is None:
            known = [s.name for s in self.specs if s.trigger_type == "eventGridTrigger"]
            return problem(
                404,
                "NoSuchFunction",
                f"No Event Grid function '{name}'.",
                f"Use ?functionName= with one of: {', '.join(known) or 'none'}.",
            )
        try:
            payload = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return problem(
                400,
                "BodyNotJson",
                f"The body is not JSON ({error}).",
                "Send an Event Grid or CloudEvents JSON event or array.",
            )
        events = payload if isinstance(payload, list) else [payload]
        bad = next((n for n, e in enumerate(events) if not _is_event(e)), None)
        if bad is not None:
            return problem(
                400,
                "NotAnEvent",
                f"Item {bad} is neither an Event Grid event (id, "
                "eventType, subject, data) nor a CloudEvent (specversion, id, "
                "source, type).",
                "Send events in either schema.",
            )
        for item in events:
            if item.get("eventType") == "Microsoft.EventGrid.SubscriptionValidationEvent":
                code = item.get("data", {}).get("validationCode")
                return web.json_response({"validationResponse": code})
        for item in events:
            try:
                await self.invoke(spec, to_event(item), event_id=item.get("id"))
            except Exception:  # Event Grid retries a delivery that is not 2xx
                log.exception("function %s raised on event %s", spec.name, item.get("id"))
                return problem(
                    500,
                    "FunctionFailed",
                    f"The function {spec.name} raised on event {item.get('id')}.",
                    "See the host log; Event Grid will deliver the event again.",
                )
        return web.Response(status=200)

    # --- timers ------------------------------------------------------------------------------

    async def _timer(self, spec: FunctionSpec) -> None:
        schedule = Schedule.parse(resolve_bindings(spec.trigger["schedule"]))
        if spec.trigger.get("runOnStartup"):
            await self._fire_timer(spec, past_due=False)
        while True:
            now = datetime.now(UTC)
            due = schedule.next_after(now)
            await asyncio.sleep((due - now).total_seconds())
            late = (datetime.now(UTC) - due).total_seconds() > 5
            await self._fire_timer(spec, past_due=late)

    async def _fire_timer(self, spec: FunctionSpec, past_due: bool) -> None:
        from azure.functions.timer import TimerRequest

        with contextlib.suppress(Exception):
            await self.invoke(spec, TimerRequest(past_due=past_due))

    # --- Service Bus ---------------------------------------------------------------------------

    async def _start_servicebus(self, spec: FunctionSpec) -> None:
        connection = os.environ[spec.trigger.get("connection") or "AzureWebJobsServiceBus"]

        async def deliver(message: func.ServiceBusMessage) -> None:
            await self.invoke(spec, message, message_id=message.message_id)

        runner = ServiceBusTriggerRunner(
            connection,
            queue_name=spec.trigger.get("queueName"),
            topic_name=spec.trigger.get("topicName"),
            subscription_name=spec.trigger.get("subscriptionName"),
            sessions=bool(spec.trigger.get("isSessionsEnabled")),
            invoke=deliver,
            max_concurrent_calls=int(self.sb_settings.get("maxConcurrentCalls", 16)),
            max_concurrent_sessions=int(self.sb_settings.get("maxConcurrentSessions", 8)),
            auto_complete=bool(self.sb_settings.get("autoCompleteMessages", True)),
            **servicebus_timeouts(self.sb_settings),
        )
        await runner.start()
        self._sb.append(runner)


def _is_event(item: Any) -> bool:
    if not isinstance(item, dict) or not item.get("id"):
        return False
    if "specversion" in item:
        return bool(item.get("source") and item.get("type"))
    return bool(item.get("eventType"))


def to_event(item: dict) -> Any:
    """An Event Grid schema event or a CloudEvent, as the Python worker would build it."""
    if "specversion" in item:
        extras = {k: v for k, v in item.items() if k not in {
            "id", "source", "type", "specversion", "data", "time", "subject",
            "datacontenttype", "dataschema"}}  # fmt: skip
        return func.CloudEvent(
            id=item["id"], source=item["source"], type=item["type"],
            specversion=item["specversion"], data=item.get("data"),
            time=_time(item.get("time")), subject=item.get("subject"),
            datacontenttype=item.get("datacontenttype"), dataschema=item.get("dataschema"),
            **extras,
        )  # fmt: skip
    return func.EventGridEvent(
        id=item["id"], data=item.get("data"), topic=item.get("topic", ""),
        subject=item.get("subject", ""), event_type=item.get("eventType", ""),
        event_time=_time(item.get("eventTime")), data_version=item.get("dataVersion", ""),
    )  # fmt: skip


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return None


@contextlib.contextmanager
def running(host: DevHost) -> Iterator[DevHost]:
    """Run a DevHost on its own event loop in a background thread (tests, demo)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(host.start())
        except BaseException as error:  # surfaced to the caller below
            failure.append(error)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="devhost", daemon=True)
    thread.start()
    started.wait(60)
    if failure:
        raise failure[0]
    try:
        yield host
    finally:
        asyncio.run_coroutine_threadsafe(host.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
