"""Service Bus triggers, fed through the real azure-servicebus SDK, settled like the host does.

Each message reaches the function as the `azure.functions.ServiceBusMessage` the Python worker
builds. Success completes it; an exception abandons it, so Service Bus redelivers it and, after
maxDeliveryCount tries, dead-letters it. Sessions: up to maxConcurrentSessions sessions at once,
one message of a session at a time, so a session's messages keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import certifi
from azure.functions.servicebus import ServiceBusMessage
from azure.servicebus import NEXT_AVAILABLE_SESSION
from azure.servicebus.aio import AutoLockRenewer, ServiceBusClient
from azure.servicebus.exceptions import OperationTimeoutError, ServiceBusError

log = logging.getLogger("devhost.servicebus")
# clientRetryOptions.tryTimeout's default in the Service Bus extension: how long one receive
# waits, and so how long an idle session is kept when host.json sets no sessionIdleTimeout.
TRY_TIMEOUT_SECONDS = 60.0
SESSION_WORKERS_AT_START = 2
Invoke = Callable[[ServiceBusMessage], Awaitable[None]]


def timespan_seconds(value: Any, setting: str) -> float:
    """A host.json TimeSpan ("hh:mm:ss[.fff]", "d.hh:mm:ss", or plain seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", str(value).strip())
    seconds = 0.0
    if match:
        days, hours, minutes, secs = match.groups()
        seconds = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
    if seconds <= 0:
        raise ValueError(
            f"host.json extensions.serviceBus.{setting} is {value!r}, not a positive TimeSpan; "
            'write it as "hh:mm:ss" (for example "00:00:01")'
        )
    return seconds


def servicebus_timeouts(settings: dict) -> dict[str, float]:
    """The runner's timeouts from host.json's extensions.serviceBus section, under the
    extension's own names: sessionIdleTimeout, maxAutoLockRenewalDuration and
    clientRetryOptions.tryTimeout."""
    timeouts: dict[str, float] = {}
    if settings.get("sessionIdleTimeout") is not None:
        timeouts["session_idle_seconds"] = timespan_seconds(
            settings["sessionIdleTimeout"], "sessionIdleTimeout"
        )
    if settings.get("maxAutoLockRenewalDuration") is not None:
        timeouts["max_lock_renewal_seconds"] = timespan_seconds(
            settings["maxAutoLockRenewalDuration"], "maxAutoLockRenewalDuration"
        )
    try_timeout = (settings.get("clientRetryOptions") or {}).get("tryTimeout")
    if try_timeout is not None:
        timeouts["try_timeout_seconds"] = timespan_seconds(
            try_timeout, "clientRetryOptions.tryTimeout"
        )
    return timeouts


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def to_functions_message(message: Any, session_locked_until: Any = None) -> ServiceBusMessage:
    """The `azure.functions.ServiceBusMessage` the Python worker builds from a received
    message: the same keyword arguments, application properties with str keys and values.
    A session's messages have no lock of their own (the SDK says None): theirs is the
    session's, passed as `session_locked_until`."""
    props = {_text(k): _text(v) for k, v in (message.application_properties or {}).items()}
    body = message.body if isinstance(message.body, bytes) else b"".join(message.body)
    metadata = {
        "MessageId": message.message_id, "SessionId": message.session_id,
        "DeliveryCount": message.delivery_count, "SequenceNumber": message.sequence_number,
        "EnqueuedTimeUtc": message.enqueued_time_utc, "ExpiresAtUtc": message.expires_at_utc,
        "LockToken": str(message.lock_token), "ContentType": message.content_type,
        "CorrelationId": message.correlation_id, "Subject": message.subject,
        "ReplyTo": message.reply_to, "To": message.to, "ApplicationProperties": props,
        "UserProperties": props,
    }  # fmt: skip
    return ServiceBusMessage(
        body=body,
        trigger_metadata=metadata,
        message_id=message.message_id,
        session_id=message.session_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_time_utc,
        expires_at_utc=message.expires_at_utc,
        time_to_live=message.time_to_live,
        scheduled_enqueue_time_utc=message.scheduled_enqueue_time_utc,
        sequence_number=message.sequence_number,
        enqueued_sequence_number=message.enqueued_sequence_number,
        lock_token=str(message.lock_token),
        locked_until=message.locked_until_utc or session_locked_until,
        subject=message.subject,
        label=message.subject,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        to=message.to,
        partition_key=message.partition_key,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_source=message.dead_letter_source,
        application_properties=props,
        user_properties=props,
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The context the SDK would build per connection from certifi's bundle, built once."""
    return ssl.create_default_context(cafile=certifi.where())


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
        max_lock_renewal_seconds: float = 300.0,
        session_idle_seconds: float | None = None,
        try_timeout_seconds: float = TRY_TIMEOUT_SECONDS,
    ) -> None:
        self.connection_string = connection_string
        self.queue_name, self.topic_name, self.subscription_name = (
            queue_name, topic_name, subscription_name,
        )  # fmt: skip
        self.sessions = sessions
        self.invoke = invoke
        self.workers = max_concurrent_sessions if sessions else max_concurrent_calls
        self.auto_complete = auto_complete
        # host.json maxAutoLockRenewalDuration (5 min by default): the host keeps renewing the
        # lock of a message (or session) while its function runs, so a function that outlasts
        # the lock duration does not see its message handed to another receiver.
        self.max_lock_renewal_seconds = max_lock_renewal_seconds
        # host.json sessionIdleTimeout: how long a session worker waits for the next message
        # of the session it holds before closing it and accepting the next available session.
        # Unset, the extension waits clientRetryOptions.tryTimeout (60 s by default), so a
        # worker stays on a quiet session that long: an app with many sessions that each get
        # a message now and then must set it short, or maxConcurrentSessions sessions a
        # minute is all it gets.
        self.session_idle_seconds = session_idle_seconds or try_timeout_seconds
        # Accepting the next available session waits up to tryTimeout, as the host does: a
        # worker with nothing to do holds one pending accept instead of reconnecting often.
        self.accept_wait_seconds = try_timeout_seconds
        self._tasks: list[asyncio.Task] = []
        self._closing: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._holding = 0  # session workers holding a session now

    async def start(self) -> None:
        # Session workers start as SESSION_WORKERS_AT_START and grow, one more whenever all
        # hold a session, up to maxConcurrentSessions: each is an AMQP connection of its own,
        # and an app with a session queue per site (agent-events-<site>) would otherwise
        # open maxConcurrentSessions connections per site, most of them idle, which the local
        # broker pays for in CPU. Non-session workers start all at once.
        first = min(self.workers, SESSION_WORKERS_AT_START) if self.sessions else self.workers
        self._tasks = [asyncio.create_task(self._worker(n)) for n in range(first)]

    def _grow(self) -> None:
        """Another session worker when every worker holds a session and the cap allows."""
        if self._holding >= len(self._tasks) < self.workers and not self._stopping.is_set():
            self._tasks.append(asyncio.create_task(self._worker(len(self._tasks))))

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # Receivers the workers let go of while stopping are closing still: wait for them.
        for task in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _receiver(self, client: ServiceBusClient) -> Any:
        options: dict[str, Any] = {"max_wait_time": 5}
        if self.sessions:
            options["session_id"] = NEXT_AVAILABLE_SESSION
            options["max_wait_time"] = self.accept_wait_seconds
        if self.queue_name:
            return client.get_queue_receiver(self.queue_name, **options)
        return client.get_subscription_receiver(self.topic_name, self.subscription_name, **options)

    async def _worker(self, number: int) -> None:
        backoff = 1.0
        # Each receiver opens its own AMQP connection (the SDK shares none), and a session
        # worker opens one per session it accepts: the TLS context is built once for all of
        # them, not re-read from the CA bundle on every connection.
        client = ServiceBusClient.from_connection_string(
            self.connection_string, ssl_context=_ssl_context()
        )
        # One lock renewer for the worker's life: it renews each session (or message) it is
        # given until that receiver closes, and closing it waits for its 1 s renew tick.
        renewer = AutoLockRenewer(max_lock_renewal_duration=self.max_lock_renewal_seconds)
        try:
            while not self._stopping.is_set():
                receiver = self._receiver(client)
                try:
                    await receiver.__aenter__()
                except asyncio.CancelledError:
                    self._close_later(receiver)  # stopping while it opened
                    raise
                except OperationTimeoutError:
                    continue  # no session available within tryTimeout
                except (ServiceBusError, OSError) as error:
                    log.warning("receiver %d: %s; reconnecting in %.0fs", number, error, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
                try:
                    backoff = 1.0
                    if self.sessions:
                        self._holding += 1
                        self._grow()
                        renewer.register(receiver, receiver.session)
                    await self._drain(receiver, renewer)
                except (ServiceBusError, OSError) as error:
                    log.warning("receiver %d: %s; reconnecting", number, error)
                finally:
                    if self.sessions:
                        self._holding -= 1
                    self._close_later(receiver)
        finally:
            with contextlib.suppress(Exception):
                await renewer.close()
            with contextlib.suppress(Exception):
                await client.close()

    def _close_later(self, receiver: Any) -> None:
        """Close a receiver without waiting for it. The detach that releases the session (and
        its messages' locks) is the close's first frame; what follows is the SDK waiting up
        to a second for its keep-alive loop to notice. The worker meanwhile accepts the next
        session, as the host's session processor does."""

        async def close() -> None:
            with contextlib.suppress(Exception):  # a broken link is closed all the same
                await receiver.__aexit__(None, None, None)

        task = asyncio.create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _drain(self, receiver: Any, renewer: AutoLockRenewer) -> None:
        while not self._stopping.is_set():
            wait = self.session_idle_seconds if self.sessions else 5
            batch = await receiver.receive_messages(max_message_count=1, max_wait_time=wait)
            if not batch:
                if self.sessions:
                    return  # idle for sessionIdleTimeout: release it, take the next available
                continue
            for message in batch:
                if not self.sessions:  # a session's messages hold the session's lock
                    renewer.register(receiver, message)
                try:
                    session = receiver.session if self.sessions else None
                    locked = session.locked_until_utc if session else None
                    await self.invoke(to_functions_message(message, locked))
                except Exception:
                    log.exception("function failed on message %s; abandoned", message.message_id)
                    await receiver.abandon_message(message)
                    continue
                if self.auto_complete:
                    await receiver.complete_message(message)
