"""The local broker's Service Bus semantics, driven only through the real sync SDK client.

Every test uses its own queue (tests/servicebus/entities.json) on one shared broker.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusSubQueue,
)
from azure.servicebus.exceptions import (
    MessageLockLostError,
    MessagingEntityNotFoundError,
    OperationTimeoutError,
    ServiceBusAuthenticationError,
    SessionCannotBeLockedError,
)

from devhost.servicebus import Broker
from devhost.servicebus.entities import load_entities
from tests.servicebus.helpers import bodies, client, drain, send, take

DLQ = ServiceBusSubQueue.DEAD_LETTER


def test_properties_round_trip_peek_does_not_lock_and_complete_removes(broker: Broker) -> None:
    before = dt.datetime.now(dt.UTC)
    with client(broker) as c:
        send(c, "props", ServiceBusMessage(
            b'{"a": 1}', message_id="m1", correlation_id="c1", content_type="application/json",
            subject="greeting", application_properties={"kind": "greeting", "n": 7},
            time_to_live=dt.timedelta(minutes=5),
        ))  # fmt: skip
        with c.get_queue_receiver("props", max_wait_time=3) as receiver:
            (peeked,) = receiver.peek_messages(max_message_count=5)
            # Proton leaves a zero delivery count out of the header, and the SDK reads None.
            assert (str(peeked), peeked.delivery_count or 0) == ('{"a": 1}', 0)
            (message,) = take(receiver, 1)
            assert str(message) == '{"a": 1}'
            assert (message.message_id, message.correlation_id) == ("m1", "c1")
            assert (message.content_type, message.subject) == ("application/json", "greeting")
            assert message.application_properties == {b"kind": b"greeting", b"n": 7}
            assert message.delivery_count == 1
            assert message.sequence_number == peeked.sequence_number >= 1
            assert before - dt.timedelta(seconds=1) <= message.enqueued_time_utc
            assert message.enqueued_time_utc <= dt.datetime.now(dt.UTC)
            assert message.expires_at_utc - message.enqueued_time_utc == dt.timedelta(minutes=5)
            assert message.locked_until_utc > dt.datetime.now(dt.UTC)
            receiver.complete_message(message)
            assert receiver.peek_messages(max_message_count=5) == [], "completed: gone"


def test_a_list_and_a_batch_arrive_as_separate_messages(broker: Broker) -> None:
    with client(broker) as c, c.get_queue_sender("batch") as sender:
        sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(3)])
        batch = sender.create_message_batch()
        for i in range(3, 6):
            batch.add_message(ServiceBusMessage(f"m{i}"))
        sender.send_messages(batch)
        got = drain(c, "batch", 6)
    assert bodies(got) == [f"m{i}" for i in range(6)], "one message each, in sequence order"


def test_abandon_redelivers_at_once_with_a_higher_delivery_count(broker: Broker) -> None:
    with client(broker) as c:
        send(c, "abandon", ServiceBusMessage("retry me"))
        with c.get_queue_receiver("abandon") as receiver:
            (first,) = take(receiver, 1)
            receiver.abandon_message(first)
            (second,) = take(receiver, 1, within=2)
            receiver.complete_message(second)
    assert (first.delivery_count, second.delivery_count) == (1, 2)
    assert first.sequence_number == second.sequence_number


def test_dead_letter_with_a_reason_and_max_delivery_count(broker: Broker) -> None:
    """maxDeliveryCount is 3 on this queue: the third abandon sends it to the DLQ."""
    with client(broker) as c:
        send(c, "deadletter", ServiceBusMessage("bad"), ServiceBusMessage("poison"))
        deliveries = []
        with c.get_queue_receiver("deadletter") as receiver:
            for message in take(receiver, 2):
                if str(message) == "bad":
                    receiver.dead_letter_message(
                        message, reason="Unreadable", error_description="no schema"
                    )
                else:
                    deliveries.append(message.delivery_count)
                    receiver.abandon_message(message)
            while len(deliveries) < 3 and (again := take(receiver, 1, within=2)):
                deliveries.append(again[0].delivery_count)
                receiver.abandon_message(again[0])
            assert take(receiver, 1, within=1) == [], "not delivered a fourth time"
        dead = {str(m): m for m in drain(c, "deadletter", 2, sub_queue=DLQ)}
    assert deliveries == [1, 2, 3]
    assert (dead["bad"].dead_letter_reason, dead["bad"].dead_letter_error_description) == (
        "Unreadable", "no schema")  # fmt: skip
    assert dead["poison"].dead_letter_reason == "MaxDeliveryCountExceeded"
    assert "3" in dead["poison"].dead_letter_error_description


def test_duplicates_are_dropped_within_the_window_and_accepted_after_it(broker: Broker) -> None:
    """This queue's duplicate detection window is 2 s."""
    with client(broker) as c, c.get_queue_sender("dedupe") as sender:
        sender.send_messages([ServiceBusMessage("a", message_id="same"),
                              ServiceBusMessage("b", message_id="same"),
                              ServiceBusMessage("c", message_id="other")])  # fmt: skip
        sender.send_messages(ServiceBusMessage("d", message_id="same"))
        time.sleep(2.2)
        sender.send_messages(ServiceBusMessage("e", message_id="same"))
        assert bodies(drain(c, "dedupe", 3)) == ["a", "c", "e"]


