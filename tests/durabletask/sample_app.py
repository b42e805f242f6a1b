"""A small Durable app used only by the engine's tests."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df

app = df.DFApp()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)


def _log(line: str) -> None:
    """Activities append what they ran to a file, so tests can count runs across crashes."""
    path = os.environ.get("SAMPLE_RUN_LOG")
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    _log(f"double {value}")
    return value * 2


@app.activity_trigger(input_name="value")
def slow_double(value: int) -> int:
    _log(f"slow_double {value}")
    time.sleep(float(os.environ.get("SAMPLE_SLOW_SECONDS", "0.3")))
    return value * 2


class Gauge:
    """How many `gauged` activities run at once, and the most ever seen (they share a process)."""

    lock = threading.Lock()
    running = 0
    peak = 0


@app.activity_trigger(input_name="seconds")
def gauged(seconds: float) -> int:
    with Gauge.lock:
        Gauge.running += 1
        Gauge.peak = max(Gauge.peak, Gauge.running)
    try:
        time.sleep(seconds)
    finally:
        with Gauge.lock:
            Gauge.running -= 1
    return 1


@app.activity_trigger(input_name="path")
def flaky(path: str) -> str:
    """Fails until it has been called `n` times (counted in a file)."""
    counter = Path(path)
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    if n < 3:
        raise RuntimeError(f"transient failure {n}")
    return f"ok after {n}"


@app.activity_trigger(input_name="value")
def always_fails(value: str) -> str:
    raise ValueError(f"bad input {value}")


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    value = context.get_input() or 1
    for _ in range(3):
        value = yield context.call_activity(double, value)
    return value


@app.orchestration_trigger(context_name="context")
def slow_sequence(context: df.DurableOrchestrationContext):
    value = context.get_input() or 1
    for _ in range(4):
        value = yield context.call_activity(slow_double, value)
    return value


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    n = context.get_input()
    results = yield context.task_all([context.call_activity(double, i) for i in range(n)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def gauged_fan_out(context: df.DurableOrchestrationContext):
    n, seconds = context.get_input()
    return sum((yield context.task_all([context.call_activity(gauged, seconds) for _ in range(n)])))


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    first = yield context.call_activity_with_retry(flaky, RETRY, context.get_input())
    after = yield context.call_activity(double, 21)
    return [first, after]


@app.orchestration_trigger(context_name="context")
def retrying_fan_out(context: df.DurableOrchestrationContext):
    """Retried and plain activities side by side: the retries' hidden ids interleave."""
    folder = context.get_input()
    tasks = [context.call_activity_with_retry(flaky, RETRY, f"{folder}/a")]
    tasks += [context.call_activity(double, i) for i in range(5)]
    tasks += [context.call_activity_with_retry(flaky, RETRY, f"{folder}/b")]
    results = yield context.task_all(tasks)
    after = yield context.call_activity(double, 100)
    return [*results, after]


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    yield context.call_activity_with_retry(always_fails, RETRY, "x")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def catches_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity(always_fails, "y")
    except Exception as error:
        return f"caught: {error}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting")
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input())
    timer = context.create_timer(deadline)
    approved = context.wait_for_external_event("approve")
    winner = yield context.task_any([approved, timer])
    if winner is approved:
        timer.cancel()
        context.set_custom_status("approved")
        return f"approved by {approved.result}"
    return "timed out"


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("first")
    second = yield context.wait_for_external_event("second")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    a = yield context.call_sub_orchestrator("sequence", 1)
    b = yield context.call_sub_orchestrator(
        "sequence", 2, instance_id=f"{context.instance_id}-child"
    )
    return a + b


@app.orchestration_trigger(context_name="context")
def parent_of_failing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("catches_nothing", None)
    except Exception as error:
        return f"child failed: {error}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def catches_nothing(context: df.DurableOrchestrationContext):
    yield context.call_activity(always_fails, "from the child")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def child_with_my_id(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("sequence", 1, instance_id=context.instance_id)
    except Exception as error:
        return f"refused: {error}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    count = context.get_input()
    if count >= 3:
        return count
    bump = yield context.wait_for_external_event("bump")
    context.continue_as_new(count + bump)
    return None


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    # Decides from the wall clock, not from context: a replay calls something else.
    flag_file = Path(os.environ["SAMPLE_FLAG"])
    name = "double" if not flag_file.exists() else "slow_double"
    flag_file.write_text("seen")
    yield context.call_activity(name, 1)
    yield context.call_activity(double, 2)
    return "done"


@app.orchestration_trigger(context_name="context")
def forever(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "never"
