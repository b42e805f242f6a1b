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


def item_page(item: dict) -> str:
    """The replicated items page: status, health (and why) and what may be asked of it now,
    then the failover it is in: its point and its Azure VM (for `direct`, the disks it made)."""
    failover = item.get("failover")
    shown = f"{failover['type']} {failover['state']}" if failover else "-"
    lines = [table([{"Name": item["vmName"], "Status": item["status"],
                     "Health": item["health"]["state"], "Failover": shown,
                     "Allowed operations": ", ".join(item["allowedOperations"])}],
                   ["Name", "Status", "Health", "Failover", "Allowed operations"])]  # fmt: skip
    lines += [f"    health {item['health']['state']}: {r['code']}: {r['cause']}"
              for r in item["health"]["reasons"]]  # fmt: skip
    if failover and item.get("provider") == "asr":  # ASR's point; ASR made the VM
        lines.append(f"    failover: ASR's point {failover['recoveryPointId']} "
                     f"({clock(failover['recoveryPointTime'])}), VM {failover['vmName']}, "
                     "made by Site Recovery")  # fmt: skip
    elif failover:  # direct: our point, made into managed disks
        disks = ", ".join(f"{d['diskId']} -> {d['managedDiskId'].split('/')[-1]}"
                          for d in failover["disks"])  # fmt: skip
        lines.append(f"    failover: point {failover['recoveryPointId']} "
                     f"({clock(failover['recoveryPointTime'])}, kept from pruning), "
                     f"VM {failover['vmName']} ({failover['vmSize']}), disks {disks}")  # fmt: skip
    return "\n".join(lines)
