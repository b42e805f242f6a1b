"""The site's bandwidth setting: one cap for every upload of the site, with an optional
schedule (a lower cap in business hours), in the site's time zone.

A setting arrives from the control plane (`bandwidth` command) and is hostile input like any
other: every field is checked and a bad one refused with the reason. `rate_at` answers the cap
in force at an instant: the lowest cap of the windows that contain it (overlapping windows
never loosen each other), else the default `bytesPerSecond`; `None` means no cap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.errors import AgentError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RATE = 10**12  # 1 TB/s: anything above is a typo, not a link
MAX_WINDOWS = 64
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")
_ZONE = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,3}$")


@dataclass(frozen=True)
class Window:
    days: frozenset[str]
    start: int  # minutes after local midnight
    end: int  # exclusive; 1440 for "24:00"
    rate: int | None


@dataclass(frozen=True)
class Setting:
    rate: int | None  # outside every window
    windows: tuple[Window, ...] = ()
    zone: str = "UTC"

    def rate_at(self, when: datetime) -> int | None:
        local = when.astimezone(ZoneInfo(self.zone))
        day, minute = DAYS[local.weekday()], local.hour * 60 + local.minute
        rates = [w.rate for w in self.windows if day in w.days and w.start <= minute < w.end]
        if not rates:
            return self.rate
        capped = [r for r in rates if r is not None]
        return min(capped) if capped else None

    def describe(self, when: datetime) -> str:
        rate = self.rate_at(when)
        return "no cap" if rate is None else f"{rate} bytes/s"


def parse_setting(data: object) -> Setting:
    """The setting in a `bandwidth` command's data; AgentError BadCommand naming the field."""
    if not isinstance(data, dict):
        raise _bad("its data is not an object.")
    rate = _rate(data.get("bytesPerSecond"), "bytesPerSecond")
    zone = data.get("timeZone", "UTC")
    if not isinstance(zone, str) or not _ZONE.match(zone) or len(zone) > 64:
        raise _bad("timeZone must be an IANA time zone name such as Europe/Paris.")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _bad(f"timeZone {zone!r} is not a time zone this agent knows.") from None
    schedule = data.get("schedule", [])
    if not isinstance(schedule, list) or len(schedule) > MAX_WINDOWS:
        raise _bad(f"schedule must be a list of at most {MAX_WINDOWS} windows.")
    windows = tuple(_window(item, i) for i, item in enumerate(schedule))
    return Setting(rate, windows, zone)


def _window(item: object, i: int) -> Window:
    where = f"schedule[{i}]"
    if not isinstance(item, dict):
        raise _bad(f"{where} is not an object.")
    days = item.get("days")
    if not isinstance(days, list) or not days or not all(d in DAYS for d in days):
        raise _bad(f"{where}.days must list days among {', '.join(DAYS)}.")
    start, end = (
        _minutes(item.get("start"), f"{where}.start"),
        _minutes(item.get("end"), f"{where}.end"),
    )
    if not start < end or start == 1440:
        raise _bad(
            f"{where} must end after it starts (split a window that crosses midnight in two)."
        )
    return Window(
        frozenset(days), start, end, _rate(item.get("bytesPerSecond"), f"{where}.bytesPerSecond")
    )


def _minutes(value: object, where: str) -> int:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if not match:
        raise _bad(f"{where} must be a time of day HH:MM (00:00 to 24:00).")
    hours, minutes = (match.group(1), match.group(2)) if match.group(1) else ("24", "00")
    return int(hours) * 60 + int(minutes)


def _rate(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_RATE:
        raise _bad(
            f"{where} must be a whole number of bytes per second from 1 to {MAX_RATE}, or "
            "null for no cap."
        )
    return value


def setting_to_wire(setting: Setting) -> dict[str, Any]:
    """Back to the command's shape (what the state dir keeps)."""

    def clock(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        "bytesPerSecond": setting.rate,
        "timeZone": setting.zone,
        "schedule": [
            {
                "days": [d for d in DAYS if d in w.days],
                "start": clock(w.start),
                "end": clock(w.end),
                "bytesPerSecond": w.rate,
            }
            for w in setting.windows
        ],
    }


def _bad(why: str) -> AgentError:
    return AgentError(
        "BadCommand",
        f"the bandwidth command is malformed: {why}",
        "The cap in force was kept. Send the setting as the contract says: bytesPerSecond, "
        "timeZone and schedule [{days, start, end, bytesPerSecond}].",
    )
