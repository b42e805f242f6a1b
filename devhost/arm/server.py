"""The stand-in's HTTPS server: what ARM does before a resource provider sees a request.

Each request is authenticated (a management-audience bearer token), matched against the
operations the providers serve, its `api-version` checked against the versions that operation
is modelled on (the ones the pinned SDKs send), and its subscription and resource group
checked, in ARM's order and with ARM's codes. Providers (`compute.py`, `network.py`) then see a
`Call` with the parsed body. It runs on its own event loop in a thread, so devhost, tests and
`python -m devhost.arm` start it the same way; the managed-identity endpoint runs beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.arm.auth import check_bearer
from devhost.arm.config import StandInConfig
from devhost.arm.errors import ArmError
from devhost.arm.identity import LocalIdentity
from devhost.arm.lro import Operations
from devhost.arm.state import Store
from devhost.arm.trust import ca_bundle, ensure_certificate
from devhost.arm.vhd import DiskBytes

log = logging.getLogger("devhost.arm")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
SUB = r"^/subscriptions/(?P<subscription>[^/]+)"
GROUP = SUB + r"/resourceGroups/(?P<group>[^/]+)"


@dataclass
class Call:
    """One request as a provider sees it: the path's named parts, the api-version, the body."""

    request: web.Request
    params: dict[str, str]
    api_version: str
    body: Any = None

    @property
    def group(self) -> str:
        return self.params["group"]


Handler = Callable[[Any], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    versions: tuple[str, ...]
    resource_type: str  # for ARM's refusal: the type whose versions are listed
    needs_group: bool = True

    @classmethod
    def of(
        cls,
        method: str,
        pattern: str,
        handler: Handler,
        versions: tuple[str, ...],
        resource_type: str,
        needs_group: bool = True,
    ) -> Route:
        return cls(
            method,
            re.compile(pattern + "$", re.IGNORECASE),
            handler,
            versions,
            resource_type,
            needs_group,
        )


@dataclass
class StandIn:
    """Shared by the providers: configuration, state, operations and the disks' bytes."""

    config: StandInConfig
    store: Store
    operations: Operations
    disks: DiskBytes
    routes: list[Route] = field(default_factory=list)
    control: Handler | None = None  # the test-only control endpoint (/_standin/...)
    # Opt-in: called with each ARM request (not the control endpoint's) and its answer's
    # status, on the server's thread; a benchmark counts the app's ARM calls with it.
    observer: Callable[[web.Request, int], None] | None = None

    def require_group(self, name: str) -> str:
        """The group's name as created; ARM's 404 when it does not exist."""
        found = self.store.group(name)
        if found is None:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found."
            )
        return found[0]

    def location(self, body: dict, resource_type: str) -> str:
        """The body's location, normalised as ARM returns it; the one region modelled."""
        given = body.get("location")
        if not given:
            raise ArmError(
                400, "LocationRequired", "The location property is required for this definition."
            )
        normalised = str(given).replace(" ", "").lower()
        if normalised != self.config.location:
            raise ArmError(
                400,
                "LocationNotAvailableForResourceType",
                f"The provided location '{given}' is not available for resource type "
                f"'{resource_type}'. List of available regions for the resource type is "
                f"'{self.config.location}'.",
            )
        return normalised

    async def blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run storage I/O off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)


def _json_body(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{error}'.",
        ) from None


def _check_version(route: Route, version: str | None, location: str) -> str:
    supported = ", ".join(route.versions)
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if not _API_VERSION.match(version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{supported}'.",
        )
    if version not in route.versions:
        raise ArmError(
            400,
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location '{location}' and API version "
            f"'{version}' for type '{route.resource_type}'. The supported api-versions are "
            f"'{supported}'. The supported locations are '{location}'.",
        )
    return version


