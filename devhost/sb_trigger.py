"""Service Bus triggers, fed through the real azure-servicebus SDK, settled like the host does.

Each message reaches the function as the `azure.functions.ServiceBusMessage` the Python worker
builds. Success completes it; an exception abandons it, so Service Bus redelivers it and, after
maxDeliveryCount tries, dead-letters it. Sessions: up to maxConcurrentSessions sessions at once,
one message of a session at a time, so a session's messages keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from azure.functions.servicebus import ServiceBusMessage
from azure.servicebus import NEXT_AVAILABLE_SESSION
from azure.servicebus.aio import ServiceBusClient
from azure.servicebus.exceptions import OperationTimeoutError, ServiceBusError

log = logging.getLogger("devhost.servicebus")
Invoke = Callable[[ServiceBusMessage], Awaitable[None]]


def to_functions_message(message: Any) -> ServiceBusMessage:
    props = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (message.application_properties or {}).items()
    }
    return ServiceBusMessage(
        body=b"".join(message.body) if not isinstance(message.body, bytes) else message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time_utc,
        sequence_number=message.sequence_number,
        lock_token=str(message.lock_token),
        locked_until=message.locked_until_utc,
        subject=message.subject,
        application_properties=props,
        user_properties=props,
    )


class ServiceBusTriggerRunner:
    def __init__(
        self,
        connection_string: str,
        *,
        queue_name: str | None = None,
        topic_name: str | None = None,
        subscription_name: str | None = None,
        sessions: bool = False,
        invoke: Invoke,
        max_concurrent_calls: int = 16,
        max_concurrent_sessions: int = 8,
        auto_complete: bool = True,
    ) -> None:
        self.connection_string = connection_string
        self.queue_name, self.topic_name, self.subscription_name = (
            queue_name, topic_name, subscription_name,
        )  # fmt: skip
        self.sessions = sessions
        self.invoke = invoke
        self.workers = max_concurrent_sessions if sessions else max_concurrent_calls
        self.auto_complete = auto_complete
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(n)) for n in range(self.workers)]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _receiver(self, client: ServiceBusClient) -> Any:
        options: dict[str, Any] = {"max_wait_time": 5}
        if self.sessions:
            options["session_id"] = NEXT_AVAILABLE_SESSION
        if self.queue_name:
            return client.get_queue_receiver(self.queue_name, **options)
        return client.get_subscription_receiver(self.topic_name, self.subscription_name, **options)

    async def _worker(self, number: int) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                async with (
                    ServiceBusClient.from_connection_string(self.connection_string) as client,
                    self._receiver(client) as receiver,
                ):
                    backoff = 1.0
                    await self._drain(receiver)
            except asyncio.CancelledError:
                raise
            except OperationTimeoutError:
                continue  # no session available right now
            except (ServiceBusError, OSError) as error:
                log.warning("receiver %d: %s; reconnecting in %.0fs", number, error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30)

    async def _drain(self, receiver: Any) -> None:
        idle_rounds = 0
        while not self._stopping.is_set():
            batch = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
            if not batch:
                idle_rounds += 1
                if self.sessions and idle_rounds >= 1:
                    return  # release this session; pick the next available one
                continue
            idle_rounds = 0
            for message in batch:
                try:
                    await self.invoke(to_functions_message(message))
                except Exception:
                    log.exception("function failed on message %s; abandoned", message.message_id)
                    await receiver.abandon_message(message)
                    continue
                if self.auto_complete:
                    await receiver.complete_message(message)
