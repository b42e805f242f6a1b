"""Recovery plans as plain rules: what a plan may hold, the order its job runs in, which VMs
an operation acts on, and when a plan's drills are due or too old.

A recovery plan is ASR's: ordered groups of VMs (at most 100 VMs in all), each group with
actions before and after it. Groups run one after another, the VMs of a group in parallel.
An action is a manual approval (the plan waits for a person, up to a timeout, then proceeds
or is abandoned as the action says) or a runbook call (an HTTPS POST carrying the plan's
context, with a timeout, after which a failure stops the plan or lets it go on as the action
says). Like ASR's, an action runs only for the failover types it lists.

Everything here is pure: statuses, times and settings come in as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.errors import ErrorInfo
from domain.failover import FailoverType, PointChoice
from domain.jobs import JobType
from domain.model import HealthState
from domain.replication_state import (
    Operation,
    ReplicationStatus,
    allowed_operations,
)

MAX_VMS = 100  # ASR's limit of protected items in one recovery plan
MAX_GROUPS = 100
MAX_ACTIONS = 10  # before or after one group
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# An action's URL: HTTPS with a host; it is the operator's (it may carry a webhook's token),
# so it is sent nothing but the plan's context.
_HTTPS_URL = re.compile(r"^https://[^/?#\s@]+(?:[/?#]\S*)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PlanOperation(StrEnum):
    """What may be asked of a whole plan."""

    FAILOVER = "failover"  # test, planned or unplanned: the request says which
    COMMIT = "commit"
    CLEANUP = "cleanup"  # of a test failover
    DRILL = "drill"  # a test failover, proof of every disk, cleanup


class ActionKind(StrEnum):
    MANUAL = "manual"
    RUNBOOK = "runbook"


class OnTimeout(StrEnum):
    """What a manual approval that nobody answered in time does."""

    PROCEED = "proceed"
    ABANDON = "abandon"


class OnFailure(StrEnum):
    """What a runbook call that failed (or timed out) does to the plan."""

    STOP = "stop"
    CONTINUE = "continue"


class DrillState(StrEnum):
    IN_PROGRESS = "InProgress"
    PASSED = "Passed"  # every VM failed over, every disk identical, cleanup confirmed
    FAILED = "Failed"


class ActionWhen(StrEnum):
    BEFORE = "before"
    AFTER = "after"


ALL_TYPES = (FailoverType.TEST, FailoverType.PLANNED, FailoverType.UNPLANNED)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ManualAction(_Model):
    kind: Literal["manual"] = "manual"
    name: str
    instructions: str = ""
    timeout_seconds: int = 3600
    on_timeout: OnTimeout = OnTimeout.ABANDON
    failover_types: tuple[FailoverType, ...] = ALL_TYPES


class RunbookAction(_Model):
    kind: Literal["runbook"] = "runbook"
    name: str
    url: str
    timeout_seconds: int = 60
    on_failure: OnFailure = OnFailure.STOP
    failover_types: tuple[FailoverType, ...] = ALL_TYPES


Action = Annotated[ManualAction | RunbookAction, Field(discriminator="kind")]


class Group(_Model):
    vms: tuple[str, ...]
    pre_actions: tuple[Action, ...] = ()
    post_actions: tuple[Action, ...] = ()


class DrillSchedule(_Model):
    """A drill every `every_hours`, the first at `start_at` (then start_at + k * interval)."""

    every_hours: int
    start_at: AwareDatetime


class RecoveryPlan(_Model):
    name: str
    description: str = ""
    groups: tuple[Group, ...]
    stop_on_vm_failure: bool = False  # a VM that fails stops the plan after its group
    drill_schedule: DrillSchedule | None = None

    @property
    def vms(self) -> tuple[str, ...]:
        return tuple(vm for group in self.groups for vm in group.vms)


# --- validation ------------------------------------------------------------------------------


def plan_errors(plan: RecoveryPlan) -> list[ErrorInfo]:
    """Every reason the plan cannot be stored, at once (none: it is valid)."""
    errors: list[ErrorInfo] = []
    if not NAME.match(plan.name):
        errors.append(
            _invalid(
                f"The plan name '{plan.name[:80]}' is not 1-64 letters, digits, '.', '_' or "
                "'-' starting with a letter or digit.",
                "Name the plan like 'erp-app' (it is part of the URL).",
            )
        )
    if not plan.groups:
        errors.append(_invalid("The plan has no group.", "Give the plan at least one group."))
    if len(plan.groups) > MAX_GROUPS:
        errors.append(
            _invalid(
                f"The plan has {len(plan.groups)} groups; at most {MAX_GROUPS} are allowed.",
                "Put VMs that may start together into one group.",
            )
        )
    vms = plan.vms
    if len(vms) > MAX_VMS:
        errors.append(
            _invalid(
                f"The plan holds {len(vms)} VMs; a recovery plan holds at most {MAX_VMS}.",
                "Split the VMs over several plans.",
            )
        )
    seen: set[str] = set()
    twice = sorted({vm for vm in vms if vm in seen or seen.add(vm)})
    if twice:
        errors.append(
            _invalid(
                f"VM(s) {', '.join(twice)} appear more than once in the plan.",
                "List every VM in one group only.",
            )
        )
    for number, group in enumerate(plan.groups, 1):
        if not group.vms:
            errors.append(
                _invalid(f"Group {number} has no VM.", "Give every group at least one VM.")
            )
        for when, actions in (
            (ActionWhen.BEFORE, group.pre_actions),
            (ActionWhen.AFTER, group.post_actions),
        ):
            errors += _action_errors(number, when, actions)
    return errors


def _action_errors(number: int, when: ActionWhen, actions: Sequence[Action]) -> list[ErrorInfo]:
    errors = []
    where = f"Group {number}, {when}"
    if len(actions) > MAX_ACTIONS:
        errors.append(
            _invalid(
                f"{where}: {len(actions)} actions; at most {MAX_ACTIONS} are allowed.",
                "Join steps into one runbook.",
            )
        )
    names = [a.name for a in actions]
    for action in actions:
        if not action.name.strip() or _CONTROL.search(action.name) or len(action.name) > 80:
            errors.append(
                _invalid(
                    f"{where}: an action's name is empty, too long or holds control characters.",
                    "Name each action in 1-80 printable characters.",
                )
            )
        elif names.count(action.name) > 1:
            errors.append(
                _invalid(
                    f"{where}: two actions are named '{action.name}'.",
                    "Give each action of a group's side a name of its own.",
                )
            )
        if not action.failover_types:
            errors.append(
                _invalid(
                    f"{where}: action '{action.name}' lists no failover type, so it never runs.",
                    "List the types it runs for: test, planned, unplanned.",
                )
            )
        if isinstance(action, RunbookAction):
            problem = runbook_url_problem(action.url)
            if problem:
                errors.append(
                    _invalid(
                        f"{where}: action '{action.name}': {problem}",
                        "Give the runbook's https:// address (its webhook URL).",
                    )
                )
    return errors


def runbook_url_problem(url: str) -> str | None:
    """Why a runbook's URL is refused, or None. HTTPS only: the plan's context must not
    travel in clear, and a URL with user:password@ would put a secret where it is shown."""
    if not url.lower().startswith("https://"):
        return "its URL is not https:// (plain HTTP is refused)."
    if len(url) > 2048:
        return "its URL is longer than 2048 characters."
    if not _HTTPS_URL.match(url):
        return "its URL has no host, holds spaces or a user:password@ part."
    return None


def _invalid(cause: str, recommendation: str) -> ErrorInfo:
    return ErrorInfo(code="RecoveryPlanInvalid", cause=cause, recommendation=recommendation)


# --- what an operation runs, in which order ----------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One group as the job runs it: the actions before, the VMs in parallel, the actions
    after (only those the failover type runs; none for commit and cleanup)."""

    number: int
    vms: tuple[str, ...]
    before: tuple[ManualAction | RunbookAction, ...] = ()
    after: tuple[ManualAction | RunbookAction, ...] = ()

    @property
    def name(self) -> str:
        return f"Group {self.number}"


