"""The real agent daemon as a process, driven the way the control plane drives it: commands sent
to the `agent-commands` topic of devhost's local Service Bus broker, events read back from each
site's own queue (`agent-events-<site>`) with the real SDK. Nothing of the daemon is imported or replaced here.

    with Bus(tmp) as bus, DaemonProcess(bus, state_dir, log) as daemon:
        daemon.start("--shutdown-hook", hook)
        bus.send(command("shutdown", vm, {"timeoutSeconds": 30}))
        result = bus.events.wait(lambda e: e["type"] == "command.result")
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage

from contracts.events import AgentEvent, events_queue
from devhost.servicebus import Broker
from devhost.servicebus.entities import load_entities

ROOT = Path(__file__).resolve().parents[2]
TENANT, SITE = "contoso", "site-agent"
SITES = (SITE, "site-vmm", "site-host", "site-cap", "site-e2e")  # one subscription per daemon


class EventLog:
    """Every event the daemons send, collected by a thread per site's queue that takes whichever
    session has messages (as the control plane's triggers do). Each event is checked against the contract
    (`AgentEvent.parse`): an event the control plane would dead-letter fails the test."""

    def __init__(self, connection: str, queues: list[str]) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self.invalid: list[tuple[str, str]] = []
        self.ids: list[str] = []  # message ids, in arrival order (duplicates kept)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, args=(queue,), name=queue, daemon=True)
            for queue in queues
        ]

    def start(self) -> EventLog:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, wait: float = 15) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(wait)

    def _run(self, queue: str) -> None:
        while not self._stop.is_set():
            try:
                with ServiceBusClient.from_connection_string(self.connection) as client:
                    while not self._stop.is_set():
                        self._drain_one_session(client, queue)
            except Exception:  # the broker went away: try again, the test decides
                self._stop.wait(0.5)

    def _drain_one_session(self, client: ServiceBusClient, queue: str) -> None:
        try:
            receiver = client.get_queue_receiver(
                queue, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1
            )
            with receiver:
                while messages := receiver.receive_messages(max_message_count=50,
                                                            max_wait_time=0.3):  # fmt: skip
                    for message in messages:
                        self._record(str(message), message.message_id)
                        receiver.complete_message(message)
        except Exception as error:  # no session has messages now
            if "session" not in str(error).lower() and "timeout" not in str(error).lower():
                raise
            self._stop.wait(0.2)

    def _record(self, body: str, message_id: str | None) -> None:
        try:
            AgentEvent.parse(body)
        except ValueError as error:
            self.invalid.append((body, str(error)))
        with self._cond:
            self.events.append(json.loads(body))
            self.ids.append(message_id or "")
            self._cond.notify_all()

    def of(self, type_: str, vm: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events
                    if e["type"] == type_ and (vm is None or e.get("vm") == vm)]  # fmt: skip

    def wait(self, check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        """The first event (already received or still to come) that passes `check`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if check(event):
                        assert not self.invalid, f"events the contract refuses: {self.invalid}"
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [(e["type"], e.get("vm")) for e in self.events[-20:]]
                    raise AssertionError(f"no such event within {timeout} s; last: {kinds}")
                self._cond.wait(min(left, 0.5))

    def result_of(self, command_id: str, timeout: float = 60) -> dict[str, Any]:
        """The `command.result` data answering a command."""
        return self.wait(
            lambda e: e["type"] == "command.result" and e["data"]["commandId"] == command_id,
            timeout,
        )["data"]


class Bus:
    """A local broker with an events queue and a commands subscription for each of SITES
    (daemons of different tests may run at once, each on its own site), and the log of what
    came back."""

    def __init__(self, data_dir: Path) -> None:
        entities = load_entities()
        for site in SITES:
            entities.add_site(site)
        self.broker = Broker(port=0, data_dir=data_dir, entities=entities)
        self.events: EventLog

    def __enter__(self) -> Bus:
        self.broker.start()
        queues = [events_queue(site) for site in SITES]
        self.events = EventLog(self.broker.connection_string, queues).start()
        return self

    def __exit__(self, *exc: object) -> None:
        # The readers (daemon threads) end by themselves once the broker is gone; their
        # clients' close waits ~10 s on a broker that no longer answers, which no test needs.
        self.events.stop(wait=0)
        self.broker.stop()

    @property
    def connection(self) -> str:
        return self.broker.connection_string

    def send(self, command: dict[str, Any], *, message_id: str | None = None) -> None:
        self.send_all([command], message_id=message_id)

    def send_all(self, commands: list[dict[str, Any]], *, message_id: str | None = None) -> None:
        """As the control plane sends it: message id = command id, session id = the VM (the
        site for site-wide commands), application property `site` for the subscription.
        Another `message_id` gets a resend past the broker's duplicate detection (a
        redelivery after a lost lock, or a resend after the detection window)."""
        messages = [
            ServiceBusMessage(
                json.dumps(command),
                message_id=message_id or command["id"],
                session_id=command.get("vm") or command["site"],
                content_type="application/json",
                subject=command["type"],
                application_properties={"site": command["site"], "tenant": command["tenant"]},
            )
            for command in commands
        ]
        with (
            ServiceBusClient.from_connection_string(self.connection) as client,
            client.get_topic_sender("agent-commands") as sender,
        ):
            sender.send_messages(messages)


def command(
    type_: str, vm: str | None, data: dict[str, Any], *, command_id: str | None = None,
    sent: datetime | None = None, site: str = SITE,
) -> dict[str, Any]:  # fmt: skip
    body = {"type": type_, "id": command_id or f"{type_}-{uuid.uuid4().hex[:12]}",
            "tenant": TENANT, "site": site, "time": (sent or datetime.now(UTC)).isoformat(),
            "data": data}  # fmt: skip
    if vm is not None:
        body["vm"] = vm
    return body


class DaemonProcess:
    """`python -m agent run` as a subprocess on a state dir; `env` adds to the environment
    (a stand-in PowerShell first on PATH, say)."""

    def __init__(self, bus: Bus, state_dir: Path, log: Path, env: dict[str, str] | None = None,
                 site: str = SITE) -> None:  # fmt: skip
        self.bus, self.state_dir, self.log, self.site = bus, state_dir, log, site
        self.env = env or {}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *extra: str) -> DaemonProcess:
        env = {**os.environ, "AGENT_SERVICEBUS_CONNECTION": self.bus.connection, **self.env}
        for name in ("AGENT_HYPERV", "AGENT_SHUTDOWN_HOOK", "AGENT_QUIESCE_HOOK",
                     "AGENT_ALLOWED_DISK_ROOTS", "AGENT_POWER_STATE_HOOK"):  # fmt: skip
            if name not in self.env:
                env.pop(name, None)  # only what the test sets
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--site", self.site, "--tenant", TENANT,
                 "--state-dir", str(self.state_dir), "--heartbeat-seconds", "2",
                 "--progress-seconds", "0.5", *extra],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(10)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""
