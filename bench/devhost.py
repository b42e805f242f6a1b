"""`python -m bench.devhost [--quick]`: devhost's Durable engine under load.

Each orchestration runs 10 activities in sequence, then a fan-out of 50 in parallel (60 steps);
orchestrations run 200 at a time until N have finished, then N more. Measured in one process
with the real SDK replay protocol and history in SQLite (WAL), the engine `python -m devhost`
runs (instances are started in-process, not over HTTP: the steps are what is measured):

- activity steps per second, end to end;
- host overhead per step: the host's own time for a step outside user code (activity wrapper
  plus its share of the episode that consumes the result; see devhost/durabletask/metrics.py),
  median and p99;
- for context, how long a completion waits in the inbox for its episode (queueing behind the
  other 199 instances: load, not work);
- RSS after N and after 2N finished orchestrations: it must not grow with finished ones.

Baseline, measured in the same run: the same user code (the activities and the orchestrator's
generator) driven by a plain loop with no host at all, in steps per second. The JSON gives the
ratio of each figure to its target (>= 300 steps/s, median overhead < 5 ms) and to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from devhost.durabletask import DurableEngine
from devhost.durabletask.metrics import StepMetrics

TARGET_STEPS_PER_SECOND = 300.0
TARGET_MEDIAN_OVERHEAD_MS = 5.0
SEQUENTIAL, FAN_OUT, IN_FLIGHT = 10, 50, 200

app = df.DFApp()


@app.activity_trigger(input_name="value")
def bench_step(value: int) -> int:
    return value + 1


def pipeline_steps(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(SEQUENTIAL):
        value = yield context.call_activity(bench_step, value)
    results = yield context.task_all([context.call_activity(bench_step, value + i)
                                      for i in range(FAN_OUT)])  # fmt: skip
    return sum(results)


@app.orchestration_trigger(context_name="context")
def bench_pipeline(context: df.DurableOrchestrationContext):
    return (yield from pipeline_steps(context))


def log(text: str) -> None:
    print(f"bench.devhost: {text}", file=sys.stderr, flush=True)


def rss_mib() -> float:
    """Current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def expected_output(seed: int) -> int:
    value = seed + SEQUENTIAL
    return sum(value + i + 1 for i in range(FAN_OUT))


def baseline(orchestrations: int) -> float:
    """User code alone: the generator driven by hand, each activity called directly."""

    class Task:
        def __init__(self, value: Any) -> None:
            self.value = value

    class Context:
        def __init__(self, seed: int) -> None:
            self.seed = seed

        def get_input(self) -> int:
            return self.seed

        def call_activity(self, fn: Any, value: int) -> Task:
            return Task(bench_step(value))

        def task_all(self, tasks: list[Task]) -> list[Any]:
            return [t.value for t in tasks]

    started = time.perf_counter()
    for seed in range(orchestrations):
        gen = pipeline_steps(Context(seed))  # type: ignore[arg-type]
        sent: Any = None
        try:
            while True:
                task = gen.send(sent)
                sent = task.value if isinstance(task, Task) else task
        except StopIteration as stop:
            assert stop.value == expected_output(seed)
    return orchestrations * (SEQUENTIAL + FAN_OUT) / (time.perf_counter() - started)


async def run_batch(engine: DurableEngine, seeds: range, in_flight: int) -> float:
    """Run one orchestration per seed, at most `in_flight` at a time; return the seconds."""
    slots = asyncio.Semaphore(in_flight)

    async def one(seed: int) -> None:
        async with slots:
            instance = engine.start_new("bench_pipeline", f"bench-{seed}", json.dumps(seed))
            finished = await engine.wait_finished(instance, timeout=600)
            if finished is None or finished.status != "Completed":
                raise RuntimeError(f"{instance} ended {finished and finished.status}")
            if json.loads(finished.output or "null") != expected_output(seed):
                raise RuntimeError(f"{instance} returned {finished.output}")

    started = time.perf_counter()
    await asyncio.gather(*(one(seed) for seed in seeds))
    return time.perf_counter() - started


