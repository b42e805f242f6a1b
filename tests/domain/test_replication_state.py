from __future__ import annotations

import pytest

from domain.errors import DomainError
from domain.replication_state import (
    EVENTS,
    STATUSES,
    TRANSITIONS,
    IllegalTransition,
    ReplicationEvent,
    ReplicationStatus,
    allowed_events,
    is_protected,
    next_status,
    transition,
)

S = ReplicationStatus
E = ReplicationEvent

ILLEGAL = [(s, e) for s in STATUSES for e in EVENTS if e not in TRANSITIONS[s]]
LEGAL = [(s, e) for s in STATUSES for e in TRANSITIONS[s]]


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(STATUSES)
    for moves in TRANSITIONS.values():
        assert set(moves.values()) <= set(STATUSES)


@pytest.mark.parametrize(("status", "event"), ILLEGAL, ids=[f"{s}-{e}" for s, e in ILLEGAL])
def test_every_illegal_transition_is_rejected_with_a_clear_error(status, event):
    with pytest.raises(IllegalTransition) as raised:
        transition(status, event)
    error = raised.value.errors[0]
    assert isinstance(raised.value, DomainError)
    assert error.code == "IllegalTransition"
    assert error.cause.startswith("Cannot ") and f"while the VM is {status}" in error.cause
    assert str(event) in error.cause
    assert error.recommendation


@pytest.mark.parametrize(("status", "event"), LEGAL, ids=[f"{s}-{e}" for s, e in LEGAL])
def test_replaying_any_legal_event_changes_nothing(status, event):
    once = transition(status, event)
    assert transition(once, event) == once


def test_the_happy_path_of_protection_and_failover():
    path = [
        (E.PROTECTION_REQUESTED, S.PROTECTION_PENDING),
        (E.PROTECTION_ENABLED, S.WAITING_FOR_INITIAL_REPLICATION),
        (E.INITIAL_REPLICATION_STARTED, S.INITIAL_REPLICATION_IN_PROGRESS),
        (E.INITIAL_REPLICATION_COMPLETED, S.PROTECTED),
        (E.DELTA_SYNC_COMPLETED, S.PROTECTED),
        (E.CHANGE_TRACKING_LOST, S.RESYNCHRONIZATION_REQUIRED),
        (E.RESYNC_STARTED, S.RESYNCHRONIZATION_IN_PROGRESS),
        (E.RESYNC_COMPLETED, S.PROTECTED),
        (E.TEST_FAILOVER_STARTED, S.TEST_FAILOVER_IN_PROGRESS),
        (E.TEST_FAILOVER_COMPLETED, S.TEST_FAILOVER_COMPLETED),
        (E.TEST_FAILOVER_CLEANED_UP, S.PROTECTED),
        (E.FAILOVER_STARTED, S.FAILOVER_IN_PROGRESS),
        (E.FAILOVER_COMPLETED, S.FAILED_OVER),
        (E.FAILOVER_COMMITTED, S.FAILOVER_COMMITTED),
        (E.PROTECTION_DISABLE_REQUESTED, S.DISABLING_PROTECTION),
        (E.PROTECTION_DISABLED, S.NOT_PROTECTED),
    ]
    status = S.NOT_PROTECTED
    for event, expected in path:
        status = transition(status, event)
        assert status == expected, event


def test_prerequisites_failed_returns_to_not_protected():
    assert transition("ProtectionPending", "PrerequisitesFailed") == S.NOT_PROTECTED


def test_duplicate_completion_on_protected_stays_protected():
    assert transition("Protected", "InitialReplicationCompleted") == "Protected"


def test_failed_failover_returns_to_protected():
    assert transition(S.FAILOVER_IN_PROGRESS, E.FAILOVER_FAILED) == S.PROTECTED


def test_named_refusals():
    with pytest.raises(
        IllegalTransition,
        match=r"Cannot start a failover .* while the VM is InitialReplicationInProgress",
    ):
        transition("InitialReplicationInProgress", "FailoverStarted")
    with pytest.raises(IllegalTransition, match="Commit the failover first"):
        transition("FailedOver", "ProtectionDisabled")
    with pytest.raises(IllegalTransition, match="Clean up the test failover first"):
        transition("TestFailoverCompleted", "FailoverStarted")


def test_unknown_status_or_event_is_a_clear_error():
    with pytest.raises(IllegalTransition) as raised:
        transition("Sleeping", "ProtectionRequested")
    assert raised.value.code == "UnknownReplicationStatus"
    with pytest.raises(IllegalTransition) as raised:
        transition("Protected", "Exploded")
    assert raised.value.code == "UnknownReplicationEvent"


def test_string_helpers_for_read_models():
    result = next_status("NotProtected", "ProtectionEnabled")
    assert result == "WaitingForInitialReplication" and type(result) is str
    assert E.FAILOVER_COMMITTED in allowed_events("FailedOver")
    assert is_protected("Protected") and not is_protected("NotProtected")
