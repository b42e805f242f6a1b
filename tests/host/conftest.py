"""The shared devhost of the host tests: the sample app on a free port, with the local broker."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.servicebus import Broker
from devhost.webhost import DevHost, running
from tests.host import sample_app

ROOT = Path(__file__).resolve().parents[2]
MASTER, KEY = "master-" + uuid.uuid4().hex, "key-" + uuid.uuid4().hex


@pytest.fixture(scope="package")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevHost, Path, Broker]]:
    work = tmp_path_factory.mktemp("host")
    log = work / "calls.log"
    with Broker(port=0, data_dir=work / "sb") as broker:
        env = {"DEVHOST_MASTER_KEY": MASTER, "DEVHOST_HOST_KEYS": f"runbook={KEY}",
               "HOST_SAMPLE_LOG": str(log), "SampleServiceBus": broker.connection_string,
               "SAMPLE_TIMER_SCHEDULE": "*/1 * * * * *",
               "AzureWebJobs.switched_off.Disabled": "true"}  # fmt: skip
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        devhost = DevHost(
            sample_app.app, port=0, data_dir=work / "dh", host_json=ROOT / "host.json"
        )
        try:
            with running(devhost):
                yield devhost, log, broker
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def calls(log: Path, kind: str) -> list:
    if not log.exists():
        return []
    return [e["value"] for e in map(json.loads, log.read_text().splitlines()) if e["kind"] == kind]


def wait_for(check, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")
