"""The broker as a process: restarts, receivers that die, its own entry point, loopback only.
Still only the real SDK talks to it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from devhost.servicebus import Broker
from devhost.servicebus.entities import load_entities
from tests.servicebus.helpers import ENTITIES, HERE, bodies, client, drain, send, take

ROOT = HERE.parents[1]


def test_a_broker_restart_loses_nothing_in_flight(tmp_path: Path) -> None:
    """Queued, locked-but-unsettled and scheduled messages, and session state, all survive."""
    entities = load_entities(ENTITIES)
    with Broker(port=0, data_dir=tmp_path, entities=entities) as first, client(first) as c:
        port = first.port
        send(c, "work", ServiceBusMessage("in flight"), ServiceBusMessage("queued"))
        send(c, "ordered", ServiceBusMessage("s", session_id="vm-1"))
        with c.get_queue_receiver("ordered", session_id="vm-1") as receiver:
            receiver.session.set_state(b"cycle-7")
        receiver = c.get_queue_receiver("work")
        receiver.__enter__()
        (locked,) = take(receiver, 1)  # locked, never settled: the broker stops under it
    with Broker(port=port, data_dir=tmp_path, entities=entities) as second, client(second) as c:
        assert sorted(bodies(drain(c, "work", 2))) == ["in flight", "queued"]
        with c.get_queue_receiver("ordered", session_id="vm-1") as receiver:
            assert receiver.session.get_state() == b"cycle-7"
            (kept,) = take(receiver, 1)
            receiver.complete_message(kept)
    assert str(locked) == "in flight"


def test_a_receiver_killed_holding_a_lock_loses_it_when_the_lock_expires(broker: Broker) -> None:
    """kill -9: no detach, no settlement. The 2 s lock still holds; after it, redelivery."""
    with client(broker) as c:
        send(c, "closing", ServiceBusMessage("orphan"))
        holder = subprocess.Popen(
            [sys.executable, str(HERE / "holder.py"), broker.connection_string, "closing"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            body, locked_until = holder.stdout.readline().split()
        finally:
            holder.kill()  # SIGKILL
            holder.wait()
        with c.get_queue_receiver("closing") as receiver:
            assert body == "orphan"
            (again,) = take(receiver, 1, within=5)
            assert time.time() >= float(locked_until) - 0.1, "not before its lock expired"
            assert (str(again), again.delivery_count) == ("orphan", 2)
            receiver.complete_message(again)


def test_a_receiver_closed_without_settling_gives_the_message_back_after_the_lock(
    broker: Broker,
) -> None:
    """At least once: a message received and never settled comes again, counted."""
    with client(broker) as c:
        send(c, "closing", ServiceBusMessage("unsettled"))
        with c.get_queue_receiver("closing") as receiver:
            (first,) = take(receiver, 1)
        (again,) = drain(c, "closing", 1, within=5)
    assert (str(again), first.delivery_count, again.delivery_count) == ("unsettled", 1, 2)


def test_python_m_devhost_servicebus_runs_on_its_own(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost.servicebus", "--port", "0", "--config", str(ENTITIES),
         "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        listening = process.stdout.readline()
        connection = process.stdout.readline().split("connection string:")[1].strip()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", listening).group(1))
        assert (
            f"sb://127.0.0.1:{port};" in connection and "UseDevelopmentEmulator=true" in connection
        )
        with ServiceBusClient.from_connection_string(connection) as c:
            send(c, "props", ServiceBusMessage("standalone"))
            assert bodies(drain(c, "props", 1)) == ["standalone"]
        assert (tmp_path / "messages.sqlite").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
    assert code == 0, process.stderr.read()


def test_a_bad_entities_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "entities.json"
    config.write_text(json.dumps({"queues": {"q": {"lockDuration": 30}}}))
    run = subprocess.run(
        [sys.executable, "-m", "devhost.servicebus", "--port", "0", "--config", str(config),
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert run.returncode != 0
    assert "queue 'q' has unknown key(s) lockDuration" in run.stderr
    assert "Fix: use only" in run.stderr and "lockDurationSeconds" in run.stderr


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on `port`, from /proc/net/tcp (no traffic sent)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_it_listens_on_loopback_only(broker: Broker) -> None:
    assert _listening_addresses(broker.port) == {"0100007F"}, "127.0.0.1 and nothing else"
    with pytest.raises(ValueError, match="loopback only"):
        Broker(port=0, host="0.0.0.0")


def test_a_client_sees_the_broker_stop_and_reconnects_to_the_next(tmp_path: Path) -> None:
    """A broker that stops closes its connections, as an exiting process would: a receiver
    left open on it notices, and (the SDK retrying) carries on with the broker that follows."""
    entities = load_entities(ENTITIES)
    with Broker(port=0, data_dir=tmp_path, entities=entities) as first:
        port = first.port
        c = client(first)
        receiver = c.get_queue_receiver("work", max_wait_time=2)
        receiver.__enter__()
    with Broker(port=port, data_dir=tmp_path, entities=entities) as second:
        with client(second) as other:
            send(other, "work", ServiceBusMessage("after the restart"))
        try:
            (got,) = take(receiver, 1, within=15)
            receiver.complete_message(got)
        finally:
            receiver.__exit__(None, None, None)
            c.close()
    assert str(got) == "after the restart"
