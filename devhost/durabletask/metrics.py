"""Optional per-step accounting of the host's own time, for bench/devhost.py.

A step is one activity call. Its host overhead is the time the host spends on it outside user
code: the activity wrapper (decode the input, encode the result, log, commit the completion)
plus its share of the orchestrator episode that consumes the completion (load, replay through
the SDK, schedule what follows, commit), split evenly when one episode consumes several
completions. The SDK's replay counts as host time, even though the orchestrator's generator
runs inside it: the figure errs on the side of the host.

Also kept, for context: how long each completion waited in the inbox before an episode took
it (queueing behind other instances' episodes; it grows with the load, not with the work).
"""

from __future__ import annotations

from array import array


class StepMetrics:
    """Overheads of up to `capacity` steps, in memory allocated up front: the benchmark
    measures the host's memory, and this must not be what grows."""

    def __init__(self, capacity: int) -> None:
        self.wrapper: dict[tuple[str, int], tuple[float, float]] = {}
        self._overheads = array("d", [0.0]) * capacity
        self._waits = array("d", [0.0]) * capacity
        self.steps = 0
        self.episodes = 0

    @property
    def overheads(self) -> list[float]:
        return self._overheads[: min(self.steps, len(self._overheads))].tolist()

    @property
    def waits(self) -> list[float]:
        return self._waits[: min(self.steps, len(self._waits))].tolist()

    def activity_done(self, instance_id: str, task_id: int, seconds: float, at: float) -> None:
        """`seconds` of host work on the activity; its completion committed at `at`
        (perf_counter)."""
        self.wrapper[(instance_id, task_id)] = (seconds, at)

    def episode_done(
        self, instance_id: str, task_ids: list[int], seconds: float, began: float
    ) -> None:
        self.episodes += 1
        if not task_ids:
            return
        share = seconds / len(task_ids)
        for task_id in task_ids:
            wrapper, committed = self.wrapper.pop((instance_id, task_id), (0.0, began))
            if self.steps < len(self._overheads):
                self._overheads[self.steps] = share + wrapper
                self._waits[self.steps] = max(0.0, began - committed)
            self.steps += 1
