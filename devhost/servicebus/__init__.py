"""The local Service Bus: an AMQP 1.0 broker for the real azure-servicebus SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devhost.servicebus.broker import Broker


@contextmanager
def start_broker(
    port: int = 5672, data_dir: Path = Path(".devhost/servicebus")
) -> Iterator[Broker]:
    with Broker(port=port, data_dir=data_dir) as broker:
        yield broker


__all__ = ["Broker", "start_broker"]
