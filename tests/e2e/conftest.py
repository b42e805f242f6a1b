"""The control plane end to end: real Azurite, the local Service Bus broker, devhost running
the unchanged function_app.py, and HTTP and the Service Bus SDK from the outside."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from azureclients.clients import reset_cache
from contracts.events import events_queue
from devhost.arm import ArmStandIn
from devhost.arm.launch import start_for_app
from devhost.azurite import Azurite
from devhost.functions import load_app
from devhost.init_settings import embedded_settings
from devhost.servicebus import Broker
from devhost.servicebus.entities import load_entities
from devhost.webhost import DevHost, running

ROOT = Path(__file__).resolve().parents[2]
KEYS = {tenant: f"key-{tenant}-{uuid.uuid4().hex}" for tenant in ("contoso", "fabrikam", "legacy")}
SITE = "site-local"  # the broker's default config has its queue and commands subscription
# Every site's agent sends on its own queue and speaks for one tenant (AGENT_SITES): the
# replication tests run their own agents on site-repl and site-daemon; the other tenants' VMs
# are reported by their own sites; site-rogue is contoso's, for the tests of impersonation.
SITES = {"contoso": [SITE, "site-repl", "site-daemon", "site-rogue"],
         "fabrikam": ["site-fabrikam"], "legacy": ["site-legacy"]}  # fmt: skip
HOME_SITE = {tenant: sites[0] for tenant, sites in SITES.items()}
# Operator-defined policies (REPLICATION_POLICIES): a 30 s cycle whose RPO threshold a single
# missed cycle breaks, so an RPO breach shows within a test's time.
POLICIES = {"tight": {"interval": 30, "retention_hours": 1, "app_consistent_frequency_hours": 0,
                      "rpo_threshold_seconds": 30}}  # fmt: skip


_APP: list[Any] = []  # the loaded function app: a restarted devhost serves the same one


@dataclass
class ControlPlane:
    base_url: str
    broker: Broker
    azurite: Azurite
    host: DevHost
    stack: contextlib.ExitStack | None = None
    broker_dir: Path | None = None
    entities: Any = None

    def restart_broker(self, downtime: float = 0) -> None:
        """Stop the Service Bus broker and start a new one on the same port and message store:
        clients (devhost's triggers, the agent) must reconnect by themselves."""
        port = self.broker.port
        self.broker.stop()
        time.sleep(downtime)
        self.broker = Broker(port=port, data_dir=self.broker_dir, entities=self.entities).start()

    def restart_host(self, downtime: float = 0) -> None:
        """Stop devhost (its process would die here) and start a new one on the same data and
        port: orchestrations resume from the history in SQLite."""
        assert self.stack is not None
        port, data_dir = self.host.port, self.host.data_dir
        self.stack.close()
        time.sleep(downtime)
        self.host = DevHost(_APP[0], port=port, data_dir=data_dir, host_json=ROOT / "host.json")
        self.stack = contextlib.ExitStack()
        self.stack.enter_context(running(self.host))
        self.base_url = self.host.base_url

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/{path.lstrip('/')}"

    def call(self, method: str, path: str, tenant: str = "contoso", key: str | None = None,
             **kw: Any) -> requests.Response:  # fmt: skip
        headers = {"x-functions-key": key if key is not None else KEYS[tenant]}
        return requests.request(method, self.url(path), headers=headers, timeout=30, **kw)

    def send_event(self, type_: str, tenant: str, data: dict, vm: str | None = None,
                   event_id: str | None = None, site: str | None = None,
                   queue_of: str | None = None) -> str:  # fmt: skip
        """An agent event of `site` (the tenant's first site by default), sent on the queue of
        `queue_of` (the site's own by default: another one is an impersonation)."""
        event_id = event_id or uuid.uuid4().hex
        site = site or HOME_SITE[tenant]
        body = {"type": type_, "tenant": tenant, "site": site, "id": event_id,
                "time": datetime.now(UTC).isoformat(), "data": data}  # fmt: skip
        if vm:
            body["vm"] = vm
        self.send_raw(json.dumps(body).encode(), session_id=vm or site, message_id=event_id,
                      site=queue_of or site)  # fmt: skip
        return event_id

    def send_raw(self, body: bytes, *, session_id: str, message_id: str | None = None,
                 site: str = SITE) -> None:  # fmt: skip
        """`body` as sent on `site`'s events queue."""
        with (
            ServiceBusClient.from_connection_string(self.broker.connection_string) as client,
            client.get_queue_sender(events_queue(site)) as sender,
        ):
            sender.send_messages(
                ServiceBusMessage(body, session_id=session_id, message_id=message_id)
            )

    def receive(
        self,
        queue: str | None = None,
        *,
        topic: str | None = None,
        subscription: str | None = None,
        wait: float = 10,
        count: int = 10,
    ) -> list:
        with ServiceBusClient.from_connection_string(self.broker.connection_string) as client:
            receiver = (
                client.get_queue_receiver(queue, max_wait_time=wait)
                if queue
                else client.get_subscription_receiver(topic, subscription, max_wait_time=wait)
            )
            with receiver:
                messages = receiver.receive_messages(max_message_count=count, max_wait_time=wait)
                for message in messages:
                    receiver.complete_message(message)
                return [
                    (json.loads(str(m)) if str(m).startswith("{") else str(m),
                     {_text(k): _text(v) for k, v in (m.application_properties or {}).items()})
                    for m in messages
                ]  # fmt: skip


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def wait_until(check: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


@pytest.fixture(scope="session")
def control_plane(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    data = tmp_path_factory.mktemp("control-plane")
    entities = load_entities()
    for site in (s for sites in SITES.values() for s in sites):  # its queue and subscription
        entities.add_site(site)
    with Broker(port=0, data_dir=data / "servicebus", entities=entities) as broker:
        settings = {
            **embedded_settings(azurite.connection_string, broker.connection_string, KEYS),
            "PREREQUISITE_PROFILE": "asr-2026",
            "TENANT_PREREQUISITE_PROFILES": json.dumps({"legacy": "asr-2014"}),
            "REPLICATION_STALL_SECONDS": "30",
            "REPLICATION_POLICIES": json.dumps(POLICIES),
            "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "600",
            # Tests here write rows no loop stands behind (health on read, say): the watchdog
            # would rightly restart them. It runs in tests/e2e/test_watchdog.py's own stack.
            "AzureWebJobs.replication_watchdog.Disabled": "true",
            "AGENT_SITES": json.dumps(SITES),
        }
        saved = {k: os.environ.get(k) for k in settings}
        os.environ.update(settings)
        reset_cache()
        _APP[:] = [load_app("function_app", ROOT, fresh=True)]
        host = DevHost(_APP[0], port=0, data_dir=data / "devhost",
                       host_json=ROOT / "host.json")  # fmt: skip
        stack = contextlib.ExitStack()
        plane = ControlPlane(host.base_url, broker, azurite, host, stack, data / "servicebus",
                             entities)  # fmt: skip
        try:
            stack.enter_context(running(host))
            plane.base_url = host.base_url
            yield plane
        finally:
            if plane.stack is not None:
                plane.stack.close()  # the devhost running now (a test may have restarted it)
            if plane.broker is not broker:
                plane.broker.stop()  # a test restarted it; the first one stops on exit
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_cache()


@pytest.fixture(scope="session")
def arm(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmStandIn]:
    """The local ARM stand-in for failover: the app's failover settings (ARM_ENDPOINT, the
    subscription, recovery group, region, subnets, replicas' account), its managed identity
    and the CA bundle, set in this process's environment, where devhost runs the app. Use it
    beside `control_plane`; the app reads these settings when a failover activity runs."""
    env: dict[str, str] = {}
    stand_in = start_for_app(tmp_path_factory.mktemp("arm"), azurite.connection_string, env)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_cache()  # a credential made before (another managed identity endpoint) is stale now
    try:
        yield stand_in
    finally:
        stand_in.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_cache()


@pytest.fixture
def asr(arm: ArmStandIn, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArmStandIn]:
    """The stand-in with a brisk simulated Site Recovery (its jobs' tasks 0.2 s, initial
    replication 4 s), and the app watching it every second."""
    assert arm.standin is not None
    arm.config.control_key = os.environ["DEVHOST_MASTER_KEY"]
    monkeypatch.setenv("ASR_POLL_SECONDS", "1")
    monkeypatch.setenv("ASR_WATCH_SECONDS", "1")
    arm.site_recovery_control("settings", {"taskSeconds": 0.2, "initialReplicationSeconds": 4})
    yield arm


class CheckedApi:
    """`ControlPlane.call` that checks every answer against /api/openapi.json: the status is
    documented for the route, and the body matches the documented schema."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.doc = cp.call("GET", "openapi.json").json()
        self.checked: list[tuple[str, str, int]] = []

    def call(self, method: str, path: str, tenant: str = "contoso", key: str | None = None,
             **kw: Any) -> requests.Response:  # fmt: skip
        from jsonschema import Draft202012Validator

        from contracts.openapi import find_operation, response_schema

        response = self.cp.call(method, path, tenant, key, **kw)
        url_path = "/api/" + path.split("?", 1)[0].lstrip("/")
        found = find_operation(self.doc, method, url_path)
        assert found is not None, f"{method} {url_path} is not in the OpenAPI document"
        template, operation = found
        assert str(response.status_code) in operation["responses"], (
            f"{method} {template} answered {response.status_code}, which is not documented: "
            f"{response.text[:300]}"
        )
        schema = response_schema(
            operation, response.status_code, response.headers.get("Content-Type", "")
        )
        if schema is not None:
            root = {**schema, "components": self.doc["components"]}
            Draft202012Validator(root).validate(response.json())
        self.checked.append((method, template, response.status_code))
        return response


@pytest.fixture(scope="session")
def api(control_plane: ControlPlane) -> CheckedApi:
    return CheckedApi(control_plane)


# The real agent daemon, for the tests that run it (registered here so every module can ask).
from tests.e2e.daemon import daemon  # noqa: E402, F401
