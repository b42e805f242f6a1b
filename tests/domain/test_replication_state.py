from __future__ import annotations

import pytest

from domain.errors import DomainError
from domain.replication_state import (
    EVENTS,
    NOT_OFFERED_BY,
    STATUSES,
    TRANSITIONS,
    IllegalTransition,
    Operation,
    OperationNotAllowed,
    ReplicationEvent,
    ReplicationStatus,
    allowed_events,
    allowed_operations,
    is_protected,
    next_status,
    require_operation,
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
        (E.DELTA_SYNC_COMPLETED, S.TEST_FAILOVER_IN_PROGRESS),  # replication goes on
        (E.TEST_FAILOVER_COMPLETED, S.TEST_FAILOVER_SUCCEEDED),
        (E.TEST_FAILOVER_CLEANED_UP, S.PROTECTED),
        (E.PLANNED_FAILOVER_STARTED, S.PLANNED_FAILOVER_IN_PROGRESS),
        (E.DELTA_SYNC_COMPLETED, S.PLANNED_FAILOVER_IN_PROGRESS),  # the final sync
        (E.FAILOVER_COMPLETED, S.FAILED_OVER),
        (E.RECOVERY_POINT_CHANGED, S.FAILED_OVER),
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
    assert transition(S.PLANNED_FAILOVER_IN_PROGRESS, E.FAILOVER_FAILED) == S.PROTECTED
    assert transition(S.UNPLANNED_FAILOVER_IN_PROGRESS, E.FAILOVER_FAILED) == S.PROTECTED


def test_a_failed_test_failover_waits_for_its_cleanup():
    failed = transition(S.TEST_FAILOVER_IN_PROGRESS, E.TEST_FAILOVER_FAILED)
    assert failed == S.TEST_FAILOVER_FAILED
    assert allowed_operations(failed) == (Operation.TEST_FAILOVER_CLEANUP,)
    assert transition(failed, E.TEST_FAILOVER_CLEANED_UP) == S.PROTECTED


def test_a_cancelled_failover_returns_to_protected():
    assert transition(S.FAILED_OVER, E.FAILOVER_CANCELLED) == S.PROTECTED


def test_unplanned_and_test_failover_work_from_points_during_a_resync():
    for status in (S.RESYNCHRONIZATION_REQUIRED, S.RESYNCHRONIZATION_IN_PROGRESS):
        assert transition(status, E.UNPLANNED_FAILOVER_STARTED) == S.UNPLANNED_FAILOVER_IN_PROGRESS
        assert transition(status, E.TEST_FAILOVER_STARTED) == S.TEST_FAILOVER_IN_PROGRESS
        with pytest.raises(
            IllegalTransition, match=r"Let the resynchronization|Wait for the resync"
        ):
            transition(status, E.PLANNED_FAILOVER_STARTED)


ALLOWED = {
    S.NOT_PROTECTED: {"EnableProtection"},
    S.PROTECTION_PENDING: {"DisableProtection"},
    S.WAITING_FOR_INITIAL_REPLICATION: {"DisableProtection"},
    S.INITIAL_REPLICATION_IN_PROGRESS: {"DisableProtection"},
    S.PROTECTED: {"TestFailover", "PlannedFailover", "UnplannedFailover", "DisableProtection"},
    S.RESYNCHRONIZATION_REQUIRED: {"TestFailover", "UnplannedFailover", "DisableProtection"},
    S.RESYNCHRONIZATION_IN_PROGRESS: {"TestFailover", "UnplannedFailover", "DisableProtection"},
    S.TEST_FAILOVER_IN_PROGRESS: set(),
    S.TEST_FAILOVER_SUCCEEDED: {"TestFailoverCleanup"},
    S.TEST_FAILOVER_FAILED: {"TestFailoverCleanup"},
    S.PLANNED_FAILOVER_IN_PROGRESS: set(),
    S.UNPLANNED_FAILOVER_IN_PROGRESS: set(),
    S.FAILED_OVER: {"Commit", "ChangePit", "CancelFailover"},
    S.FAILOVER_COMMITTED: {"DisableProtection"},  # direct: protect anew, no failback (yet)
    S.FAILBACK_IN_PROGRESS: set(),
    S.FAILED_BACK: set(),
    S.FAILBACK_COMMITTED: {"DisableProtection"},
    S.REPROTECT_IN_PROGRESS: set(),
    S.DISABLING_PROTECTION: set(),
}
# Where Azure Site Recovery offers something else: no cancel of a failover; the way home.
ASR_ALLOWED = {
    **ALLOWED,
    S.FAILED_OVER: {"Commit", "ChangePit"},
    S.FAILOVER_COMMITTED: {"Failback", "DisableProtection"},
    S.FAILED_BACK: {"CommitFailback"},
    S.FAILBACK_COMMITTED: {"ReProtect", "DisableProtection"},
}
PROVIDERS = {"direct": ALLOWED, "asr": ASR_ALLOWED}
BY_PROVIDER = [(p, s) for p in PROVIDERS for s in STATUSES]


@pytest.mark.parametrize(("provider", "status"), BY_PROVIDER)
def test_allowed_operations_are_asrs_names_for_what_the_table_allows(provider, status):
    assert set(allowed_operations(status, provider=provider)) == PROVIDERS[provider][status]
    assert allowed_operations(status, busy=True, provider=provider) == ()
    for operation in allowed_operations(status, provider=provider):
        require_operation(status, operation, provider=provider)  # allowed: no error


@pytest.mark.parametrize(("provider", "status"), BY_PROVIDER)
def test_every_operation_not_allowed_is_refused_naming_the_status_and_what_is(provider, status):
    allowed = allowed_operations(status, provider=provider)
    listed = ", ".join(allowed) or "none"
    for operation in set(Operation) - set(allowed):
        with pytest.raises(OperationNotAllowed) as raised:
            require_operation(status, operation, provider=provider)
        error = raised.value.errors[0]
        assert raised.value.status == 409 and str(operation) in error.cause
        if operation in NOT_OFFERED_BY[provider]:
            assert error.code == "OperationNotOfferedByProvider"
            assert f"provider '{provider}' does not offer it" in error.cause
            assert error.recommendation.endswith(f"allowed now: {listed}.")
        else:
            assert error.code == "OperationNotAllowed"
            assert f"while the VM is {status}" in error.cause
            assert error.recommendation.endswith(f"Allowed now: {listed}.")


def test_the_way_home_after_a_committed_failover():
    path = [
        (E.FAILBACK_STARTED, S.FAILBACK_IN_PROGRESS),
        (E.FAILBACK_COMPLETED, S.FAILED_BACK),
        (E.FAILBACK_COMMITTED, S.FAILBACK_COMMITTED),
        (E.REPROTECT_STARTED, S.REPROTECT_IN_PROGRESS),
        (E.REPROTECT_COMPLETED, S.PROTECTED),
    ]
    status = S.FAILOVER_COMMITTED
    for event, expected in path:
        status = transition(status, event)
        assert status == expected, event


def test_a_failback_or_reprotect_that_failed_leaves_the_vm_where_it_ran():
    # The Azure VM runs on after a failed failback; the on-premises one after a failed reprotect.
    assert transition(S.FAILBACK_IN_PROGRESS, E.FAILBACK_FAILED) == S.FAILOVER_COMMITTED
    assert transition(S.REPROTECT_IN_PROGRESS, E.REPROTECT_FAILED) == S.FAILBACK_COMMITTED


def test_the_direct_provider_offers_no_failback_and_says_what_to_do():
    with pytest.raises(OperationNotAllowed) as raised:
        require_operation("FailoverCommitted", Operation.FAILBACK, provider="direct")
    assert raised.value.code == "OperationNotOfferedByProvider"
    assert "DisableProtection" in raised.value.errors[0].recommendation


def test_an_operation_on_a_busy_vm_names_the_running_job():
    with pytest.raises(OperationNotAllowed) as raised:
        require_operation("Protected", Operation.TEST_FAILOVER, busy_with="job-1")
    assert raised.value.code == "OperationInProgress" and "job-1" in raised.value.errors[0].cause


def test_asr_offers_no_cancel_of_a_failover_and_says_what_it_offers():
    assert Operation.CANCEL_FAILOVER in allowed_operations("FailedOver")
    offered = allowed_operations("FailedOver", provider="asr")
    assert Operation.CANCEL_FAILOVER not in offered
    assert set(offered) == set(allowed_operations("FailedOver")) - {Operation.CANCEL_FAILOVER}
    with pytest.raises(OperationNotAllowed) as raised:
        require_operation("FailedOver", Operation.CANCEL_FAILOVER, provider="asr")
    assert raised.value.code == "OperationNotOfferedByProvider"
    assert "'asr'" in raised.value.errors[0].cause
    assert "Commit" in raised.value.errors[0].recommendation
    require_operation("FailedOver", Operation.COMMIT, provider="asr")  # what it does offer


def test_named_refusals():
    with pytest.raises(
        IllegalTransition,
        match=r"Cannot start a planned failover .* while the VM is InitialReplicationInProgress",
    ):
        transition("InitialReplicationInProgress", "PlannedFailoverStarted")
    with pytest.raises(IllegalTransition, match=r"Commit the failover \(or cancel it\) first"):
        transition("FailedOver", "ProtectionDisabled")
    with pytest.raises(IllegalTransition, match="Clean up the test failover first"):
        transition("TestFailoverSucceeded", "UnplannedFailoverStarted")


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
