"""Optional per-step accounting of the host's own time, for bench/devhost.py.

A step is one activity call. Its host overhead is the time the host spends on it outside user
code: the activity wrapper (decode the input, encode the result, log, commit the completion)
plus its share of the orchestrator episode that consumes the completion (load, replay through
the SDK, schedule what follows, commit), split evenly when one episode consumes several
completions. The SDK's replay counts as host time, even though the orchestrator's generator
runs inside it: the figure errs on the side of the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepMetrics:
    wrapper: dict[tuple[str, int], float] = field(default_factory=dict)
    overheads: list[float] = field(default_factory=list)
    episodes: int = 0
    steps: int = 0

    def activity_done(self, instance_id: str, task_id: int, seconds: float) -> None:
        self.wrapper[(instance_id, task_id)] = seconds

    def episode_done(self, instance_id: str, task_ids: list[int], seconds: float) -> None:
        self.episodes += 1
        if not task_ids:
            return
        share = seconds / len(task_ids)
        for task_id in task_ids:
            self.steps += 1
            self.overheads.append(share + self.wrapper.pop((instance_id, task_id), 0.0))
