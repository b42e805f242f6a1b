"""Replicated items: one row per VM with its protection, status, health, progress and RPO.

The row is also the VM's operation lock: `active_job_id` names the one operation that may run
on the VM, claimed with an ETag condition so two concurrent requests cannot both win.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from domain.errors import ErrorInfo
from domain.jobs import Job, JobType, fail_job
from readmodels.jobs import create_job, create_job_with_id, get_job, save_job
from readmodels.records import ReplicatedItem
from readmodels.tables import ConcurrentUpdate, ModelTable, Row

ITEMS = ModelTable("ReplicatedItems", ReplicatedItem)
LOST_RACE = ErrorInfo(
    code="OperationSuperseded",
    cause="Another request started an operation on this VM at the same moment.",
    recommendation="Follow the other request's job; nothing was changed by this one.",
)


def get_item(tenant: str, vm: str) -> ReplicatedItem | None:
    row = ITEMS.get(tenant, vm)
    return row.model if row else None


def save_item(item: ReplicatedItem) -> None:
    item.updated = datetime.now(UTC)
    ITEMS.upsert(item.tenant, item.vm, item, Status=item.status)


def get_item_row(tenant: str, vm: str) -> Row[ReplicatedItem] | None:
    """The item with its ETag (for update_item's `read`), or None."""
    return ITEMS.get(tenant, vm)


def require_item_row(tenant: str, vm: str) -> Row[ReplicatedItem]:
    """The item with its ETag, for a caller that decides on it and then updates it;
    LookupError when the VM has none (an activity then fails)."""
    row = ITEMS.get(tenant, vm)
    if row is None:
        raise LookupError(f"{tenant}/{vm} has no replicated item")
    return row


def update_item(
    tenant: str,
    vm: str,
    change: Callable[[ReplicatedItem], None],
    attempts: int = 20,
    *,
    read: Row[ReplicatedItem] | None = None,
) -> ReplicatedItem:
    """Read-modify-write with optimistic concurrency (progress and cycles may race).

    `read` is a row the caller has just read: the first try changes that one instead of
    reading again, so a replication cycle's activity reads its item once, not twice. If
    anything wrote the row meanwhile, its ETag no longer matches and the next try reads it."""
    for _ in range(attempts):
        row, read = read or ITEMS.get(tenant, vm), None
        if row is None:
            raise LookupError(f"no replicated item {tenant}/{vm}")
        change(row.model)
        row.model.updated = datetime.now(UTC)
        try:
            ITEMS.replace(tenant, vm, row.model, row.etag, Status=row.model.status)
            return row.model
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"{tenant}/{vm} kept changing; gave up after {attempts} tries")


def busy_with(item: ReplicatedItem) -> str | None:
    """The job that holds the VM, unless it has finished: an operation saves its job's end a
    moment before it releases the lock, and a request in between may go ahead (claiming the
    VM looks at the job the same way)."""
    if not item.active_job_id:
        return None
    active = get_job(item.tenant, item.active_job_id)
    return item.active_job_id if active is not None and not active.finished else None


def claim_operation(
    tenant: str,
    vm: str,
    vm_name: str,
    site: str,
    job_type: JobType,
    started_by: str,
    *,
    initial_status: str = "NotProtected",
    job_id: str | None = None,
    requested_by: str | None = None,
) -> tuple[Job, bool]:
    """The VM's running job if one is active, else a new job that now holds the lock.

    Returns (job, created). A second request while the first runs gets the same job.
    `job_id`: the new job's id, derived by the caller (a recovery plan's step), so a claim
    made again after a crash finds its own job (created True) instead of a stranger's.
    """
    for _ in range(20):
        row = ITEMS.get(tenant, vm)
        item = (
            row.model
            if row
            else ReplicatedItem(
                tenant=tenant, vm=vm, vm_name=vm_name, site=site, status=initial_status
            )
        )
        if item.active_job_id:
            active = get_job(tenant, item.active_job_id)
            if active is not None and not active.finished:
                return active, active.id == job_id
        job = (
            create_job_with_id(tenant, job_id, job_type, vm, started_by, requested_by)
            if job_id
            else create_job(tenant, job_type, vm, started_by, requested_by)
        )
        item.active_job_id, item.active_job_type = job.id, job_type
        item.updated = datetime.now(UTC)
        try:
            ITEMS.replace(tenant, vm, item, row.etag if row else None, Status=item.status)
            return job, True
        except ConcurrentUpdate:
            # Someone else claimed it first: retire our job, return theirs on the next pass.
            save_job(fail_job(job, datetime.now(UTC), [LOST_RACE]))
            continue
    raise ConcurrentUpdate(f"could not claim an operation on {tenant}/{vm}")


def claim_unchanged(
    row: Row[ReplicatedItem],
    job_id: str,
    job_type: JobType,
    change: Callable[[ReplicatedItem], None] = lambda item: None,
) -> bool:
    """Take the VM's operation lock for job `job_id` (and apply `change` in the same write),
    only if the row is still exactly as read: nothing claimed the VM, moved its status or
    started its loop since. False when something did (nothing was written then).

    The job row is the caller's to create afterwards; until it exists, `claim_operation`
    treats the lock as free, so the caller checks it still holds the lock once it does."""
    item = row.model.model_copy(deep=True)
    item.active_job_id, item.active_job_type = job_id, job_type
    change(item)
    item.updated = datetime.now(UTC)
    try:
        ITEMS.replace(item.tenant, item.vm, item, row.etag, Status=item.status)
    except ConcurrentUpdate:
        return False
    return True


def release_operation(tenant: str, vm: str, job_id: str) -> None:
    """Free the VM's lock if this job still holds it (idempotent)."""

    def release(item: ReplicatedItem) -> None:
        if item.active_job_id == job_id:
            item.active_job_id = None
            item.active_job_type = None

    with contextlib.suppress(LookupError):
        update_item(tenant, vm, release)
