from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model import ReplicationPolicy
from domain.retention import (
    Consistency,
    RecoveryPoint,
    app_consistent_due,
    latest,
    points_to_keep,
    points_to_prune,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = ReplicationPolicy(retention_hours=24, app_consistent_frequency_hours=4)


def point(id: str, hours_ago: float, consistency: str = "crash") -> RecoveryPoint:
    return RecoveryPoint(id=id, time=NOW - timedelta(hours=hours_ago), consistency=consistency)


def ids(points) -> list[str]:
    return [p.id for p in points]


def test_nothing_to_prune_without_points():
    assert points_to_prune([], POLICY, NOW) == []


def test_points_outside_the_window_go_oldest_first():
    points = [point("new", 1), point("edge", 24), point("old", 25), point("older", 30)]
    assert ids(points_to_prune(points, POLICY, NOW)) == ["older", "old"]
    assert ids(points_to_keep(points, POLICY, NOW)) == ["new", "edge"]


def test_the_latest_point_is_always_kept():
    points = [point("a", 50), point("b", 48)]
    assert ids(points_to_prune(points, POLICY, NOW)) == ["a"]


def test_the_latest_app_consistent_point_survives_the_window():
    points = [point("app-old", 40, "app"), point("app-older", 44, "app"), point("crash", 1)]
    assert ids(points_to_prune(points, POLICY, NOW)) == ["app-older"]


def test_app_consistent_points_inside_the_window_are_all_kept():
    points = [point(f"app{i}", i * 4, "app") for i in range(6)] + [point("c", 2)]
    assert points_to_prune(points, POLICY, NOW) == []


def test_zero_retention_keeps_only_the_latest_and_latest_app():
    policy = ReplicationPolicy(retention_hours=0, app_consistent_frequency_hours=0)
    points = [point("app", 3, "app"), point("c1", 2), point("c2", 1)]
    assert ids(points_to_prune(points, policy, NOW)) == ["c1"]


def test_future_points_from_clock_skew_are_kept():
    points = [point("future", -0.1), point("now", 0), point("old", 48)]
    assert ids(points_to_prune(points, POLICY, NOW)) == ["old"]


def test_pruning_is_idempotent():
    points = [point(str(i), i * 5) for i in range(10)]
    survivors = points_to_keep(points, POLICY, NOW)
    assert points_to_prune(survivors, POLICY, NOW) == []


def test_latest_by_consistency():
    points = [point("a", 3, "app"), point("c", 1)]
    assert latest(points).id == "c"
    assert latest(points, Consistency.APP).id == "a"
    assert latest([]) is None


def test_app_consistent_due_by_frequency():
    assert app_consistent_due(None, POLICY, NOW)
    assert not app_consistent_due(NOW - timedelta(hours=4) + timedelta(seconds=1), POLICY, NOW)
    assert app_consistent_due(NOW - timedelta(hours=4), POLICY, NOW)
    crash_only = ReplicationPolicy(app_consistent_frequency_hours=0)
    assert not app_consistent_due(None, crash_only, NOW)


def test_a_pinned_point_survives_however_old():
    points = [point("pinned", 40), point("old", 30), point("new", 1)]
    assert ids(points_to_prune(points, POLICY, NOW, pinned={"pinned"})) == ["old"]
    assert ids(points_to_keep(points, POLICY, NOW, pinned={"pinned"})) == ["new", "pinned"]
    assert ids(points_to_prune(points, POLICY, NOW)) == ["pinned", "old"]  # unpinned, it goes
