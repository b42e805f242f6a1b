"""devhost's Service Bus trigger on the local broker: what a function is handed, how it is
settled, and host.json's extensions.serviceBus settings. Messages go in through the SDK."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue

from devhost.servicebus import Broker
from devhost.webhost import DevHost, running
from tests.servicebus import trigger_app
from tests.servicebus.helpers import HERE, client, drain, send


@contextmanager
def devhost(app: Any, host_json: Path, broker: Broker, data: Path) -> Iterator[DevHost]:
    env = {"DEVHOST_MASTER_KEY": "master-" + uuid.uuid4().hex,
           trigger_app.CONNECTION: broker.connection_string}  # fmt: skip
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with running(DevHost(app, port=0, data_dir=data, host_json=host_json)) as host:
            yield host
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def host(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    """tests/servicebus/host.json: maxConcurrentCalls 2, maxConcurrentSessions 2."""
    with devhost(trigger_app.app, HERE / "host.json", broker, tmp_path_factory.mktemp("dh")) as h:
        yield h


def wait_for(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s")


def test_a_poison_message_ends_in_the_dlq_after_max_delivery_count_tries(host, broker) -> None:
    """The function always raises; the trigger abandons each time; trigger-poison has
    maxDeliveryCount 3, so the third failure sends it to the dead-letter queue."""
    with client(broker) as c:
        send(c, "trigger-poison", ServiceBusMessage("poison", message_id="p1"))
        (dead,) = drain(c, "trigger-poison", 1, within=20, sub_queue=ServiceBusSubQueue.DEAD_LETTER)
        assert drain(c, "trigger-poison", 0) == [], "nothing left in the queue itself"
    assert (dead.message_id, str(dead)) == ("p1", "poison")
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert trigger_app.RECORDS["poison"] == [1, 2, 3], "three tries, each counted"


def test_the_function_gets_the_service_bus_message_the_worker_would_build(host, broker) -> None:
    sent_at = dt.datetime.now(dt.UTC)
    with client(broker) as c:
        send(c, "trigger-fields", ServiceBusMessage(
            b'{"type": "vm.changed"}', message_id="evt-1", session_id="vm-7",
            correlation_id="corr-1", content_type="application/json", subject="vm.changed",
            application_properties={"site": "s1", "n": 3}, time_to_live=dt.timedelta(hours=1),
            reply_to="agent-events", to="control-plane",
        ))  # fmt: skip
        (seen,) = wait_for(lambda: trigger_app.RECORDS["fields"])
        assert drain(c, "trigger-fields", 0, session_id="vm-7") == [], "completed on success"
    assert seen["type"] == "ServiceBusMessage" and seen["body"] == b'{"type": "vm.changed"}'
    assert (seen["message_id"], seen["session_id"], seen["correlation_id"]) == (
        "evt-1", "vm-7", "corr-1")  # fmt: skip
    assert (seen["content_type"], seen["subject"], seen["delivery_count"]) == (
        "application/json", "vm.changed", 1)  # fmt: skip
    assert seen["application_properties"] == {"site": "s1", "n": 3} == seen["user_properties"]
    assert (seen["reply_to"], seen["to"]) == ("agent-events", "control-plane")
    assert seen["sequence_number"] >= 1 and uuid.UUID(seen["lock_token"])
    assert sent_at - dt.timedelta(seconds=1) <= seen["enqueued_time_utc"] <= dt.datetime.now(dt.UTC)
    assert seen["expires_at_utc"] - seen["enqueued_time_utc"] == dt.timedelta(hours=1)
    assert seen["time_to_live"] == dt.timedelta(hours=1)
    assert seen["locked_until"] > seen["enqueued_time_utc"]


def test_a_topic_trigger_gets_only_its_subscriptions_messages(host, broker) -> None:
    with client(broker) as c:
        send(c, "commands", ServiceBusMessage("for a", application_properties={"site": "a"}),
             ServiceBusMessage("for b", application_properties={"site": "b"}), topic=True)  # fmt: skip
        wait_for(lambda: trigger_app.RECORDS["site-a"])
        assert drain(c, "commands", 0, subscription="site-a") == [], "completed"
        assert [str(m) for m in drain(c, "commands", 1, subscription="site-b")] == ["for b"]
    assert trigger_app.RECORDS["site-a"] == [("for a", {"site": "a"})]


def test_max_concurrent_calls_bounds_parallel_invocations(host, broker) -> None:
    with client(broker) as c:
        send(
            c, "trigger-calls", *[ServiceBusMessage(f"c{i}", message_id=f"c{i}") for i in range(6)]
        )
        wait_for(lambda: len(trigger_app.RECORDS["calls"]) == 6)
    assert sorted(trigger_app.RECORDS["calls"]) == [f"c{i}" for i in range(6)], "each once"
    assert trigger_app.PEAK["calls"] == 2, "maxConcurrentCalls is 2: two at once, never more"


def test_max_concurrent_sessions_bounds_sessions_and_each_keeps_its_order(host, broker) -> None:
    with client(broker) as c:
        send(c, "trigger-sessions", *[ServiceBusMessage(f"{s}-{i}", session_id=s)
                                      for s in ("a", "b", "c", "d") for i in range(3)])  # fmt: skip
        wait_for(lambda: len(trigger_app.RECORDS["sessions"]) == 12, timeout=40)
    seen = trigger_app.RECORDS["sessions"]
    for s in "abcd":
        assert [b for sid, b in seen if sid == s] == [f"{s}-0", f"{s}-1", f"{s}-2"]
    assert trigger_app.PEAK["sessions"] == 2, "maxConcurrentSessions is 2"


def test_the_lock_is_renewed_while_a_function_outlasts_it(host, broker) -> None:
    """trigger-long's lock lasts 5 s, the function 6 s: the trigger renews the lock (as the
    host's maxAutoLockRenewalDuration does), so the message is neither handed to the other
    receiver nor lost, and completing it works."""
    with client(broker) as c:
        send(c, "trigger-long", ServiceBusMessage("long job"))
        wait_for(lambda: trigger_app.RECORDS["long"])
        time.sleep(6.5)
        assert trigger_app.RECORDS["long"] == [1], "one delivery, never redelivered"
        assert drain(c, "trigger-long", 0) == [], "completed"


def test_auto_complete_false_leaves_settling_to_the_function(broker, tmp_path) -> None:
    """host-manual.json: autoCompleteMessages false. The function returns without settling,
    so the message comes back when its 2 s lock expires, counted again."""
    with devhost(trigger_app.manual_app, HERE / "host-manual.json", broker, tmp_path):
        with client(broker) as c:
            send(c, "trigger-manual", ServiceBusMessage("settle me yourself"))
        wait_for(lambda: len(trigger_app.RECORDS["manual"]) >= 2, timeout=15)
    (first, t1), (second, t2) = trigger_app.RECORDS["manual"][:2]
    assert (first, second) == (1, 2)
    assert t2 - t1 >= 1.5, "redelivered after the lock expired, not abandoned"


def test_the_lock_is_renewed_no_longer_than_max_auto_lock_renewal_duration(
    broker, tmp_path
) -> None:
    """host-renewal.json: maxAutoLockRenewalDuration 1 s, a 5 s lock, a function of 8 s. The
    renewals stop after a second, so the lock runs out while the function still runs and
    the message is delivered again, as the host does past that duration."""
    with devhost(trigger_app.renewal_app, HERE / "host-renewal.json", broker, tmp_path):
        with client(broker) as c:
            send(c, "trigger-renewal", ServiceBusMessage("too long for its renewals"))
        wait_for(lambda: len(trigger_app.RECORDS["renewal"]) >= 2, timeout=15)
    (first, t1), (second, t2) = trigger_app.RECORDS["renewal"][:2]
    assert (first, second) == (1, 2)
    assert 4 <= t2 - t1 < 8, "redelivered when the unrenewed lock ran out, mid-function"
