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
    """`acquire(n)` blocks until n bytes may be sent at `rate` bytes/s (None: no cap).

    Each acquire takes a ticket: the byte position it may send at. The rate moves the allowed
    position forward; a waiter goes when the allowed position reaches its ticket. So a new rate
    (`set_rate`, the site's cap changing) applies at once to every waiter, and first come is
    first served across all the transfers that share the bucket. Accounting (`granted`, users)
    is what the daemon reports, so an operator can see the cap being held."""

    def __init__(self, rate: int | None, *, burst_seconds: float = 1.0) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst_seconds = burst_seconds
        self._issued = 0.0  # bytes ticketed so far
        self._allowed = 0.0  # bytes the rate allowed so far: start empty, no free first second
        self._stamp = time.monotonic()
        self._cond = threading.Condition()
        self.granted = 0  # bytes let through, for the accounting
        self.users = 0  # transfers sharing the bucket now
        self.peak_users = 0

    @property
    def capacity(self) -> float:
        return (self.rate or 0) * self.burst_seconds

    def _refill(self, now: float) -> None:
        if self.rate is None:
            self._allowed = self._issued
        else:
            gained = (now - self._stamp) * self.rate
            self._allowed = min(self._allowed + gained, self._issued + self.capacity)
        self._stamp = now

    def set_rate(self, rate: int | None) -> None:
        """A new cap for every transfer sharing the bucket, from now on (waiters re-check)."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        with self._cond:
            self._refill(time.monotonic())
            if self.rate is None and rate is not None:
                self._allowed = self._issued  # capped from now: no burst of what went before
            self.rate = rate
            self._allowed = min(self._allowed, self._issued + self.capacity)
            self._cond.notify_all()

    def acquire(self, n: int, cancel: threading.Event | None = None) -> None:
        with self._cond:
            self._refill(time.monotonic())
            self._issued += n
            ticket = self._issued
            while True:
                if self.rate is None or self._allowed >= ticket:
                    self.granted += n
                    return
                if cancel is not None and cancel.is_set():
                    return
                # Wake at least every 0.2 s: a cancel is seen soon, a new rate at once.
                self._cond.wait(min(0.2, (ticket - self._allowed) / self.rate))
                self._refill(time.monotonic())

    def join(self) -> None:
        """A transfer starts sharing the bucket (accounting only)."""
        with self._cond:
            self.users += 1
            self.peak_users = max(self.peak_users, self.users)

    def leave(self) -> None:
        with self._cond:
            self.users -= 1


class Limits:
    """Every bucket a request must pass: the transfer's own cap, then the site's shared one."""

    def __init__(self, *buckets: TokenBucket | None) -> None:
        self.buckets = [b for b in buckets if b is not None]

    def acquire(self, n: int, cancel: threading.Event | None = None) -> None:
        for bucket in self.buckets:
            bucket.acquire(n, cancel)
