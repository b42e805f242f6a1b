"""The rows the control plane stores: VMs, replicated items, recovery points.

They are storage, not the API: the runbook API answers with the views of `contracts.views`,
built from these rows, so a field can be kept here (a point still pending, the snapshots it
retired) without becoming part of the v1 contract. Jobs are `domain.jobs.Job`; statuses and
health states come from the domain so a row can never hold a state the domain does not know.
Rows are stored as snake_case JSON; a field a newer version wrote is ignored, not refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.api import ProtectionTarget
from contracts.errors import ErrorDetail
from contracts.inventory import InventoryVm, VmmCloudRef
from domain.errors import ErrorInfo
from domain.failover import FailoverState, FailoverType
from domain.jobs import JobType
from domain.model import HealthState
from domain.rpo import Finding


class VmRecord(BaseModel):
    tenant: str
    site: str
    cloud: VmmCloudRef
    vm: InventoryVm
    present: bool = True
    last_seen: datetime
    last_event_id: str | None = None


class Reason(BaseModel):
    """A reason of an item's health, with the state it brings (so a read can judge RPO and
    heartbeat again and keep the other reasons at their own weight)."""

    code: str
    cause: str
    recommendation: str
    source: str | None = None
    severity: HealthState = HealthState.CRITICAL

    def finding(self) -> Finding:
        return self.severity, ErrorInfo(self.code, self.cause, self.recommendation)


class HealthRecord(BaseModel):
    state: HealthState = HealthState.NORMAL
    reasons: list[Reason] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _reasons_of_older_rows(cls, data: Any) -> Any:
        """Rows written before reasons carried their state: each takes the record's state,
        the most it can have brought (the next refresh writes it exactly)."""
        if isinstance(data, dict) and data.get("reasons"):
            state = data.get("state", HealthState.CRITICAL)
            data = {
                **data,
                "reasons": [
                    {"severity": state, **r} if isinstance(r, dict) else r for r in data["reasons"]
                ],
            }
        return data

    @classmethod
    def of(cls, findings: tuple[Finding, ...] | list[Finding], state: HealthState) -> HealthRecord:
        return cls(
            state=state,
            reasons=[Reason(severity=severity, **error.to_dict()) for severity, error in findings],
        )

    def findings(self) -> list[Finding]:
        return [reason.finding() for reason in self.reasons]


class ProgressRecord(BaseModel):
    command_id: str | None = None  # the command this progress is of
    percent: float = 0
    bytes_done: int = 0
    bytes_total: int = 0
    throughput_bytes_per_s: float = 0
    eta_seconds: float | None = None
    updated: datetime | None = None


class ReplicaDisk(BaseModel):
    disk_id: str
    container: str
    blob: str
    size: int
    source_path: str


class FailoverDisk(BaseModel):
    disk_id: str  # the source disk
    managed_disk_id: str  # the ARM id of the managed disk made from the point


class FailoverRecord(BaseModel):
    """The failover a VM is in (or committed): the point it started from (pinned against
    retention while this record names it) and what it made in Azure. `job_id` is the failover
    job's, tagged on everything made, so cleanup and cancel find exactly that."""

    job_id: str
    type: FailoverType
    state: FailoverState = FailoverState.IN_PROGRESS
    recovery_point_id: str | None = None
    recovery_point_time: datetime | None = None
    vm_id: str | None = None
    vm_name: str | None = None
    vm_size: str | None = None
    disks: list[FailoverDisk] = Field(default_factory=list)
    started: datetime | None = None


class AsrLocation(BaseModel):
    """Where Site Recovery keeps a VM (provider asr): the fabric (VMM server), the container
    (cloud), the protectable and protected item's name (the VM's id in VMM). Finding it lists
    the vault's fabrics, a fabric's clouds and a cloud's VMs; remembered on the replicated
    item once found, a look at the VM is one ARM read instead of four."""

    model_config = ConfigDict(frozen=True)

    fabric: str
    container: str
    item: str
    protectable_id: str


class ReplicatedItem(BaseModel):
    tenant: str
    vm: str
    vm_name: str
    site: str
    status: str  # a domain.replication_state.ReplicationStatus value
    health: HealthRecord = Field(default_factory=HealthRecord)
    provider: str | None = None
    policy: str | None = None
    target: ProtectionTarget | None = None
    replica_disks: list[ReplicaDisk] = Field(default_factory=list)
    # Rules a protected VM broke when it last changed; they are part of its health.
    prerequisite_failures: list[ErrorDetail] = Field(default_factory=list)
    active_job_id: str | None = None  # the operation lock: the one job that may run
    active_job_type: JobType | None = None
    progress: ProgressRecord | None = None
    rpo_seconds: float | None = None
    last_sync: datetime | None = None
    last_recovery_point: datetime | None = None
    last_app_consistent_point: datetime | None = None
    consistency_note: str | None = None  # the latest point's note (RecoveryPoint.note)
    recovery_points: int = 0
    last_heartbeat: datetime | None = None
    failover: FailoverRecord | None = None
    asr_place: AsrLocation | None = None  # provider asr: where ASR keeps it, once found
    # The watchdog's restarts of a dead delta loop: when it last did, and how many times in a
    # row (domain.watchdog.restart_due backs off on them).
    loop_restarted: datetime | None = None
    loop_restarts: int = 0
    updated: datetime | None = None

    @property
    def pinned_points(self) -> set[str]:
        """Points retention must keep: the one a failover (test or not) uses."""
        if self.failover is None or self.failover.recovery_point_id is None:
            return set()
        return {self.failover.recovery_point_id}


class RecoveryPoint(BaseModel):
    id: str
    tenant: str
    vm: str
    time: datetime
    consistency: str
    snapshots: dict[str, str] = Field(default_factory=dict)  # disk id -> blob snapshot id
    # The agent's word on the point's consistency: why it is not the app-consistent point the
    # policy asked for, or a quiesce that did not end cleanly.
    note: str | None = None
    # Written before its snapshots are taken (readmodels.points): not a point yet.
    pending: bool = False
    # Snapshots of the points pruned when this one was recorded (disk id -> snapshot ids):
    # their rows go in the same transaction as this row, their snapshots right after, and a
    # rerun after a crash in between deletes them again from here.
    retired: dict[str, list[str]] = Field(default_factory=dict)
