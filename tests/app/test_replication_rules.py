"""The replication rules of domain/replication.py, as the spec reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import DomainError
from domain.replication import (
    TRANSITIONS,
    IllegalTransition,
    Policy,
    assess,
    footer_problem,
    next_status,
    points_to_prune,
    policy_named,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_the_happy_path_reaches_protected() -> None:
    status = "NotProtected"
    for event in ("ProtectionEnabled", "InitialReplicationStarted", "InitialReplicationCompleted"):
        status = next_status(status, event)
    assert status == "Protected"


def test_lost_change_tracking_goes_through_resync_back_to_protected() -> None:
    status = next_status("Protected", "ChangeTrackingLost")
    assert status == "ResynchronizationRequired"
    status = next_status(status, "ResyncStarted")
    assert next_status(status, "ResyncCompleted") == "Protected"


def test_replaying_a_completion_changes_nothing() -> None:
    assert next_status("Protected", "InitialReplicationCompleted") == "Protected"


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (status, event)
        for status, moves in TRANSITIONS.items()
        for event in {e for m in TRANSITIONS.values() for e in m} - set(moves)
    ],
)
def test_every_move_not_in_the_table_is_refused(status: str, event: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        next_status(status, event)
    assert info.value.errors[0].code == "IllegalTransition"
    assert status in info.value.errors[0].cause and event in info.value.errors[0].cause


def test_an_unknown_status_is_named() -> None:
    with pytest.raises(IllegalTransition, match="Sideways"):
        next_status("Sideways", "ProtectionEnabled")


def test_policies_accept_only_the_three_intervals() -> None:
    assert policy_named("30s").interval_seconds == 30
    with pytest.raises(DomainError, match="45s"):
        Policy("odd", interval_seconds=45)
    with pytest.raises(DomainError, match="no replication policy"):
        policy_named("platinum")


def test_app_consistent_cadence_in_cycles() -> None:
    assert (
        Policy("p", interval_seconds=300, app_consistent_hours=1).app_consistent_every_cycles == 12
    )
    assert Policy("p", app_consistent_hours=0).app_consistent_every_cycles == 0


@dataclass
class Point:
    id: str
    time: datetime
    consistency: str = "crash"


def test_retention_prunes_old_points_but_keeps_the_newest_and_newest_app_consistent() -> None:
    policy = Policy("p", retention_hours=2)
    points = [
        Point("old-app", NOW - timedelta(hours=5), "app"),
        Point("old-crash", NOW - timedelta(hours=4)),
        Point("older-app", NOW - timedelta(hours=6), "app"),
        Point("recent", NOW - timedelta(hours=1)),
    ]
    pruned = {p.id for p in points_to_prune(points, policy, NOW)}
    assert pruned == {"old-crash", "older-app"}


def test_retention_never_prunes_the_only_point() -> None:
    only = [Point("only", NOW - timedelta(days=30))]
    assert points_to_prune(only, Policy("p", retention_hours=1), NOW) == []


def test_rpo_over_threshold_is_critical_with_reason() -> None:
    policy = Policy("p", rpo_threshold_seconds=600)
    state, reasons, rpo = assess(
        now=NOW, last_point=NOW - timedelta(seconds=601), protected_since=None, policy=policy,
        last_heartbeat=NOW, heartbeat_timeout_s=60,
    )  # fmt: skip
    assert (state, rpo) == ("Critical", 601)
    assert reasons[0]["code"] == "RpoThresholdExceeded"


def test_rpo_at_threshold_is_normal() -> None:
    policy = Policy("p", rpo_threshold_seconds=600)
    state, reasons, _ = assess(
        now=NOW, last_point=NOW - timedelta(seconds=600), protected_since=None, policy=policy,
        last_heartbeat=NOW, heartbeat_timeout_s=60,
    )  # fmt: skip
    assert (state, reasons) == ("Normal", [])


def test_missing_heartbeat_is_a_warning() -> None:
    state, reasons, _ = assess(
        now=NOW, last_point=NOW, protected_since=None, policy=Policy("p"),
        last_heartbeat=NOW - timedelta(seconds=61), heartbeat_timeout_s=60,
    )  # fmt: skip
    assert state == "Warning"
    assert [r["code"] for r in reasons] == ["AgentHeartbeatMissing"]


def _footer(size: int, disk_type: int = 2) -> bytes:
    f = bytearray(512)
    f[:8] = b"conectix"
    f[48:56] = size.to_bytes(8, "big")
    f[60:64] = disk_type.to_bytes(4, "big")
    f[64:68] = (~sum(f) & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(f)


def test_footer_check_accepts_a_valid_fixed_footer() -> None:
    assert footer_problem(_footer(1 << 20), 1 << 20) is None


@pytest.mark.parametrize(
    ("footer", "size", "words"),
    [
        (b"\0" * 512, 1 << 20, "cookie"),
        (_footer(1 << 20, disk_type=3), 1 << 20, "fixed"),
        (_footer(1 << 20), 2 << 20, "says"),
        (_footer(1 << 20)[:100] + b"x" + _footer(1 << 20)[101:], 1 << 20, "checksum"),
    ],
)
def test_footer_check_names_what_is_wrong(footer: bytes, size: int, words: str) -> None:
    assert words in (footer_problem(footer, size) or "")
