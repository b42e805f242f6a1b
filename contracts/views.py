"""What the runbook API answers (v1): views of the stored rows, apart from the rows.

A row keeps what the control plane needs to work (the command the replication loop waits for,
the rules a VM broke, when a command was sent); a view shows what a runbook reads. So a field
can be added to a row without becoming part of the contract, and a field of the contract is
never dropped by a change of storage: extend, do not break. Views are built with
`WireModel.of(row, ...)`, which reads the fields the view declares and leaves the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.api import ProtectionTarget
from contracts.base import WireModel
from contracts.commands import BandwidthCommand
from contracts.errors import ErrorDetail
from contracts.inventory import InventoryVm, VmmCloudRef
from domain.autofailover import Evidence, RuleSpec
from domain.failover import FailoverState, FailoverType
from domain.jobs import JobState, JobType, StartedBy
from domain.model import HealthState
from domain.replication_state import Operation, ReplicationStatus

Provider = Literal["direct", "asr"]


class HealthView(WireModel):
    state: HealthState = Field(description="Normal, Warning or Critical, as of the request.")
    reasons: list[ErrorDetail] = Field(
        default_factory=list, description="Every reason, with its cause and fix."
    )


class ProgressView(WireModel):
    """Of the running (or the last) replication command."""

    percent: float = 0
    bytes_done: int = 0
    bytes_total: int = 0
    throughput_bytes_per_s: float = 0
    eta_seconds: float | None = None
    updated: datetime | None = None


class ReplicaDiskView(WireModel):
    disk_id: str
    container: str
    blob: str
    size: int = Field(description="The source disk's virtual size in bytes.")
    source_path: str


class RecoveryPointView(WireModel):
    id: str
    tenant: str
    vm: str
    time: datetime
    consistency: Literal["crash", "app"]
    snapshots: dict[str, str] = Field(
        default_factory=dict, description="Disk id to the blob snapshot holding it."
    )
    note: str | None = Field(
        default=None,
        description="The agent's word on the point's consistency, e.g. why it is not the "
        "app-consistent point the policy asked for.",
    )


class FailoverDiskView(WireModel):
    disk_id: str = Field(description="The source disk.")
    managed_disk_id: str = Field(description="ARM id of the managed disk made from the point.")


class FailoverView(WireModel):
    """The failover the VM is in (or committed) and the Azure VM it made."""

    job_id: str = Field(description="The failover's job; everything it made is tagged with it.")
    type: FailoverType
    state: FailoverState
    recovery_point_id: str | None = Field(
        default=None, description="The point the VM was made from (kept from pruning)."
    )
    recovery_point_time: datetime | None = None
    vm_id: str | None = Field(default=None, description="ARM id of the Azure VM.")
    vm_name: str | None = None
    vm_size: str | None = None
    disks: list[FailoverDiskView] = Field(default_factory=list)


class ReplicatedItemView(WireModel):
    """A protected VM and its replication (GET .../replicated-items)."""

    tenant: str
    vm: str
    vm_name: str
    site: str
    status: ReplicationStatus
    health: HealthView = Field(default_factory=HealthView)
    provider: Provider | None = None
    policy: str | None = None
    target: ProtectionTarget | None = None
    replica_disks: list[ReplicaDiskView] = Field(default_factory=list)
    active_job_id: str | None = Field(default=None, description="The operation running now.")
    active_job_type: JobType | None = None
    progress: ProgressView | None = None
    rpo_seconds: float | None = Field(
        default=None, description="Age of the latest recovery point as of the request."
    )
    last_sync: datetime | None = None
    last_recovery_point: datetime | None = None
    last_app_consistent_point: datetime | None = None
    consistency_note: str | None = None
    recovery_points: int = Field(default=0, description="How many recovery points are kept.")
    last_heartbeat: datetime | None = Field(
        default=None, description="When the site's agent was last heard from."
    )
    allowed_operations: list[Operation] = Field(
        default_factory=list,
        description="What may be asked of the VM now, by ASR's names (none while a job runs).",
    )
    failover: FailoverView | None = None
    updated: datetime | None = None


class ReplicatedItemDetail(ReplicatedItemView):
    """One replicated item with its recovery points, newest first."""

    recovery_points: list[RecoveryPointView] = Field(default_factory=list)


class VmView(WireModel):
    """A discovered VM with its protection (GET .../vms)."""

    tenant: str
    site: str
    cloud: VmmCloudRef
    vm: InventoryVm
    present: bool = Field(description="False once an inventory snapshot no longer lists it.")
    last_seen: datetime
    last_event_id: str | None = None
    protection_status: ReplicationStatus = Field(
        description="NotProtected, or the replication status."
    )
    health: HealthView | None = None
    active_job_id: str | None = None


class JobStepView(WireModel):
    name: str
    state: JobState
    start_time: datetime
    end_time: datetime | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)


class JobView(WireModel):
    """An operation, like ASR's jobs page: steps, state, errors with their fix."""

    id: str
    tenant: str
    type: JobType
    target: str = Field(description="The VM (or recovery plan) the job acts on.")
    started_by: StartedBy
    requested_by: str | None = Field(
        default=None,
        description="Who asked: 'key sha256:<12 hex>', the prefix of the SHA-256 of the key "
        "(as in TENANT_KEY_HASHES; never the key), 'entra:<name>' for the operator signed in "
        "to the console, or 'agent <site>'.",
    )
    state: JobState
    start_time: datetime
    end_time: datetime | None = None
    steps: list[JobStepView] = Field(default_factory=list)
    errors: list[ErrorDetail] = Field(default_factory=list)
    evidence: Evidence | None = Field(
        default=None,
        description="An auto-failover decision's evidence: the alerts, the heartbeat age, the "
        "RPO, every safeguard checked and which one held.",
    )


class JobAccepted(JobView):
    """The job of an operation that was started (or was already running: created false)."""

    created: bool
    href: str = Field(description="GET this URL to follow the job.")


class RuleFailureView(WireModel):
    """A broken prerequisite: the team's error shape plus where its limit comes from."""

    code: str = Field(description="Stable rule code, e.g. OsDiskTooLarge.")
    cause: str
    recommendation: str
    source: str = Field(description="The support matrix (and section) the limit comes from.")


class PreflightReport(WireModel):
    """What POST .../preflight answers; nothing was changed."""

    vm: str
    profile: str = Field(description="Prerequisite profile of the tenant, e.g. asr-2026.")
    provider: Provider
    passed: bool
    target_name: str
    target_size: str | None = Field(
        description="The size asked for, else the smallest catalogue size that fits; "
        "null when none fits."
    )
    failures: list[RuleFailureView]


class DependencyHealth(WireModel):
    status: Literal["ok", "unavailable"]
    latency_ms: float | None = None
    error: str | None = None


class HealthReport(WireModel):
    status: Literal["ok", "degraded"]
    dependencies: dict[str, DependencyHealth]


class SiteBandwidthView(WireModel):
    """A site's bandwidth setting and whether its agent applied it."""

    tenant: str
    site: str
    setting: BandwidthCommand
    command_id: str = Field(description="The bandwidth command sent to the site's agent.")
    requested: datetime
    applied: datetime | None = Field(
        default=None, description="When the agent said the cap is in force (null: not yet)."
    )
    refused: bool = Field(default=False, description="The agent refused it (see agentDetail).")
    agent_detail: str | None = None


class AutoFailoverRuleView(RuleSpec):
    """An auto-failover rule as kept, with the decision it has under way."""

    tenant: str
    name: str
    updated: datetime | None = None
    pending_job: str | None = Field(
        default=None, description="The rule's decision under way (a job id), if any."
    )
