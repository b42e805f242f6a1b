"""Processes the benchmarks run beside devhost, and how much CPU each used.

Service Bus and Azurite are services apart from the Functions host, and the agent runs on the
VMM server: each runs in a process of its own, so their CPU is never counted as the control
plane's. The broker may count what its clients do (`meter=True`, see bench.meters): one
operation per message sent, delivered and settled, the way Service Bus bills them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class BrokerProcess:
    """The local Service Bus broker in a process of its own, with a commands subscription per
    site. With `meter=True` it counts operations by kind and entity; `counts()` reads them."""

    def __init__(self, data_dir: Path, sites: Sequence[str], meter: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Queue(), context.Event()
        self._asks, answers = context.Pipe() if meter else (None, None)
        self._process = context.Process(
            target=_serve_broker,
            args=(data_dir, tuple(sites), self._ready, self._stop, answers),
            daemon=True,
        )
        self._lock = threading.Lock()
        self.connection_string = ""
        self.pid = 0

    def __enter__(self) -> BrokerProcess:
        self._process.start()
        self.connection_string = self._ready.get(timeout=60)
        self.pid = self._process.pid or 0
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._process.join(timeout=30)

    def counts(self) -> dict[str, int]:
        """What the broker has counted so far ("kind|entity" -> operations)."""
        if self._asks is None:
            raise RuntimeError("this broker was started without meter=True")
        with self._lock:
            self._asks.send("counts")
            return self._asks.recv()


def _serve_broker(data_dir: Path, sites: tuple[str, ...], ready: Any, stop: Any,
                  answers: Any) -> None:  # fmt: skip
    from devhost.servicebus import Broker
    from devhost.servicebus.entities import load_entities

    logging.basicConfig(level=logging.CRITICAL)  # a closing client's broken pipe is no news
    counter = None
    if answers is not None:
        from bench.meters import BrokerCounter

        counter = BrokerCounter.install()
    entities = load_entities()
    for site in sites:
        entities.add_site(site)
    with Broker(port=0, data_dir=data_dir, entities=entities) as broker:
        ready.put(broker.connection_string)
        if counter is not None:
            threading.Thread(target=_answer_counts, args=(answers, counter), daemon=True).start()
        stop.wait()


def _answer_counts(answers: Any, counter: Any) -> None:
    while True:
        try:
            answers.recv()
        except EOFError:
            return
        answers.send(counter.snapshot())


def _stat_fields(stat: Path) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except OSError:  # the process ended meanwhile
        return None


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of one live process, from /proc."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return _cpu(fields) if fields else 0.0


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of the live processes of a process group (Azurite's node), from /proc."""
    every = (_stat_fields(stat) for stat in Path("/proc").glob("[0-9]*/stat"))
    return sum(_cpu(fields) for fields in every if fields and int(fields[2]) == pgid)
