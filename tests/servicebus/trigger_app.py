"""Small function apps for the Service Bus trigger tests, kept out of the product.

What each function saw is kept in RECORDS (devhost runs in the test's process), so a test
reads exactly what the function was given, and how many ran at once.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import azure.durable_functions as df
import azure.functions as func

CONNECTION = "TriggerTestServiceBus"
RECORDS: dict[str, list[Any]] = defaultdict(list)
_lock = threading.Lock()
_running: dict[str, set] = defaultdict(set)
PEAK: dict[str, int] = defaultdict(int)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
manual_app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
renewal_app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _enter(kind: str, key: object) -> None:
    with _lock:
        _running[kind].add(key)
        PEAK[kind] = max(PEAK[kind], len(_running[kind]))


def _leave(kind: str, key: object) -> None:
    with _lock:
        _running[kind].discard(key)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-poison", connection=CONNECTION)
def always_fails(msg: func.ServiceBusMessage) -> None:
    RECORDS["poison"].append(msg.delivery_count)
    raise RuntimeError("this message can never be processed")


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-fields", connection=CONNECTION,
                               is_sessions_enabled=True)  # fmt: skip
def sees_everything(msg: func.ServiceBusMessage) -> None:
    RECORDS["fields"].append({
        "type": type(msg).__name__, "body": msg.get_body(), "message_id": msg.message_id,
        "session_id": msg.session_id, "correlation_id": msg.correlation_id,
        "content_type": msg.content_type, "subject": msg.subject, "label": msg.label,
        "delivery_count": msg.delivery_count, "sequence_number": msg.sequence_number,
        "enqueued_time_utc": msg.enqueued_time_utc, "expires_at_utc": msg.expires_at_utc,
        "time_to_live": msg.time_to_live, "locked_until": msg.locked_until,
        "lock_token": msg.lock_token, "application_properties": msg.application_properties,
        "user_properties": msg.user_properties, "reply_to": msg.reply_to, "to": msg.to,
    })  # fmt: skip


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-calls", connection=CONNECTION)
def slow_call(msg: func.ServiceBusMessage) -> None:
    _enter("calls", msg.message_id)
    try:
        time.sleep(0.4)
        RECORDS["calls"].append(msg.get_body().decode())
    finally:
        _leave("calls", msg.message_id)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-sessions",
                               connection=CONNECTION, is_sessions_enabled=True)  # fmt: skip
def slow_session(msg: func.ServiceBusMessage) -> None:
    _enter("sessions", msg.session_id)
    try:
        time.sleep(0.3)
        RECORDS["sessions"].append((msg.session_id, msg.get_body().decode()))
    finally:
        _leave("sessions", msg.session_id)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-long", connection=CONNECTION)
def outlasts_the_lock(msg: func.ServiceBusMessage) -> None:
    RECORDS["long"].append(msg.delivery_count)
    time.sleep(6)  # the queue's lock lasts 5 s (Service Bus's shortest)


@app.service_bus_topic_trigger(arg_name="msg", topic_name="commands", subscription_name="site-a",
                               connection=CONNECTION)  # fmt: skip
def site_a_commands(msg: func.ServiceBusMessage) -> None:
    RECORDS["site-a"].append((msg.get_body().decode(), msg.application_properties))


@manual_app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-manual",
                                      connection=CONNECTION)  # fmt: skip
def never_settles(msg: func.ServiceBusMessage) -> None:
    RECORDS["manual"].append((msg.delivery_count, time.time()))


@renewal_app.service_bus_queue_trigger(arg_name="msg", queue_name="trigger-renewal",
                                       connection=CONNECTION)  # fmt: skip
def outlasts_its_renewals(msg: func.ServiceBusMessage) -> None:
    RECORDS["renewal"].append((msg.delivery_count, time.time()))
    time.sleep(8)  # the lock lasts 5 s; host-renewal.json renews it for 1 s only