def test_sessions_keep_order_one_receiver_at_a_time_and_state(broker: Broker) -> None:
    with client(broker, retry_total=0) as c:
        send(
            c,
            "ordered",
            *[ServiceBusMessage(f"{s}{i}", session_id=s) for i in range(3) for s in "xy"],
        )
        with c.get_queue_receiver("ordered", session_id="x") as owner:
            got = take(owner, 3)
            with (
                pytest.raises(SessionCannotBeLockedError),
                c.get_queue_receiver("ordered", session_id="x") as other,
            ):
                other.receive_messages(max_wait_time=1)
            assert bodies(got) == ["x0", "x1", "x2"]
            for m in got:
                owner.complete_message(m)
            assert owner.session.get_state() is None
            owner.session.set_state(b"checkpoint-2")
            before = owner.session.locked_until_utc
            owner.session.renew_lock()
            assert owner.session.locked_until_utc >= before
        with c.get_queue_receiver("ordered", session_id="x") as again:
            assert again.session.get_state() == b"checkpoint-2", "state outlives the receiver"
        with c.get_queue_receiver("ordered", session_id=NEXT_AVAILABLE_SESSION) as nxt:
            assert nxt.session.session_id == "y", "x has no messages left; y does"
            got = take(nxt, 3)
            assert [(str(m), m.session_id) for m in got] == [("y0", "y"), ("y1", "y"), ("y2", "y")]
            for m in got:
                nxt.complete_message(m)


def test_next_available_session_times_out_when_no_session_has_messages(broker: Broker) -> None:
    with client(broker, retry_total=0) as c:
        started = time.monotonic()
        with (
            pytest.raises(OperationTimeoutError),
            c.get_queue_receiver(
                "no-sessions-yet", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=2
            ) as receiver,
        ):
            receiver.receive_messages(max_wait_time=1)
        assert time.monotonic() - started < 6


def test_scheduled_messages_by_property_and_by_schedule_op_and_cancel(broker: Broker) -> None:
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    with client(broker) as c, c.get_queue_sender("scheduled") as sender:
        sender.send_messages(ServiceBusMessage("by property", scheduled_enqueue_time_utc=at))
        (number,) = sender.schedule_messages(ServiceBusMessage("by op"), at)
        cancelled = sender.schedule_messages(ServiceBusMessage("cancelled"), at)
        sender.cancel_scheduled_messages(cancelled)
        assert number >= 1
        with c.get_queue_receiver("scheduled") as receiver:
            assert receiver.receive_messages(max_wait_time=1) == [], "not before its time"
            got = take(receiver, 2, within=6)
            for m in got:
                receiver.complete_message(m)
            assert sorted(bodies(got)) == ["by op", "by property"]
            assert dt.datetime.now(dt.UTC) >= at - dt.timedelta(milliseconds=100)
            assert receiver.peek_messages(max_message_count=5) == [], "the cancelled one: gone"


