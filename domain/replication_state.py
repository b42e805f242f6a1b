"""The replication status of a VM as a pure transition table.

Orchestrators apply events to it; an event absent for a status is an illegal move and raises
IllegalTransition. Events that may be replayed (duplicate agent events, retried activities)
lead back to the status they produce, so replaying one never changes the outcome.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import DomainError, ErrorInfo


class ReplicationStatus(StrEnum):
    NOT_PROTECTED = "NotProtected"
    PROTECTION_PENDING = "ProtectionPending"
    WAITING_FOR_INITIAL_REPLICATION = "WaitingForInitialReplication"
    INITIAL_REPLICATION_IN_PROGRESS = "InitialReplicationInProgress"
    PROTECTED = "Protected"
    RESYNCHRONIZATION_REQUIRED = "ResynchronizationRequired"
    RESYNCHRONIZATION_IN_PROGRESS = "ResynchronizationInProgress"
    TEST_FAILOVER_IN_PROGRESS = "TestFailoverInProgress"
    TEST_FAILOVER_SUCCEEDED = "TestFailoverSucceeded"
    TEST_FAILOVER_FAILED = "TestFailoverFailed"
    PLANNED_FAILOVER_IN_PROGRESS = "PlannedFailoverInProgress"
    UNPLANNED_FAILOVER_IN_PROGRESS = "UnplannedFailoverInProgress"
    FAILED_OVER = "FailedOver"
    FAILOVER_COMMITTED = "FailoverCommitted"
    FAILBACK_IN_PROGRESS = "FailbackInProgress"
    FAILED_BACK = "FailedBack"  # the on-premises VM runs again; its commit is pending
    FAILBACK_COMMITTED = "FailbackCommitted"  # nothing replicates until reverse replication
    REPROTECT_IN_PROGRESS = "ReprotectInProgress"
    DISABLING_PROTECTION = "DisablingProtection"


class ReplicationEvent(StrEnum):
    PROTECTION_REQUESTED = "ProtectionRequested"
    PREREQUISITES_FAILED = "PrerequisitesFailed"
    PROTECTION_ENABLED = "ProtectionEnabled"
    PROTECTION_FAILED = "ProtectionFailed"
    INITIAL_REPLICATION_STARTED = "InitialReplicationStarted"
    INITIAL_REPLICATION_COMPLETED = "InitialReplicationCompleted"
    INITIAL_REPLICATION_FAILED = "InitialReplicationFailed"
    DELTA_SYNC_COMPLETED = "DeltaSyncCompleted"
    CHANGE_TRACKING_LOST = "ChangeTrackingLost"
    RESYNC_STARTED = "ResyncStarted"
    RESYNC_COMPLETED = "ResyncCompleted"
    TEST_FAILOVER_STARTED = "TestFailoverStarted"
    TEST_FAILOVER_COMPLETED = "TestFailoverCompleted"
    TEST_FAILOVER_FAILED = "TestFailoverFailed"
    TEST_FAILOVER_CLEANED_UP = "TestFailoverCleanedUp"
    PLANNED_FAILOVER_STARTED = "PlannedFailoverStarted"
    UNPLANNED_FAILOVER_STARTED = "UnplannedFailoverStarted"
    FAILOVER_COMPLETED = "FailoverCompleted"
    FAILOVER_FAILED = "FailoverFailed"
    RECOVERY_POINT_CHANGED = "RecoveryPointChanged"
    FAILOVER_CANCELLED = "FailoverCancelled"
    FAILOVER_COMMITTED = "FailoverCommitted"
    FAILBACK_STARTED = "FailbackStarted"
    FAILBACK_COMPLETED = "FailbackCompleted"
    FAILBACK_FAILED = "FailbackFailed"
    FAILBACK_COMMITTED = "FailbackCommitted"
    REPROTECT_STARTED = "ReprotectStarted"
    REPROTECT_COMPLETED = "ReprotectCompleted"
    REPROTECT_FAILED = "ReprotectFailed"
    PROTECTION_DISABLE_REQUESTED = "ProtectionDisableRequested"
    PROTECTION_DISABLED = "ProtectionDisabled"


S = ReplicationStatus
E = ReplicationEvent

# Disabling is allowed wherever no failover or test failover is under way: straight to
# NotProtected (one-step disable) or through DisablingProtection (a disable orchestration).
_DISABLE = {
    E.PROTECTION_DISABLE_REQUESTED: S.DISABLING_PROTECTION,
    E.PROTECTION_DISABLED: S.NOT_PROTECTED,
}
# Failover works from recovery points that exist, so it is open once the VM has one: when
# Protected, and while a resynchronization makes the replica whole again (its older points
# stay valid). A planned failover needs a final sync, so it waits for a healthy replica.
_FAIL_OVER_FROM_POINTS = {
    E.TEST_FAILOVER_STARTED: S.TEST_FAILOVER_IN_PROGRESS,
    E.UNPLANNED_FAILOVER_STARTED: S.UNPLANNED_FAILOVER_IN_PROGRESS,
}


def _replication_goes_on(status: ReplicationStatus) -> dict[ReplicationEvent, ReplicationStatus]:
    """While a failover is under way the replication loop may still finish a cycle (a test
    failover leaves it running; a planned one makes its final sync through it): its status
    events change nothing, its health and points are still recorded."""
    return {
        E.DELTA_SYNC_COMPLETED: status,
        E.CHANGE_TRACKING_LOST: status,
        E.RESYNC_STARTED: status,
        E.RESYNC_COMPLETED: status,
    }


TRANSITIONS: dict[ReplicationStatus, dict[ReplicationEvent, ReplicationStatus]] = {
    S.NOT_PROTECTED: {
        E.PROTECTION_REQUESTED: S.PROTECTION_PENDING,
        E.PROTECTION_ENABLED: S.WAITING_FOR_INITIAL_REPLICATION,
        E.PREREQUISITES_FAILED: S.NOT_PROTECTED,  # replay of the refusal
        E.PROTECTION_FAILED: S.NOT_PROTECTED,
        E.PROTECTION_DISABLED: S.NOT_PROTECTED,  # replay of the disable
    },
    S.PROTECTION_PENDING: {
        E.PROTECTION_REQUESTED: S.PROTECTION_PENDING,
        E.PREREQUISITES_FAILED: S.NOT_PROTECTED,
        E.PROTECTION_ENABLED: S.WAITING_FOR_INITIAL_REPLICATION,
        E.PROTECTION_FAILED: S.NOT_PROTECTED,
        **_DISABLE,
    },
    S.WAITING_FOR_INITIAL_REPLICATION: {
        E.PROTECTION_REQUESTED: S.WAITING_FOR_INITIAL_REPLICATION,
        E.PROTECTION_ENABLED: S.WAITING_FOR_INITIAL_REPLICATION,
        E.INITIAL_REPLICATION_STARTED: S.INITIAL_REPLICATION_IN_PROGRESS,
        E.INITIAL_REPLICATION_FAILED: S.WAITING_FOR_INITIAL_REPLICATION,
        **_DISABLE,
    },
    S.INITIAL_REPLICATION_IN_PROGRESS: {
        E.PROTECTION_REQUESTED: S.INITIAL_REPLICATION_IN_PROGRESS,
        E.PROTECTION_ENABLED: S.INITIAL_REPLICATION_IN_PROGRESS,
        E.INITIAL_REPLICATION_STARTED: S.INITIAL_REPLICATION_IN_PROGRESS,
        E.INITIAL_REPLICATION_COMPLETED: S.PROTECTED,
        E.INITIAL_REPLICATION_FAILED: S.WAITING_FOR_INITIAL_REPLICATION,
        **_DISABLE,
    },
    S.PROTECTED: {
        E.PROTECTION_REQUESTED: S.PROTECTED,
        E.PROTECTION_ENABLED: S.PROTECTED,
        E.INITIAL_REPLICATION_STARTED: S.PROTECTED,  # late duplicate
        E.INITIAL_REPLICATION_COMPLETED: S.PROTECTED,  # duplicate completion
        E.DELTA_SYNC_COMPLETED: S.PROTECTED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        # The loop decided to resynchronize while a test failover held the status.
        E.RESYNC_STARTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        E.RESYNC_COMPLETED: S.PROTECTED,
        **_FAIL_OVER_FROM_POINTS,
        E.PLANNED_FAILOVER_STARTED: S.PLANNED_FAILOVER_IN_PROGRESS,
        E.TEST_FAILOVER_CLEANED_UP: S.PROTECTED,  # replays of what led back here
        E.FAILOVER_FAILED: S.PROTECTED,
        E.FAILOVER_CANCELLED: S.PROTECTED,
        E.REPROTECT_COMPLETED: S.PROTECTED,
        **_DISABLE,
    },
    S.RESYNCHRONIZATION_REQUIRED: {
        E.PROTECTION_REQUESTED: S.RESYNCHRONIZATION_REQUIRED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        E.RESYNC_STARTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        **_FAIL_OVER_FROM_POINTS,
        **_DISABLE,
    },
    S.RESYNCHRONIZATION_IN_PROGRESS: {
        E.PROTECTION_REQUESTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        E.RESYNC_STARTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        E.RESYNC_COMPLETED: S.PROTECTED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        **_FAIL_OVER_FROM_POINTS,
        **_DISABLE,
    },
    S.TEST_FAILOVER_IN_PROGRESS: {
        E.TEST_FAILOVER_STARTED: S.TEST_FAILOVER_IN_PROGRESS,
        E.TEST_FAILOVER_COMPLETED: S.TEST_FAILOVER_SUCCEEDED,
        E.TEST_FAILOVER_FAILED: S.TEST_FAILOVER_FAILED,  # cleanup removes what was made
        **_replication_goes_on(S.TEST_FAILOVER_IN_PROGRESS),
    },
    S.TEST_FAILOVER_SUCCEEDED: {
        E.TEST_FAILOVER_COMPLETED: S.TEST_FAILOVER_SUCCEEDED,
        E.TEST_FAILOVER_CLEANED_UP: S.PROTECTED,
        **_replication_goes_on(S.TEST_FAILOVER_SUCCEEDED),
    },
    S.TEST_FAILOVER_FAILED: {
        E.TEST_FAILOVER_FAILED: S.TEST_FAILOVER_FAILED,
        E.TEST_FAILOVER_CLEANED_UP: S.PROTECTED,
        **_replication_goes_on(S.TEST_FAILOVER_FAILED),
    },
    S.PLANNED_FAILOVER_IN_PROGRESS: {
        E.PLANNED_FAILOVER_STARTED: S.PLANNED_FAILOVER_IN_PROGRESS,
        E.FAILOVER_COMPLETED: S.FAILED_OVER,
        E.FAILOVER_FAILED: S.PROTECTED,  # what it made is removed; replication resumes
        **_replication_goes_on(S.PLANNED_FAILOVER_IN_PROGRESS),
    },
    S.UNPLANNED_FAILOVER_IN_PROGRESS: {
        E.UNPLANNED_FAILOVER_STARTED: S.UNPLANNED_FAILOVER_IN_PROGRESS,
        E.FAILOVER_COMPLETED: S.FAILED_OVER,
        E.FAILOVER_FAILED: S.PROTECTED,
        **_replication_goes_on(S.UNPLANNED_FAILOVER_IN_PROGRESS),
    },
    S.FAILED_OVER: {
        E.FAILOVER_COMPLETED: S.FAILED_OVER,
        E.RECOVERY_POINT_CHANGED: S.FAILED_OVER,  # the VM is rebuilt from another point
        E.FAILOVER_CANCELLED: S.PROTECTED,  # the Azure VM is removed; replication resumes
        E.FAILOVER_COMMITTED: S.FAILOVER_COMMITTED,
        **_replication_goes_on(S.FAILED_OVER),  # a cycle that ended as the loop stopped
    },
    # Failback and reverse replication, as Site Recovery runs them for Hyper-V to Azure: the
    # Azure VM's changes go back and the on-premises VM starts (a failback failed leaves the
    # Azure VM running); its commit; then replication to Azure starts again.
    S.FAILOVER_COMMITTED: {
        E.FAILOVER_COMMITTED: S.FAILOVER_COMMITTED,
        E.FAILBACK_STARTED: S.FAILBACK_IN_PROGRESS,
        E.FAILBACK_FAILED: S.FAILOVER_COMMITTED,
        **_DISABLE,
    },
    S.FAILBACK_IN_PROGRESS: {
        E.FAILBACK_STARTED: S.FAILBACK_IN_PROGRESS,
        E.FAILBACK_COMPLETED: S.FAILED_BACK,
        E.FAILBACK_FAILED: S.FAILOVER_COMMITTED,
    },
    S.FAILED_BACK: {
        E.FAILBACK_COMPLETED: S.FAILED_BACK,
        E.FAILBACK_COMMITTED: S.FAILBACK_COMMITTED,
    },
    S.FAILBACK_COMMITTED: {
        E.FAILBACK_COMMITTED: S.FAILBACK_COMMITTED,
        E.REPROTECT_STARTED: S.REPROTECT_IN_PROGRESS,
        E.REPROTECT_FAILED: S.FAILBACK_COMMITTED,
        **_DISABLE,
    },
    S.REPROTECT_IN_PROGRESS: {
        E.REPROTECT_STARTED: S.REPROTECT_IN_PROGRESS,
        E.REPROTECT_COMPLETED: S.PROTECTED,
        E.REPROTECT_FAILED: S.FAILBACK_COMMITTED,
    },
    S.DISABLING_PROTECTION: {
        E.PROTECTION_DISABLE_REQUESTED: S.DISABLING_PROTECTION,
        E.PROTECTION_DISABLED: S.NOT_PROTECTED,
    },
}

# What an event tries to do, for "cannot X while Y".
_ACTION = {
    E.PROTECTION_REQUESTED: "request protection",
    E.PREREQUISITES_FAILED: "record failed prerequisites",
    E.PROTECTION_ENABLED: "enable protection",
    E.PROTECTION_FAILED: "record a failed enable",
    E.INITIAL_REPLICATION_STARTED: "start initial replication",
    E.INITIAL_REPLICATION_COMPLETED: "complete initial replication",
    E.INITIAL_REPLICATION_FAILED: "record a failed initial replication",
    E.DELTA_SYNC_COMPLETED: "record a delta sync",
    E.CHANGE_TRACKING_LOST: "record lost change tracking",
    E.RESYNC_STARTED: "start a resynchronization",
    E.RESYNC_COMPLETED: "complete a resynchronization",
    E.TEST_FAILOVER_STARTED: "start a test failover",
    E.TEST_FAILOVER_COMPLETED: "complete a test failover",
    E.TEST_FAILOVER_FAILED: "record a failed test failover",
    E.TEST_FAILOVER_CLEANED_UP: "clean up a test failover",
    E.PLANNED_FAILOVER_STARTED: "start a planned failover",
    E.UNPLANNED_FAILOVER_STARTED: "start an unplanned failover",
    E.FAILOVER_COMPLETED: "complete a failover",
    E.FAILOVER_FAILED: "record a failed failover",
    E.RECOVERY_POINT_CHANGED: "change the recovery point",
    E.FAILOVER_CANCELLED: "cancel a failover",
    E.FAILOVER_COMMITTED: "commit a failover",
    E.FAILBACK_STARTED: "start a failback",
    E.FAILBACK_COMPLETED: "complete a failback",
    E.FAILBACK_FAILED: "record a failed failback",
    E.FAILBACK_COMMITTED: "commit a failback",
    E.REPROTECT_STARTED: "start reverse replication",
    E.REPROTECT_COMPLETED: "complete reverse replication",
    E.REPROTECT_FAILED: "record a failed reverse replication",
    E.PROTECTION_DISABLE_REQUESTED: "disable protection",
    E.PROTECTION_DISABLED: "disable protection",
}

# What to do first, per status, when a move is refused.
_HINT = {
    S.NOT_PROTECTED: "Enable protection for the VM first.",
    S.PROTECTION_PENDING: "Wait for the protect job to finish.",
    S.WAITING_FOR_INITIAL_REPLICATION: "Wait for initial replication to complete.",
    S.INITIAL_REPLICATION_IN_PROGRESS: "Wait for initial replication to complete.",
    S.PROTECTED: "Check the VM's replicated item; this step does not apply to a protected VM.",
    S.RESYNCHRONIZATION_REQUIRED: "Let the resynchronization run, then retry.",
    S.RESYNCHRONIZATION_IN_PROGRESS: "Wait for the resynchronization to complete, then retry.",
    S.TEST_FAILOVER_IN_PROGRESS: "Wait for the test failover to finish, then clean it up.",
    S.TEST_FAILOVER_SUCCEEDED: "Clean up the test failover first.",
    S.TEST_FAILOVER_FAILED: "Clean up the test failover first.",
    S.PLANNED_FAILOVER_IN_PROGRESS: "Wait for the failover job to finish.",
    S.UNPLANNED_FAILOVER_IN_PROGRESS: "Wait for the failover job to finish.",
    S.FAILED_OVER: "Commit the failover (or cancel it) first.",
    S.FAILOVER_COMMITTED: "Fail back (provider asr), or disable protection and enable it again "
    "to protect the VM anew.",
    S.FAILBACK_IN_PROGRESS: "Wait for the failback job to finish.",
    S.FAILED_BACK: "Commit the failback first.",
    S.FAILBACK_COMMITTED: "Start reverse replication (reprotect) to protect the VM again.",
    S.REPROTECT_IN_PROGRESS: "Wait for the reverse replication job to finish.",
    S.DISABLING_PROTECTION: "Wait for protection to be disabled.",
}

STATUSES: tuple[ReplicationStatus, ...] = tuple(ReplicationStatus)
EVENTS: tuple[ReplicationEvent, ...] = tuple(ReplicationEvent)


class IllegalTransition(DomainError):
    """A move the table does not allow (HTTP 409 at the API)."""

    status = 409


def _parse(kind: type[StrEnum], value: str, code: str) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(kind)
        raise IllegalTransition(
            ErrorInfo(
                code=code,
                cause=f"'{value}' is not a known {kind.__name__}.",
                recommendation=f"Use one of: {names}.",
            )
        ) from None


def transition(status: str, event: str) -> ReplicationStatus:
    """The status after `event` in `status`; IllegalTransition when the move is not allowed.

    Accepts the enums or their string values (as stored in read models)."""
    current = _parse(ReplicationStatus, status, "UnknownReplicationStatus")
    happening = _parse(ReplicationEvent, event, "UnknownReplicationEvent")
    moves = TRANSITIONS[current]
    if happening not in moves:
        allowed = ", ".join(sorted(moves)) or "none"
        raise IllegalTransition(
            ErrorInfo(
                code="IllegalTransition",
                cause=f"Cannot {_ACTION[happening]} ({happening}) while the VM is {current}.",
                recommendation=f"{_HINT[current]} From {current} these events apply: {allowed}.",
            )
        )
    return moves[happening]


def next_status(status: str, event: str) -> str:
    """`transition` as a plain string, for read models that store the status as text."""
    return transition(status, event).value


def allowed_events(status: str) -> tuple[ReplicationEvent, ...]:
    current = _parse(ReplicationStatus, status, "UnknownReplicationStatus")
    return tuple(TRANSITIONS[current])


def is_protected(status: str) -> bool:
    """Whether the VM's data is (being) replicated, i.e. protection is enabled."""
    return ReplicationStatus(status) not in (
        S.NOT_PROTECTED,
        S.PROTECTION_PENDING,
        S.DISABLING_PROTECTION,
    )


