"""Recovery plans and their drills in Table Storage.

A plan's row is also the plan's operation lock: `active_job_id` names the one plan operation
that may run, claimed with an ETag condition as a VM's item is (two requests at once get one
job). A drill's row is its report, written as the drill goes; its row key is the drill's job
id (newest first), with the plan and the state as columns to filter on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from contracts.errors import ErrorDetail
from domain.errors import ErrorInfo
from domain.jobs import Job, JobType, StartedBy, fail_job
from domain.plans import DrillState, RecoveryPlan
from readmodels.jobs import create_job, get_job, save_job
from readmodels.tables import ConcurrentUpdate, ModelTable

LOST_RACE = ErrorInfo(
    code="OperationSuperseded",
    cause="Another request started an operation on this recovery plan at the same moment.",
    recommendation="Follow the other request's job; nothing was changed by this one.",
)


class PlanRecord(BaseModel):
    tenant: str
    plan: RecoveryPlan
    created: datetime
    updated: datetime
    active_job_id: str | None = None  # the plan operation running now
    active_job_type: JobType | None = None


PLANS = ModelTable("RecoveryPlans", PlanRecord)


def _columns(record: PlanRecord) -> dict:
    return {"Scheduled": record.plan.drill_schedule is not None}


def get_plan(tenant: str, name: str) -> PlanRecord | None:
    row = PLANS.get(tenant, name)
    return row.model if row else None


def put_plan(tenant: str, plan: RecoveryPlan, now: datetime) -> tuple[PlanRecord, bool]:
    """Store the plan's definition (a job running keeps the definition it started with);
    (record, created). The lock and the creation time stay as they are."""
    for _ in range(20):
        row = PLANS.get(tenant, plan.name)
        if row is None:
            record = PlanRecord(tenant=tenant, plan=plan, created=now, updated=now)
        else:
            record = row.model.model_copy(update={"plan": plan, "updated": now})
        try:
            PLANS.replace(tenant, plan.name, record, row.etag if row else None, **_columns(record))
            return record, row is None
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"recovery plan {tenant}/{plan.name} kept changing")


def delete_plan(tenant: str, name: str) -> None:
    PLANS.delete(tenant, name)


def page_plans(tenant: str, top: int, token: dict | None) -> tuple[list[PlanRecord], dict | None]:
    return PLANS.page(tenant, top, token)


def scheduled_plans() -> Iterator[PlanRecord]:
    """Every tenant's plans that have a drill schedule (one query across partitions)."""
    for entity in PLANS.client().query_entities("Scheduled eq true"):
        yield PlanRecord.model_validate_json(entity["Json"])


def claim_plan(
    tenant: str, name: str, job_type: JobType, started_by: StartedBy
) -> tuple[Job, bool]:
    """The plan's running job if one is active, else a new job (target: the plan) that now
    holds the plan's lock. (job, created)."""
    for _ in range(20):
        row = PLANS.get(tenant, name)
        if row is None:
            raise LookupError(f"no recovery plan {tenant}/{name}")
        record = row.model
        if record.active_job_id:
            active = get_job(tenant, record.active_job_id)
            if active is not None and not active.finished:
                return active, False
        job = create_job(tenant, job_type, name, started_by)
        claimed = record.model_copy(update={"active_job_id": job.id, "active_job_type": job_type})
        try:
            PLANS.replace(tenant, name, claimed, row.etag, **_columns(claimed))
            return job, True
        except ConcurrentUpdate:
            save_job(fail_job(job, datetime.now(UTC), [LOST_RACE]))
    raise ConcurrentUpdate(f"could not claim recovery plan {tenant}/{name}")


def release_plan(tenant: str, name: str, job_id: str) -> None:
    """Free the plan's lock if this job holds it (idempotent; a deleted plan is fine)."""
    for _ in range(20):
        row = PLANS.get(tenant, name)
        if row is None or row.model.active_job_id != job_id:
            return
        freed = row.model.model_copy(update={"active_job_id": None, "active_job_type": None})
        try:
            PLANS.replace(tenant, name, freed, row.etag, **_columns(freed))
            return
        except ConcurrentUpdate:
            continue


# --- drills ----------------------------------------------------------------------------------


class DiskProof(BaseModel):
    """One failed-over disk read through grant access and its point's snapshot, both hashed."""

    disk_id: str
    managed_disk_id: str
    bytes: int
    sha256: str
    point_bytes: int
    point_sha256: str

    @property
    def identical(self) -> bool:
        return self.bytes == self.point_bytes and self.sha256 == self.point_sha256


class DrillVm(BaseModel):
    vm: str
    group: int
    job_id: str | None = None  # the VM's test failover job
    recovery_point_id: str | None = None
    recovery_point_time: datetime | None = None
    rpo_seconds: float | None = None
    vm_id: str | None = None
    vm_name: str | None = None
    vm_created: datetime | None = None
    rto_seconds: float | None = None
    disks: list[DiskProof] = Field(default_factory=list)
    errors: list[ErrorDetail] = Field(default_factory=list)


class DrillCleanup(BaseModel):
    confirmed: bool
    leftovers: list[str] = Field(default_factory=list)
    finished: datetime | None = None


class DrillRecord(BaseModel):
    id: str  # the drill's job id
    tenant: str
    plan: str
    state: DrillState = DrillState.IN_PROGRESS
    started_by: StartedBy
    requested: datetime
    finished: datetime | None = None
    recovery_point: str = "latest"
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    vms: list[DrillVm] = Field(default_factory=list)
    cleanup: DrillCleanup | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)


DRILLS = ModelTable("Drills", DrillRecord)


def save_drill(drill: DrillRecord) -> None:
    DRILLS.upsert(drill.tenant, drill.id, drill, Plan=drill.plan, State=drill.state.value)


def get_drill(tenant: str, drill_id: str) -> DrillRecord | None:
    row = DRILLS.get(tenant, drill_id)
    return row.model if row else None


def page_drills(
    tenant: str, plan: str, top: int, token: dict | None
) -> tuple[list[DrillRecord], dict | None]:
    return DRILLS.page(tenant, top, token, "Plan eq @plan", {"plan": plan})


def _drills(tenant: str, plan: str, state: DrillState | None = None) -> Iterator[DrillRecord]:
    """The plan's drills, newest first."""
    query = "PartitionKey eq @pk and Plan eq @plan"
    params = {"pk": tenant, "plan": plan}
    if state is not None:
        query += " and State eq @state"
        params["state"] = state.value
    for entity in DRILLS.client().query_entities(query, parameters=params):
        yield DrillRecord.model_validate_json(entity["Json"])


def last_drill(tenant: str, plan: str) -> DrillRecord | None:
    return next(_drills(tenant, plan), None)


def last_passed_drill(tenant: str, plan: str) -> DrillRecord | None:
    return next(_drills(tenant, plan, DrillState.PASSED), None)
