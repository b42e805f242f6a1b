"""The task hub runs the unmodified Durable SDK: each feature through the real client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.durabletask.conftest import Hub, run_with_hub

ROOT = Path(__file__).resolve().parents[2]


def status_of(status) -> str:
    return status.runtime_status.value


def test_activities_in_sequence(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("sequence", 1)

    status = run_with_hub(tmp_path, scenario)
    assert (status_of(status), status.output) == ("Completed", 8)


def test_fan_out_fan_in(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("fan_out", 50)

    status = run_with_hub(tmp_path, scenario)
    assert (status_of(status), status.output) == ("Completed", sum(2 * i for i in range(50)))


def test_retry_then_success(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("retrying", str(tmp_path / "counter"))

    status = run_with_hub(tmp_path, scenario)
    assert (status_of(status), status.output) == ("Completed", ["ok after 3", 42])
    assert (tmp_path / "counter").read_text() == "3"


def test_retries_inside_a_fan_out_keep_their_hidden_ids(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("retrying_fan_out", str(tmp_path))

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Completed", status.output
    assert status.output == ["ok after 3", 0, 2, 4, 6, 8, "ok after 3", 200]
    failures = [e for e in status.history if e.get("EventType") == 6]
    assert len(failures) == 4, "two failures of each retried activity, each recorded"


def test_retries_exhausted_fail_the_instance_with_the_reason(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("retry_exhausted")

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Failed"
    assert "bad input x" in status.output
    failures = [e for e in status.history if e.get("EventType") == 6]
    assert len(failures) == 3, "three attempts, each failure recorded"


def test_an_activity_failure_can_be_caught(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("catches_failure")

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Completed" and status.output.startswith("caught:")


def test_external_event_wins_over_timer_and_custom_status(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        instance = await hub.client.start_new("approval", None, 30)
        await asyncio.sleep(0.3)
        waiting = await hub.client.get_status(instance)
        await hub.client.raise_event(instance, "approve", "alice")
        return waiting, await hub.finish(instance)

    waiting, status = run_with_hub(tmp_path, scenario)
    assert waiting.custom_status == "waiting"
    assert (status.output, status.custom_status) == ("approved by alice", "approved")


def test_timer_fires_when_no_event_comes(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        started = time.monotonic()
        status = await hub.run("approval", 0.5)
        return status, time.monotonic() - started

    status, elapsed = run_with_hub(tmp_path, scenario)
    assert status.output == "timed out"
    assert elapsed >= 0.5


def test_events_that_arrive_early_are_kept(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        instance = await hub.client.start_new("two_events", None, None)
        await hub.client.raise_event(instance, "second", 2)
        await hub.client.raise_event(instance, "first", 1)
        return await hub.finish(instance)

    assert run_with_hub(tmp_path, scenario).output == [1, 2]


def test_sub_orchestrations(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("parent")

    assert run_with_hub(tmp_path, scenario).output == 8 + 16


def test_a_failed_sub_orchestration_fails_its_task_in_the_parent(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        parent = await hub.client.start_new("parent_of_failing", None, None)
        status = await hub.finish(parent)
        children = await hub.client.get_status_all()
        return status, [c for c in children if c.name == "catches_nothing"]

    status, children = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Completed"
    assert status.output.startswith("child failed:") and "bad input from the child" in status.output
    assert [status_of(c) for c in children] == ["Failed"]


def test_a_sub_orchestration_cannot_take_a_running_instances_id(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        return await hub.run("child_with_my_id")

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Completed"
    assert status.output.startswith("refused:") and "already exists" in status.output


def test_an_event_the_host_cannot_run_fails_the_instance_after_three_tries(
    tmp_path: Path,
) -> None:
    from devhost.durabletask.history import Event, event

    async def scenario(hub: Hub):
        instance = await hub.client.start_new("forever", None, None)
        await asyncio.sleep(0.2)
        # A foreign event in the task hub (an EventType this host does not know).
        hub.engine.store.enqueue(instance, {**event(Event.EVENT_RAISED), "EventType": 99}, 0)
        hub.engine._wake()
        return await hub.finish(instance, timeout=10)

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Failed"
    assert "could not run an episode of this instance three times" in status.output


def test_continue_as_new_carries_state_and_events(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        instance = await hub.client.start_new("counter", None, 0)
        for _ in range(3):
            await hub.client.raise_event(instance, "bump", 1)
        return await hub.finish(instance)

    status = run_with_hub(tmp_path, scenario)
    assert (status_of(status), status.output) == ("Completed", 3)


def test_continue_as_new_keeps_events_that_arrived_together(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        instance = await hub.client.start_new("counter", None, 0)
        await asyncio.gather(*(hub.client.raise_event(instance, "bump", 1) for _ in range(3)))
        return await hub.finish(instance)

    status = run_with_hub(tmp_path, scenario)
    assert (status_of(status), status.output) == ("Completed", 3)


def test_terminate_and_purge(tmp_path: Path) -> None:
    async def scenario(hub: Hub):
        instance = await hub.client.start_new("forever", None, None)
        await asyncio.sleep(0.2)
        await hub.client.terminate(instance, "enough")
        terminated = await hub.client.get_status(instance)
        purged = await hub.client.purge_instance_history(instance)
        gone = await hub.client.get_status(instance)
        return terminated, purged, gone

    terminated, purged, gone = run_with_hub(tmp_path, scenario)
    assert (status_of(terminated), terminated.output) == ("Terminated", "enough")
    assert purged.instances_deleted == 1
    assert gone.runtime_status is None


def test_a_non_deterministic_orchestrator_fails_with_a_clear_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_FLAG", str(tmp_path / "flag"))

    async def scenario(hub: Hub):
        return await hub.run("nondeterministic")

    status = run_with_hub(tmp_path, scenario)
    assert status_of(status) == "Failed"
    assert "Non-deterministic" in status.output
    assert "slow_double" in status.output and "double" in status.output


def test_activity_concurrency_is_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMPLE_SLOW_SECONDS", "0.2")

    async def scenario(hub: Hub):
        started = time.monotonic()
        instances = [await hub.client.start_new("slow_sequence", None, 1) for _ in range(4)]
        for instance in instances:
            await hub.finish(instance)
        return time.monotonic() - started

    # 4 instances x 4 sequential steps of 0.2 s on 2 slots: at least 8 rounds of 0.2 s.
    elapsed = run_with_hub(tmp_path, scenario, concurrency=2)
    assert elapsed >= 1.6


@pytest.mark.parametrize("limit", [3, 8])
def test_parallel_activities_never_exceed_the_limit(tmp_path: Path, limit: int) -> None:
    from tests.durabletask.sample_app import Gauge

    Gauge.peak = 0

    async def scenario(hub: Hub):
        instances = [await hub.client.start_new("gauged_fan_out", None, [12, 0.05])
                     for _ in range(2)]  # fmt: skip
        return [(await hub.finish(i)).output for i in instances]

    assert run_with_hub(tmp_path, scenario, concurrency=limit) == [12, 12]
    assert Gauge.peak == limit, "24 activities ready at once: the limit, and only the limit, ran"


def test_the_client_is_refused_without_the_system_key(tmp_path: Path) -> None:
    import aiohttp

    async def scenario(hub: Hub):
        base = hub.engine.base_url + "/runtime/webhooks/durabletask/instances/x"
        async with aiohttp.ClientSession() as session:
            async with session.get(base) as anonymous:
                refused = anonymous.status
            async with session.get(base, params={"code": hub.engine.system_key}) as keyed:
                allowed = keyed.status
        return refused, allowed

    assert run_with_hub(tmp_path, scenario) == (401, 404)


def test_a_killed_host_resumes_without_rerunning_finished_activities(tmp_path: Path) -> None:
    db, log = tmp_path / "hub.sqlite", tmp_path / "runs.log"
    env = {**os.environ, "SAMPLE_RUN_LOG": str(log), "SAMPLE_SLOW_SECONDS": "0.4",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    command = [sys.executable, "-m", "tests.durabletask.engine_process", str(db)]
    first = subprocess.Popen([*command, "start", "slow_sequence", "1"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    instance = json.loads(first.stdout.readline())["instance"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().split()) < 4):
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)  # mid-orchestration: two steps done, the third running
    first.wait()
    before = log.read_text().splitlines()
    second = subprocess.run([*command, "resume", instance], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    result = json.loads(second.stdout.strip().splitlines()[-1])
    assert result == {"status": "Completed", "output": "16"}
    runs = log.read_text().splitlines()
    for finished in before[:-1]:
        assert runs.count(finished) == 1, f"{finished} ran again after the restart"
    assert runs[-1] == "slow_double 8"
