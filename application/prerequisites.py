"""Does this VM meet every rule: for preflight, for the protect operation, and again for a
protected VM whenever the agent reports it changed. One implementation, so the three can
never disagree.
"""

from __future__ import annotations

import json

from application.providers import tenant_provider
from azureclients.settings import MissingSetting, json_setting, setting
from contracts.api import EnableProtectionRequest
from contracts.errors import ErrorDetail
from contracts.views import PreflightReport, RuleFailureView
from domain import prerequisites
from domain.adapters import to_domain_vm, to_protection_request
from domain.errors import DomainError, ErrorInfo
from domain.model import Health, HealthState
from domain.replication_state import is_protected
from readmodels.inventory import get_vm
from readmodels.items import get_item, update_item
from readmodels.records import HealthRecord, Reason, ReplicatedItem, VmRecord

DISK_NOT_REPLICATED = "DiskNotReplicated"
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


def evaluate_prerequisites(
    tenant: str, record: VmRecord, request: EnableProtectionRequest
) -> PreflightReport:
    """Every failing rule at once, with its fix and the source of its limit; changes nothing.

    `target_size` is the size the VM would fail over as: the one asked for, else the smallest
    catalogue size that fits (None when none does; a failure then says why)."""
    profile = prerequisites.get_profile(tenant_profile(tenant))
    if request.provider is None:
        request = request.model_copy(update={"provider": tenant_provider(tenant)})
    vm = to_domain_vm(record)
    wanted = to_protection_request(record, request)
    failures = prerequisites.evaluate(vm, wanted, profile)
    return PreflightReport(
        vm=record.vm.id,
        profile=profile.name,
        provider=request.provider,
        passed=not failures,
        target_name=prerequisites.target_name(vm, wanted),
        target_size=prerequisites.target_size(vm, wanted),
        failures=[RuleFailureView.model_validate(f.to_report()) for f in failures],
    )


def broken_rules(report: PreflightReport) -> list[ErrorDetail]:
    """The report's failures in the team's error shape, each with its source."""
    return [ErrorDetail.of(failure) for failure in report.failures]


def vm_gone(vm: str) -> ErrorDetail:
    return ErrorDetail(
        code="VmNotFound",
        cause=f"VM '{vm}' is no longer in the inventory.",
        recommendation="Check that the VM still exists in its VMM cloud; the next inventory "
        "snapshot of the agent lists it again.",
    )


def unreplicated_disks(item: ReplicatedItem, record: VmRecord) -> list[ErrorDetail]:
    """A disk the VM has now that its replica does not: added after protection was enabled,
    it is not replicated, and a failover would come up without it."""
    if not item.replica_disks:
        return []  # no replica of our own to compare with (not enabled yet, or asr)
    replicated = {disk.disk_id for disk in item.replica_disks}
    return [
        ErrorDetail(
            code=DISK_NOT_REPLICATED,
            cause=f"Disk {disk.id} ({disk.path}) was added to VM '{record.vm.id}' after "
            "protection was enabled; it is not replicated, and a failover would come up "
            "without it.",
            recommendation="Disable protection (without deleteReplica) and enable it again: "
            "the new disk is then replicated with the others.",
        )
        for disk in record.vm.disks
        if disk.id not in replicated
    ]


def recheck_protected_vm(tenant: str, vm: str) -> HealthState | None:
    """After a VM changed: if it is protected, check every rule again, and that every disk it
    has now is replicated. A rule it now breaks raises its health (Critical when replication
    cannot work, Warning when only failover would fail; a disk not replicated is Critical)
    beside the reasons it had for other causes; the failures are kept on the item so later
    health refreshes keep them. Returns the new health state, None when the VM is not
    protected."""
    item = get_item(tenant, vm)
    record = get_vm(tenant, vm)
    if item is None or record is None or not is_protected(item.status):
        return None
    request = EnableProtectionRequest(
        provider=item.provider or "direct",
        policy=item.policy,
        **(item.target.model_dump() if item.target else {}),
    )
    broken = broken_rules(evaluate_prerequisites(tenant, record, request))
    broken += unreplicated_disks(item, record)

    def apply(current: ReplicatedItem) -> None:
        rechecked = {*prerequisites.RULES, DISK_NOT_REPLICATED}
        others = [r for r in current.health.reasons if r.code not in rechecked]
        rules = [
            Reason(severity=prerequisites.health_for([f.record()]), **f.record()) for f in broken
        ]
        reasons = [*others, *rules]
        current.prerequisite_failures = broken
        current.health = HealthRecord(
            state=Health.of([r.finding() for r in reasons]).state, reasons=reasons
        )

    return update_item(tenant, vm, apply).health.state