async def measure(n: int, in_flight: int, activity_concurrency: int, work: Path) -> dict:
    engine = DurableEngine(app.get_functions(), db_path=work / "hub.sqlite",
                           activity_concurrency=activity_concurrency)  # fmt: skip
    steps = 2 * n * (SEQUENTIAL + FAN_OUT)
    await engine.start()
    try:
        warm = min(n, in_flight)
        log(f"warm-up: {warm} orchestrations")
        await run_batch(engine, range(-warm, 0), in_flight)
        engine.metrics = metrics = StepMetrics(steps)
        user_before, replay_before = engine.user_time, engine.orchestrator_time
        log(f"first {n} orchestrations, {in_flight} at a time")
        first = await run_batch(engine, range(n), in_flight)
        gc.collect()
        rss_n = rss_mib()
        log(f"  {n * 60 / first:.0f} steps/s; next {n}")
        second = await run_batch(engine, range(n, 2 * n), in_flight)
        gc.collect()
        rss_2n = rss_mib()
        user = engine.user_time - user_before
        replay = engine.orchestrator_time - replay_before
    finally:
        await engine.stop()
    seconds = first + second
    overheads_ms = sorted(x * 1000 for x in metrics.overheads)
    waits_ms = sorted(x * 1000 for x in metrics.waits)
    return {
        "steps": steps,
        "seconds": round(seconds, 2),
        "steps_per_second": round(steps / seconds, 1),
        "steps_per_second_first_n": round(n * 60 / first, 1),
        "steps_per_second_second_n": round(n * 60 / second, 1),
        "episodes": metrics.episodes,
        "measured_steps": len(overheads_ms),
        "overhead_ms_median": round(statistics.median(overheads_ms), 3),
        "overhead_ms_p99": round(overheads_ms[int(len(overheads_ms) * 0.99) - 1], 3),
        "inbox_wait_ms_median": round(statistics.median(waits_ms), 3),
        "inbox_wait_ms_p99": round(waits_ms[int(len(waits_ms) * 0.99) - 1], 3),
        "activity_code_seconds": round(user, 3),
        "orchestrator_replay_seconds": round(replay, 3),
        "rss_mib_after_n": round(rss_n, 1),
        "rss_mib_after_2n": round(rss_2n, 1),
        "rss_growth_ratio": round(rss_2n / rss_n, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.devhost", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N=100 instead of 400")
    parser.add_argument("--orchestrations", type=int, help="N (the run finishes 2N)")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument("--activity-concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    n = args.orchestrations or (100 if args.quick else 400)
    logging.getLogger("devhost").setLevel(logging.WARNING)  # one line per invocation: too many

    base = baseline(max(n, 200))
    log(f"baseline (user code, no host): {base:.0f} steps/s")
    with tempfile.TemporaryDirectory(prefix="bench-devhost-") as tmp:
        result = asyncio.run(measure(n, args.in_flight, args.activity_concurrency, Path(tmp)))
    report = {
        "benchmark": "devhost",
        "orchestration": f"{SEQUENTIAL} sequential activities + fan-out of {FAN_OUT}",
        "orchestrations": 2 * n,
        "in_flight": args.in_flight,
        "activity_concurrency": args.activity_concurrency,
        "cpus": os.cpu_count(),
        **result,
        "baseline_user_code_steps_per_second": round(base, 1),
        "ratio_to_baseline": round(result["steps_per_second"] / base, 4),
        "targets": {
            "steps_per_second": TARGET_STEPS_PER_SECOND,
            "overhead_ms_median": TARGET_MEDIAN_OVERHEAD_MS,
            "rss_growth_ratio_max": 1.1,
        },
        "ratio_to_target_steps_per_second": round(
            result["steps_per_second"] / TARGET_STEPS_PER_SECOND, 3
        ),
        "ratio_to_target_overhead_median": round(
            result["overhead_ms_median"] / TARGET_MEDIAN_OVERHEAD_MS, 3
        ),
    }
    report["meets_targets"] = (
        report["ratio_to_target_steps_per_second"] >= 1
        and report["ratio_to_target_overhead_median"] < 1
        and result["rss_growth_ratio"] <= 1.1
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
