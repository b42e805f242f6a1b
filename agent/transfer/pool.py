"""Upload threads fed through a byte budget, so memory stays bounded whatever the disk size.

The reader (one thread) produces requests far faster than storage takes them; without a bound
it would read the whole disk into memory. `submit` blocks while `budget_bytes` are in flight or
queued. The first failure stops the pool: the reader sees it at its next `submit`, and no new
request starts after it (the ones already on the wire finish or fail on their own).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class Stopped(Exception):
    """The pool stopped (a failure or a cancel); the reader should stop producing."""


class Pool:
    def __init__(
        self, workers: int, budget_bytes: int, cancel: threading.Event | None = None
    ) -> None:
        self._queue: queue.Queue[tuple[Callable[[], None], int] | None] = queue.Queue()
        self._budget = budget_bytes
        self._in_use = 0
        self._cond = threading.Condition()
        self.cancel = cancel or threading.Event()
        self.error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"upload-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def stopped(self) -> bool:
        return self.error is not None or self.cancel.is_set()

    def submit(self, job: Callable[[], None], cost: int) -> None:
        cost = min(max(cost, 1), self._budget)  # one job bigger than the budget still runs
        with self._cond:
            while self._in_use + cost > self._budget and not self.stopped:
                self._cond.wait(0.2)
            if self.stopped:
                raise Stopped
            self._in_use += cost
        self._queue.put((job, cost))

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job, cost = item
            try:
                if not self.stopped:
                    job()
            except BaseException as exc:  # handed to the reader, which raises it
                with self._cond:
                    if self.error is None:
                        self.error = exc
            finally:
                with self._cond:
                    self._in_use -= cost
                    self._cond.notify_all()

    def close(self) -> None:
        """Wait for every queued job, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()