# Before the first recovery point. A replication instance runs through these while initial
# replication goes on; once it has ended here, initial replication failed (or its instance
# died) and nothing will move the VM on by itself.
_AWAITING_FIRST_POINT = frozenset(
    {S.WAITING_FOR_INITIAL_REPLICATION, S.INITIAL_REPLICATION_IN_PROGRESS}
)


def may_enable_again(status: str, replication_running: bool) -> bool:
    """Whether enabling protection on a protected VM restarts its initial replication.

    Only when the VM has no recovery point yet and its replication instance no longer runs:
    that is how an operator retries a failed initial replication (ASR's "re-run enable").
    While the instance runs, enabling again would race it; once the VM has a point, its
    target or policy change only by disabling and enabling anew."""
    return not replication_running and ReplicationStatus(status) in _AWAITING_FIRST_POINT


# --- operations: what an operator or runbook may ask for, as ASR lists allowedOperations ---


class Operation(StrEnum):
    """ASR's names for what a replicated item allows (`allowedOperations`), plus enabling.

    Failback, its commit and reverse replication (ASR's Failback, Commit, ReProtect) are the
    asr provider's; a direct VM is protected anew after a committed failover by disabling
    and enabling protection."""

    ENABLE_PROTECTION = "EnableProtection"
    DISABLE_PROTECTION = "DisableProtection"
    TEST_FAILOVER = "TestFailover"
    TEST_FAILOVER_CLEANUP = "TestFailoverCleanup"
    PLANNED_FAILOVER = "PlannedFailover"
    UNPLANNED_FAILOVER = "UnplannedFailover"
    CHANGE_RECOVERY_POINT = "ChangePit"
    CANCEL_FAILOVER = "CancelFailover"
    COMMIT = "Commit"
    FAILBACK = "Failback"
    COMMIT_FAILBACK = "CommitFailback"
    REPROTECT = "ReProtect"


