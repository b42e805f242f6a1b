"""Recovery points of a VM: newest first, each a set of blob snapshots taken together."""

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


def list_points(tenant: str, vm: str) -> list[RecoveryPoint]:
    return list(POINTS.all(_partition(tenant, vm)))
