"""The pure parts of `python -m bench asr`: what an ARM request to the stand-in's Site
Recovery is, the looks the poll schedule makes, the figures of a run and the projection to
reads per VM-hour. No timing, no services."""

from __future__ import annotations

import pytest

from bench import asr as bench
from orchestrators.asr_failover import POLL_FIRST, POLL_MAX

VAULT = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
    "/replicationFabrics/f/replicationProtectionContainers/c"
)
ITEM = f"{VAULT}/replicationProtectedItems/vm1"
JOBS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", f"{ITEM}/testFailover", "POST testFailover"),
        ("GET", ITEM, "get protected item"),
        ("GET", f"{ITEM}/recoveryPoints", "list recovery points"),
        ("GET", f"{VAULT}/replicationProtectableItems", "list protectable items"),
        ("GET", f"{JOBS}/replicationFabrics", "list fabrics"),
        ("GET", f"{JOBS}/replicationJobs/j1", "get job"),
        ("GET", f"{JOBS}/replicationJobs/j1/operationresults/j1", "operation result"),
        ("GET", f"{JOBS}/replicationOperationStatus/j1", "operation status"),
    ],
)
def test_a_request_is_named_by_its_site_recovery_operation(
    method: str, path: str, kind: str
) -> None:
    assert bench.kind_of(method, path) == kind


def test_the_job_a_look_names() -> None:
    look = bench.ArmRequest(0, "GET", f"{JOBS}/replicationJobs/j1", 200, "app")
    status = bench.ArmRequest(0, "GET", f"{JOBS}/replicationOperationStatus/j2", 200, "app")
    assert (look.job, status.job) == ("j1", "j2")
    assert bench.ArmRequest(0, "GET", ITEM, 200, "app").job is None


def test_looks_double_from_poll_first_to_poll_max_until_the_job_has_ended() -> None:
    assert (POLL_FIRST, POLL_MAX) == (2.0, 30.0)  # the figures below assume these
    assert bench.look_offsets(0.0, 1.0) == [0.0, 2.0]
    assert bench.look_offsets(0.0, 8.0) == [0.0, 2.0, 6.0, 14.0]
    assert bench.look_offsets(0.0, 40.0) == [0.0, 2.0, 6.0, 14.0, 30.0, 60.0]
    assert len(bench.look_offsets(0.0, 600.0)) == 24  # 0..30, then 60, 90, … 600
    assert bench.look_offsets(0.5, 6.0, drift=0.1) == pytest.approx([0.5, 2.6, 6.7])


def test_drifts_are_what_each_look_came_after_its_pause() -> None:
    assert bench.drifts([0.0, 2.1, 6.2, 14.5]) == pytest.approx([0.1, 0.1, 0.3])


def run(looks: list[float], requested: float = -0.2, done: float = 14.1) -> bench.Run:
    requests = [
        bench.ArmRequest(-0.1, "GET", f"{JOBS}/replicationFabrics", 200, "app"),
        bench.ArmRequest(-0.05, "POST", f"{ITEM}/testFailover", 202, "app"),
        *(bench.ArmRequest(at, "GET", f"{JOBS}/replicationJobs/j1", 200, "app") for at in looks),
        bench.ArmRequest(done - 0.01, "GET", ITEM, 200, "app"),
    ]
    return bench.Run(requested, done, asr_start=0.0, asr_end=8.0, requests=requests)


def test_a_runs_figures_split_the_lag_at_the_look_that_saw_the_end() -> None:
    figures = run([0.01, 2.02, 6.03, 14.04]).figures()
    assert figures["asr_job_s"] == 8.0
    assert figures["request_to_asr_start_s"] == pytest.approx(0.2)
    assert figures["asr_end_to_done_s"] == pytest.approx(6.1)
    assert figures["asr_end_to_last_look_s"] == pytest.approx(6.04)
    assert figures["last_look_to_done_s"] == pytest.approx(0.06)
    assert (figures["looks"], figures["arm_reads"], figures["arm_writes"]) == (4, 6, 1)
    assert bench.predicted_lag(run([0.01, 2.02, 6.03, 14.04])) == pytest.approx(6.01)


def test_summaries_give_median_and_max_and_the_requests_by_kind() -> None:
    out = bench.summarise([run([0.0, 2.0, 6.0, 14.0]), run([0.0, 2.0, 6.0, 14.0], done=15.1)])
    assert out["runs"] == 2
    assert out["asr_end_to_done_s"] == {"median": 6.6, "max": 7.1}
    assert out["arm_requests_median"]["get job"] == 4
    assert out["arm_requests_median"]["POST testFailover"] == 1


def test_the_projection_counts_reads_per_vm_hour_and_what_fits_under_the_limit() -> None:
    ours = [run([0.0, 2.0, 6.0, 14.0, 30.0, 60.0], done=60.1)]
    base_requests = [
        bench.ArmRequest(at, "GET", f"{JOBS}/replicationOperationStatus/j1", 200, "b")
        for at in range(1, 41)
    ]
    base = [bench.Run(-0.1, 40.5, 0.0, 40.0, base_requests)]
    out = bench.projection(ours, base, 600.0)
    assert out["ours"]["of_which_looks"] == 24
    assert out["ours"]["arm_reads"] == 26  # 2 besides the looks (fabrics, the item)
    assert out["ours"]["request_to_done_s"] == pytest.approx(600.3, abs=0.05)
    assert out["ours"]["reads_per_vm_hour"] == round(26 / 600.3 * 3600)
    assert out["ours"]["concurrent_failovers_within_limit"] == 12_000 // round(26 / 600.3 * 3600)
    assert out["baseline_sdk_poller"]["arm_reads"] == 600  # one status read a second
    assert bench.fits(3600) == 3