# Each operation is allowed where the table takes the event it applies (its first move, or
# for one that runs in place, its only one) and that event moves the VM on: a self-loop is a
# replay of what already happened, not an invitation to do it again.
_OPERATION_EVENT: dict[Operation, ReplicationEvent] = {
    Operation.ENABLE_PROTECTION: E.PROTECTION_REQUESTED,
    Operation.DISABLE_PROTECTION: E.PROTECTION_DISABLE_REQUESTED,
    Operation.TEST_FAILOVER: E.TEST_FAILOVER_STARTED,
    Operation.TEST_FAILOVER_CLEANUP: E.TEST_FAILOVER_CLEANED_UP,
    Operation.PLANNED_FAILOVER: E.PLANNED_FAILOVER_STARTED,
    Operation.UNPLANNED_FAILOVER: E.UNPLANNED_FAILOVER_STARTED,
    Operation.CHANGE_RECOVERY_POINT: E.RECOVERY_POINT_CHANGED,
    Operation.CANCEL_FAILOVER: E.FAILOVER_CANCELLED,
    Operation.COMMIT: E.FAILOVER_COMMITTED,
    Operation.FAILBACK: E.FAILBACK_STARTED,
    Operation.COMMIT_FAILBACK: E.FAILBACK_COMMITTED,
    Operation.REPROTECT: E.REPROTECT_STARTED,
}
_IN_PLACE = frozenset({Operation.CHANGE_RECOVERY_POINT})

