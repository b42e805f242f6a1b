"""NCRONTAB, the timer trigger's schedule format: six fields, seconds first.

`{second} {minute} {hour} {day} {month} {day-of-week}` with `*`, lists, ranges, steps and
month/day names, as Azure Functions reads them. Also TimeSpan schedules (`hh:mm:ss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
          ("month", 1, 12), ("weekday", 0, 6))  # fmt: skip
NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "weekday": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}


class ScheduleError(ValueError):
    pass


def _value(text: str, field: str, low: int) -> int:
    names = NAMES.get(field)
    if names and text.lower()[:3] in names:
        return names.index(text.lower()[:3]) + low
    if not text.isdigit():
        raise ScheduleError(f"'{text}' is not a valid {field}")
    return int(text)


def _parse_field(text: str, field: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"bad step '{step_text}' in {field}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, field, low), _value(b, field, low)
        else:
            start = _value(part, field, low)
            end = high if step > 1 else start
        if field == "weekday":
            start, end = start % 7 if start == 7 else start, 6 if end == 7 else end
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ScheduleError(f"{field} '{part}' is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    fields: tuple[frozenset[int], ...] | None
    interval: timedelta | None = None

    @classmethod
    def parse(cls, text: str) -> Schedule:
        text = text.strip()
        if ":" in text and " " not in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ScheduleError(f"TimeSpan schedule '{text}' must be hh:mm:ss")
            return cls(None, timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2]))
        parts = text.split()
        if len(parts) != 6:
            raise ScheduleError(
                f"NCRONTAB '{text}' has {len(parts)} fields; it needs six: "
                "{second} {minute} {hour} {day} {month} {day-of-week}"
            )
        return cls(tuple(_parse_field(p, *f) for p, f in zip(parts, FIELDS, strict=True)))

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment`."""
        if self.interval is not None:
            return moment + self.interval
        assert self.fields is not None
        seconds, minutes, hours, days, months, weekdays = self.fields
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=366 * 5)
        while candidate < limit:
            if candidate.month not in months:
                candidate = (candidate.replace(day=1, hour=0, minute=0, second=0)
                             + timedelta(days=32)).replace(day=1)  # fmt: skip
                continue
            weekday = (candidate.weekday() + 1) % 7  # Sunday = 0
            if candidate.day not in days or weekday not in weekdays:
                candidate = candidate.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            if candidate.hour not in hours:
                candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if candidate.minute not in minutes:
                candidate = candidate.replace(second=0) + timedelta(minutes=1)
                continue
            if candidate.second not in seconds:
                candidate += timedelta(seconds=1)
                continue
            return candidate
        raise ScheduleError("the schedule never fires")
