"""The control plane as separate processes, each one killable with SIGKILL and restartable on
the same ports and data: Azurite (node), the local Service Bus broker (`python -m
devhost.servicebus`), devhost running the unchanged function_app.py (`python -m devhost`) and
the real agent daemon (`python -m agent.daemon`). The soak and tests/e2e/test_watchdog.py run
on it; nothing here knows the app's code, it only starts it and talks HTTP and Service Bus.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from contracts.events import events_queue
from devhost.azurite import Azurite

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
COMPONENTS = ("devhost", "broker", "agent", "azurite")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], what: str, timeout: float, every: float = 0.25) -> Any:
    """`check()` once it is truthy; TimeoutError naming `what` (and the last value) if never."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, OSError):
            last = check()
            if last:
                return last
        time.sleep(every)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s (last: {last!r})")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Process:
    """One command run as a process of its own, its output appended to a log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    ready: Callable[[], bool]
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("a") as out:
            out.write(f"\n--- {datetime.now(UTC).isoformat()} start {self.name}\n")
            out.flush()
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for(lambda: self.alive() and self.ready(), f"{self.name} ready", timeout)

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited; see {self.log}")
        return True

    def kill(self) -> None:
        """SIGKILL to the whole process group: no handler, no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        self.process = None


@dataclass
class Stack:
    """Azurite, broker, devhost and agent for one tenant and one site, in `work`."""

    work: Path
    tenant: str = "contoso"
    site: str = "site-soak"
    settings: dict[str, str] = field(default_factory=dict)  # the app's, over the defaults
    agent_args: tuple[str, ...] = ()
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    master_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        ports = [free_port() for _ in range(5)]
        self.azurite = Azurite(
            location=self.work / "azurite",
            blob_port=ports[0], queue_port=ports[1], table_port=ports[2],
        )  # fmt: skip
        self.broker_port, self.devhost_port = ports[3], ports[4]
        self.base_url = f"http://127.0.0.1:{self.devhost_port}"
        self.api = requests.Session()
        self.api.headers["x-functions-key"] = self.key
        self.processes: dict[str, Process] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def broker_connection(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.broker_port};SharedAccessKeyName=local;"
            "SharedAccessKey=local-development-only;UseDevelopmentEmulator=true"
        )

    def _environment(self, ours: dict[str, str]) -> dict[str, str]:
        """This process's environment without anything that would override `ours` (a test
        session's own app settings, a disabled function)."""
        return {
            k: v
            for k, v in os.environ.items()
            if k not in ours and not k.startswith("AzureWebJobs")
        }

    def _app_settings(self) -> dict[str, str]:
        from devhost.init_settings import embedded_settings

        sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
        return {
            **sample,
            **embedded_settings(
                self.azurite.connection_string, self.broker_connection, {self.tenant: self.key},
                self.master_key, sites={self.tenant: [self.site]},
            ),
            **self.settings,
        }  # fmt: skip

    def _entities(self) -> Path:
        from devhost.servicebus.entities import DEFAULT_CONFIG, DEFAULT_SITE

        config = json.loads(DEFAULT_CONFIG.read_text())
        # the site's own events queue, shaped like the default site's, and its subscription
        config["queues"][events_queue(self.site)] = config["queues"][events_queue(DEFAULT_SITE)]
        subscriptions = config["topics"]["agent-commands"]["subscriptions"]
        subscriptions[self.site] = {
            "filter": {"site": self.site}, "maxDeliveryCount": 10, "lockDurationSeconds": 60,
        }  # fmt: skip
        path = self.work / "entities.json"
        path.write_text(json.dumps(config))
        return path

    def start(self) -> Stack:
        self.azurite.start()
        settings = self._app_settings()
        settings_path = self.work / "settings.json"
        settings_path.write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
        python = sys.executable
        self.processes["broker"] = Process(
            "broker",
            [python, "-m", "devhost.servicebus", "--port", str(self.broker_port),
             "--config", str(self._entities()), "--data-dir", str(self.work / "servicebus")],
            self.logs / "broker.log", self._environment({}),
            lambda: _listening(self.broker_port),
        )  # fmt: skip
        self.processes["devhost"] = Process(
            "devhost",
            [python, "-m", "devhost", "--settings", str(settings_path),
             "--port", str(self.devhost_port), "--data-dir", str(self.work / "devhost")],
            self.logs / "devhost.log", self._environment(settings),
            lambda: requests.get(f"{self.base_url}/api/health", timeout=5).status_code
            in (200, 503),
        )  # fmt: skip
        agent_env = {
            **self._environment(settings),
            "AGENT_SERVICEBUS_CONNECTION": self.broker_connection,
        }
        self.processes["agent"] = Process(
            "agent",
            [python, "-m", "agent.daemon", "--site", self.site, "--tenant", self.tenant,
             "--state-dir", str(self.work / "agent-state"), "--progress-seconds", "1",
             "--heartbeat-seconds", "5", *self.agent_args],
            self.logs / "agent.log", agent_env, lambda: True,
        )  # fmt: skip
        for name in ("broker", "devhost", "agent"):
            self.processes[name].start()
        return self

    def kill(self, component: str, how: signal.Signals = signal.SIGKILL) -> None:
        """Stop one component at once: SIGKILL to its whole process group by default."""
        if component == "azurite":
            if self.azurite.process is not None:
                os.killpg(self.azurite.process.pid, how)
                try:
                    self.azurite.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.azurite.process.pid, signal.SIGKILL)
                    self.azurite.process.wait(15)
            self.azurite.process = None
        elif how is signal.SIGKILL:
            self.processes[component].kill()
        else:
            self.processes[component].stop()

    def restart(self, component: str) -> None:
        """Start a killed component again on the same ports and data."""
        if component == "azurite":
            for attempt in range(10):  # its ports may take a moment to be free again
                try:
                    self.azurite.start()
                    return
                except RuntimeError:
                    if attempt == 9:
                        raise
                    time.sleep(1)
        else:
            self.processes[component].start()

    def stop(self) -> None:
        for name in ("agent", "devhost", "broker"):
            if name in self.processes:
                self.processes[name].stop()
        self.azurite.stop()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- talking to it ---------------------------------------------------------------------------

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.api.request(method, f"{self.base_url}/api/{path.lstrip('/')}", timeout=30, **kw)

    def get(self, path: str) -> Any:
        response = self.call("GET", path)
        response.raise_for_status()
        return response.json()

    def durable(self, method: str, path: str) -> requests.Response:
        """The Durable management API (`/runtime/webhooks/durabletask/...`), as an operator."""
        url = f"{self.base_url}/runtime/webhooks/durabletask/{path.lstrip('/')}"
        sep = "&" if "?" in url else "?"
        return requests.request(method, f"{url}{sep}code={self.master_key}", timeout=30)

    def send_event(self, type_: str, data: dict, vm: str | None = None) -> None:
        from azure.servicebus import ServiceBusClient, ServiceBusMessage

        event_id = uuid.uuid4().hex
        body = {"type": type_, "tenant": self.tenant, "site": self.site, "id": event_id,
                "time": datetime.now(UTC).isoformat(), "data": data}  # fmt: skip
        if vm:
            body["vm"] = vm
        with (
            ServiceBusClient.from_connection_string(self.broker_connection) as client,
            client.get_queue_sender(events_queue(self.site)) as sender,
        ):
            sender.send_messages(
                ServiceBusMessage(json.dumps(body), session_id=vm or self.site, message_id=event_id)
            )

    def report(self, disks: dict[str, Path], disk_bytes: int) -> None:
        """The site's inventory: one VM per disk (VM id = key), each disk a real VHDX file."""
        vms = [
            {"id": vm, "name": vm, "generation": 1, "osType": "linux",
             "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 1, "memoryMb": 1024,
             "nics": [{"id": "nic0"}],
             "disks": [{"id": f"{vm}-os", "path": str(path), "format": "VHDX",
                        "sizeBytes": disk_bytes, "isOsDisk": True}]}
            for vm, path in disks.items()
        ]  # fmt: skip
        self.send_event("inventory.snapshot", {"cloud": {"id": self.site, "name": self.site},
                                               "vms": vms})  # fmt: skip

    def item(self, vm: str) -> dict:
        return self.get(f"tenants/{self.tenant}/replicated-items/{vm}")

    def job(self, job_id: str) -> dict:
        return self.get(f"tenants/{self.tenant}/jobs/{job_id}")

    def jobs(self, **params: str) -> list[dict]:
        found, url = [], f"tenants/{self.tenant}/jobs"
        query: dict[str, Any] = {"top": 1000, **params}
        while True:
            page = self.call("GET", url, params=query)
            page.raise_for_status()
            body = page.json()
            found += body["value"]
            if not body.get("nextLink"):
                return found
            url, query = body["nextLink"].split("/api/", 1)[1], {}


# --- disks -------------------------------------------------------------------------------------


def make_disk(path: Path, size: int) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(path), str(size)], check=True)
    return path


def write(path: Path, offset_mib: int, length_mib: int, pattern: int) -> None:
    subprocess.run(
        ["qemu-io", "-f", "vhdx", "-c", f"write -P {pattern} {offset_mib}M {length_mib}M",
         str(path)],
        check=True, capture_output=True,
    )  # fmt: skip


def raw_image(path: Path, scratch: Path) -> bytes:
    """The disk's guest-visible bytes, as qemu-img reads them (not our reader)."""
    out = scratch / f"{path.stem}-{uuid.uuid4().hex[:6]}.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(path), str(out)], check=True)
    try:
        return out.read_bytes()
    finally:
        out.unlink()