def stages(plan: RecoveryPlan, operation: PlanOperation, kind: FailoverType | None) -> list[Stage]:
    """The groups in their order (1 first) with the actions that apply: a failover or drill
    runs the actions listing its type; commit and cleanup run none."""
    runs_actions = operation in (PlanOperation.FAILOVER, PlanOperation.DRILL)
    kind = FailoverType.TEST if operation is PlanOperation.DRILL else kind

    def applicable(actions: Sequence[Action]) -> tuple:
        if not runs_actions:
            return ()
        return tuple(a for a in actions if kind in a.failover_types)

    return [
        Stage(number, group.vms, applicable(group.pre_actions), applicable(group.post_actions))
        for number, group in enumerate(plan.groups, 1)
    ]


def vm_operation(operation: PlanOperation, kind: FailoverType | None) -> Operation:
    """The VM operation a plan operation runs on each VM."""
    if operation is PlanOperation.COMMIT:
        return Operation.COMMIT
    if operation is PlanOperation.CLEANUP:
        return Operation.TEST_FAILOVER_CLEANUP
    if operation is PlanOperation.DRILL or kind is FailoverType.TEST:
        return Operation.TEST_FAILOVER
    if kind is FailoverType.PLANNED:
        return Operation.PLANNED_FAILOVER
    return Operation.UNPLANNED_FAILOVER


