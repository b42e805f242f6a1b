"""Progress of one transfer: a bar on stderr for people, JSON lines for machines.

The engine calls a `Callable[[Progress], None]`; these two renderers are what the CLI plugs in.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import TextIO


@dataclass
class Progress:
    """Where a transfer stands; bytes are of the disk scanned, `bytes_sent` of the wire."""

    bytes_done: int
    bytes_total: int
    throughput_bytes_per_s: float
    eta_seconds: float | None
    bytes_sent: int = 0
    phase: str = "upload"


def human(n: float) -> str:
    """1536 → '1.5 KiB': binary units, one decimal, as the bar shows them."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


class Bar:
    """A one-line bar redrawn at most 5 times a second (stderr is often a slow terminal)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 28) -> None:
        self.stream = stream
        self.width = width
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.bytes_done >= p.bytes_total
        if not final and now - self._last < 0.2:
            return
        self._last = now
        frac = p.bytes_done / p.bytes_total if p.bytes_total else 1.0
        filled = int(frac * self.width)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:5.1f}% "
            f"{human(p.bytes_done)}/{human(p.bytes_total)} sent {human(p.bytes_sent)} "
            f"{human(p.throughput_bytes_per_s)}/s ETA {clock(p.eta_seconds)}  "
        )
        if final:
            self.stream.write("\n")
        self.stream.flush()


class JsonLines:
    """One JSON object per update on `stream`, throttled to 2 per second plus the last one."""

    def __init__(self, stream: TextIO = sys.stdout, interval: float = 0.5) -> None:
        self.stream = stream
        self.interval = interval
        self._last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if p.bytes_done < p.bytes_total and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(json.dumps({"event": "progress", **asdict(p)}) + "\n")
        self.stream.flush()


class Meter:
    """Turns counters into a Progress: throughput over this run only, ETA from it."""

    def __init__(self, total: int, done_at_start: int = 0, phase: str = "upload") -> None:
        self.total = total
        self.start_done = done_at_start
        self.phase = phase
        self.started = time.monotonic()

    def snapshot(self, done: int, sent: int) -> Progress:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self.start_done) / elapsed
        eta = (self.total - done) / rate if rate > 0 else None
        return Progress(done, self.total, rate, eta, sent, self.phase)
