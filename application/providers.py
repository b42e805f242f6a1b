"""Replication providers: what starts and ends the protection of one VM.

Enabling and disabling go through a `ProtectionProvider`, the interface that the `direct` and
`asr` providers implement; orchestrators never know which one runs, the VM's protection
record says. `direct` is implemented; `asr` refuses with a clear error until it exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from typing import Protocol

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from azureclients.clients import blob_service
from azureclients.settings import setting
from contracts.inventory import NAME_PATTERN
from domain.errors import DomainError, ErrorInfo
from readmodels.points import delete_point, list_points
from readmodels.records import ReplicaDisk, ReplicatedItem, VmRecord

log = logging.getLogger(__name__)


class ProviderNotAvailable(DomainError):
    status = 501


class DiskIdInvalid(DomainError):
    status = 400


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

    def disable(self, item: ReplicatedItem, delete_replica: bool) -> None:
        raise self._refuse()


PROVIDERS: dict[str, ProtectionProvider] = {p.name: p for p in (DirectProvider(), AsrProvider())}
