"""The daemon's link to Service Bus: connect by settings alone, send events, survive outages.

- Connection: a connection string (Azure's `Endpoint=sb://NS.servicebus.windows.net/;...` or
  devhost's `...;UseDevelopmentEmulator=true`), or a namespace with Microsoft Entra ID
  (DefaultAzureCredential: the VMM server's managed identity, a service principal in env).
- Events go through an outbox: outcome events (completion, failure) are files under
  `<state-dir>/daemon/outbox/` until Service Bus took them, so a broker outage or a restart of
  the daemon loses none; progress and heartbeats are only worth their latest value and stay in
  memory. Progress is sent before outcomes, so a late progress never follows a completion.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from agent.private import private_dir, write_private

log = logging.getLogger("agent.daemon")
EVENTS_QUEUE_PREFIX = "agent-events-"  # + the site: the queue only this site may send to


def connect(connection: str | None, namespace: str | None) -> ServiceBusClient:
    """A client from a connection string, else from a namespace and Entra ID."""
    if connection:
        return ServiceBusClient.from_connection_string(connection)
    if namespace:
        from azure.identity import DefaultAzureCredential

        return ServiceBusClient(namespace, credential=DefaultAzureCredential())
    raise ValueError("no Service Bus connection")


class Backoff:
    """1 s, 2 s, 4 s ... up to `cap`, with jitter; reset after a success."""

    def __init__(self, cap: float = 30.0) -> None:
        self.cap, self.attempt = cap, 0

    def next(self) -> float:
        self.attempt += 1
        base = min(self.cap, 2 ** (self.attempt - 1))
        return base * (0.75 + 0.5 * (uuid.uuid4().int % 1000) / 1000)

    def reset(self) -> None:
        self.attempt = 0


class Outbox:
    def __init__(self, state_dir: Path, client_factory: Callable[[], ServiceBusClient],
                 stop: threading.Event, queue: str) -> None:  # fmt: skip
        self.queue = queue
        self.dir = private_dir(Path(state_dir) / "daemon" / "outbox")
        self.client_factory, self.stop = client_factory, stop
        self._volatile: dict[str, dict[str, Any]] = {}  # key -> latest event
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._seq = int(time.time() * 1000)
        self.thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def put(self, event: dict[str, Any]) -> None:
        """An event that must arrive: kept on disk until sent."""
        with self._lock:
            self._seq += 1
            path = self.dir / f"{self._seq:016d}-{event['id']}.json"
        write_private(path, json.dumps(event))
        self._wake.set()

    def put_latest(self, key: str, event: dict[str, Any]) -> None:
        """An event only worth its newest value (progress, heartbeat)."""
        with self._lock:
            self._volatile[key] = event
        self._wake.set()

    def pending(self) -> int:
        return len(list(self.dir.glob("*.json"))) + len(self._volatile)

    def _take_volatile(self) -> list[dict[str, Any]]:
        with self._lock:
            events, self._volatile = list(self._volatile.values()), {}
        return events

    def _run(self) -> None:
        backoff, client, sender = Backoff(), None, None
        while not self.stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            volatile = self._take_volatile()
            files = sorted(self.dir.glob("*.json"))
            if not volatile and not files:
                continue
            try:
                if sender is None:
                    client = self.client_factory()
                    sender = client.get_queue_sender(self.queue)
                for event in volatile:
                    sender.send_messages(message(event))
                for path in files:
                    sender.send_messages(message(json.loads(path.read_text())))
                    path.unlink()
                backoff.reset()
            except Exception as error:  # broker down, network gone: keep the files, retry
                log.warning("sending events failed (%s); retrying", error)
                for event in volatile:  # keep the latest value unless a newer one came
                    with self._lock:
                        self._volatile.setdefault(volatile_key(event), event)
                _close(sender, client)
                sender = client = None
                self.stop.wait(backoff.next())
                self._wake.set()
        _close(sender, client)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued was sent (shutdown, tests)."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.1)
        return not self.pending()


def volatile_key(event: dict[str, Any]) -> str:
    return f"{event['type']}|{event.get('vm') or ''}"


def message(event: dict[str, Any]) -> ServiceBusMessage:
    """Session id = VM id (the site for site-wide events); message id = event id."""
    return ServiceBusMessage(json.dumps(event), message_id=event["id"],
                             session_id=event.get("vm") or event["site"],
                             content_type="application/json", subject=event["type"])  # fmt: skip


def _close(*things: Any) -> None:
    for thing in things:
        if thing is not None:
            with contextlib.suppress(Exception):  # closing a dead link can fail too
                thing.close()