_OPERATION_TEXT = {
    Operation.ENABLE_PROTECTION: "enable protection",
    Operation.DISABLE_PROTECTION: "disable protection",
    Operation.TEST_FAILOVER: "start a test failover",
    Operation.TEST_FAILOVER_CLEANUP: "clean up a test failover",
    Operation.PLANNED_FAILOVER: "start a planned failover",
    Operation.UNPLANNED_FAILOVER: "start an unplanned failover",
    Operation.CHANGE_RECOVERY_POINT: "change the recovery point",
    Operation.CANCEL_FAILOVER: "cancel the failover",
    Operation.COMMIT: "commit the failover",
    Operation.FAILBACK: "fail back",
    Operation.COMMIT_FAILBACK: "commit the failback",
    Operation.REPROTECT: "start reverse replication",
}


def operation_event(operation: Operation) -> ReplicationEvent:
    """The status event an operation applies when it starts (or, in place, when it is done)."""
    return _OPERATION_EVENT[operation]


# What a provider cannot do although the status allows it. Azure Site Recovery has no cancel
# of a Hyper-V-to-Azure failover: its failed-over VM is committed or moved to another point.
# The direct provider cannot copy an Azure VM back on premises (yet): no failback.
NOT_OFFERED_BY: dict[str, frozenset[Operation]] = {
    "asr": frozenset({Operation.CANCEL_FAILOVER}),
    "direct": frozenset({Operation.FAILBACK, Operation.COMMIT_FAILBACK, Operation.REPROTECT}),
}


