"""The watchdog's rules: which statuses call for which loop, what counts as ended, when a
lock has outlived its operation, how restarts back off, and what the operator reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import watchdog as rules
from domain.replication_state import ReplicationEvent, ReplicationStatus

S = ReplicationStatus
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "loop"),
    [
        (S.NOT_PROTECTED, rules.Loop.NONE),
        (S.PROTECTION_PENDING, rules.Loop.NONE),
        (S.DISABLING_PROTECTION, rules.Loop.NONE),
        (S.WAITING_FOR_INITIAL_REPLICATION, rules.Loop.INITIAL),
        (S.INITIAL_REPLICATION_IN_PROGRESS, rules.Loop.INITIAL),
        (S.PROTECTED, rules.Loop.DELTA),
        (S.RESYNCHRONIZATION_REQUIRED, rules.Loop.DELTA),
        (S.RESYNCHRONIZATION_IN_PROGRESS, rules.Loop.DELTA),
        # A test failover leaves replication running; the others stop it on purpose.
        (S.TEST_FAILOVER_IN_PROGRESS, rules.Loop.DELTA),
        (S.TEST_FAILOVER_SUCCEEDED, rules.Loop.DELTA),
        (S.TEST_FAILOVER_FAILED, rules.Loop.DELTA),
        (S.PLANNED_FAILOVER_IN_PROGRESS, rules.Loop.NONE),
        (S.UNPLANNED_FAILOVER_IN_PROGRESS, rules.Loop.NONE),
        (S.FAILED_OVER, rules.Loop.NONE),
        (S.FAILOVER_COMMITTED, rules.Loop.NONE),
    ],
)
def test_each_status_calls_for_its_loop(status: S, loop: rules.Loop) -> None:
    assert rules.expected_loop(status) is loop


def test_every_status_is_judged() -> None:
    assert {rules.expected_loop(s) for s in S} == set(rules.Loop)


@pytest.mark.parametrize(
    ("runtime", "ended"),
    [
        (None, True),
        ("Completed", True),
        ("Failed", True),
        ("Terminated", True),
        ("Running", False),
        ("Pending", False),
        ("ContinuedAsNew", False),  # between two executions of a loop: alive
        ("Suspended", False),  # not ours to judge
    ],
)
def test_only_completed_failed_terminated_or_missing_have_ended(
    runtime: str | None, ended: bool
) -> None:
    assert rules.has_ended(runtime) is ended


def test_a_job_without_its_orchestration_is_abandoned_only_after_the_start_grace() -> None:
    fresh, old = NOW - timedelta(seconds=5), NOW - rules.START_GRACE - timedelta(seconds=1)
    assert not rules.operation_abandoned(None, fresh, NOW)  # the starter is about to start it
    assert rules.operation_abandoned(None, old, NOW)  # the host stopped before it did
    assert rules.operation_abandoned("Terminated", fresh, NOW)
    assert rules.operation_abandoned("Failed", fresh, NOW)
    assert not rules.operation_abandoned("Running", old, NOW)


def test_restarts_back_off_until_a_point_proves_one_worked() -> None:
    assert rules.restart_due(NOW, None, 0, None)
    last = NOW - timedelta(seconds=30)
    assert not rules.restart_due(NOW, last, 1, None)  # died again within the first minute
    assert rules.restart_due(last + timedelta(minutes=1), last, 1, None)
    assert not rules.restart_due(last + timedelta(minutes=3), last, 3, None)  # waits 4 min
    assert rules.restart_due(last + timedelta(minutes=4), last, 3, None)
    assert not rules.restart_due(last + timedelta(minutes=59), last, 30, None)  # capped at 1 h
    assert rules.restart_due(last + timedelta(hours=1), last, 30, None)
    # A point made after the last restart: that restart worked, the count starts again.
    assert rules.restart_due(NOW, last, 5, last + timedelta(seconds=10))
    assert rules.restarts_in_a_row(last, 5, last + timedelta(seconds=10)) == 0
    assert rules.restarts_in_a_row(last, 5, last - timedelta(seconds=10)) == 5


@pytest.mark.parametrize(
    ("job_type", "status", "event"),
    [
        ("EnableProtection", S.PROTECTION_PENDING, ReplicationEvent.PROTECTION_FAILED),
        ("EnableProtection", S.NOT_PROTECTED, None),  # nothing moved yet
        ("EnableProtection", S.WAITING_FOR_INITIAL_REPLICATION, None),  # enabled: retry route
        ("DisableProtection", S.PROTECTED, None),
        ("TestFailover", S.TEST_FAILOVER_IN_PROGRESS, ReplicationEvent.TEST_FAILOVER_FAILED),
        ("TestFailover", S.TEST_FAILOVER_SUCCEEDED, None),  # it ended well: cleanup applies
        ("PlannedFailover", S.PLANNED_FAILOVER_IN_PROGRESS, None),
    ],
)
def test_an_interrupted_operation_moves_as_its_own_failure_handling_would(
    job_type: str, status: S, event: ReplicationEvent | None
) -> None:
    assert rules.interrupted_status_event(job_type, status) == event


def test_resynchronizing_statuses_restart_with_a_full_compare() -> None:
    assert [s for s in S if rules.resynchronizing(s)] == [
        S.RESYNCHRONIZATION_REQUIRED,
        S.RESYNCHRONIZATION_IN_PROGRESS,
    ]


def test_what_the_operator_reads_names_the_cause_and_the_fix() -> None:
    restarted = rules.loop_stopped("Terminated", "operator said so", restart_job="j-1")
    assert restarted.code == "ReplicationLoopStopped"
    assert "ended Terminated: operator said so" in restarted.cause
    assert "j-1" in restarted.recommendation and "only the changes" in restarted.recommendation
    waiting = rules.loop_stopped("Failed", None, restart_job=None)
    assert "waits longer" in waiting.recommendation
    missing = rules.initial_stopped(None, None)
    assert "missing from the task hub" in missing.cause
    assert "Enable protection again" in missing.recommendation
    never = rules.operation_interrupted("j-2", "EnableProtection", None, None, "NotProtected")
    assert never.code == "OperationInterrupted" and "was never started" in never.cause
    assert "status NotProtected" in never.recommendation
    killed = rules.operation_interrupted("j-3", "DisableProtection", "Terminated", "x", "Protected")
    assert "DisableProtection job j-3 ended Terminated: x" in killed.cause