def test_expired_messages_vanish_or_are_dead_lettered_as_the_queue_says(broker: Broker) -> None:
    short = dt.timedelta(seconds=1)
    with client(broker) as c:
        send(
            c,
            "ttl-drop",
            ServiceBusMessage("stale", time_to_live=short),
            ServiceBusMessage("fresh"),
        )
        send(c, "ttl-dlq", ServiceBusMessage("stale", time_to_live=short))
        time.sleep(1.6)
        assert bodies(drain(c, "ttl-drop", 1)) == ["fresh"]
        assert drain(c, "ttl-drop", 0, sub_queue=DLQ) == [], "dropped, not dead-lettered"
        dead = drain(c, "ttl-dlq", 1, sub_queue=DLQ)
    assert [(str(m), m.dead_letter_reason) for m in dead] == [("stale", "TTLExpiredException")]


def test_topic_subscriptions_filter_on_application_properties(broker: Broker) -> None:
    with client(broker) as c:
        send(c, "commands", ServiceBusMessage("to-a", application_properties={"site": "a"}),
             ServiceBusMessage("to-b", application_properties={"site": "b"}),
             ServiceBusMessage("to-none"), topic=True)  # fmt: skip
        assert bodies(drain(c, "commands", 1, subscription="site-a")) == ["to-a"]
        assert bodies(drain(c, "commands", 1, subscription="site-b")) == ["to-b"]
        assert bodies(drain(c, "commands", 3, subscription="all")) == ["to-a", "to-b", "to-none"]


def test_the_shipped_agent_commands_topic_delivers_a_sites_commands_only(tmp_path) -> None:
    """devhost/servicebus/entities.json, as the app sends (activities/replication.py): a
    command carries application property `site`, session id = VM, message id = command id."""
    with (
        Broker(port=0, data_dir=tmp_path, entities=load_entities()) as default,
        client(default) as c,
    ):

        def command(site: str, command_id: str) -> ServiceBusMessage:
            return ServiceBusMessage(
                f'{{"type": "sync", "id": "{command_id}", "site": "{site}"}}',
                message_id=command_id, session_id="vm-1", content_type="application/json",
                subject="sync", application_properties={"site": site, "tenant": "t1"},
            )  # fmt: skip

        send(c, "agent-commands", command("site-local", "c1"), command("elsewhere", "c2"),
             command("site-local", "c1"), topic=True)  # fmt: skip
        got = drain(c, "agent-commands", 1, subscription="site-local")
    assert [(m.message_id, m.application_properties[b"site"]) for m in got] == [
        ("c1", b"site-local")], "only its own site's, and a resent command once"  # fmt: skip


def test_lock_expiry_hands_the_message_on_and_renewal_keeps_it(broker: Broker) -> None:
    """The lock of this queue lasts 2 s."""
    with client(broker) as c:
        send(c, "locks", ServiceBusMessage("slow"), ServiceBusMessage("renewed"))
        with c.get_queue_receiver("locks") as first, c.get_queue_receiver("locks") as second:
            got = {str(m): m for m in take(first, 2)}
            slow, renewed = got["slow"], got["renewed"]
            time.sleep(1.2)
            old_lock = renewed.locked_until_utc
            first.renew_message_lock(renewed)
            assert renewed.locked_until_utc > old_lock
            (again,) = take(second, 1, within=4)  # after the 2 s lock of "slow" ran out
            assert (str(again), again.delivery_count) == ("slow", 2)
            first.renew_message_lock(renewed)  # renewable again and again
            assert take(second, 1, within=1) == [], "the renewed one stays locked"
            with pytest.raises(MessageLockLostError):
                first.complete_message(slow)
            first.complete_message(renewed)
            second.complete_message(again)


def test_a_wrong_key_name_is_refused_at_the_cbs_put_token(broker: Broker) -> None:
    wrong = broker.connection_string.replace("KeyName=local;", "KeyName=intruder;")
    assert wrong != broker.connection_string
    with (
        ServiceBusClient.from_connection_string(wrong, retry_total=0) as c,
        pytest.raises(ServiceBusAuthenticationError),
        c.get_queue_sender("props") as sender,
    ):
        sender.send_messages(ServiceBusMessage("x"))


def test_an_unknown_entity_is_refused(broker: Broker) -> None:
    with client(broker, retry_total=0) as c:
        with pytest.raises(MessagingEntityNotFoundError, match="nope"), c.get_queue_sender("nope"):
            pass
        with pytest.raises(MessagingEntityNotFoundError), c.get_queue_receiver("nope"):
            pass
