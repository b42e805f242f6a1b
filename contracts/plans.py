"""Recovery plans and drills on the runbook API (v1): the plan's body, its view and the drill
report.

The plan's fields are `domain.plans.RecoveryPlan`'s, in camelCase: a body is checked here
field by field (400 InvalidField) and by the domain as a whole (400 RecoveryPlanInvalid,
every reason at once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import WireModel
from contracts.errors import ErrorDetail
from contracts.views import HealthView
from domain.failover import FailoverType
from domain.jobs import StartedBy
from domain.plans import ALL_TYPES, DrillState, OnFailure, OnTimeout
from domain.replication_state import Operation

FailoverTypes = Field(
    default_factory=lambda: list(ALL_TYPES),
    max_length=3,
    description="The failover types the action runs for (a drill is a test failover).",
)


class ManualActionBody(WireModel):
    """A person approves (POST .../jobs/{job}/approve) or rejects before the plan goes on."""

    kind: Literal["manual"]
    name: str = Field(min_length=1, max_length=80)
    instructions: str = Field(default="", max_length=2000, description="What to check.")
    timeout_seconds: int = Field(
        default=3600, ge=1, le=604800, description="How long the plan waits for an answer."
    )
    on_timeout: OnTimeout = Field(
        default=OnTimeout.ABANDON,
        description="proceed: go on as if approved; abandon: stop the plan (job Failed).",
    )
    failover_types: list[FailoverType] = FailoverTypes


class RunbookActionBody(WireModel):
    """An HTTPS POST of the plan's context to the operator's runbook (e.g. an Azure
    Automation webhook); a 2xx answer within the timeout is success."""

    kind: Literal["runbook"]
    name: str = Field(min_length=1, max_length=80)
    url: str = Field(
        min_length=9,
        max_length=2048,
        description="https:// only. Operator data: it may carry the webhook's token; it is "
        "sent the plan's context and nothing else (never a key of this API).",
    )
    timeout_seconds: int = Field(default=60, ge=1, le=600)
    on_failure: OnFailure = Field(
        default=OnFailure.STOP,
        description="stop: the plan stops (job Failed); continue: the plan goes on (the step "
        "and the job still show the failure).",
    )
    failover_types: list[FailoverType] = FailoverTypes


PlanAction = Annotated[ManualActionBody | RunbookActionBody, Field(discriminator="kind")]


class PlanGroupBody(WireModel):
    vms: list[str] = Field(
        min_length=1,
        max_length=100,
        description="VM ids (as in GET .../vms), failed over in parallel.",
    )
    pre_actions: list[PlanAction] = Field(default_factory=list, max_length=10)
    post_actions: list[PlanAction] = Field(default_factory=list, max_length=10)


class DrillScheduleBody(WireModel):
    every_hours: int = Field(ge=1, le=8760, description="A drill every so many hours.")
    start_at: AwareDatetime = Field(description="The first drill; then every everyHours.")


class RecoveryPlanRequest(WireModel):
    """PUT .../recovery-plans/{plan}: groups in failover order (at most 100 VMs in all)."""

    description: str = Field(default="", max_length=1000)
    groups: list[PlanGroupBody] = Field(min_length=1, max_length=100)
    stop_on_vm_failure: bool = Field(
        default=False,
        description="false: a VM that fails does not stop the others or the next groups; "
        "true: the plan stops after the group in which a VM failed.",
    )
    drill_schedule: DrillScheduleBody | None = None


class PlanVmView(WireModel):
    vm: str
    group: int
    status: str = Field(description="The replication status now (NotProtected if never).")
    allowed_operations: list[Operation] = Field(default_factory=list)
    active_job_id: str | None = None


class DrillSummaryView(WireModel):
    id: str = Field(description="The drill's job id; GET .../drills/{id} for its report.")
    state: DrillState
    requested: datetime
    finished: datetime | None = None


class RecoveryPlanView(RecoveryPlanRequest):
    """A plan, its VMs as they are now, its drills and its health (the drill policy)."""

    tenant: str
    name: str
    vms: list[PlanVmView] = Field(default_factory=list)
    health: HealthView = Field(
        description="Warning when the last passed drill is older than the drill policy "
        "(DRILL_MAX_AGE_DAYS) or there is none."
    )
    last_drill: DrillSummaryView | None = None
    last_passed_drill: DrillSummaryView | None = None
    next_drill: datetime | None = Field(
        default=None, description="When the schedule starts the next drill."
    )
    active_job_id: str | None = Field(default=None, description="The plan operation running.")
    created: datetime
    updated: datetime


class DiskProofView(WireModel):
    disk_id: str = Field(description="The source disk.")
    managed_disk_id: str = Field(description="The failed-over managed disk (ARM id).")
    bytes: int = Field(description="Bytes read from the managed disk through grant access.")
    sha256: str
    point_bytes: int = Field(description="Bytes of the recovery point's snapshot.")
    point_sha256: str
    identical: bool


class DrillVmView(WireModel):
    vm: str
    group: int
    job_id: str | None = Field(default=None, description="The VM's test failover job.")
    recovery_point_id: str | None = None
    recovery_point_time: datetime | None = None
    rpo_seconds: float | None = Field(
        default=None,
        description="The VM's failover start minus its point's time: the writes the point lacks.",
    )
    vm_id: str | None = Field(default=None, description="ARM id of the test VM.")
    vm_name: str | None = None
    vm_created: datetime | None = None
    rto_seconds: float | None = Field(
        default=None, description="From the drill's request to this VM created."
    )
    disks: list[DiskProofView] = Field(default_factory=list)
    errors: list[ErrorDetail] = Field(default_factory=list)


class DrillCleanupView(WireModel):
    confirmed: bool = Field(description="Nothing the drill made is left, and every VM is back.")
    leftovers: list[str] = Field(default_factory=list, description="What is left, by ARM id.")
    finished: datetime | None = None


class DrillReportView(WireModel):
    """A drill: the plan failed over for a test, every disk proven, cleaned up."""

    id: str
    tenant: str
    plan: str
    state: DrillState
    started_by: StartedBy
    requested: datetime
    finished: datetime | None = None
    recovery_point: str = "latest"
    rto_seconds: float | None = Field(
        default=None, description="Request to the last VM created: the plan's measured RTO."
    )
    rpo_seconds: float | None = Field(default=None, description="The largest RPO of its VMs.")
    vms: list[DrillVmView] = Field(default_factory=list)
    cleanup: DrillCleanupView | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)
    report: str = Field(description="The report as an HTML page (same key).")
