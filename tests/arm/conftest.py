"""The ARM stand-in under the real SDKs: azure-mgmt-compute and azure-mgmt-network over
HTTPS, DefaultAzureCredential through devhost's managed-identity endpoint, disks imported from
qemu-img-made VHDs uploaded to real Azurite. Nothing of ours is replaced; the SDK clients are
built exactly as the failover activities build them (base_url = ARM_ENDPOINT)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobClient, BlobServiceClient

from devhost.arm.launch import start_for_app
from devhost.arm.server import ArmStandIn
from devhost.azurite import Azurite

MIB = 1024 * 1024
# Variables azure-identity reads that would pick another credential before the managed identity.
OTHER_CREDENTIALS = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)


@dataclass
class Lab:
    """A running stand-in, the app's settings for it, and clients built from them."""

    arm: ArmStandIn
    settings: dict[str, str]
    azurite: Azurite
    data_dir: Path
    storage: BlobServiceClient = field(init=False)

    def __post_init__(self) -> None:
        self.storage = BlobServiceClient.from_connection_string(self.azurite.connection_string)

    @property
    def group(self) -> str:
        return self.settings["RECOVERY_RESOURCE_GROUP"]

    @property
    def location(self) -> str:
        return self.settings["RECOVERY_LOCATION"]

    def compute(self, credential=None) -> ComputeManagementClient:
        return ComputeManagementClient(
            credential or DefaultAzureCredential(),
            self.settings["AZURE_SUBSCRIPTION_ID"],
            base_url=self.settings["ARM_ENDPOINT"],
            polling_interval=0,
        )

    def network(self, credential=None) -> NetworkManagementClient:
        return NetworkManagementClient(
            credential or DefaultAzureCredential(),
            self.settings["AZURE_SUBSCRIPTION_ID"],
            base_url=self.settings["ARM_ENDPOINT"],
            polling_interval=0,
        )

    def restart(self) -> None:
        """Stop the stand-in and start a new one on the same port and data (a devhost
        restart): everything it answered before must still be there."""
        port = self.arm.port
        self.arm.stop()
        env = dict(self.settings)
        self.arm = start_for_app(
            self.data_dir, self.azurite.connection_string, env, port=port, retry_after=0
        )
        self.settings.update(env)
        os.environ.update(self.arm.app_environment())


@pytest.fixture(scope="session")
def lab(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data_dir = tmp_path_factory.mktemp("arm")
    # The stand-in's control key (tests register VMM's side of ASR and inject faults with it).
    env: dict[str, str] = {"DEVHOST_MASTER_KEY": uuid.uuid4().hex}
    arm = start_for_app(data_dir, azurite.connection_string, env, retry_after=0)
    saved = {k: os.environ.get(k) for k in (*env, *OTHER_CREDENTIALS)}
    for name in OTHER_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.update(env)
    running = Lab(arm, env, azurite, data_dir)
    try:
        yield running
    finally:
        running.arm.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Vhd:
    path: Path
    blob: BlobClient
    sha256: str

    @property
    def url(self) -> str:
        return self.blob.url


def fixed_vhd(qemu_img: str, folder: Path, mib: int) -> Path:
    """A fixed VHD made by qemu-img (not by our writer) from random bytes: `mib` MiB of
    data and the 512-byte footer."""
    raw = folder / f"{uuid.uuid4().hex}.raw"
    raw.write_bytes(os.urandom(mib * MIB))
    vhd = raw.with_suffix(".vhd")
    subprocess.run(
        [
            qemu_img,
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            "subformat=fixed,force_size=on",
            str(raw),
            str(vhd),
        ],
        check=True,
    )
    raw.unlink()
    assert vhd.stat().st_size == mib * MIB + 512
    return vhd


def upload_page_blob(lab: Lab, path: Path, container: str = "replica-arm") -> BlobClient:
    service = lab.storage
    if not service.get_container_client(container).exists():
        service.create_container(container)
    blob = service.get_blob_client(container, f"{uuid.uuid4().hex}.vhd")
    blob.upload_blob(path.read_bytes(), blob_type="PageBlob")
    return blob


@pytest.fixture
def vhd(lab: Lab, qemu_img: str, tmp_path: Path) -> Vhd:
    """A 4 MiB fixed VHD in a page blob of the replicas' account."""
    path = fixed_vhd(qemu_img, tmp_path, 4)
    return Vhd(path, upload_page_blob(lab, path), hashlib.sha256(path.read_bytes()).hexdigest())


def import_body(lab: Lab, source_uri: str, **properties) -> dict:
    """A REST-shaped Import body (the SDK sends a dict as it is)."""
    return {
        "location": lab.location,
        "properties": {
            "creationData": {
                "createOption": "Import",
                "sourceUri": source_uri,
                "storageAccountId": lab.settings["REPLICA_STORAGE_ACCOUNT_ID"],
            },
            **properties,
        },
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
