"""The failover rules: which point a failover starts from, what it names and tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.failover import (
    RESOURCE_NAME_MAX,
    VM_NAME_MAX,
    FailoverType,
    RecoveryPointNotAvailable,
    choose_point,
    disk_name,
    made_by,
    nic_name,
    tags,
    vm_name,
)
from domain.retention import RecoveryPoint

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def point(id: str, minutes_ago: int, consistency: str = "crash") -> RecoveryPoint:
    return RecoveryPoint(id=id, time=T0 - timedelta(minutes=minutes_ago), consistency=consistency)


POINTS = [point("p1", 30, "app"), point("p2", 20), point("p3", 10)]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("latest", "p3"), ("latestAppConsistent", "p1"), ("p2", "p2")],
)
def test_a_failover_starts_from_the_point_chosen(choice, expected):
    assert choose_point(POINTS, choice).id == expected


def test_latest_app_consistent_without_one_names_the_latest_instead():
    with pytest.raises(RecoveryPointNotAvailable) as refused:
        choose_point([point("p2", 20), point("p3", 10)], "latestAppConsistent")
    error = refused.value.errors[0]
    assert refused.value.status == 409 and error.code == "NoAppConsistentPoint"
    assert "p3" in error.recommendation and "quiesce hook" in error.recommendation


def test_an_unknown_point_id_is_refused_naming_the_newest():
    with pytest.raises(RecoveryPointNotAvailable) as refused:
        choose_point(POINTS, "pruned-long-ago")
    assert refused.value.code == "RecoveryPointNotFound"
    assert "pruned-long-ago" in refused.value.errors[0].cause
    assert "newest: p3" in refused.value.errors[0].recommendation


def test_no_point_at_all_says_to_wait_for_initial_replication():
    with pytest.raises(RecoveryPointNotAvailable) as refused:
        choose_point([], "latest")
    assert refused.value.code == "NoRecoveryPoint"


def test_a_test_failover_vm_is_the_target_name_with_test_and_always_fits():
    assert vm_name("app01", FailoverType.TEST) == "app01-test"
    assert vm_name("app01", FailoverType.PLANNED) == "app01"
    long = "a" * 63
    assert vm_name(long, FailoverType.TEST) == "a" * (VM_NAME_MAX - 5) + "-test"
    assert len(vm_name(long, FailoverType.TEST)) <= VM_NAME_MAX


def test_resource_names_are_deterministic_azure_safe_and_distinct():
    assert disk_name("app01", "os", "p1") == disk_name("app01", "os", "p1")  # a replay
    assert disk_name("app01", "os", "p1") != disk_name("app01", "os", "p2")  # another point
    assert disk_name("app01", "os", "p1") != disk_name("app01-test", "os", "p1")
    # Ids that clean to the same text still get different names.
    assert disk_name("app01", "data/1", "p1") != disk_name("app01", "data 1", "p1")
    odd = disk_name("app01", "../" + "x" * 200 + "?*", "p1")
    assert len(odd) <= RESOURCE_NAME_MAX and odd[0].isalnum() and odd[-1].isalnum()
    assert set(odd) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    assert nic_name("app01-test") != nic_name("app01")


def test_tags_tie_a_resource_to_its_tenant_vm_job_and_point():
    made = tags(tenant="contoso", vm="vm-1", job_id="job-9", point_id="p3", kind=FailoverType.TEST)
    assert made == {
        "dr-tenant": "contoso",
        "dr-vm": "vm-1",
        "dr-job": "job-9",
        "dr-recovery-point": "p3",
        "dr-purpose": "test-failover",
    }
    assert made_by(made, tenant="contoso", vm="vm-1", job_id="job-9")
    assert not made_by(made, tenant="contoso", vm="vm-1", job_id="job-8")
    assert not made_by(made, tenant="fabrikam", vm="vm-1", job_id="job-9")
    assert not made_by(None, tenant="contoso", vm="vm-1", job_id="job-9")
