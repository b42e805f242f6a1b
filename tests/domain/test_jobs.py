"""The one job model's rules: steps as the orchestration reaches them, ends that stick, and
moves that are safe to replay (activities are retried and replayed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import ErrorInfo
from domain.jobs import (
    IllegalJobTransition,
    Job,
    JobState,
    JobType,
    cancel_job,
    fail_job,
    finish_step,
    new_job,
    start_step,
    succeed_job,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STEPS = ("Prerequisites check", "Enable protection", "Start initial replication")
ERR = ErrorInfo("DiskShared", "Disk data1 is a shared virtual disk.", "Detach it.")
BIG = ErrorInfo("OsDiskTooLarge", "The OS disk is 3 TB.", "Shrink it below 2 TB.")
E, B = ERR.to_dict(), BIG.to_dict()  # as jobs keep them


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job() -> Job:
    return new_job(
        id="j1",
        type=JobType.ENABLE_PROTECTION,
        tenant="contoso",
        target="vm-1",
        started_by="api",
        now=T0,
    )


def test_a_new_job_is_not_started_has_no_steps_and_starts_its_clock() -> None:
    j = job()
    assert (j.state, j.start_time, j.end_time, j.steps) == (JobState.NOT_STARTED, T0, None, ())
    assert not j.finished


def test_steps_run_in_order_and_the_job_succeeds_with_times() -> None:
    j = job()
    for i, name in enumerate(STEPS):
        j = start_step(j, name, at(10 * i))
        assert j.state == JobState.IN_PROGRESS
        j = finish_step(j, name, at(10 * i + 5))
    j = succeed_job(j, at(40))
    assert (j.state, j.start_time, j.end_time) == (JobState.SUCCEEDED, T0, at(40))
    assert [(s.name, s.state, s.start_time, s.end_time) for s in j.steps] == [
        (STEPS[0], JobState.SUCCEEDED, at(0), at(5)),
        (STEPS[1], JobState.SUCCEEDED, at(10), at(15)),
        (STEPS[2], JobState.SUCCEEDED, at(20), at(25)),
    ]


def test_a_replayed_step_start_reuses_the_open_step() -> None:
    j = start_step(job(), STEPS[0], at(0))
    assert start_step(j, STEPS[0], at(9)) == j
    assert len(j.steps) == 1 and j.steps[0].start_time == at(0)


def test_a_replayed_step_finish_keeps_the_first_outcome() -> None:
    done = finish_step(start_step(job(), STEPS[0], at(0)), STEPS[0], at(1))
    assert finish_step(done, STEPS[0], at(9)) == done
    assert finish_step(done, STEPS[0], at(9), [ERR]) == done


def test_a_failed_step_keeps_its_errors_and_the_job_runs_on_until_told() -> None:
    j = finish_step(start_step(job(), STEPS[0], at(0)), STEPS[0], at(1), [ERR, BIG])
    assert (j.state, j.steps[0].state, j.steps[0].errors) == (
        JobState.IN_PROGRESS,
        JobState.FAILED,
        (E, B),
    )


def test_errors_keep_every_field_their_producer_gave() -> None:
    sourced = {**E, "source": "https://learn.microsoft.com/azure/site-recovery/matrix"}
    j = finish_step(job(), STEPS[0], at(1), [sourced])
    assert j.steps[0].errors == (sourced,)
    assert fail_job(j, at(2)).errors == (sourced,)


def test_an_error_without_its_cause_or_fix_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(ValueError, match="lacks cause, recommendation"):
        finish_step(job(), STEPS[0], at(1), [{"code": "Oops"}])


def test_finishing_an_unknown_step_records_it_with_now_for_both_times() -> None:
    j = finish_step(job(), STEPS[1], at(7))
    assert j.state == JobState.IN_PROGRESS
    [step] = j.steps
    assert (step.name, step.state, step.start_time, step.end_time) == (
        STEPS[1],
        JobState.SUCCEEDED,
        at(7),
        at(7),
    )


def test_a_step_started_again_after_it_ended_is_a_new_run() -> None:
    j = finish_step(start_step(job(), STEPS[0], at(0)), STEPS[0], at(1), [ERR])
    j = start_step(j, STEPS[0], at(2))
    assert [(s.state, s.start_time) for s in j.steps] == [
        (JobState.FAILED, at(0)),
        (JobState.IN_PROGRESS, at(2)),
    ]
    j = finish_step(j, STEPS[0], at(3))
    assert [s.state for s in j.steps] == [JobState.FAILED, JobState.SUCCEEDED]


def test_without_errors_fail_job_takes_the_failed_steps_errors() -> None:
    j = finish_step(start_step(job(), STEPS[0], at(0)), STEPS[0], at(1), [ERR, BIG])
    with pytest.raises(IllegalJobTransition) as raised:
        succeed_job(j, at(2))
    assert raised.value.code == "JobHasFailedSteps"
    j = fail_job(j, at(2))
    assert (j.state, j.errors, j.end_time) == (JobState.FAILED, (E, B), at(2))


def test_a_failed_job_marks_the_step_under_way_failed() -> None:
    j = start_step(finish_step(job(), STEPS[0], at(1)), STEPS[1], at(2))
    j = fail_job(j, at(3), [ERR])
    assert [(s.state, s.end_time) for s in j.steps] == [
        (JobState.SUCCEEDED, at(1)),
        (JobState.FAILED, at(3)),
    ]
    assert j.errors == (E,) and j.steps[1].errors == ()


def test_a_succeeded_job_ends_the_step_under_way_with_it() -> None:
    j = succeed_job(start_step(job(), STEPS[0], at(0)), at(4))
    assert (j.steps[0].state, j.steps[0].end_time) == (JobState.SUCCEEDED, at(4))


def test_cancel_marks_the_step_under_way_cancelled() -> None:
    j = start_step(job(), STEPS[0], at(0))
    j = cancel_job(j, at(4), ErrorInfo("CancelledByOperator", "Cancelled.", "Start again."))
    assert (j.state, j.steps[0].state, j.steps[0].end_time) == (
        JobState.CANCELLED,
        JobState.CANCELLED,
        at(4),
    )
    assert [e["code"] for e in j.errors] == ["CancelledByOperator"]


def test_finishing_a_finished_job_changes_nothing() -> None:
    failed = fail_job(start_step(job(), STEPS[0], at(0)), at(1), [ERR])
    for end in (
        lambda: fail_job(failed, at(2), [BIG]),
        lambda: fail_job(failed, at(2)),
        lambda: succeed_job(failed, at(2)),
        lambda: cancel_job(failed, at(2)),
    ):
        assert end() == failed
    ok = succeed_job(job(), at(1))
    assert fail_job(ok, at(2), [ERR]) == ok and cancel_job(ok, at(2)) == ok


def test_a_finished_job_takes_no_new_steps_but_replays_of_ended_ones_pass() -> None:
    failed = fail_job(start_step(job(), STEPS[0], at(0)), at(1), [ERR])
    for move in (
        lambda: start_step(failed, STEPS[1], at(2)),
        lambda: finish_step(failed, STEPS[1], at(2)),
    ):
        with pytest.raises(IllegalJobTransition) as raised:
            move()
        assert raised.value.code == "IllegalJobTransition"
    assert finish_step(failed, STEPS[0], at(2)) == failed  # closed when the job failed


def test_the_stored_form_round_trips() -> None:
    j = fail_job(start_step(job(), STEPS[0], at(0)), at(1), [ERR])
    assert Job.model_validate_json(j.model_dump_json()) == j
    assert j.type is JobType.ENABLE_PROTECTION


def test_started_by_and_type_are_validated() -> None:
    with pytest.raises(ValueError, match="started_by"):
        new_job(id="x", type="PlannedFailover", tenant="t", target="v", started_by="cron", now=T0)
    with pytest.raises(ValueError, match="type"):
        new_job(id="x", type="Failover", tenant="t", target="v", started_by="api", now=T0)
