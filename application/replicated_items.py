"""What the runbook API shows of replicated items and discovered VMs: the stored rows as
views, with RPO, heartbeat and health as of the request (see `application.health.as_of`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from azure.core.exceptions import ResourceNotFoundError

from application import asr_failover, asr_protection
from application.errors import NotFound
from application.health import as_of
from contracts.views import (
    HealthView,
    RecoveryPointView,
    ReplicatedItemDetail,
    ReplicatedItemView,
    VmView,
)
from domain.errors import DomainError, ErrorInfo
from domain.replication_state import ReplicationStatus, allowed_operations
from readmodels.inventory import VMS, get_vm
from readmodels.items import ITEMS, get_item
from readmodels.points import list_points
from readmodels.records import ReplicatedItem

Token = dict[str, Any] | None
View = TypeVar("View", ReplicatedItemView, ReplicatedItemDetail)


def item_page(
    tenant: str, top: int, token: Token, now: datetime
) -> tuple[list[ReplicatedItemView], Token]:
    """A page of the tenant's protected VMs (a VM whose protection was disabled is left out)."""
    items, next_token = ITEMS.page(tenant, top, token, "Status ne 'NotProtected'")
    return [_view(ReplicatedItemView, as_of(item, now)) for item in items], next_token


def _view(kind: type[View], item: ReplicatedItem, **fields: Any) -> View:
    """The item as `kind`, with what may be asked of it now."""
    allowed = allowed_operations(
        item.status, busy=item.active_job_id is not None, provider=item.provider
    )
    return kind.of(item, allowed_operations=list(allowed), **fields)


def item_detail(tenant: str, vm: str, now: datetime) -> ReplicatedItemDetail:
    """One VM's replicated item with its recovery points, newest first."""
    item = get_item(tenant, vm)
    if item is None:
        raise NotFound(
            ErrorInfo(
                code="ReplicatedItemNotFound",
                cause=f"VM '{vm}' of tenant '{tenant}' has never been protected.",
                recommendation="Enable protection with POST "
                "/api/tenants/{tenant}/vms/{vm}/protection.",
            )
        )
    if item.provider == "asr":
        points = _asr_points(item)
    else:
        points = [RecoveryPointView.of(point) for point in list_points(tenant, vm)]
    return _view(ReplicatedItemDetail, as_of(item, now), recovery_points=points)


def _asr_points(item: ReplicatedItem) -> list[RecoveryPointView]:
    """ASR's recovery points of a VM it replicates, newest first, named as a failover or a
    change of recovery point takes them; none while ASR has no protected item for it."""
    record = get_vm(item.tenant, item.vm)
    if record is None:
        return []
    try:
        points = asr_failover.recovery_points(asr_protection.place_of(record, item))
    except (DomainError, ResourceNotFoundError):  # not (or no longer) protected in ASR
        return []
    return [
        RecoveryPointView(
            id=point.name,
            tenant=item.tenant,
            vm=item.vm,
            time=point.time,
            consistency="app" if point.consistency == "AppConsistent" else "crash",
        )
        for point in points
        if point.time is not None
    ]


def vm_page(tenant: str, top: int, token: Token, now: datetime) -> tuple[list[VmView], Token]:
    """A page of the tenant's discovered VMs, each with its protection status and health."""
    records, next_token = VMS.page(tenant, top, token)
    items = {item.vm: item for item in ITEMS.all(tenant)}
    views = []
    for record in records:
        item = items.get(record.vm.id)
        seen = as_of(item, now) if item else None
        views.append(
            VmView.of(
                record,
                protection_status=seen.status if seen else ReplicationStatus.NOT_PROTECTED,
                health=HealthView.of(seen.health) if seen else None,
                active_job_id=seen.active_job_id if seen else None,
            )
        )
    return views, next_token
