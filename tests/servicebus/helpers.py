"""What the Service Bus tests share: a broker on the test entities, and SDK-only helpers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusReceivedMessage

from devhost.servicebus import Broker

HERE = Path(__file__).parent
ENTITIES = HERE / "entities.json"


def client(broker: Broker, **options: Any) -> ServiceBusClient:
    return ServiceBusClient.from_connection_string(broker.connection_string, **options)


def send(
    c: ServiceBusClient, entity: str, *messages: ServiceBusMessage, topic: bool = False
) -> None:
    sender = c.get_topic_sender(entity) if topic else c.get_queue_sender(entity)
    with sender:
        sender.send_messages(list(messages))


def take(receiver: Any, count: int, within: float = 5) -> list[ServiceBusReceivedMessage]:
    """Receive until `count` messages came or `within` seconds passed (then fewer)."""
    got: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + within
    while len(got) < count and (left := deadline - time.monotonic()) > 0:
        got += receiver.receive_messages(
            max_message_count=count - len(got), max_wait_time=max(1, round(left))
        )
    return got


def drain(c: ServiceBusClient, entity: str, count: int, *, within: float = 5,
          subscription: str | None = None, **options: Any) -> list[ServiceBusReceivedMessage]:  # fmt: skip
    """Receive `count` messages (fewer if they do not come in time), complete each, and check
    with a peek (no waiting) that nothing else is left in the entity."""
    receiver = (
        c.get_subscription_receiver(entity, subscription, **options)
        if subscription
        else c.get_queue_receiver(entity, **options)
    )
    with receiver:
        got = take(receiver, count, within) if count else []
        for message in got:
            receiver.complete_message(message)
        left = receiver.peek_messages(max_message_count=10)
        assert left == [], f"{entity}: more than {count} message(s): {bodies(left)}"
        return got


def bodies(messages: list[ServiceBusReceivedMessage]) -> list[str]:
    return [str(m) for m in messages]
