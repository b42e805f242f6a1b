"""Activities of the protect and unprotect operations: check the rules, enable, disable.

`evaluate_prerequisites` is also what the preflight API and VM-change re-checks call: one
implementation of "does this VM meet every rule", so the three can never disagree.
"""

from __future__ import annotations

import contextlib
import hashlib

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from pydantic import BaseModel

from contracts.api import DisableProtectionRequest, EnableProtectionRequest, ProtectionTarget
from core.clients import blob_service
from core.settings import json_setting, setting
from domain import prerequisites
from domain.adapters import to_domain_vm, to_protection_request
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


def tenant_profile(tenant: str) -> str:
    """The prerequisite profile of a tenant: its own if configured, else the default."""
    overrides = json_setting("TENANT_PREREQUISITE_PROFILES", {})
    return prerequisites.profile_for_tenant(
        tenant, overrides, default=setting("PREREQUISITE_PROFILE", "asr-2026")
    )


def evaluate_prerequisites(tenant: str, record: VmRecord, request: EnableProtectionRequest) -> dict:
    """Every failing rule at once, with its fix; changes nothing."""
    profile = prerequisites.get_profile(tenant_profile(tenant))
    failures = prerequisites.evaluate(
        to_domain_vm(record), to_protection_request(record, request), profile
    )
    return {
        "vm": record.vm.id,
        "profile": profile.name,
        "provider": request.provider,
        "passed": not failures,
        "failures": [f.to_dict() for f in failures],
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


@bp.activity_trigger(input_name="payload")
def check_prerequisites(payload: dict) -> list[dict]:
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    if record is None or not record.present:
        return [
            {
                "code": "VmNotFound",
                "cause": f"VM '{check.vm}' is no longer in the inventory.",
                "recommendation": "Check that the VM still exists in its VMM cloud.",
            }
        ]
    return evaluate_prerequisites(check.tenant, record, check.request)["failures"]


@bp.activity_trigger(input_name="payload")
def enable_protection(payload: dict) -> dict:
    """Provider `direct`: the replica container and the protection record (idempotent)."""
    check = PrerequisiteInput.model_validate(payload)
    record = get_vm(check.tenant, check.vm)
    assert record is not None, "checked by check_prerequisites"
    container = replica_container(check.tenant, check.vm)
    with contextlib.suppress(ResourceExistsError):  # a retry: the container is ours already
        blob_service().create_container(container)
    disks = [
        ReplicaDisk(
            disk_id=disk.id,
            container=container,
            blob=f"{disk.id}.vhd",
            size=disk.size_bytes,
            source_path=disk.path,
        )
        for disk in record.vm.disks
    ]
    target = ProtectionTarget.model_validate(
        check.request.model_dump(include=set(ProtectionTarget.model_fields))
    )
    if target.target_name is None:
        target = target.model_copy(update={"target_name": record.vm.name})

    def protect(item: ReplicatedItem) -> None:
        item.status = prerequisites.next_status(item.status, "ProtectionEnabled")
        item.provider = check.request.provider
        item.policy = check.request.policy or "default"
        item.target = target
        item.replica_disks = disks
        item.health = HealthView()

    update_item(check.tenant, check.vm, protect)
    return {"container": container, "disks": [d.disk_id for d in disks]}


@bp.activity_trigger(input_name="payload")
def disable_protection(payload: dict) -> None:
    """Back to NotProtected; on request the replica and its recovery points go too."""
    disable = DisableInput.model_validate(payload)
    item = get_item(disable.tenant, disable.vm)
    if item is None:
        return
    if disable.request.delete_replica:
        with contextlib.suppress(ResourceNotFoundError):
            blob_service().delete_container(replica_container(disable.tenant, disable.vm))
        for point in list_points(disable.tenant, disable.vm):
            delete_point(point)

    def unprotect(item: ReplicatedItem) -> None:
        item.status = "NotProtected"
        item.progress = None
        item.health = HealthView()
        item.rpo_seconds = None

    update_item(disable.tenant, disable.vm, unprotect)


def recheck_protected_vm(tenant: str, vm: str) -> None:
    """After a VM changed: if it is protected and now breaks a rule, raise its health."""
    item = get_item(tenant, vm)
    record = get_vm(tenant, vm)
    if item is None or record is None or item.status == "NotProtected":
        return
    request = EnableProtectionRequest(
        provider=item.provider or "direct",
        policy=item.policy,
        **(item.target.model_dump() if item.target else {}),
    )
    report = evaluate_prerequisites(tenant, record, request)

    def apply(current: ReplicatedItem) -> None:
        current.health = HealthView(
            state=prerequisites.health_for(report["failures"]),
            reasons=report["failures"],
        )

    update_item(tenant, vm, apply)
