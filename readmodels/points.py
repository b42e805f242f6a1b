"""Recovery points of a VM: newest first, each a set of blob snapshots taken together.

A point is written twice while it is taken: a pending row before its snapshots (so that a
rerun after a crash knows snapshots may exist and looks for them, and a first run need not),
then the whole point, in one entity-group transaction with the deletion of the points it
prunes. Readers see only whole points.
"""

from __future__ import annotations

from readmodels.records import RecoveryPoint
from readmodels.tables import ModelTable

POINTS = ModelTable("RecoveryPoints", RecoveryPoint)
_MAX_MS = 10**13


def _partition(tenant: str, vm: str) -> str:
    return f"{tenant}|{vm}"


def point_key(point: RecoveryPoint) -> str:
    """Inverted time first so a partition reads newest first."""
    return f"{_MAX_MS - int(point.time.timestamp() * 1000):013d}-{point.id}"


def save_point(point: RecoveryPoint) -> None:
    POINTS.upsert(_partition(point.tenant, point.vm), point_key(point), point)


def delete_point(point: RecoveryPoint) -> None:
    POINTS.delete(_partition(point.tenant, point.vm), point_key(point))


def commit_point(point: RecoveryPoint, drop: list[RecoveryPoint]) -> None:
    """Write `point` whole and delete the rows of `drop` (the same VM's), atomically: one
    request for up to 99 dropped rows."""
    keep = point.model_copy(update={"pending": False})
    POINTS.transact(
        _partition(point.tenant, point.vm),
        [(point_key(keep), keep)],
        [point_key(p) for p in drop if point_key(p) != point_key(keep)],
    )


def list_points(tenant: str, vm: str, *, pending: bool = False) -> list[RecoveryPoint]:
    """The VM's points, newest first; with `pending`, also those still being taken."""
    return [p for p in POINTS.all(_partition(tenant, vm)) if pending or not p.pending]
