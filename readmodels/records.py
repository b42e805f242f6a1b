"""The rows people and runbooks read: VMs, replicated items, recovery points.

Jobs are `domain.jobs.Job`; statuses and health come from the domain so the read model can
never hold a state the state machine does not know.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from contracts.api import ProtectionTarget
from contracts.inventory import InventoryVm, VmmCloudRef


class View(BaseModel):
    """camelCase JSON like the rest of the API; unknown fields kept out."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


class VmRecord(View):
    tenant: str
    site: str
    cloud: VmmCloudRef
    vm: InventoryVm
    present: bool = True
    last_seen: datetime
    last_event_id: str | None = None


class HealthView(View):
    state: str = "Normal"
    reasons: list[dict] = Field(default_factory=list)


class ProgressView(View):
    command_id: str | None = None
    percent: float = 0
    bytes_done: int = 0
    bytes_total: int = 0
    throughput_bytes_per_s: float = 0
    eta_seconds: float | None = None
    updated: datetime | None = None


class ReplicaDisk(View):
    disk_id: str
    container: str
    blob: str
    size: int
    source_path: str


class ReplicatedItem(View):
    tenant: str
    vm: str
    vm_name: str
    site: str
    status: str
    health: HealthView = Field(default_factory=HealthView)
    provider: str | None = None
    policy: str | None = None
    target: ProtectionTarget | None = None
    replica_disks: list[ReplicaDisk] = Field(default_factory=list)
    # Rules a protected VM broke when it last changed (issue 4); part of its health.
    prerequisite_failures: list[dict] = Field(default_factory=list)
    active_job_id: str | None = None
    active_job_type: str | None = None
    progress: ProgressView | None = None
    command_id: str | None = None  # the replication command the agent is working on
    command_sent: datetime | None = None
    rpo_seconds: float | None = None
    last_sync: datetime | None = None
    last_recovery_point: datetime | None = None
    last_app_consistent_point: datetime | None = None
    consistency_note: str | None = None  # the latest point's note (RecoveryPoint.note)
    recovery_points: int = 0
    last_heartbeat: datetime | None = None
    updated: datetime | None = None


class RecoveryPoint(View):
    id: str
    tenant: str
    vm: str
    time: datetime
    consistency: str
    snapshots: dict[str, str] = Field(default_factory=dict)  # disk id -> blob snapshot id
    # The agent's word on the point's consistency: why it is not the app-consistent point the
    # policy asked for, or a quiesce that did not end cleanly.
    note: str | None = None
