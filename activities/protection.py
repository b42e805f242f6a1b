"""Activities of the protect and unprotect operations: move the status, check the rules,
enable, disable. Each answers a StepOutcome: a refusal's errors, or none.

What a rule check is and what a provider does live in the application layer
(`application.prerequisites`, `application.providers`), shared with preflight and re-checks.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.seams import StepOutcome, VmRef
from application.prerequisites import broken_rules, evaluate_prerequisites, vm_gone
from application.providers import PROVIDERS, tenant_provider
from contracts.api import DisableProtectionRequest, EnableProtectionRequest, ProtectionTarget
from domain import prerequisites
from domain.adapters import to_domain_vm, to_protection_request
from domain.errors import DomainError
from domain.replication_state import IllegalTransition, ReplicationEvent, next_status
from readmodels.inventory import get_vm
from readmodels.items import get_item, update_item
from readmodels.records import HealthRecord, ReplicatedItem

bp = df.Blueprint()


class PrerequisiteInput(VmRef):
    request: EnableProtectionRequest


class DisableInput(VmRef):
    request: DisableProtectionRequest


class ProtectionEventInput(VmRef):
    event: ReplicationEvent


@bp.activity_trigger(input_name="payload")
def record_protection_event(payload: dict) -> dict:
    """Move the VM's status through the state table (ProtectionRequested: ProtectionPending;
    PrerequisitesFailed / ProtectionFailed: back to NotProtected). A replay lands on the
    same status; an illegal move is returned as errors, not raised (no retry can fix it)."""
    change = ProtectionEventInput.model_validate(payload)

    def apply(item: ReplicatedItem) -> None:
        item.status = next_status(item.status, change.event)

    try:
        update_item(change.tenant, change.vm, apply)
    except IllegalTransition as illegal:
        return StepOutcome.refused(illegal).out()
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def check_prerequisites(payload: dict) -> dict:
    """Every rule the VM breaks, as the step's errors (the same check as preflight)."""
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    if record is None or not record.present:
        return StepOutcome.refused([vm_gone(check.vm)]).out()
    try:
        report = evaluate_prerequisites(check.tenant, record, check.request)
    except DomainError as refused:  # e.g. a bad profile setting: no retry fixes it
        return StepOutcome.refused(refused).out()
    return StepOutcome(errors=broken_rules(report)).out()


@bp.activity_trigger(input_name="payload")
def enable_protection(payload: dict) -> dict:
    """Ask the VM's provider to enable protection, then write the protection record
    (status WaitingForInitialReplication). Idempotent. Answers the errors of a refusal."""
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    if record is None or not record.present:
        return StepOutcome.refused([vm_gone(check.vm)]).out()
    try:
        provider = check.request.provider or tenant_provider(check.tenant)
        disks = PROVIDERS[provider].enable(check.tenant, record)
    except DomainError as refused:
        return StepOutcome.refused(refused).out()
    vm, wanted = to_domain_vm(record), to_protection_request(record, check.request)
    target = ProtectionTarget.of(
        check.request,
        target_name=prerequisites.target_name(vm, wanted),
        target_size=prerequisites.target_size(vm, wanted),
    )

    def protect(item: ReplicatedItem) -> None:
        item.status = next_status(item.status, ReplicationEvent.PROTECTION_ENABLED)
        item.provider = provider
        item.policy = check.request.policy or "default"
        item.target = target
        item.replica_disks = disks
        item.health = HealthRecord()
        item.prerequisite_failures = []

    try:
        update_item(check.tenant, check.vm, protect)
    except IllegalTransition as illegal:
        return StepOutcome.refused(illegal).out()
    return StepOutcome().out()


@bp.activity_trigger(input_name="payload")
def disable_protection(payload: dict) -> dict:
    """Back to NotProtected through the state table (refused during a failover); on request
    the replica and its recovery points go too. Answers the errors of a refusal."""
    disable = DisableInput.model_validate(payload)
    item = get_item(disable.tenant, disable.vm)
    if item is None:
        return StepOutcome().out()
    try:
        next_status(item.status, ReplicationEvent.PROTECTION_DISABLED)
        PROVIDERS[item.provider or "direct"].disable(item, disable.request.delete_replica)
    except DomainError as refused:
        return StepOutcome.refused(refused).out()

    def unprotect(item: ReplicatedItem) -> None:
        item.status = next_status(item.status, ReplicationEvent.PROTECTION_DISABLED)
        item.progress = None
        item.health = HealthRecord()
        item.rpo_seconds = None
        item.prerequisite_failures = []
        if disable.request.delete_replica:
            item.replica_disks = []

    update_item(disable.tenant, disable.vm, unprotect)
    return StepOutcome().out()
