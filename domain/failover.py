"""Failover rules, as plain functions: which point, which names, which tags.

A failover turns one recovery point into an Azure VM. What it may start from, and what the
Azure resources it makes are called and tagged, are decided here, without I/O:
- the recovery point: `latest`, `latestAppConsistent`, or a point id, chosen among the VM's
  points; a choice that matches nothing is refused with the points that exist;
- names: deterministic from the VM, the kind of failover and the point, so a replay, a retry
  or a host restart finds what it made instead of making a second one (every create is a PUT);
  a test failover's VM is the target name suffixed `-test`;
- tags: tenant, VM, job, point and purpose on everything made, so cleanup finds exactly what
  a test failover created, and a person in the portal sees where a resource came from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from enum import StrEnum

from domain.errors import DomainError, ErrorInfo
from domain.jobs import JobType
from domain.replication_state import Operation, ReplicationEvent
from domain.retention import Consistency, RecoveryPoint, latest


class FailoverType(StrEnum):
    TEST = "test"
    PLANNED = "planned"
    UNPLANNED = "unplanned"


class DataSync(StrEnum):
    """How a failback copies the Azure VM's changes home."""

    WHILE_RUNNING = "whileRunning"  # most while the Azure VM still runs: less downtime
    DURING_DOWNTIME = "duringDowntime"  # all of it after the Azure VM is shut down


class FailoverState(StrEnum):
    """Where the failover a VM is in stands (its status says more: Test/Planned/Unplanned)."""

    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"  # the Azure VM exists and runs
    FAILED = "Failed"
    COMMITTED = "Committed"


class PointChoice(StrEnum):
    LATEST = "latest"
    LATEST_APP_CONSISTENT = "latestAppConsistent"


STARTED = {
    FailoverType.TEST: ReplicationEvent.TEST_FAILOVER_STARTED,
    FailoverType.PLANNED: ReplicationEvent.PLANNED_FAILOVER_STARTED,
    FailoverType.UNPLANNED: ReplicationEvent.UNPLANNED_FAILOVER_STARTED,
}
COMPLETED = {
    FailoverType.TEST: ReplicationEvent.TEST_FAILOVER_COMPLETED,
    FailoverType.PLANNED: ReplicationEvent.FAILOVER_COMPLETED,
    FailoverType.UNPLANNED: ReplicationEvent.FAILOVER_COMPLETED,
}
FAILED = {
    FailoverType.TEST: ReplicationEvent.TEST_FAILOVER_FAILED,
    FailoverType.PLANNED: ReplicationEvent.FAILOVER_FAILED,
    FailoverType.UNPLANNED: ReplicationEvent.FAILOVER_FAILED,
}
OPERATION = {
    FailoverType.TEST: Operation.TEST_FAILOVER,
    FailoverType.PLANNED: Operation.PLANNED_FAILOVER,
    FailoverType.UNPLANNED: Operation.UNPLANNED_FAILOVER,
}
# The job each operation on a VM runs under (a plan's VMs' jobs too).
JOB_TYPE: dict[Operation, JobType] = {
    Operation.TEST_FAILOVER: JobType.TEST_FAILOVER,
    Operation.PLANNED_FAILOVER: JobType.PLANNED_FAILOVER,
    Operation.UNPLANNED_FAILOVER: JobType.UNPLANNED_FAILOVER,
    Operation.TEST_FAILOVER_CLEANUP: JobType.TEST_FAILOVER_CLEANUP,
    Operation.COMMIT: JobType.COMMIT_FAILOVER,
    Operation.CANCEL_FAILOVER: JobType.CANCEL_FAILOVER,
    Operation.CHANGE_RECOVERY_POINT: JobType.CHANGE_RECOVERY_POINT,
    Operation.FAILBACK: JobType.FAILBACK,
    Operation.COMMIT_FAILBACK: JobType.COMMIT_FAILBACK,
    Operation.REPROTECT: JobType.REPROTECT,
}

TEST_SUFFIX = "-test"
# Azure's limits: a VM name 1-64 characters (a Windows VM's computer name is not set here, the
# VM boots its own disk); disks and NICs 1-80 of letters, digits, '_', '.', '-'.
VM_NAME_MAX = 64
RESOURCE_NAME_MAX = 80
_NOT_IN_RESOURCE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")

