"""A token bucket shared by the upload threads, so the sum of them holds a bandwidth cap.

Links from a branch office are shared with production traffic; the cap is what the operator
promised the network team. Tokens may go negative (a 4 MiB request against a 1 MiB/s cap), which
keeps the average rate exact without splitting requests; bursts are limited to one second.
"""

from __future__ import annotations

import re
import threading
import time

_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "KI": 1024, "MI": 1024**2, "GI": 1024**3}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]I?)?B(?:/S)?\s*$", re.IGNORECASE)
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]I?)?B?\s*$", re.IGNORECASE)


def parse_rate(text: str) -> int:
    """'50MB/s' → 50_000_000 bytes per second ('MiB/s' is binary). Raises ValueError."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"bad bandwidth {text!r}: write it like 50MB/s, 800KiB/s or 1GB/s")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])


def parse_size(text: str) -> int:
    """'1MiB' → 1048576. Block sizes are binary, so '64K' and '64KB' also mean 64 KiB."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"bad size {text!r}: write it like 1MiB, 64KiB or 4194304")
    unit = (match.group(2) or "").upper().rstrip("I")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]


class TokenBucket:
    """`acquire(n)` blocks until n bytes may be sent at `rate` bytes/s (None: no cap)."""

    def __init__(self, rate: int | None, *, burst_seconds: float = 1.0) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = (rate or 0) * burst_seconds
        self._tokens = 0.0  # start empty: the first second is not a free burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, n: int, cancel: threading.Event | None = None) -> None:
        if self.rate is None:
            return
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        # Sleep outside the lock, in slices, so a cancel is seen within 0.2 s.
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if cancel is not None and cancel.is_set():
                return
            time.sleep(min(left, 0.2))
