"""The pure parts of `python -m bench failover`: a job's recorded times split into phases, the
reconcile steps' timers, the summary of a set of jobs and the findings drawn from it. No
timing, no services."""

from __future__ import annotations

import pytest

from bench import failover as bench
from orchestrators.failover import POLL_FIRST, POLL_MAX

T0 = 1_700_000_000.0  # the wall time a request was sent


def near(value: float) -> object:
    """Equal to a microsecond (ISO times carry microseconds)."""
    return pytest.approx(value, abs=1e-5)


def iso(seconds_after: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0 + seconds_after, UTC).isoformat()


def job(job_id: str, spans: list[tuple[str, float, float]], start: float, end: float) -> dict:
    return {
        "id": job_id,
        "state": "Succeeded",
        "startTime": iso(start),
        "endTime": iso(end),
        "steps": [
            {"name": name, "state": "Succeeded", "startTime": iso(a), "endTime": iso(b)}
            for name, a, b in spans
        ],
    }


ONE = job(
    "job-1",
    [
        (bench.CHOOSE, 0.1, 0.2),
        (bench.DISKS, 0.3, 1.5),
        (bench.NIC, 1.6, 2.7),
        (bench.VM, 2.8, 3.9),
    ],
    start=0.05,
    end=4.0,
)


def test_phases_split_a_job_into_its_steps_the_gaps_and_the_totals() -> None:
    got = bench.phases(ONE, T0)
    assert got["request to job start"] == near(0.05)
    assert got[bench.CHOOSE] == near(0.1)
    assert got[bench.DISKS] == near(1.2)
    assert got[bench.NIC] == near(1.1)
    assert got[bench.VM] == near(1.1)
    # job start -> first step, then three gaps of 0.1 s between steps
    assert got["between steps"] == near(0.05 + 0.3)
    assert got["VM created to job end"] == near(0.1)
    assert got["request to VM created"] == near(3.9)
    assert got["request to job end"] == near(4.0)
    parts = sum(v for k, v in got.items() if not k.startswith("request to"))
    assert parts + got["request to job start"] == near(got["request to job end"])


def test_a_job_without_its_vm_step_is_refused() -> None:
    failed = job("job-x", [(bench.CHOOSE, 0.1, 0.2)], start=0.0, end=0.3)
    with pytest.raises(ValueError, match="no 'Create virtual machine' step"):
        bench.phases(failed, T0)


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        (0, 0.0),
        (1, 0.0),
        (2, POLL_FIRST),
        (3, POLL_FIRST * 3),
        (7, sum(min(POLL_FIRST * 2**k, POLL_MAX) for k in range(6))),
    ],
)
def test_scheduled_waits_double_from_the_first_up_to_the_most(calls, expected) -> None:
    assert bench.scheduled_waits(calls) == near(expected)


def test_scheduled_waits_cap_at_the_most() -> None:
    assert bench.scheduled_waits(4, first=10, most=15) == near(10 + 15 + 15)


def test_a_reconcile_step_splits_into_calls_timers_and_dispatch() -> None:
    split = bench.reconcile_breakdown(1.2, [0.15, 0.02])
    assert split["calls"] == 2
    assert split["activity_s"] == near(0.17)
    assert split["timers_s"] == near(POLL_FIRST)
    assert split["dispatch_s"] == near(1.2 - 0.17 - POLL_FIRST)


def test_spread_and_medians() -> None:
    assert bench.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "p95": 3.0, "max": 3.0}
    assert bench.medians([{"a": 1.0, "b": 5.0}, {"a": 3.0}]) == {"a": 2.0}


def figures() -> tuple[dict, dict]:
    activities = {
        "job-1": {
            "reconcile_failover_disks": [0.15, 0.02],
            "reconcile_failover_nic": [0.03, 0.02],
            "reconcile_failover_vm": [0.02, 0.02],
            "record_job_step": [0.01] * 8,
        }
    }
    one = bench.of_jobs([ONE], {"job-1": T0}, activities)
    slow = job(
        "job-2",
        [
            (bench.CHOOSE, 0.2, 0.4),
            (bench.DISKS, 0.6, 2.4),
            (bench.NIC, 2.6, 3.8),
            (bench.VM, 4.0, 5.2),
        ],
        start=0.1,
        end=5.3,
    )
    many = bench.of_jobs([slow], {"job-2": T0}, {})
    many["first_request_to_last_vm_created_s"] = 5.2
    many["cpu_cores"] = 2
    many["cpu_cores_busy"] = {"devhost": 0.7, "azurite": 0.4}
    return one, many


def test_of_jobs_summarises_totals_phases_and_reconcile_steps() -> None:
    one, _ = figures()
    assert one["vms"] == 1
    assert one["request_to_vm_created_s"]["median"] == near(3.9)
    assert "request to VM created" not in one["phases_median_s"]
    disks = one["reconcile_steps_median"][bench.DISKS]
    assert disks["calls"] == 2 and disks["timers_s"] == near(POLL_FIRST)
    assert disks["dispatch_s"] == near(1.2 - 0.17 - POLL_FIRST)


def test_findings_quote_the_figures_they_rest_on() -> None:
    one, many = figures()
    base = {"one_vm_s": {"median": 0.25}}
    sdk = {"one_vm_s": {"median": 1.1}}
    first, nic, batch = bench.findings(one, many, base, sdk)
    timers = 3 * POLL_FIRST
    assert f"{timers:.1f} s of the 3.90 s" in first
    assert "0.25 s" in first and "1.10 s" in first
    assert "1.10 s (28%)" in nic
    assert "median request to VM 5.20 s" in batch and "within 5.20 s" in batch
    assert f"'{bench.DISKS}' +0.60 s" in batch  # the phase that grew most comes first
    assert "runs 14 activities, 8 of them job-step records" in batch
    assert "cores busy meanwhile: devhost 0.70, azurite 0.40 (of 2)" in batch


def test_of_jobs_counts_each_failovers_activities() -> None:
    one, many = figures()
    assert one["activity_calls_per_failover_median"]["record_job_step"] == 8
    assert many["activity_calls_per_failover_median"] == {}  # none seen: nothing claimed