def allowed_operations(
    status: str, *, busy: bool = False, provider: str = "direct"
) -> tuple[Operation, ...]:
    """What may be asked of a VM in `status` that its provider offers; nothing while another
    operation runs (`busy`)."""
    if busy:
        return ()
    current = _parse(ReplicationStatus, status, "UnknownReplicationStatus")
    moves = TRANSITIONS[current]
    not_offered = NOT_OFFERED_BY.get(provider, frozenset())
    return tuple(
        operation
        for operation, event in _OPERATION_EVENT.items()
        if event in moves
        and (moves[event] != current or operation in _IN_PLACE)
        and operation not in not_offered
    )


class OperationNotAllowed(DomainError):
    """An operation the VM's status does not allow now (HTTP 409 at the API)."""

    status = 409


def require_operation(
    status: str, operation: Operation, *, busy_with: str | None = None, provider: str = "direct"
) -> None:
    """Refuse `operation` unless the VM's status allows it and its provider offers it, naming
    the status, what to do first and what is allowed now. `busy_with`: the job another
    operation runs under."""
    if operation in NOT_OFFERED_BY.get(provider, frozenset()):
        offered = ", ".join(allowed_operations(status, provider=provider)) or "none"
        raise OperationNotAllowed(
            ErrorInfo(
                code="OperationNotOfferedByProvider",
                cause=f"Cannot {_OPERATION_TEXT[operation]} ({operation}): provider "
                f"'{provider}' does not offer it.",
                recommendation=f"Choose another operation; allowed now: {offered}.",
            )
        )
    if busy_with:
        raise OperationNotAllowed(
            ErrorInfo(
                code="OperationInProgress",
                cause=f"Cannot {_OPERATION_TEXT[operation]}: the VM is busy with job {busy_with}.",
                recommendation=f"Wait for job {busy_with} to finish, then retry.",
            )
        )
    allowed = allowed_operations(status, provider=provider)
    if operation in allowed:
        return
    current = ReplicationStatus(status)
    listed = ", ".join(allowed) or "none"
    raise OperationNotAllowed(
        ErrorInfo(
            code="OperationNotAllowed",
            cause=f"Cannot {_OPERATION_TEXT[operation]} ({operation}) while the VM is {current}.",
            recommendation=f"{_HINT[current]} Allowed now: {listed}.",
        )
    )
