"""`python -m bench.servicebus [--quick]`: the local Service Bus broker's throughput through the
real azure-servicebus SDK, sent and received-and-completed, one session and 100 sessions.

The broker runs as its own process (`python -m devhost.servicebus`), as devhost and the agent
see it, so the SDK client and the broker do not share one interpreter's lock. SDK side, the
fair and documented ways to go fast: sends go as lists (`send_messages([...])`, one AMQP
transfer with several data sections); receivers use `prefetch_count` and take messages in
batches; each message is still completed one by one, as a function would. Opening a link costs
the SDK about half a second of its own polling, so each figure is measured from the first send
(or first receive) to the last, with links already open; the session run opens its 100
receivers at once (async client) and counts that time in.

Prints one JSON document: messages per second for each run and the ratio to the 1,000 msg/s
target measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from azure.servicebus import NEXT_AVAILABLE_SESSION, ServiceBusClient, ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient as AsyncClient

TARGET = 1000.0  # messages per second, each way
BATCH = 100
# Prefetch of each of the 100 session receivers: 20 measured best (5.9 s for 10,000 messages,
# against 6.9 s with 10 and 10.8 s with 100, whose bursts of 10,000 transfers at once leave
# both processes decoding before anything is completed).
SESSION_PREFETCH = 20
ENTITIES = {
    "queues": {
        "bench": {"lockDurationSeconds": 60},
        "bench-sessions": {"requiresSession": True, "lockDurationSeconds": 60},
    }
}


def log(text: str) -> None:
    print(f"bench.servicebus: {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BrokerProcess:
    """`python -m devhost.servicebus` on a free loopback port, with its own data dir."""

    def __init__(self, work: Path) -> None:
        config = work / "entities.json"
        config.write_text(json.dumps(ENTITIES))
        self.port = free_port()
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost.servicebus", "--port", str(self.port),
             "--config", str(config), "--data-dir", str(work / "data")],
            cwd=root, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "listening" not in line:
            raise RuntimeError(f"the broker did not start: {line!r}")
        self.connection_string = (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=local;"
            "SharedAccessKey=local-development-only;UseDevelopmentEmulator=true"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU the broker process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(15)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def one_stream(connection: str, count: int, session_id: str | None) -> dict[str, Any]:
    """Sync client: send `count` in lists of BATCH, then one receiver takes and completes them
    all. With a session id: one session of the session queue (the agent-events shape, all in
    order, one receiver); without: the plain queue."""
    queue = "bench-sessions" if session_id else "bench"
    name = f"session {session_id}" if session_id else "queue"
    with ServiceBusClient.from_connection_string(connection) as client:
        with client.get_queue_sender(queue) as sender:
            start = time.perf_counter()
            for first in range(0, count, BATCH):
                sender.send_messages([
                    ServiceBusMessage(f"m{i}", session_id=session_id)
                    for i in range(first, min(first + BATCH, count))
                ])  # fmt: skip
            sent_s = time.perf_counter() - start
        log(f"{name}: sent {count} in {sent_s:.2f}s")
        options: dict[str, Any] = {"prefetch_count": BATCH}
        if session_id:
            options["session_id"] = session_id
        with client.get_queue_receiver(queue, **options) as receiver:
            bodies: list[str] = []
            start = time.perf_counter()
            while len(bodies) < count:
                batch = receiver.receive_messages(max_message_count=BATCH, max_wait_time=5)
                if not batch:
                    raise RuntimeError(f"{name}: only {len(bodies)} of {count} arrived")
                for message in batch:
                    receiver.complete_message(message)
                    bodies.append(str(message))
            received_s = time.perf_counter() - start
        log(f"{name}: received and completed {len(bodies)} in {received_s:.2f}s")
    in_order = bodies == [f"m{i}" for i in range(count)]
    return {"messages": count, "in_order": in_order, "sent_per_s": rate(count, sent_s),
            "received_completed_per_s": rate(len(bodies), received_s)}  # fmt: skip


async def many_sessions(connection: str, sessions: int, per_session: int) -> dict[str, Any]:
    """Async client: each session's messages sent as one list; then `sessions` receivers take
    the next available session each, at once, and complete every message."""
    total = sessions * per_session
    async with AsyncClient.from_connection_string(connection) as client:
        async with client.get_queue_sender("bench-sessions") as sender:
            start = time.perf_counter()
            for s in range(sessions):
                await sender.send_messages(
                    [ServiceBusMessage(f"s{s}-{i}", session_id=f"s{s}") for i in range(per_session)]
                )
            sent_s = time.perf_counter() - start
        log(f"{sessions} sessions: sent {total} in {sent_s:.2f}s")

        async def drain() -> list[str]:
            async with client.get_queue_receiver(
                "bench-sessions", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=30,
                prefetch_count=SESSION_PREFETCH,
            ) as receiver:  # fmt: skip
                bodies: list[str] = []
                while len(bodies) < per_session:
                    batch = await receiver.receive_messages(
                        max_message_count=SESSION_PREFETCH, max_wait_time=5
                    )
                    if not batch:
                        break
                    for message in batch:
                        await receiver.complete_message(message)
                        bodies.append(str(message))
                return bodies

        start = time.perf_counter()
        results = await asyncio.gather(*(drain() for _ in range(sessions)))
        received_s = time.perf_counter() - start
    got = sum(len(r) for r in results)
    in_order = all(r == sorted(r, key=lambda b: int(b.rsplit("-", 1)[1])) for r in results)
    log(f"{sessions} sessions: received and completed {got} in {received_s:.2f}s")
    return {"sessions": sessions, "messages": total, "received": got, "each_session_in_order":
            in_order, "sent_per_s": rate(total, sent_s),
            "received_completed_per_s": rate(got, received_s)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servicebus", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    count, per_session = (1000, 10) if args.quick else (10_000, 100)
    with tempfile.TemporaryDirectory(prefix="bench-sb-") as tmp:
        broker = BrokerProcess(Path(tmp))
        try:
            figures: dict[str, dict[str, Any]] = {}
            connection = broker.connection_string
            for name, run in (
                ("one_session", lambda: one_stream(connection, count, "s0")),
                ("100_sessions", lambda: asyncio.run(asyncio.wait_for(
                    many_sessions(connection, 100, per_session), 240))),
                ("queue_without_sessions", lambda: one_stream(connection, count, None)),
            ):  # fmt: skip
                before = broker.cpu_seconds(), time.process_time()
                figures[name] = run()
                figures[name]["cpu_s"] = {
                    "broker": round(broker.cpu_seconds() - before[0], 2),
                    "client": round(time.process_time() - before[1], 2),
                }
        finally:
            broker.stop()
    for figure in figures.values():
        figure["ratio_to_target"] = {
            "sent": round(figure["sent_per_s"] / TARGET, 2),
            "received_completed": round(figure["received_completed_per_s"] / TARGET, 2),
        }
    print(json.dumps({
        "target_msgs_per_s": TARGET, "cores": os.cpu_count(),
        "sdk_side": "sends: send_messages with lists of 100 (one session's messages per list); "
                    "receives: prefetch_count 100 (20 per session receiver when 100 run at once), "
                    "receive_messages in batches of that size, then "
                    "complete_message one by one (each waits for the broker's settlement); "
                    "one_session and queue: sync client, one receiver; 100_sessions: async "
                    "client, 100 next-available-session receivers at once (opening counted)",
        "machine_load_1min": round(os.getloadavg()[0], 2),
        "broker": "python -m devhost.servicebus in its own process, SQLite store",
        **figures,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