JOB_TYPES = {
    (PlanOperation.FAILOVER, FailoverType.TEST): JobType.RECOVERY_PLAN_TEST_FAILOVER,
    (PlanOperation.FAILOVER, FailoverType.PLANNED): JobType.RECOVERY_PLAN_PLANNED_FAILOVER,
    (PlanOperation.FAILOVER, FailoverType.UNPLANNED): JobType.RECOVERY_PLAN_UNPLANNED_FAILOVER,
    (PlanOperation.COMMIT, None): JobType.RECOVERY_PLAN_COMMIT,
    (PlanOperation.CLEANUP, None): JobType.RECOVERY_PLAN_TEST_FAILOVER_CLEANUP,
    (PlanOperation.DRILL, None): JobType.RECOVERY_PLAN_DRILL,
}


def job_type(operation: PlanOperation, kind: FailoverType | None) -> JobType:
    return JOB_TYPES[(operation, kind if operation is PlanOperation.FAILOVER else None)]


S = ReplicationStatus


class Disposition(StrEnum):
    ACT = "act"  # the operation runs on the VM
    SKIP = "skip"  # nothing to do (e.g. cleanup of a VM whose test failover never happened)
    REFUSE = "refuse"


# Commit and cleanup finish what a plan's failover did; a VM that is back to Protected (its
# failover failed and was undone, or never reached it) has nothing to finish. A VM already
# committed has nothing to commit.
_NOTHING_TO_DO = {
    Operation.COMMIT: frozenset(
        {ReplicationStatus.PROTECTED, ReplicationStatus.FAILOVER_COMMITTED}
    ),
    Operation.TEST_FAILOVER_CLEANUP: frozenset({S.PROTECTED}),
}


@dataclass(frozen=True)
class VmState:
    """What the plan needs to know of one VM now: its status (None: never protected), the
    job holding it, and whether the recovery point asked for exists."""

    status: str | None
    busy_with: str | None = None
    point_problem: ErrorInfo | None = None


def disposition(operation: Operation, state: VmState) -> tuple[Disposition, str]:
    """Whether a plan's operation acts on, skips or refuses the VM, and why in words."""
    status = state.status or ReplicationStatus.NOT_PROTECTED
    if state.busy_with:
        return Disposition.REFUSE, f"{status}, busy with job {state.busy_with}"
    if operation in allowed_operations(status):
        if state.point_problem is not None:
            return Disposition.REFUSE, f"{status}, {state.point_problem.cause}"
        return Disposition.ACT, str(status)
    if status in _NOTHING_TO_DO.get(operation, ()):
        return Disposition.SKIP, f"{status}, nothing to do"
    if state.status is None:
        return Disposition.REFUSE, "never protected (NotProtected)"
    return Disposition.REFUSE, str(status)


def refusals(
    plan: RecoveryPlan,
    operation: PlanOperation,
    kind: FailoverType | None,
    states: Mapping[str, VmState],
) -> list[ErrorInfo]:
    """Why the plan's operation cannot start: a headline naming every VM and its status, then
    one error per VM (none: it may start). Nothing starts unless every VM is ready; commit and
    cleanup also need at least one VM with something to do."""
    wanted = vm_operation(operation, kind)
    refused: list[tuple[str, str]] = []
    acting = 0
    for vm in plan.vms:
        verdict, why = disposition(wanted, states.get(vm, VmState(status=None)))
        if verdict is Disposition.REFUSE:
            refused.append((vm, why))
        acting += verdict is Disposition.ACT
    if refused:
        listed = "; ".join(f"{vm}: {why}" for vm, why in refused)
        headline = ErrorInfo(
            code="RecoveryPlanNotReady",
            cause=f"{len(refused)} of {len(plan.vms)} VMs of plan '{plan.name}' cannot "
            f"{_TEXT[wanted]} now ({listed}). Nothing was started.",
            recommendation="Bring each VM named to a status that allows it (its replicated "
            "item lists allowedOperations), or wait for its job; then ask again.",
        )
        return [headline, *(_vm_refused(vm, why, wanted) for vm, why in refused)]
    if not acting:
        return [
            ErrorInfo(
                code="RecoveryPlanNothingToDo",
                cause=f"No VM of plan '{plan.name}' has anything to {_TEXT[wanted]}.",
                recommendation="Fail the plan over first; its VMs list allowedOperations.",
            )
        ]
    return []


