"""The site's bandwidth setting (pure): which cap is in force when, and what is refused; and the
shared token bucket taking a new rate at once, waiters included."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from agent.bandwidth import parse_setting, setting_to_wire
from agent.errors import AgentError
from agent.throttle import TokenBucket
from contracts.commands import BandwidthCommand

MIB = 1024 * 1024
BUSINESS = {
    "bytesPerSecond": 50_000_000,
    "timeZone": "Europe/Paris",
    "schedule": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00",
         "bytesPerSecond": 5_000_000},
        {"days": ["fri"], "start": "12:00", "end": "14:00", "bytesPerSecond": 1_000_000},
        {"days": ["sat", "sun"], "start": "00:00", "end": "24:00"},
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("utc", "cap"),
    [
        ("2026-12-07T07:30:00+00:00", 5_000_000),  # Monday 08:30 in Paris (UTC+1): business
        ("2026-12-07T06:59:00+00:00", 50_000_000),  # Monday 07:59 in Paris: before the window
        ("2026-12-07T17:00:00+00:00", 50_000_000),  # Monday 18:00 in Paris: end is exclusive
        ("2026-12-11T11:30:00+00:00", 1_000_000),  # Friday 12:30: the lowest of two windows
        ("2026-12-12T11:30:00+00:00", None),  # Saturday: a window with no cap
        ("2026-07-06T06:30:00+00:00", 5_000_000),  # Monday 08:30 in summer time (UTC+2)
    ],
)
def test_the_cap_in_force_follows_the_schedule_in_the_sites_time_zone(utc: str, cap: int | None):
    setting = parse_setting(BUSINESS)
    assert setting.rate_at(datetime.fromisoformat(utc)) == cap
    # The contract's model accepts the same setting, and it round-trips through the state dir.
    assert BandwidthCommand.model_validate(BUSINESS).wire()["timeZone"] == "Europe/Paris"
    assert parse_setting(setting_to_wire(setting)) == setting


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"bytesPerSecond": 0}, "bytesPerSecond must be a whole number"),
        ({"bytesPerSecond": "5MB/s"}, "bytesPerSecond must be a whole number"),
        ({"bytesPerSecond": True}, "bytesPerSecond must be a whole number"),
        ({"timeZone": "../../etc/passwd"}, "timeZone must be an IANA time zone name"),
        ({"timeZone": "Mars/Olympus_Mons"}, "is not a time zone this agent knows"),
        ({"schedule": [{"days": ["mon"], "start": "18:00", "end": "08:00"}]}, "must end after"),
        ({"schedule": [{"days": ["someday"], "start": "08:00", "end": "09:00"}]}, "days must"),
        ({"schedule": [{"days": ["mon"], "start": "8:00", "end": "09:00"}]}, "HH:MM"),
        ({"schedule": [{"days": ["mon"], "start": "08:00", "end": "24:01"}]}, "HH:MM"),
        ({"schedule": "always"}, "schedule must be a list"),
        ({"schedule": [{}] * 65}, "at most 64"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(data: dict, why: str) -> None:
    with pytest.raises(AgentError, match=why) as error:
        parse_setting(data)
    assert (
        error.value.code == "BadCommand" and "cap in force was kept" in error.value.recommendation
    )


def test_a_new_rate_reaches_waiting_transfers_at_once() -> None:
    """Four threads share one bucket at 1 MiB/s; after 1.5 s the cap goes to 16 MiB/s: what
    remains goes at the new rate, not at the one the waiters started under."""
    bucket = TokenBucket(MIB)
    done: list[float] = []

    def transfer() -> None:
        bucket.join()
        for _ in range(4):
            bucket.acquire(MIB // 2)
        bucket.leave()
        done.append(time.monotonic())

    start = time.monotonic()
    threads = [threading.Thread(target=transfer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    assert 1.0 * MIB <= bucket.granted <= 2.0 * MIB  # ~1.5 MiB at the first rate
    bucket.set_rate(16 * MIB)
    for t in threads:
        t.join()
    # 8 MiB in all: at 1 MiB/s that is 8 s; with the new rate the rest takes well under 1 s.
    assert max(done) - start < 3.0
    assert bucket.granted == 8 * MIB and bucket.peak_users == 4 and bucket.users == 0
    bucket.set_rate(None)  # no cap: no waiting at all
    t0 = time.monotonic()
    bucket.acquire(100 * MIB)
    assert time.monotonic() - t0 < 0.1
