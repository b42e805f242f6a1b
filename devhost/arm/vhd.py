"""What Azure checks before it imports a blob as a managed disk, and the disks' bytes.

Azure imports a page blob holding a fixed VHD: a virtual size that is a whole number of MiB,
followed by the 512-byte footer (cookie `conectix`, disk type 2 = fixed, current size = the
virtual size, a valid checksum). The stand-in checks the footer itself, independently of the
agent's writer, so a writer bug shows locally as it would in Azure. A disk's bytes are a page
blob in a container of its own in Azurite, copied server-side from the source, so
grant access hands out a real Azurite SAS that the real storage SDK reads.
"""

from __future__ import annotations

import contextlib
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import (
    AccessPolicy,
    BlobSasPermissions,
    BlobServiceClient,
    generate_blob_sas,
)

from devhost.arm.errors import ArmError

MIB = 1024 * 1024
FOOTER = 512
FIXED = 2
# Azure's disk SAS URLs name a per-disk container and the blob "abcd"; so do the stand-in's.
DISK_BLOB = "abcd"
ACCESS_POLICY = "disk-access"
ONLY_VHDS = "Only blobs formatted as VHDs can be imported."


@dataclass(frozen=True)
class Source:
    """A blob Import may read: its account, container, name and virtual size."""

    uri: str
    container: str
    blob: str
    virtual_size: int


def footer_problem(footer: bytes, disk: str, uri: str) -> ArmError | None:
    """Azure's refusal for this footer, or None when it describes a fixed VHD."""
    if footer[:8] != b"conectix":
        return ArmError(
            400,
            "InvalidVhd",
            f"The specified cookie value in VHD footer indicates that disk '{disk}' with blob "
            f"{uri} is not a supported VHD. Disk is expected to have cookie value 'conectix'.",
        )
    checksum = struct.unpack(">I", footer[64:68])[0]
    expected = ~sum(footer[:64] + b"\0\0\0\0" + footer[68:]) & 0xFFFFFFFF
    if checksum != expected:
        return ArmError(
            400,
            "InvalidVhd",
            f"The VHD footer of disk '{disk}' with blob {uri} has checksum {checksum:#010x}; "
            f"its bytes sum to {expected:#010x}. The VHD is corrupt.",
        )
    disk_type = struct.unpack(">I", footer[60:64])[0]
    if disk_type != FIXED:
        kind = {3: "dynamic", 4: "differencing"}.get(disk_type, f"type {disk_type}")
        return ArmError(
            400,
            "InvalidVhd",
            f"The VHD {uri} is a {kind} VHD. Only fixed VHDs can be imported: convert it "
            "to a fixed VHD first.",
        )
    return None


class DiskBytes:
    """The stand-in's side of Azurite: reads import sources, keeps each disk's bytes."""

    def __init__(self, connection_string: str) -> None:
        self.service = BlobServiceClient.from_connection_string(connection_string)
        self.account = self.service.account_name
        self.key = self.service.credential.account_key

    def _split(self, uri: str, disk: str, storage_account_id: str) -> tuple[str, str]:
        """(container, blob) of a source URI inside this account; refuses anything else."""
        parts = urlsplit(uri)
        if parse_qs(parts.query).get("snapshot"):
            raise ArmError(
                400,
                "InvalidParameter",
                f"sourceUri {uri} names a blob snapshot. The stand-in imports base blobs only "
                "(see docs/failover.md, 'Import and blob snapshots'): copy the snapshot to a "
                "blob and import that.",
                "sourceUri",
            )
        account_name = storage_account_id.rstrip("/").rsplit("/", 1)[-1]
        base = urlsplit(self.service.url)
        path = [unquote(p) for p in parts.path.split("/") if p]
        base_path = [p for p in base.path.split("/") if p]  # Azurite: /devstoreaccount1
        if (
            parts.netloc.lower() != base.netloc.lower()
            or path[: len(base_path)] != base_path
            or account_name.lower() != self.account.lower()
            or len(path) < len(base_path) + 2
        ):
            raise ArmError(
                400,
                "InvalidParameter",
                f"The blob {uri} is not in storage account {storage_account_id}. Import reads "
                "the blob from the account storageAccountId names.",
                "sourceUri",
            )
        rest = path[len(base_path) :]
        return rest[0], "/".join(rest[1:])

    def inspect(self, uri: str, disk: str, storage_account_id: str) -> Source:
        """Everything Azure checks before it accepts an Import, or its refusal."""
        container, name = self._split(uri, disk, storage_account_id)
        blob = self.service.get_blob_client(container, name)
        try:
            properties = blob.get_blob_properties()
        except ResourceNotFoundError:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The blob {uri} does not exist in storage account {storage_account_id}.",
                "sourceUri",
            ) from None
        size = properties.size
        if properties.blob_type != "PageBlob" or size < MIB + FOOTER or (size - FOOTER) % MIB:
            raise ArmError(400, "BadRequest", ONLY_VHDS)
        footer = blob.download_blob(offset=size - FOOTER, length=FOOTER).readall()
        if problem := footer_problem(footer, disk, uri):
            raise problem
        current = struct.unpack(">Q", footer[48:56])[0]
        if current != size - FOOTER:
            raise ArmError(400, "BadRequest", ONLY_VHDS)
        return Source(uri, container, name, size - FOOTER)

    def copy_in(self, source: Source, container: str, timeout: float = 600) -> None:
        """Server-side copy of the source into the disk's own container; waits for it."""
        sas = generate_blob_sas(
            self.account,
            source.container,
            source.blob,
            account_key=self.key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        disk = self.service.get_container_client(container)
        if not disk.exists():
            disk.create_container()
        target = disk.get_blob_client(DISK_BLOB)
        source_url = self.service.get_blob_client(source.container, source.blob).url
        target.start_copy_from_url(f"{source_url}?{sas}")
        deadline = time.monotonic() + timeout
        while (copy := target.get_blob_properties().copy).status == "pending":
            if time.monotonic() > deadline:
                raise ArmError(500, "InternalExecutionError", "The copy into the disk timed out.")
            time.sleep(0.2)  # Azurite's copy state, polled as Azure's own copy is polled
        if copy.status != "success":
            raise ArmError(
                500, "InternalExecutionError", f"Copying {source.uri} failed: {copy.status}."
            )

    def read_sas(self, container: str, seconds: int) -> str:
        """A read-only SAS URL on the disk's bytes. It rests on the container's stored access
        policy, so ending the access (revoke) really stops it, as endGetAccess does in Azure."""
        start = datetime.now(UTC) - timedelta(minutes=5)
        expiry = datetime.now(UTC) + timedelta(seconds=seconds)
        client = self.service.get_container_client(container)
        policy = AccessPolicy(BlobSasPermissions(read=True), expiry=expiry, start=start)
        client.set_container_access_policy({ACCESS_POLICY: policy})
        sas = generate_blob_sas(
            self.account, container, DISK_BLOB, account_key=self.key, policy_id=ACCESS_POLICY
        )
        return f"{client.get_blob_client(DISK_BLOB).url}?{sas}"

    def revoke(self, container: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.service.get_container_client(container).set_container_access_policy({})

    def delete(self, container: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.service.get_container_client(container).delete_container()
