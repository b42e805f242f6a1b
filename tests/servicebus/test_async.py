"""The same broker through the SDK's async client (azure.servicebus.aio), as devhost's
trigger and an asyncio agent use it."""

from __future__ import annotations

import asyncio
import datetime as dt

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient

from devhost.servicebus import Broker


async def _take(receiver, count: int, within: float = 5) -> list:
    got: list = []
    deadline = asyncio.get_running_loop().time() + within
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        got += await receiver.receive_messages(max_message_count=count - len(got), max_wait_time=1)
    return got


def test_peek_lock_abandon_renew_dead_letter_and_max_deliveries(broker: Broker) -> None:
    """async-work: maxDeliveryCount 2, lock 2 s."""

    async def scenario() -> dict:
        async with ServiceBusClient.from_connection_string(broker.connection_string) as c:
            async with c.get_queue_sender("async-work") as sender:
                await sender.send_messages([ServiceBusMessage(b) for b in ("ok", "bad", "poison")])
            async with c.get_queue_receiver("async-work") as receiver:
                peeked = await receiver.peek_messages(max_message_count=5)
                first = {str(m): m for m in await _take(receiver, 3)}
                await receiver.renew_message_lock(first["ok"])
                await receiver.complete_message(first["ok"])
                await receiver.dead_letter_message(
                    first["bad"], reason="Invalid", error_description="no type"
                )
                await receiver.abandon_message(first["poison"])
                (second,) = await _take(receiver, 1)
                await receiver.abandon_message(second)  # its 2nd delivery: the last
                third = await receiver.receive_messages(max_wait_time=1)
            async with c.get_queue_receiver(
                "async-work", sub_queue=ServiceBusSubQueue.DEAD_LETTER
            ) as dlq:
                dead = {str(m): m.dead_letter_reason for m in await _take(dlq, 2)}
            return {
                "peeked": len(peeked),
                "second": second.delivery_count,
                "third": third,
                "dead": dead,
            }

    result = asyncio.run(scenario())
    assert result == {"peeked": 3, "second": 2, "third": [],
                      "dead": {"bad": "Invalid", "poison": "MaxDeliveryCountExceeded"}}  # fmt: skip


def test_sessions_state_and_scheduling_with_the_async_client(broker: Broker) -> None:
    async def scenario() -> tuple:
        async with ServiceBusClient.from_connection_string(broker.connection_string) as c:
            at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
            async with c.get_queue_sender("async-sessions") as sender:
                await sender.send_messages(
                    [ServiceBusMessage(f"a{i}", session_id="s") for i in range(3)]
                )
                cancel = await sender.schedule_messages(
                    ServiceBusMessage("never", session_id="s"), at
                )
                await sender.schedule_messages(ServiceBusMessage("a3", session_id="s"), at)
                await sender.cancel_scheduled_messages(cancel)
            async with c.get_queue_receiver("async-sessions", session_id=NEXT_AVAILABLE_SESSION,
                                            max_wait_time=3) as receiver:  # fmt: skip
                got = await _take(receiver, 4, within=6)
                for m in got:
                    await receiver.complete_message(m)
                await receiver.session.set_state(b"done")
                return (
                    receiver.session.session_id,
                    [str(m) for m in got],
                    await receiver.session.get_state(),
                )

    assert asyncio.run(scenario()) == ("s", ["a0", "a1", "a2", "a3"], b"done")
