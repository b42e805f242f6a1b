from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import ErrorInfo
from domain.jobs import (
    IllegalJobTransition,
    JobState,
    JobType,
    StepState,
    add_step,
    cancel_job,
    fail_job,
    finish_step,
    new_job,
    start_job,
    start_step,
    succeed_job,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STEPS = ("Prerequisites check", "Enable protection", "Start initial replication")
ERR = ErrorInfo("DiskShared", "Disk data1 is a shared virtual disk.", "Detach it.")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job():
    return new_job(
        id="j1",
        type=JobType.ENABLE_PROTECTION,
        tenant="contoso",
        target="vm-1",
        started_by="api",
        now=T0,
        steps=STEPS,
    )


def test_new_job_is_not_started_with_its_steps():
    j = job()
    assert j.state == JobState.NOT_STARTED and j.created_at == T0 and j.started_at is None
    assert [s.state for s in j.steps] == [StepState.NOT_STARTED] * 3
    assert j.model_dump(mode="json")["started_by"] == "api"


def test_steps_run_and_the_job_succeeds_with_times():
    j = job()
    for i, name in enumerate(STEPS):
        j = start_step(j, name, at(10 * i))
        j = finish_step(j, name, at(10 * i + 5))
    j = succeed_job(j, at(40))
    assert j.state == JobState.SUCCEEDED and j.started_at == T0 and j.ended_at == at(40)
    assert [(s.state, s.started_at, s.ended_at) for s in j.steps] == [
        (StepState.SUCCEEDED, at(0), at(5)),
        (StepState.SUCCEEDED, at(10), at(15)),
        (StepState.SUCCEEDED, at(20), at(25)),
    ]


def test_failed_prerequisites_fail_the_job_with_every_error_and_skip_the_rest():
    j = start_step(job(), STEPS[0], at(0))
    j = finish_step(j, STEPS[0], at(1), errors=[ERR, ERR.__class__("OsDiskTooLarge", "c", "r")])
    with pytest.raises(IllegalJobTransition, match="failed"):
        succeed_job(j, at(2))
    j = fail_job(j, at(2))
    assert j.state == JobState.FAILED
    assert [e.code for e in j.errors] == ["DiskShared", "OsDiskTooLarge"]
    assert [s.state for s in j.steps] == [StepState.FAILED, StepState.SKIPPED, StepState.SKIPPED]


def test_fail_job_fails_the_running_step():
    j = start_step(job(), STEPS[0], at(0))
    j = fail_job(j, at(3), [ERR])
    assert j.steps[0].state == StepState.FAILED and j.steps[0].ended_at == at(3)
    assert j.errors == (ERR,)


def test_replays_change_nothing():
    j = start_step(job(), STEPS[0], at(0))
    assert start_step(j, STEPS[0], at(9)) == j
    done = finish_step(j, STEPS[0], at(1))
    assert finish_step(done, STEPS[0], at(9)) == done
    ok = succeed_job(done, at(2))
    assert succeed_job(ok, at(9)) == ok
    failed = fail_job(j, at(2), [ERR])
    assert fail_job(failed, at(9), [ERR]) == failed
    assert start_job(start_job(job(), at(0)), at(5)).started_at == at(0)


def test_finished_jobs_do_not_change():
    ok = succeed_job(job(), at(1))
    for move in (
        lambda: fail_job(ok, at(2), [ERR]),
        lambda: cancel_job(ok, at(2)),
        lambda: start_step(ok, STEPS[0], at(2)),
        lambda: start_job(ok, at(2)),
        lambda: add_step(ok, "late"),
    ):
        with pytest.raises(IllegalJobTransition) as raised:
            move()
        assert raised.value.code == "IllegalJobTransition"


def test_a_step_cannot_restart_or_change_its_outcome():
    j = finish_step(start_step(job(), STEPS[0], at(0)), STEPS[0], at(1))
    with pytest.raises(IllegalJobTransition):
        start_step(j, STEPS[0], at(2))
    with pytest.raises(IllegalJobTransition):
        finish_step(j, STEPS[0], at(2), errors=[ERR])


def test_unknown_step():
    with pytest.raises(IllegalJobTransition) as raised:
        start_step(job(), "Nope", at(0))
    assert raised.value.code == "UnknownJobStep"


def test_finishing_a_step_never_started_uses_now_for_both_times():
    j = finish_step(job(), STEPS[1], at(7))
    assert j.state == JobState.IN_PROGRESS
    assert (j.steps[1].started_at, j.steps[1].ended_at) == (at(7), at(7))


def test_cancel_marks_pending_steps_cancelled():
    j = start_step(job(), STEPS[0], at(0))
    j = cancel_job(j, at(4), ErrorInfo("CancelledByOperator", "Cancelled.", "Start again."))
    assert j.state == JobState.CANCELLED
    assert {s.state for s in j.steps} == {StepState.CANCELLED}
    assert cancel_job(j, at(5)) == j


def test_add_step_for_recovery_plans():
    j = add_step(job(), "Fail over vm-2")
    assert j.steps[-1].name == "Fail over vm-2" and add_step(j, "Fail over vm-2") == j


def test_job_serializes_to_json():
    j = fail_job(start_step(job(), STEPS[0], at(0)), at(1), [ERR])
    data = j.model_dump(mode="json")
    assert data["state"] == "Failed" and data["errors"][0]["code"] == "DiskShared"
    assert data["steps"][0]["started_at"].startswith("2026-11-25T12:00:00")
    assert type(j).model_validate_json(j.model_dump_json()) == j


def test_started_by_is_validated():
    with pytest.raises(ValueError):
        new_job(id="x", type="Failover", tenant="t", target="v", started_by="cron", now=T0)
