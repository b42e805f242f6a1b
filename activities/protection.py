"""Activities of the protect and unprotect operations: check the rules, enable, disable.

`evaluate_prerequisites` is also what the preflight API and VM-change re-checks call: one
implementation of "does this VM meet every rule", so the three can never disagree.

Enabling and disabling go through a `ProtectionProvider`, the interface that the `direct` and
`asr` providers implement; orchestrators never know which one runs (DESIGN.md). `direct` is
implemented; `asr` refuses with a clear error until its activities exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Protocol

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from pydantic import BaseModel

from contracts.api import DisableProtectionRequest, EnableProtectionRequest, ProtectionTarget
from core.clients import blob_service
from core.settings import MissingSetting, json_setting, setting
from domain import prerequisites
from domain.adapters import to_domain_vm, to_protection_request
from domain.errors import DomainError, ErrorInfo
from domain.model import HealthState
from domain.replication_state import IllegalTransition, is_protected
from readmodels.inventory import get_vm
from readmodels.items import get_item, update_item
from readmodels.points import delete_point, list_points
from readmodels.records import HealthView, ReplicaDisk, ReplicatedItem, VmRecord

bp = df.Blueprint()


class PrerequisiteInput(BaseModel):
    tenant: str
    vm: str
    request: EnableProtectionRequest


class DisableInput(BaseModel):
    tenant: str
    vm: str
    request: DisableProtectionRequest


PROFILE_SETTING = "PREREQUISITE_PROFILE"
TENANT_PROFILES_SETTING = "TENANT_PREREQUISITE_PROFILES"


def tenant_profile(tenant: str) -> str:
    """The prerequisite profile of a tenant: its own (TENANT_PREREQUISITE_PROFILES, a JSON
    object tenant -> profile) if configured, else PREREQUISITE_PROFILE, else asr-2026.
    A profile name that does not exist is a settings error naming the setting."""
    overrides = json_setting(TENANT_PROFILES_SETTING, {})
    default = setting(PROFILE_SETTING, prerequisites.DEFAULT_PROFILE)
    try:
        if not isinstance(overrides, dict):
            raise TypeError(f"{TENANT_PROFILES_SETTING} is not a JSON object.")
        return prerequisites.profile_for_tenant(tenant, overrides, default=default)
    except (prerequisites.UnknownProfile, TypeError) as wrong:
        why = wrong.errors[0].cause if isinstance(wrong, DomainError) else str(wrong)
        raise MissingSetting(
            ErrorInfo(
                code="SettingInvalid",
                cause=f"The prerequisite profile of tenant '{tenant}' is not valid: "
                f"{PROFILE_SETTING}={default!r}, {TENANT_PROFILES_SETTING}="
                f"{json.dumps(overrides)}. {why}",
                recommendation=f"Set {PROFILE_SETTING} to one of "
                f"{', '.join(prerequisites.PROFILES)}, and {TENANT_PROFILES_SETTING} to a JSON "
                'object of tenant to profile, e.g. {"legacy": "asr-2014"}.',
            )
        ) from wrong


def evaluate_prerequisites(tenant: str, record: VmRecord, request: EnableProtectionRequest) -> dict:
    """Every failing rule at once, with its fix and the source of its limit; changes nothing.

    `targetSize` is the size the VM would fail over as: the one asked for, else the smallest
    catalogue size that fits (None when none does; a failure then says why)."""
    profile = prerequisites.get_profile(tenant_profile(tenant))
    vm = to_domain_vm(record)
    wanted = to_protection_request(record, request)
    failures = prerequisites.evaluate(vm, wanted, profile)
    return {
        "vm": record.vm.id,
        "profile": profile.name,
        "provider": request.provider,
        "passed": not failures,
        "targetName": prerequisites.target_name(vm, wanted),
        "targetSize": prerequisites.target_size(vm, wanted),
        "failures": [f.to_report() for f in failures],
    }


def replica_container(tenant: str, vm: str) -> str:
    """One container per protected VM: `replica-<tenant>-<vm>`, lower case, ≤ 63 chars."""
    prefix = setting("REPLICA_CONTAINER_PREFIX", "replica")
    raw = f"{prefix}-{tenant}-{vm}".lower()
    cleaned = "".join(c if c.isalnum() else "-" for c in raw).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    if len(cleaned) > 63:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:10]
        cleaned = f"{cleaned[:52].rstrip('-')}-{digest}"
    return cleaned


def vm_gone(vm: str) -> dict:
    return ErrorInfo(
        code="VmNotFound",
        cause=f"VM '{vm}' is no longer in the inventory.",
        recommendation="Check that the VM still exists in its VMM cloud; the next inventory "
        "snapshot of the agent lists it again.",
    ).to_dict()


class StatusInput(BaseModel):
    tenant: str
    vm: str
    event: str  # a domain.replication_state.ReplicationEvent value


@bp.activity_trigger(input_name="payload")
def record_protection_event(payload: dict) -> list[dict]:
    """Move the VM's status through the state table (ProtectionRequested: ProtectionPending;
    PrerequisitesFailed / ProtectionFailed: back to NotProtected). A replay lands on the
    same status; an illegal move is returned as errors, not raised (no retry can fix it)."""
    change = StatusInput.model_validate(payload)

    def apply(item: ReplicatedItem) -> None:
        item.status = prerequisites.next_status(item.status, change.event)

    try:
        update_item(change.tenant, change.vm, apply)
    except IllegalTransition as illegal:
        return illegal.to_dicts()
    return []


@bp.activity_trigger(input_name="payload")
def check_prerequisites(payload: dict) -> list[dict]:
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    if record is None or not record.present:
        return [vm_gone(check.vm)]
    try:
        return evaluate_prerequisites(check.tenant, record, check.request)["failures"]
    except DomainError as refused:  # e.g. a bad profile setting: no retry fixes it
        return refused.to_dicts()


class ProviderNotAvailable(DomainError):
    status = 501


class ProtectionProvider(Protocol):
    """What a replication provider does to start and end the protection of one VM.

    Both calls are retried by the orchestration, so both must be idempotent."""

    name: str

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        """Prepare replication of every disk of the VM; the replica disks it will write."""
        ...

    def disable(self, tenant: str, vm: str, delete_replica: bool) -> None:
        """Stop protecting; with `delete_replica`, remove the replica and its points."""
        ...


class DirectProvider:
    """The agent writes page blobs that the control plane issues: one container per VM."""

    name = "direct"

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        container = replica_container(tenant, record.vm.id)
        with contextlib.suppress(ResourceExistsError):  # a retry: the container is ours already
            blob_service().create_container(container)
        return [
            ReplicaDisk(
                disk_id=disk.id,
                container=container,
                blob=f"{disk.id}.vhd",
                size=disk.size_bytes,
                source_path=disk.path,
            )
            for disk in record.vm.disks
        ]

    def disable(self, tenant: str, vm: str, delete_replica: bool) -> None:
        if not delete_replica:
            return
        with contextlib.suppress(ResourceNotFoundError):
            blob_service().delete_container(replica_container(tenant, vm))
        for point in list_points(tenant, vm):
            delete_point(point)


class AsrProvider:
    """Azure Site Recovery: not built yet; says so instead of pretending."""

    name = "asr"

    def _refuse(self) -> ProviderNotAvailable:
        return ProviderNotAvailable(
            ErrorInfo(
                code="ProviderNotAvailable",
                cause="The 'asr' provider (Azure Site Recovery) is not available in this "
                "release of the control plane.",
                recommendation="Enable protection with provider 'direct'; preflight with "
                "provider 'asr' still checks ASR's support matrix.",
            )
        )

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        raise self._refuse()

    def disable(self, tenant: str, vm: str, delete_replica: bool) -> None:
        raise self._refuse()


PROVIDERS: dict[str, ProtectionProvider] = {p.name: p for p in (DirectProvider(), AsrProvider())}


@bp.activity_trigger(input_name="payload")
def enable_protection(payload: dict) -> list[dict]:
    """Ask the VM's provider to enable protection, then write the protection record
    (status WaitingForInitialReplication). Idempotent. Returns the errors of a refusal."""
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    if record is None or not record.present:
        return [vm_gone(check.vm)]
    try:
        disks = PROVIDERS[check.request.provider].enable(check.tenant, record)
    except DomainError as refused:
        return refused.to_dicts()
    vm, wanted = to_domain_vm(record), to_protection_request(record, check.request)
    target = ProtectionTarget.model_validate(
        check.request.model_dump(include=set(ProtectionTarget.model_fields))
    ).model_copy(
        update={
            "target_name": prerequisites.target_name(vm, wanted),
            "target_size": prerequisites.target_size(vm, wanted),
        }
    )

    def protect(item: ReplicatedItem) -> None:
        item.status = prerequisites.next_status(item.status, "ProtectionEnabled")
        item.provider = check.request.provider
        item.policy = check.request.policy or "default"
        item.target = target
        item.replica_disks = disks
        item.health = HealthView()
        item.prerequisite_failures = []

    try:
        update_item(check.tenant, check.vm, protect)
    except IllegalTransition as illegal:
        return illegal.to_dicts()
    return []


@bp.activity_trigger(input_name="payload")
def disable_protection(payload: dict) -> list[dict]:
    """Back to NotProtected through the state table (refused during a failover); on request
    the replica and its recovery points go too. Returns the errors of a refusal."""
    disable = DisableInput.model_validate(payload)
    item = get_item(disable.tenant, disable.vm)
    if item is None:
        return []
    try:
        prerequisites.next_status(item.status, "ProtectionDisabled")
        PROVIDERS[item.provider or "direct"].disable(
            disable.tenant, disable.vm, disable.request.delete_replica
        )
    except DomainError as refused:
        return refused.to_dicts()

    def unprotect(item: ReplicatedItem) -> None:
        item.status = prerequisites.next_status(item.status, "ProtectionDisabled")
        item.progress = None
        item.health = HealthView()
        item.rpo_seconds = None
        item.prerequisite_failures = []
        if disable.request.delete_replica:
            item.replica_disks = []

    update_item(disable.tenant, disable.vm, unprotect)
    return []


def _state_of_others(item: ReplicatedItem, others: list[dict]) -> str:
    """The health that the reasons other than rules (RPO, heartbeat, stall) give on their own.

    Exact when no rule was broken before, or when the item is worse than its rules made it;
    otherwise Warning, the least those reasons mean, until replication's next health refresh
    (which merges the rules in) recomputes it exactly."""
    if not others:
        return HealthState.NORMAL.value
    before = HealthState(prerequisites.health_for(item.prerequisite_failures))
    current = HealthState(item.health.state)
    if not item.prerequisite_failures or current.severity > before.severity:
        return current.value
    return HealthState.WARNING.value


def recheck_protected_vm(tenant: str, vm: str) -> str | None:
    """After a VM changed: if it is protected, check every rule again. A rule it now breaks
    raises its health (Critical when replication cannot work, Warning when only failover
    would fail); the failures are kept on the item so later health refreshes keep them.
    Returns the new health state, None when the VM is not protected."""
    item = get_item(tenant, vm)
    record = get_vm(tenant, vm)
    if item is None or record is None or not is_protected(item.status):
        return None
    request = EnableProtectionRequest(
        provider=item.provider or "direct",
        policy=item.policy,
        **(item.target.model_dump() if item.target else {}),
    )
    failures = evaluate_prerequisites(tenant, record, request)["failures"]

    def apply(current: ReplicatedItem) -> None:
        others = [r for r in current.health.reasons if r.get("code") not in prerequisites.RULES]
        state = max(
            (_state_of_others(current, others), prerequisites.health_for(failures)),
            key=lambda s: HealthState(s).severity,
        )
        current.prerequisite_failures = failures
        current.health = HealthView(state=state, reasons=[*others, *failures])

    return update_item(tenant, vm, apply).health.state
