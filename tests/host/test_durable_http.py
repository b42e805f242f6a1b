"""The SDK's real DurableOrchestrationClient inside an HTTP function, and the URLs it hands out.

Also the invocation log: one structured line per invocation, for HTTP functions,
orchestrator episodes and activities alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import requests

from tests.host.conftest import KEY, wait_for


@pytest.fixture
def invocation_lines() -> Iterator[list[dict]]:
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    logger = logging.getLogger("devhost.invocations")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def start(base_url: str, orchestrator: str, value: object) -> dict:
    response = requests.post(f"{base_url}/api/start/{orchestrator}", json=value,
                             headers={"x-functions-key": KEY}, timeout=10)  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == response.json()["statusQueryGetUri"]
    return response.json()


def status(urls: dict) -> dict:
    return requests.get(urls["statusQueryGetUri"], timeout=10).json()


def test_check_status_urls_raise_events_and_report_custom_status(host) -> None:
    devhost, _, _ = host
    urls = start(devhost.base_url, "wait_approval", "ignored")
    waiting = wait_for(lambda: (s := status(urls))["runtimeStatus"] == "Running" and s)
    assert waiting["customStatus"] == {"stage": "waiting"}
    raised = requests.post(urls["sendEventPostUri"].replace("{eventName}", "approve"),
                           json="carol", timeout=10)  # fmt: skip
    assert raised.status_code == 202
    done = wait_for(lambda: (s := status(urls))["runtimeStatus"] == "Completed" and s)
    assert done["output"] == "hello carol"
    assert requests.post(urls["sendEventPostUri"].replace("{eventName}", "approve"), json="x",
                         timeout=10).status_code == 410, "a finished instance takes no events"  # fmt: skip


def test_terminate_and_purge_urls_work(host) -> None:
    devhost, _, _ = host
    urls = start(devhost.base_url, "wait_approval", "ignored")
    wait_for(lambda: status(urls)["runtimeStatus"] == "Running")
    terminated = requests.post(urls["terminatePostUri"].replace("{text}", "operator said so"),
                               timeout=10)  # fmt: skip
    assert terminated.status_code == 202
    final = wait_for(lambda: (s := status(urls))["runtimeStatus"] == "Terminated" and s)
    assert final["output"] == "operator said so"
    purged = requests.delete(urls["purgeHistoryDeleteUri"], timeout=10)
    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 1})
    assert requests.get(urls["statusQueryGetUri"], timeout=10).status_code == 404


def test_one_structured_line_per_invocation(host, invocation_lines: list[dict]) -> None:
    devhost, _, _ = host
    requests.get(f"{devhost.base_url}/api/echo/log", headers={"x-functions-key": KEY}, timeout=10)
    requests.get(f"{devhost.base_url}/api/boom", headers={"x-functions-key": KEY}, timeout=10)
    urls = start(devhost.base_url, "greet", "log")
    wait_for(lambda: status(urls)["runtimeStatus"] == "Completed")
    instance = urls["id"]
    for line in invocation_lines:
        assert {"function", "trigger", "instance", "durationMs", "outcome"} <= line.keys()
        assert isinstance(line["durationMs"], float | int) and line["durationMs"] >= 0
    by_function = {}
    for line in invocation_lines:
        by_function.setdefault(line["function"], []).append(line)
    assert [(x["outcome"], x["instance"]) for x in by_function["echo"]] == [("succeeded", None)]
    assert [x["outcome"] for x in by_function["boom"]] == ["failed"]
    assert [x["outcome"] for x in by_function["start"]] == ["succeeded"]
    assert [(x["outcome"], x["instance"]) for x in by_function["hello"]] == [
        ("succeeded", instance)
    ]
    episodes = by_function["greet"]
    assert [x["instance"] for x in episodes] == [instance] * len(episodes)
    assert [x["outcome"] for x in episodes] == ["awaiting", "completed"]
