"""The `asr` provider's replication step: one look at Site Recovery, moving it forward.

Each call sets up what is missing (policy, cloud mapping, protected item; started, never
waited for), mirrors the ASR job under way into our job (its tasks as steps, its
`serviceErrorDetails` as errors) and copies the protected item's state into ours: status,
initial replication progress, RPO, health reasons. The orchestration calls it again after a
durable timer. Refusals come back as errors; anything else raises for the retry policy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import azure.durable_functions as df

from activities.seams import StepOutcome, VmRef
from application import asr_mapping as mapping
from application import asr_protection as asr
from application.asr_jobs import mirror_job
from application.health import policy_of
from application.prerequisites import vm_gone
from domain import jobs as job_rules
from domain.errors import DomainError
from domain.model import HealthState
from domain.replication_state import IllegalTransition, ReplicationEvent, next_status
from domain.replication_state import ReplicationStatus as S
from readmodels import jobs
from readmodels.inventory import get_vm
from readmodels.items import require_item_row, update_item
from readmodels.records import HealthRecord, ProgressRecord, Reason, ReplicatedItem

bp = df.Blueprint()
E = ReplicationEvent


class AsrPhase(StrEnum):
    CONFIGURING = "configuring"  # policy and cloud mapping
    ENABLING = "enabling"  # the ASR enable job runs
    INITIAL = "initial"  # initial replication
    PROTECTED = "protected"
    GONE = "gone"  # ASR no longer has the item (disabled)


class AsrStepInput(VmRef):
    job_id: str | None = None  # our job that mirrors ASR's (None once initial replication ended)
    asr_job: str | None = None  # the ASR job to mirror (its name)


class AsrStepped(StepOutcome):
    phase: AsrPhase = AsrPhase.CONFIGURING
    asr_job: str | None = None


def _step(tenant: str, job_id: str | None, name: str, finished: bool = False) -> None:
    if job_id is None:
        return
    job = jobs.get_job(tenant, job_id)
    if job is None or job.finished:
        return
    now = datetime.now(UTC)
    if finished:
        if not any(s.name == name for s in job.steps):
            return
        updated = job_rules.finish_step(job, name, now)
    else:
        updated = job_rules.start_step(job, name, now)
    if updated != job:
        jobs.save_job(updated)


_ENABLING = (S.WAITING_FOR_INITIAL_REPLICATION, S.INITIAL_REPLICATION_IN_PROGRESS)


def copy_state(tenant: str, vm: str, state: mapping.ItemState, place: asr.AsrLocation) -> None:
    """The ASR item's state on ours: status through the state table, progress, RPO, health;
    and where ASR keeps it, so that the next look need not find it again."""
    now = datetime.now(UTC)

    def apply(item: ReplicatedItem) -> None:
        item.asr_place = place
        wanted = state.status
        if item.status in _ENABLING:  # failover statuses are the failover's to move
            if wanted in (S.INITIAL_REPLICATION_IN_PROGRESS, S.PROTECTED):
                item.status = next_status(item.status, E.INITIAL_REPLICATION_STARTED)
            if wanted is S.PROTECTED:
                item.status = next_status(item.status, E.INITIAL_REPLICATION_COMPLETED)
        if state.progress_percent is not None and wanted is not S.PROTECTED:
            item.progress = ProgressRecord(percent=state.progress_percent, updated=now)
        elif wanted is S.PROTECTED:
            item.progress = None
        item.rpo_seconds = state.rpo_seconds
        if state.last_replicated:
            item.last_sync = item.last_recovery_point = state.last_replicated
        reasons = [
            Reason(
                code=r.code,
                cause=r.cause,
                recommendation=r.recommendation,
                source="Azure Site Recovery",
                severity=r.severity,
            )
            for r in state.reasons
        ]
        worst = max((r.severity for r in reasons), key=_weight, default=HealthState.NORMAL)
        item.health = HealthRecord(state=worst, reasons=reasons)

    update_item(tenant, vm, apply)


def _weight(state: HealthState) -> int:
    return {HealthState.NORMAL: 0, HealthState.WARNING: 1}.get(state, 2)


@bp.activity_trigger(input_name="payload")
def asr_replication_step(payload: dict) -> dict:
    step = AsrStepInput.model_validate(payload)
    item = require_item_row(step.tenant, step.vm).model
    record = get_vm(step.tenant, step.vm)
    if record is None:
        return AsrStepped.refused([vm_gone(step.vm)]).out()
    try:
        location = asr.place_of(record, item)
        policy = policy_of(item)
    except DomainError as refused:
        return AsrStepped.refused(refused).out()

    if step.asr_job:  # the job started last time: mirror it until it ends
        state = mirror_job(step.tenant, step.job_id, step.asr_job)
        if not state.done:
            return AsrStepped(phase=AsrPhase.ENABLING, asr_job=step.asr_job).out()
        if not state.succeeded:
            return AsrStepped(phase=AsrPhase.ENABLING, errors=list(state.errors)).out()

    # Once enabled, a look is one read of the protected item (at its remembered place).
    found = asr.protected_item(location)
    if found is None and item.asr_place is not None:  # not there any more: look it up again
        try:
            location = asr.locate(record)
        except DomainError as refused:
            return AsrStepped.refused(refused).out()
        found = asr.protected_item(location)
    if found is None:
        configured = asr.ensure_configured(location, policy)
        if configured.errors:
            return AsrStepped(errors=configured.errors).out()
        if not configured.done:
            _step(step.tenant, step.job_id, configured.step)
            return AsrStepped(phase=AsrPhase.CONFIGURING, asr_job=configured.job).out()
        for name in ("Create replication policy", "Associate replication policy with the cloud"):
            _step(step.tenant, step.job_id, name, finished=True)
        body = asr.enable_input(record, location, policy, item.target)
        enabled = asr.ensure_enabled(location, body)
        if enabled.errors:
            return AsrStepped(errors=enabled.errors).out()
        if not enabled.done:
            return AsrStepped(phase=AsrPhase.ENABLING, asr_job=enabled.job).out()
        found = asr.protected_item(location)
        if found is None:
            return AsrStepped(phase=AsrPhase.GONE).out()
    state = mapping.item_state(found)
    if state.current_job and step.job_id and state.status is not S.PROTECTED:
        mirror_job(step.tenant, step.job_id, state.current_job.rsplit("/", 1)[-1])
    try:
        copy_state(step.tenant, step.vm, state, location)
    except IllegalTransition as illegal:  # e.g. disabled meanwhile
        return AsrStepped.refused(illegal).out()
    if state.status is S.PROTECTED:
        return AsrStepped(phase=AsrPhase.PROTECTED).out()
    if state.status in (S.INITIAL_REPLICATION_IN_PROGRESS, S.WAITING_FOR_INITIAL_REPLICATION):
        _step(step.tenant, step.job_id, "Initial replication")
        return AsrStepped(phase=AsrPhase.INITIAL).out()
    return AsrStepped(phase=AsrPhase.PROTECTED).out()
