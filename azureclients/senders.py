"""The process's long-lived Service Bus topic sender.

Opening a client and a sender costs about a second (AMQP connection, link, and with an
identity a token); a replication cycle sends one command per VM, so the sender is opened
once per process and kept. A broken link is reopened once; if the send fails again the
caller's activity fails and the orchestration's retry policy takes over.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from azure.servicebus import ServiceBusMessage

from azureclients.clients import SERVICE_BUS, servicebus_client

_SENDER: dict[str, Any] = {}  # the open client and topic sender, and what they were made for
_SENDER_LOCK = threading.Lock()
T = TypeVar("T")


def send_to_topic(topic: str, message: ServiceBusMessage) -> None:
    """Send `message` on the process's sender for `topic` (opened on first use)."""
    _with_sender(topic, lambda sender: sender.send_messages(message))


def schedule_on_topic(topic: str, message: ServiceBusMessage, at: datetime) -> int:
    """Send `message` to be enqueued at `at` (Service Bus holds it until then); its sequence
    number, which cancels it while it waits."""
    numbers = _with_sender(topic, lambda sender: sender.schedule_messages(message, at))
    return int(numbers[0])


def cancel_scheduled_on_topic(topic: str, sequence_number: int) -> None:
    """Cancel a scheduled message that still waits (one already enqueued is not found)."""
    _with_sender(topic, lambda sender: sender.cancel_scheduled_messages(sequence_number))


def _with_sender(topic: str, call: Callable[[Any], T]) -> T:
    key = (topic, os.environ.get(SERVICE_BUS))  # settings may change (tests)
    with _SENDER_LOCK:
        for attempt in (1, 2):
            if _SENDER.get("key") != key or "sender" not in _SENDER:
                _close()
                client = servicebus_client()
                _SENDER.update(client=client, sender=client.get_topic_sender(topic), key=key)
            try:
                return call(_SENDER["sender"])
            except Exception:
                _close()
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def _close() -> None:
    for name in ("sender", "client"):
        if (thing := _SENDER.pop(name, None)) is not None:
            with contextlib.suppress(Exception):
                thing.close()
    _SENDER.pop("key", None)
