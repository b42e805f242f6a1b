"""Plain-text tables like the portal's list pages, for the demo's output."""

from __future__ import annotations

from datetime import datetime


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    out = [line, "  ".join("-" * widths[c] for c in columns)]
    out += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(out)


def clock(stamp: str | None) -> str:
    """An ISO time as the portal's job page shows it: hours to tenths of a second."""
    return datetime.fromisoformat(stamp).strftime("%H:%M:%S.%f")[:10] if stamp else "-"


def took(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.1f} s"


def job_page(job: dict) -> str:
    """One job like ASR's job page: its state and length, then each step with its times."""
    start, end = job["startTime"], job["endTime"]
    head = (f"    {job['type']} job {job['id']}: {job['state']}, {took(start, end)} "
            f"(started {clock(start)})")  # fmt: skip
    rows = [{"Step": s["name"], "Status": s["state"], "Start": clock(s["startTime"]),
             "End": clock(s["endTime"]), "Duration": took(s["startTime"], s["endTime"])}
            for s in job["steps"]]  # fmt: skip
    lines = table(rows, ["Step", "Status", "Start", "End", "Duration"]).splitlines()
    errors = [f"    error {e['code']}: {e['cause']}\n      fix: {e['recommendation']}"
              for e in job["errors"]]  # fmt: skip
    return "\n".join([head, *(f"      {line}" for line in lines), *errors])
