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
    FAILOVER_IN_PROGRESS = "FailoverInProgress"
    FAILED_OVER = "FailedOver"
    FAILOVER_COMMITTED = "FailoverCommitted"
    TEST_FAILOVER_IN_PROGRESS = "TestFailoverInProgress"
    TEST_FAILOVER_COMPLETED = "TestFailoverCompleted"
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
    FAILOVER_STARTED = "FailoverStarted"
    FAILOVER_COMPLETED = "FailoverCompleted"
    FAILOVER_FAILED = "FailoverFailed"
    FAILOVER_COMMITTED = "FailoverCommitted"
    TEST_FAILOVER_STARTED = "TestFailoverStarted"
    TEST_FAILOVER_COMPLETED = "TestFailoverCompleted"
    TEST_FAILOVER_FAILED = "TestFailoverFailed"
    TEST_FAILOVER_CLEANED_UP = "TestFailoverCleanedUp"
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
        E.RESYNC_COMPLETED: S.PROTECTED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        E.FAILOVER_STARTED: S.FAILOVER_IN_PROGRESS,
        E.TEST_FAILOVER_STARTED: S.TEST_FAILOVER_IN_PROGRESS,
        E.TEST_FAILOVER_CLEANED_UP: S.PROTECTED,  # replays of what led back here
        E.TEST_FAILOVER_FAILED: S.PROTECTED,
        E.FAILOVER_FAILED: S.PROTECTED,
        **_DISABLE,
    },
    S.RESYNCHRONIZATION_REQUIRED: {
        E.PROTECTION_REQUESTED: S.RESYNCHRONIZATION_REQUIRED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        E.RESYNC_STARTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        **_DISABLE,
    },
    S.RESYNCHRONIZATION_IN_PROGRESS: {
        E.PROTECTION_REQUESTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        E.RESYNC_STARTED: S.RESYNCHRONIZATION_IN_PROGRESS,
        E.RESYNC_COMPLETED: S.PROTECTED,
        E.CHANGE_TRACKING_LOST: S.RESYNCHRONIZATION_REQUIRED,
        **_DISABLE,
    },
    S.FAILOVER_IN_PROGRESS: {
        E.FAILOVER_STARTED: S.FAILOVER_IN_PROGRESS,
        E.FAILOVER_COMPLETED: S.FAILED_OVER,
        E.FAILOVER_FAILED: S.PROTECTED,
    },
    S.FAILED_OVER: {
        E.FAILOVER_COMPLETED: S.FAILED_OVER,
        E.FAILOVER_COMMITTED: S.FAILOVER_COMMITTED,
    },
    S.FAILOVER_COMMITTED: {
        E.FAILOVER_COMMITTED: S.FAILOVER_COMMITTED,
        **_DISABLE,
    },
    S.TEST_FAILOVER_IN_PROGRESS: {
        E.TEST_FAILOVER_STARTED: S.TEST_FAILOVER_IN_PROGRESS,
        E.TEST_FAILOVER_COMPLETED: S.TEST_FAILOVER_COMPLETED,
        E.TEST_FAILOVER_FAILED: S.PROTECTED,
        E.DELTA_SYNC_COMPLETED: S.TEST_FAILOVER_IN_PROGRESS,  # replication goes on meanwhile
    },
    S.TEST_FAILOVER_COMPLETED: {
        E.TEST_FAILOVER_COMPLETED: S.TEST_FAILOVER_COMPLETED,
        E.TEST_FAILOVER_CLEANED_UP: S.PROTECTED,
        E.DELTA_SYNC_COMPLETED: S.TEST_FAILOVER_COMPLETED,
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
    E.FAILOVER_STARTED: "start a failover",
    E.FAILOVER_COMPLETED: "complete a failover",
    E.FAILOVER_FAILED: "record a failed failover",
    E.FAILOVER_COMMITTED: "commit a failover",
    E.TEST_FAILOVER_STARTED: "start a test failover",
    E.TEST_FAILOVER_COMPLETED: "complete a test failover",
    E.TEST_FAILOVER_FAILED: "record a failed test failover",
    E.TEST_FAILOVER_CLEANED_UP: "clean up a test failover",
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
    S.FAILOVER_IN_PROGRESS: "Wait for the failover job to finish.",
    S.FAILED_OVER: "Commit the failover first.",
    S.FAILOVER_COMMITTED: "Disable protection, then enable it again to protect the VM anew.",
    S.TEST_FAILOVER_IN_PROGRESS: "Wait for the test failover to finish, then clean it up.",
    S.TEST_FAILOVER_COMPLETED: "Clean up the test failover first.",
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
