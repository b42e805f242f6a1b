"""Replication providers: what starts and ends the protection of one VM.

Enabling and disabling go through a `ProtectionProvider`, the interface that the `direct` and
`asr` providers implement; orchestrators never know which one runs, the VM's protection
record says. `direct` replicates through our agent into page blobs; `asr` through Azure
Site Recovery (application/asr_protection.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from application import asr_protection
from azureclients.clients import blob_service
from azureclients.settings import MissingSetting, json_setting, setting
from contracts.inventory import NAME_PATTERN
from domain.errors import DomainError, ErrorInfo
from readmodels.inventory import get_vm
from readmodels.points import delete_point, list_points
from readmodels.records import ReplicaDisk, ReplicatedItem, VmRecord

log = logging.getLogger(__name__)


class DiskIdInvalid(DomainError):
    status = 400


DEFAULT_PROVIDER_SETTING = "DEFAULT_PROVIDER"
TENANT_PROVIDERS_SETTING = "TENANT_DEFAULT_PROVIDERS"


def tenant_provider(tenant: str) -> str:
    """The provider a VM of `tenant` gets when enable protection names none: the tenant's
    own (TENANT_DEFAULT_PROVIDERS, a JSON object tenant -> provider), else DEFAULT_PROVIDER,
    else 'direct'. A name that is not a provider is a settings error naming the setting."""
    overrides = json_setting(TENANT_PROVIDERS_SETTING, {})
    chosen = setting(DEFAULT_PROVIDER_SETTING, "direct")
    if isinstance(overrides, dict) and tenant in overrides:
        chosen = overrides[tenant]
    if not isinstance(overrides, dict) or chosen not in ("direct", "asr"):
        raise MissingSetting(
            ErrorInfo(
                code="SettingInvalid",
                cause=f"The default provider of tenant '{tenant}' is not valid: "
                f"{DEFAULT_PROVIDER_SETTING}={setting(DEFAULT_PROVIDER_SETTING, '')!r}, "
                f"{TENANT_PROVIDERS_SETTING}={overrides!r}.",
                recommendation=f"Set {DEFAULT_PROVIDER_SETTING} to 'direct' or 'asr', and "
                f"{TENANT_PROVIDERS_SETTING} to a JSON object of tenant -> 'direct' | 'asr'.",
            )
        )
    return chosen


class ProtectionProvider(Protocol):
    """What a replication provider does to start and end the protection of one VM.

    Both calls are retried by the orchestration, so both must be idempotent."""

    name: str

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        """Prepare replication of every disk of the VM; the replica disks it will write."""
        ...

    def disable(self, item: ReplicatedItem, delete_replica: bool) -> None:
        """Stop protecting; with `delete_replica`, remove the replica and its points."""
        ...


def replica_container(tenant: str, vm: str) -> str:
    """One container per protected VM: `replica-<tenant>-<vm>-<digest>`, ≤ 63 characters.

    Container names are lower-case letters, digits and single hyphens, so the readable part
    loses what VM ids may hold (`web.01`, `web_01` and `WEB-01` all read `web-01`); the digest
    of the exact tenant and VM id keeps them apart, so one VM's replica is never another's."""
    prefix = setting("REPLICA_CONTAINER_PREFIX", "replica")
    digest = hashlib.sha256(f"{tenant}/{vm}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{tenant}-{vm}".lower()).strip("-")
    return f"{readable[: 63 - len(digest) - 1].rstrip('-')}-{digest}"


def replica_blob(disk_id: str) -> str:
    """The blob of a disk in its VM's container. A disk id is a name (the event contract
    refuses others); one that is not, as a row written before could hold, is refused here:
    `../other-vm/os` would name another VM's blob."""
    if not re.fullmatch(NAME_PATTERN, disk_id):
        raise DiskIdInvalid(
            ErrorInfo(
                code="DiskIdInvalid",
                cause=f"Disk id {disk_id[:200]!r} is not a name (letters, digits, '.', '_', "
                "'-'; starting with a letter or digit): it cannot name a replica blob.",
                recommendation="Have the agent report the VM again (inventory.snapshot); its "
                "disk ids are names.",
            )
        )
    return f"{disk_id}.vhd"


class DirectProvider:
    """The agent writes page blobs that the control plane issues: one container per VM."""

    name = "direct"

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        container = replica_container(tenant, record.vm.id)
        for disk in record.vm.disks:
            replica_blob(disk.id)  # refuse before anything is made
        with contextlib.suppress(ResourceExistsError):  # a retry: the container is ours already
            blob_service().create_container(container)
        return [
            ReplicaDisk(
                disk_id=disk.id,
                container=container,
                blob=replica_blob(disk.id),
                size=disk.size_bytes,
                source_path=disk.path,
            )
            for disk in record.vm.disks
        ]

    def disable(self, item: ReplicatedItem, delete_replica: bool) -> None:
        """With `delete_replica`: the containers this VM's replica disks name (never one
        computed again from its id: a name another VM could share), and its points."""
        if not delete_replica:
            return
        for container in sorted({disk.container for disk in item.replica_disks}):
            log.warning("deleting replica container %s of %s/%s", container, item.tenant, item.vm)
            with contextlib.suppress(ResourceNotFoundError):
                blob_service().delete_container(container)
        for point in list_points(item.tenant, item.vm, pending=True):
            delete_point(point)


class AsrProvider:
    """Azure Site Recovery replicates the data: enable checks that ASR has discovered the VM
    in its cloud (the policy, the mapping and the protected item follow in the replication
    orchestration, which never waits inside an activity); nothing is written to our storage."""

    name = "asr"

    def enable(self, tenant: str, record: VmRecord) -> list[ReplicaDisk]:
        asr_protection.locate(record)  # refused with AsrVmNotDiscovered and the fix
        return []

    def disable(self, item: ReplicatedItem, delete_replica: bool) -> None:
        record = get_vm(item.tenant, item.vm)
        if record is None:
            return
        with contextlib.suppress(DomainError):  # ASR no longer knows it: nothing to disable
            asr_protection.disable(asr_protection.place_of(record, item))


PROVIDERS: dict[str, ProtectionProvider] = {p.name: p for p in (DirectProvider(), AsrProvider())}