TAG_TENANT = "dr-tenant"
TAG_VM = "dr-vm"
TAG_JOB = "dr-job"
TAG_POINT = "dr-recovery-point"
TAG_PURPOSE = "dr-purpose"


class RecoveryPointNotAvailable(DomainError):
    """The chosen point does not exist (any more): HTTP 409, nothing was started."""

    status = 409


def choose_point(points: Sequence[RecoveryPoint], choice: str) -> RecoveryPoint:
    """The point a failover starts from: the newest, the newest app-consistent, or by id."""
    if choice == PointChoice.LATEST:
        chosen = latest(points)
    elif choice == PointChoice.LATEST_APP_CONSISTENT:
        chosen = latest(points, Consistency.APP)
    else:
        chosen = next((p for p in points if p.id == choice), None)
    if chosen is not None:
        return chosen
    raise RecoveryPointNotAvailable(_no_such_point(points, choice))


def _no_such_point(points: Sequence[RecoveryPoint], choice: str) -> ErrorInfo:
    newest = latest(points)
    if newest is None:
        return ErrorInfo(
            code="NoRecoveryPoint",
            cause="The VM has no recovery point yet.",
            recommendation="Wait for initial replication to complete; failover starts from a "
            "recovery point.",
        )
    if choice == PointChoice.LATEST_APP_CONSISTENT:
        return ErrorInfo(
            code="NoAppConsistentPoint",
            cause="The VM has no app-consistent recovery point within retention.",
            recommendation=f"Fail over to 'latest' ({newest.id}, {newest.time.isoformat()}, "
            "crash-consistent), or set up the agent's quiesce hook so app-consistent points "
            "are made.",
        )
    return ErrorInfo(
        code="RecoveryPointNotFound",
        cause=f"The VM has no recovery point '{choice}' (it may have been pruned by retention).",
        recommendation="Choose 'latest', 'latestAppConsistent' or a point id listed in GET "
        f"/api/tenants/{{tenant}}/replicated-items/{{vm}} (newest: {newest.id}).",
    )


def vm_name(target_name: str, kind: FailoverType) -> str:
    """The Azure VM's name: the target name, or for a test failover the target name with
    `-test` (shortened first, so the suffix always fits)."""
    if kind is not FailoverType.TEST:
        return target_name[:VM_NAME_MAX]
    return target_name[: VM_NAME_MAX - len(TEST_SUFFIX)].rstrip("-") + TEST_SUFFIX


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]


def _resource_name(*parts: str, unique: str) -> str:
    """Azure-safe and at most 80 characters, ending with a hash of what makes it unique, so
    two different inputs never share a name even after cleaning and shortening."""
    cleaned = _NOT_IN_RESOURCE_NAME.sub("-", "-".join(parts)).strip("-._")
    room = RESOURCE_NAME_MAX - len(unique) - 1
    return f"{cleaned[:room].rstrip('-._')}-{unique}"


def disk_name(azure_vm_name: str, disk_id: str, point_id: str) -> str:
    """A managed disk per source disk and point: another point (a change of recovery point)
    is another disk; the same point again (a replay) is the same disk."""
    unique = _short_hash(azure_vm_name, disk_id, point_id)
    return _resource_name(azure_vm_name, disk_id, unique=unique)


def point_key(point_id: str) -> str:
    """A short, name-safe key of a recovery point (for the blob a point is copied to)."""
    return _short_hash(point_id)


def nic_name(azure_vm_name: str) -> str:
    return _resource_name(azure_vm_name, "nic", unique=_short_hash(azure_vm_name, "nic"))


def tags(*, tenant: str, vm: str, job_id: str, point_id: str, kind: FailoverType) -> dict[str, str]:
    """What every resource a failover makes carries (Azure tag values: at most 256 chars)."""
    purpose = "test-failover" if kind is FailoverType.TEST else "failover"
    values = {
        TAG_TENANT: tenant,
        TAG_VM: vm,
        TAG_JOB: job_id,
        TAG_POINT: point_id,
        TAG_PURPOSE: purpose,
    }
    return {name: value[:256] for name, value in values.items()}


def made_by(resource_tags: dict[str, str] | None, *, tenant: str, vm: str, job_id: str) -> bool:
    """Whether a resource was made by this job for this VM: cleanup deletes only these."""
    found = resource_tags or {}
    return (
        found.get(TAG_TENANT) == tenant
        and found.get(TAG_VM) == vm[:256]
        and found.get(TAG_JOB) == job_id[:256]
    )
