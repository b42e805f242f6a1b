"""From the app's wire and read models to domain models, duck-typed so domain imports nothing
of the app: `record` looks like readmodels.records.VmRecord (tenant, site, cloud, vm) and
`request` like contracts.api.EnableProtectionRequest."""

from __future__ import annotations

from typing import Any

from domain.model import Disk, Nic, ProtectionRequest, ProtectionTarget, Vm


def _dump(obj: Any) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    return obj.model_dump()


def to_domain_vm(record: Any) -> Vm:
    inv = _dump(record.vm)
    cloud = getattr(record, "cloud", None)
    cloud_id = cloud if isinstance(cloud, str) or cloud is None else getattr(cloud, "id", "")
    return Vm(
        id=inv["id"],
        name=inv["name"],
        tenant=getattr(record, "tenant", "") or "",
        site=getattr(record, "site", "") or "",
        cloud=cloud_id or "",
        generation=inv.get("generation", 1),
        os_type=inv.get("os_type"),
        os_name=inv.get("os_name"),
        is_64_bit=inv.get("is_64_bit", True),
        vcpus=inv.get("vcpus", 1),
        memory_mb=inv.get("memory_mb", 1024),
        secure_boot=inv.get("secure_boot", False),
        nics=tuple(
            Nic(**{k: v for k, v in n.items() if k in Nic.model_fields})
            for n in inv.get("nics", [])
        ),
        disks=tuple(
            Disk(**{k: v for k, v in d.items() if k in Disk.model_fields})
            for d in inv.get("disks", [])
        ),
    )


def to_protection_request(record: Any, request: Any) -> ProtectionRequest:
    """`record` is accepted for symmetry (and future defaults from the VM); unused today."""
    del record
    body = _dump(request)
    return ProtectionRequest(
        provider=body.get("provider") or "direct",
        policy=body.get("policy"),
        target=ProtectionTarget(
            vm_name=body.get("target_name"),
            size=body.get("target_size"),
            resource_group=body.get("target_resource_group"),
            network=body.get("target_network"),
            use_managed_disks=body.get("use_managed_disks", True),
        ),
    )
