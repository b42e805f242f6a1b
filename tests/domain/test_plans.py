"""Recovery plan rules as tables: what a plan may hold, the order a job runs, which VMs an
operation acts on, when drills are due and when a plan's last drill is too old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import ErrorInfo
from domain.failover import FailoverType
from domain.jobs import JobType
from domain.model import HealthState
from domain.plans import (
    MAX_VMS,
    Disposition,
    DrillSchedule,
    Group,
    ManualAction,
    PlanOperation,
    RecoveryPlan,
    RunbookAction,
    VmState,
    disposition,
    drill_due,
    drill_health,
    job_type,
    next_drill,
    plan_errors,
    point_choice_problem,
    refusals,
    runbook_url_problem,
    stages,
    vm_operation,
)
from domain.replication_state import Operation

T, P, U = FailoverType.TEST, FailoverType.PLANNED, FailoverType.UNPLANNED
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def plan(*groups: Group, name: str = "erp") -> RecoveryPlan:
    return RecoveryPlan(name=name, groups=groups)


def approval(name: str = "ok", types=(T, P, U)) -> ManualAction:
    return ManualAction(name=name, failover_types=types)


def runbook(name: str = "dns", url: str = "https://hooks.example/run?token=x", types=(T, P, U)):
    return RunbookAction(name=name, url=url, failover_types=types)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "fragment"),
    [
        (plan(Group(vms=("a",)), name="-bad"), "plan name '-bad'"),
        (plan(Group(vms=("a",)), name="a/b"), "plan name 'a/b'"),
        (plan(), "no group"),
        (plan(Group(vms=())), "Group 1 has no VM"),
        (plan(Group(vms=("a", "b")), Group(vms=("b",))), "b appear more than once"),
        (plan(*(Group(vms=(f"v{i}",)) for i in range(MAX_VMS + 1))), "holds 101 VMs"),
        (plan(Group(vms=("a",), pre_actions=(runbook(url="http://hooks.example/run"),))),
         "not https://"),
        (plan(Group(vms=("a",), post_actions=(runbook(url="https://user:pw@hooks.example"),))),
         "user:password@"),
        (plan(Group(vms=("a",), pre_actions=(approval("x"), approval("x")))),
         "two actions are named 'x'"),
        (plan(Group(vms=("a",), pre_actions=(approval(" "),))), "name is empty"),
        (plan(Group(vms=("a",), pre_actions=(approval("x\n"),))), "control characters"),
        (plan(Group(vms=("a",), pre_actions=(approval("x", types=()),))), "never runs"),
        (plan(Group(vms=("a",), pre_actions=tuple(approval(f"a{i}") for i in range(11)))),
         "11 actions"),
    ],
)  # fmt: skip
def test_a_plan_is_refused_with_every_reason(candidate: RecoveryPlan, fragment: str) -> None:
    errors = plan_errors(candidate)
    assert errors and all(e.code == "RecoveryPlanInvalid" for e in errors)
    assert any(fragment in e.cause for e in errors), [e.cause for e in errors]


def test_every_problem_is_named_at_once() -> None:
    bad = plan(Group(vms=()), Group(vms=("a", "a"), pre_actions=(runbook(url="ftp://x"),)))
    assert len(plan_errors(bad)) == 3


def test_a_plan_of_a_hundred_vms_with_actions_is_valid() -> None:
    groups = [Group(vms=tuple(f"vm{g}-{i}" for i in range(20)),
                    pre_actions=(approval(),), post_actions=(runbook(),)) for g in range(5)]  # fmt: skip
    assert plan_errors(plan(*groups)) == []


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://hooks.example/webhooks?token=abc", False),
        ("HTTPS://127.0.0.1:8443/", False),
        ("http://hooks.example/", True),
        ("https://", True),
        ("https:///path", True),
        ("https://host with space/", True),
        ("https://a:b@host/", True),
        ("https://host/" + "x" * 2048, True),
        ("javascript:alert(1)", True),
    ],
)
def test_runbook_urls_are_https_with_a_host(url: str, refused: bool) -> None:
    assert (runbook_url_problem(url) is not None) == refused


# --- order ----------------------------------------------------------------------------------


def test_groups_run_in_order_with_the_actions_of_the_failover_type() -> None:
    only_test, only_real = approval("t", types=(T,)), runbook("r", types=(P, U))
    subject = plan(
        Group(vms=("db1", "db2"), post_actions=(only_test, only_real)),
        Group(vms=("app",), pre_actions=(runbook("warm"),)),
        Group(vms=("web1", "web2", "web3")),
    )
    test = stages(subject, PlanOperation.FAILOVER, T)
    assert [(s.name, s.vms) for s in test] == [
        ("Group 1", ("db1", "db2")), ("Group 2", ("app",)), ("Group 3", ("web1", "web2", "web3"))]  # fmt: skip
    assert [a.name for a in test[0].after] == ["t"]
    assert [a.name for a in test[1].before] == ["warm"]
    assert [a.name for a in stages(subject, PlanOperation.FAILOVER, P)[0].after] == ["r"]
    assert [a.name for a in stages(subject, PlanOperation.DRILL, None)[0].after] == ["t"]
    for operation in (PlanOperation.COMMIT, PlanOperation.CLEANUP):
        assert all(not s.before and not s.after for s in stages(subject, operation, None))


@pytest.mark.parametrize(
    ("operation", "kind", "vm_op", "job"),
    [
        (PlanOperation.FAILOVER, T, Operation.TEST_FAILOVER, JobType.RECOVERY_PLAN_TEST_FAILOVER),
        (PlanOperation.FAILOVER, P, Operation.PLANNED_FAILOVER,
         JobType.RECOVERY_PLAN_PLANNED_FAILOVER),
        (PlanOperation.FAILOVER, U, Operation.UNPLANNED_FAILOVER,
         JobType.RECOVERY_PLAN_UNPLANNED_FAILOVER),
        (PlanOperation.COMMIT, None, Operation.COMMIT, JobType.RECOVERY_PLAN_COMMIT),
        (PlanOperation.CLEANUP, None, Operation.TEST_FAILOVER_CLEANUP,
         JobType.RECOVERY_PLAN_TEST_FAILOVER_CLEANUP),
        (PlanOperation.DRILL, None, Operation.TEST_FAILOVER, JobType.RECOVERY_PLAN_DRILL),
    ],
)  # fmt: skip
def test_each_plan_operation_runs_one_vm_operation(operation, kind, vm_op, job) -> None:
    assert vm_operation(operation, kind) is vm_op
    assert job_type(operation, kind) is job


# --- which VMs an operation acts on --------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "state", "verdict"),
    [
        (Operation.TEST_FAILOVER, VmState("Protected"), Disposition.ACT),
        (Operation.TEST_FAILOVER, VmState("ResynchronizationRequired"), Disposition.ACT),
        (Operation.TEST_FAILOVER, VmState(None), Disposition.REFUSE),
        (Operation.TEST_FAILOVER, VmState("InitialReplicationInProgress"), Disposition.REFUSE),
        (Operation.TEST_FAILOVER, VmState("Protected", busy_with="j1"), Disposition.REFUSE),
        (Operation.UNPLANNED_FAILOVER,
         VmState("Protected", point_problem=ErrorInfo("NoAppConsistentPoint", "none", "x")),
         Disposition.REFUSE),
        (Operation.PLANNED_FAILOVER, VmState("ResynchronizationRequired"), Disposition.REFUSE),
        (Operation.COMMIT, VmState("FailedOver"), Disposition.ACT),
        (Operation.COMMIT, VmState("Protected"), Disposition.SKIP),
        (Operation.COMMIT, VmState("FailoverCommitted"), Disposition.SKIP),
        (Operation.COMMIT, VmState("TestFailoverSucceeded"), Disposition.REFUSE),
        (Operation.TEST_FAILOVER_CLEANUP, VmState("TestFailoverSucceeded"), Disposition.ACT),
        (Operation.TEST_FAILOVER_CLEANUP, VmState("TestFailoverFailed"), Disposition.ACT),
        (Operation.TEST_FAILOVER_CLEANUP, VmState("Protected"), Disposition.SKIP),
        (Operation.TEST_FAILOVER_CLEANUP, VmState("TestFailoverInProgress"), Disposition.REFUSE),
        (Operation.TEST_FAILOVER_CLEANUP, VmState("FailedOver"), Disposition.REFUSE),
    ],
)  # fmt: skip
def test_disposition_of_one_vm(operation: Operation, state: VmState, verdict) -> None:
    assert disposition(operation, state)[0] is verdict


def test_a_refusal_names_every_vm_and_its_status() -> None:
    subject = plan(Group(vms=("db", "app")), Group(vms=("web", "new")))
    states = {"db": VmState("Protected"), "app": VmState("Protected", busy_with="0001-a"),
              "web": VmState("InitialReplicationInProgress")}  # fmt: skip
    headline, *each = refusals(subject, PlanOperation.FAILOVER, T, states)
    assert headline.code == "RecoveryPlanNotReady"
    assert "3 of 4 VMs" in headline.cause and "Nothing was started" in headline.cause
    for fragment in ("app: Protected, busy with job 0001-a", "web: InitialReplicationInProgress",
                     "new: never protected"):  # fmt: skip
        assert fragment in headline.cause
    assert [e.code for e in each] == ["RecoveryPlanVmNotReady"] * 3
    assert "'web'" in each[1].cause and "TestFailover" in each[1].cause


def test_ready_plans_start_and_finishing_needs_one_vm_with_something_to_do() -> None:
    subject = plan(Group(vms=("a", "b")))
    ready = {"a": VmState("Protected"), "b": VmState("Protected")}
    assert refusals(subject, PlanOperation.DRILL, None, ready) == []
    [nothing] = refusals(subject, PlanOperation.CLEANUP, None, ready)
    assert nothing.code == "RecoveryPlanNothingToDo"
    half = {"a": VmState("TestFailoverSucceeded"), "b": VmState("Protected")}
    assert refusals(subject, PlanOperation.CLEANUP, None, half) == []


@pytest.mark.parametrize(
    ("kind", "choice", "code"),
    [
        (T, "latest", None),
        (U, "latestAppConsistent", None),
        (T, "0001-point", "RecoveryPointChoiceInvalid"),
        (P, "latestAppConsistent", "PlannedFailoverMakesItsPoint"),
        (P, "latest", None),
    ],
)
def test_a_plan_fails_over_from_latest_or_latest_app_consistent(kind, choice, code) -> None:
    problem = point_choice_problem(kind, choice)
    assert (problem.code if problem else None) == code


# --- drills ----------------------------------------------------------------------------------

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DAILY = DrillSchedule(every_hours=24, start_at=START)


@pytest.mark.parametrize(
    ("last_started", "now", "next_at", "due"),
    [
        (None, START - timedelta(minutes=1), START, False),
        (None, START, START, True),
        (None, START + timedelta(days=3), START, True),  # never drilled: one drill now
        (START, START + timedelta(hours=23), START + timedelta(days=1), False),
        (START + timedelta(minutes=5), START + timedelta(days=1), START + timedelta(days=1), True),
        # Missed for a week: one drill, then the next slot after it (no catching up).
        (START + timedelta(days=7, hours=5), START + timedelta(days=7, hours=6),
         START + timedelta(days=8), False),
        (START - timedelta(days=1), START, START, True),  # a manual drill before the schedule
    ],
)  # fmt: skip
def test_when_a_scheduled_drill_is_due(last_started, now, next_at, due) -> None:
    assert next_drill(DAILY, last_started) == next_at
    assert drill_due(DAILY, last_started, now) is due


@pytest.mark.parametrize(
    ("last_passed", "state", "code"),
    [
        (None, HealthState.WARNING, "DrillNeverPassed"),
        (NOW - timedelta(days=29), HealthState.NORMAL, None),
        (NOW - timedelta(days=30), HealthState.NORMAL, None),
        (NOW - timedelta(days=30, seconds=1), HealthState.WARNING, "DrillOutOfDate"),
        (NOW - timedelta(days=400), HealthState.WARNING, "DrillOutOfDate"),
    ],
)
def test_a_plan_whose_last_passed_drill_is_too_old_warns_with_the_date(
    last_passed, state, code
) -> None:
    health, reasons = drill_health(last_passed, NOW, 30)
    assert health is state
    assert [r.code for r in reasons] == ([code] if code else [])
    if code == "DrillOutOfDate":
        assert f"{last_passed:%Y-%m-%d}" in reasons[0].cause and "30 days" in reasons[0].cause