def build_app(standin: StandIn) -> web.Application:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_standin/") and standin.control is not None:
            return await standin.control(request)  # test-only, its own key (not ARM's)
        try:
            check_bearer(request.headers.get("Authorization"))
            path = request.path.rstrip("/")
            candidates = [(r, m) for r in standin.routes if (m := r.pattern.match(path))]
            if not candidates:
                raise ArmError(404, "NotFound", f"The stand-in serves no operation at {path}.")
            matches = [(r, m) for r, m in candidates if r.method == request.method]
            if not matches:
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.",
                )
            route, match = matches[0]
            version = _check_version(
                route, request.query.get("api-version"), standin.config.location
            )
            params = match.groupdict()
            if params["subscription"].lower() != standin.config.subscription.lower():
                raise ArmError(
                    404,
                    "SubscriptionNotFound",
                    f"The subscription '{params['subscription']}' could not be found.",
                )
            if route.needs_group:
                standin.require_group(params["group"])
            body = _json_body(await request.text()) if request.can_read_body else None
            response = await route.handler(Call(request, params, version, body))
        except ArmError as error:
            response = error.response()
        except Exception as error:  # a bug or an unreachable Azurite: ARM's shape, logged
            log.exception("arm: %s %s failed", request.method, request.path_qs)
            response = ArmError(
                500, "InternalServerError", f"The ARM stand-in failed: {error}"
            ).response()
        log.info("arm: %s %s -> %s", request.method, request.path_qs, response.status)
        if standin.observer is not None:
            standin.observer(request, response.status)
        return response

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class ArmStandIn:
    """The running stand-in: HTTPS on loopback (port 0 picks one) and the identity endpoint.

    `with ArmStandIn(data_dir, storage, config) as arm:` then `arm.endpoint`,
    `arm.app_environment()` (what devhost gives the app process)."""

    def __init__(
        self,
        data_dir: Path,
        storage_connection: str,
        config: StandInConfig,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.data_dir = data_dir
        self.storage_connection = storage_connection
        self.config = config
        self.host, self.port = host, port
        self.identity = LocalIdentity(config.tenant)
        self.identity_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []
        self.standin: StandIn | None = None

    @property
    def endpoint(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        return f"http://{self.host}:{self.identity_port}/msi/token"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    @property
    def ca_bundle_path(self) -> Path:
        return self.data_dir / "tls" / "ca-bundle.pem"

    def app_environment(self) -> dict[str, str]:
        """Process environment (not app settings) the Functions host would give the app: its
        managed identity, and trust in the local certificate for the SDKs' TLS."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity.header,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle_path),
            "SSL_CERT_FILE": str(self.ca_bundle_path),
        }

    def site_recovery_control(self, what: str, body: dict) -> dict:
        """POST to the simulated Site Recovery's control endpoint (`discover`, `settings`,
        `health-errors`, `age`): for tests, benchmarks and the demo only, keyed with the
        master key the stand-in was configured with. Its answer; HTTPError when refused."""
        import requests

        from devhost.arm.siterecovery import CONTROL

        response = requests.post(
            f"{self.endpoint}{CONTROL}/{what}",
            json=body,
            headers={"x-standin-key": self.config.control_key},
            verify=str(self.ca_bundle_path),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def write_env_file(self) -> Path:
        """`env.sh` in the data dir: `. .devhost/arm/env.sh` gives an operator's shell (and
        tools such as `python -m tools.read_disk`) what the app process has."""
        path = self.data_dir / "env.sh"
        lines = [f"export ARM_ENDPOINT={self.endpoint}"]
        lines += [f"export {k}={v}" for k, v in self.app_environment().items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)  # IDENTITY_HEADER: a local secret, still not for other users
        return path

    def start(self, timeout: float = 30) -> ArmStandIn:
        from devhost.arm import compute, network, siterecovery

        cert, key = ensure_certificate(self.data_dir / "tls", self.host)
        ca_bundle(cert, self.ca_bundle_path)
        store = Store(self.data_dir / "arm.sqlite")
        for group in self.config.resource_groups:
            store.put_group(group, self.config.location)
        standin = StandIn(
            self.config,
            store,
            Operations(store, self.config.subscription, self.config.retry_after),
            DiskBytes(self.storage_connection),
        )
        recovery, recovery_routes = siterecovery.routes(standin)
        standin.routes = [*compute.routes(standin), *network.routes(standin), *recovery_routes]
        standin.control = recovery.control
        for vault in self.config.vaults:
            siterecovery.ensure_vault(standin, vault)
        compute.recover(standin)
        for net in self.config.networks:
            network.ensure(standin, net)
        self.standin = standin
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            arm = web.AppRunner(build_app(standin), access_log=None)
            identity_app = web.Application()
            identity_app.router.add_get("/msi/token", self.identity.handle)
            ident = web.AppRunner(identity_app, access_log=None)
            for runner in (arm, ident):
                await runner.setup()
                self._runners.append(runner)
            site = web.TCPSite(arm, self.host, self.port, ssl_context=tls)
            await site.start()
            self.port = arm.addresses[0][1]
            await web.TCPSite(ident, self.host, self.identity_port).start()
            self.identity_port = ident.addresses[0][1]

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as error:  # reported to start()
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(standin.operations.drain())
            for runner in self._runners:
                loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="arm-stand-in", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self.stop()
            raise RuntimeError(f"The ARM stand-in did not start: {failure or 'timeout'}")
        self.write_env_file()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = self._thread = None
        self._runners.clear()
        if self.standin is not None:
            with contextlib.suppress(Exception):
                self.standin.store.close()
            self.standin = None

    def __enter__(self) -> ArmStandIn:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