_TEXT = {
    Operation.TEST_FAILOVER: "start a test failover",
    Operation.PLANNED_FAILOVER: "start a planned failover",
    Operation.UNPLANNED_FAILOVER: "start an unplanned failover",
    Operation.COMMIT: "commit",
    Operation.TEST_FAILOVER_CLEANUP: "clean up",
}


def _vm_refused(vm: str, why: str, operation: Operation) -> ErrorInfo:
    return ErrorInfo(
        code="RecoveryPlanVmNotReady",
        cause=f"VM '{vm}' cannot {_TEXT[operation]} ({operation}): it is {why}.",
        recommendation=f"Look at GET /api/tenants/{{tenant}}/replicated-items/{vm}: its "
        "allowedOperations say what applies now.",
    )


def point_choice_problem(kind: FailoverType, choice: str) -> ErrorInfo | None:
    """A plan fails over every VM from the same kind of point: latest or latest
    app-consistent (a point id is one VM's); a planned failover makes its own point."""
    if choice not in (PointChoice.LATEST, PointChoice.LATEST_APP_CONSISTENT):
        return ErrorInfo(
            code="RecoveryPointChoiceInvalid",
            cause=f"A plan fails over from 'latest' or 'latestAppConsistent', not '{choice}'.",
            recommendation="Choose latest or latestAppConsistent; to start one VM from a point "
            "of its own, fail that VM over on its own.",
        )
    if kind is FailoverType.PLANNED and choice != PointChoice.LATEST:
        return ErrorInfo(
            code="PlannedFailoverMakesItsPoint",
            cause=f"A planned failover starts from the point its final sync makes, not "
            f"from '{choice}'.",
            recommendation="Leave recoveryPoint out (or 'latest') for a planned failover.",
        )
    return None


# --- drills ------------------------------------------------------------------------------------


def next_drill(schedule: DrillSchedule, last_started: datetime | None) -> datetime:
    """When the next scheduled drill is due: the first slot (start_at + k * every_hours)
    after the last drill started, or start_at for a plan never drilled. A drill that was
    missed is not caught up many times over: one drill, then the next slot after it."""
    if last_started is None or last_started < schedule.start_at:
        return schedule.start_at
    every = timedelta(hours=schedule.every_hours)
    slots = (last_started - schedule.start_at) // every + 1
    return schedule.start_at + slots * every


def drill_due(schedule: DrillSchedule, last_started: datetime | None, now: datetime) -> bool:
    return now >= next_drill(schedule, last_started)


def drill_health(
    last_passed: datetime | None, now: datetime, max_age_days: int
) -> tuple[HealthState, list[ErrorInfo]]:
    """Warning when the plan's last passed drill is older than the tenant's drill policy
    (or it never passed one); Normal otherwise."""
    fix = (
        f"Run a drill (POST /api/tenants/{{tenant}}/recovery-plans/{{plan}}/drill), or give the "
        f"plan a drillSchedule; the policy asks for a passed drill every {max_age_days} days."
    )
    if last_passed is None:
        return HealthState.WARNING, [
            ErrorInfo(
                code="DrillNeverPassed",
                cause="The plan has never passed a drill.",
                recommendation=fix,
            )
        ]
    age = now - last_passed
    if age > timedelta(days=max_age_days):
        return HealthState.WARNING, [
            ErrorInfo(
                code="DrillOutOfDate",
                cause=f"The plan's last passed drill was on "
                f"{last_passed.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
                f"{age.days} days ago; the drill policy allows {max_age_days} days.",
                recommendation=fix,
            )
        ]
    return HealthState.NORMAL, []
