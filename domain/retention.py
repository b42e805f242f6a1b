"""Which recovery points the retention policy prunes.

The rules, in order (a point survives if any keeps it):
1. the latest point always survives, whatever its age, so failover always has a point;
2. every point inside the retention window (`now - retention_hours` .. now) survives, crash-
   and app-consistent alike (the window bound itself is inside);
3. the latest app-consistent point survives even when older than the window, so "latest
   app-consistent" stays a valid failover choice when app snapshots are rarer than the window
   or stopped; the app-consistent frequency decides when one is due (`app_consistent_due`);
4. a pinned point survives: a failover (test or not) uses it, and its disks are made from it.
Points in the future (clock skew between agent and control plane) are inside the window.
All datetimes must be timezone-aware.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.model import ReplicationPolicy


class Consistency(StrEnum):
    CRASH = "crash"
    APP = "app"


class RecoveryPoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    time: AwareDatetime
    consistency: Consistency = Consistency.CRASH


def _newest_first(points: Sequence[RecoveryPoint]) -> list[RecoveryPoint]:
    return sorted(points, key=lambda p: (p.time, p.id), reverse=True)


def points_to_keep(
    points: Sequence[RecoveryPoint],
    policy: ReplicationPolicy,
    now: datetime,
    pinned: Collection[str] = (),
) -> list[RecoveryPoint]:
    """The survivors, newest first."""
    doomed = {p.id for p in points_to_prune(points, policy, now, pinned)}
    return [p for p in _newest_first(points) if p.id not in doomed]


def points_to_prune(
    points: Sequence[RecoveryPoint],
    policy: ReplicationPolicy,
    now: datetime,
    pinned: Collection[str] = (),
) -> list[RecoveryPoint]:
    """The points to delete, oldest first (delete in this order: a crash mid-way leaves the
    newest points)."""
    if not points:
        return []
    ordered = _newest_first(points)
    window_start = now - timedelta(hours=policy.retention_hours)
    keep = {ordered[0].id}
    keep.update(p.id for p in ordered if p.time >= window_start)
    latest_app = next((p for p in ordered if p.consistency == Consistency.APP), None)
    if latest_app is not None:
        keep.add(latest_app.id)
    keep.update(pinned)
    return [p for p in reversed(ordered) if p.id not in keep]


def latest(
    points: Sequence[RecoveryPoint], consistency: Consistency | None = None
) -> RecoveryPoint | None:
    """The newest point (of that consistency), or None."""
    return next(
        (p for p in _newest_first(points) if consistency is None or p.consistency == consistency),
        None,
    )


def app_consistent_due(
    last_app_consistent: datetime | None, policy: ReplicationPolicy, now: datetime
) -> bool:
    """Whether this cycle should ask for an app-consistent snapshot (VSS / fsfreeze)."""
    if policy.app_consistent_frequency_hours == 0:
        return False
    if last_app_consistent is None:
        return True
    return now - last_app_consistent >= timedelta(hours=policy.app_consistent_frequency_hours)
