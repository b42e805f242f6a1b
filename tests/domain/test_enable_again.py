"""Which VMs may be enabled again: the rule behind retrying a failed initial replication."""

from __future__ import annotations

import pytest

from domain.replication_state import (
    STATUSES,
    ReplicationEvent,
    ReplicationStatus,
    is_protected,
    may_enable_again,
    transition,
)

S = ReplicationStatus
E = ReplicationEvent
BEFORE_FIRST_POINT = (S.WAITING_FOR_INITIAL_REPLICATION, S.INITIAL_REPLICATION_IN_PROGRESS)


@pytest.mark.parametrize("status", BEFORE_FIRST_POINT)
def test_a_vm_without_a_first_point_and_no_running_replication_may_be_enabled_again(status):
    assert may_enable_again(status, replication_running=False)
    assert may_enable_again(status.value, replication_running=False)  # as read models store it


@pytest.mark.parametrize("status", STATUSES)
def test_while_its_replication_runs_no_vm_may_be_enabled_again(status):
    assert not may_enable_again(status, replication_running=True)


@pytest.mark.parametrize("status", [s for s in STATUSES if s not in BEFORE_FIRST_POINT])
def test_a_vm_with_a_recovery_point_or_in_another_operation_is_not_enabled_again(status):
    assert not may_enable_again(status, replication_running=False)


def test_a_failed_initial_replication_lands_where_enabling_again_applies():
    failed = transition(S.INITIAL_REPLICATION_IN_PROGRESS, E.INITIAL_REPLICATION_FAILED)
    assert failed == S.WAITING_FOR_INITIAL_REPLICATION
    assert is_protected(failed) and may_enable_again(failed, replication_running=False)


@pytest.mark.parametrize("status", BEFORE_FIRST_POINT)
def test_the_protect_operation_may_run_again_from_where_enabling_again_applies(status):
    # The protect job's status moves, then the new replication instance starts over.
    path = [E.PROTECTION_REQUESTED, E.PROTECTION_ENABLED, E.INITIAL_REPLICATION_STARTED]
    for event in path:
        status = transition(status, event)
    assert status == S.INITIAL_REPLICATION_IN_PROGRESS
    assert transition(status, E.INITIAL_REPLICATION_COMPLETED) == S.PROTECTED
