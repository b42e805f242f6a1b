"""Verification before a recovery point: the activity refuses a replica whose size, VHD
footer or bytes differ from what the agent reported, and takes nothing (no snapshot, no row).

The real `record_recovery_point` activity runs against Azurite; the replica blobs are written
the way the agent writes them (a fixed-VHD footer in the last 512 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobClient

from activities.recovery_points import PointRecorded, record_recovery_point
from agent.footer import Footer
from application.verification import ReplicaInvalid
from azureclients.clients import blob_service
from domain.replication import replica_blob_size
from readmodels.items import get_item, save_item
from readmodels.points import list_points
from readmodels.records import ReplicaDisk, ReplicatedItem

pytestmark = pytest.mark.usefixtures("read_models")
TENANT = "verify"
DISK = 4 * 1024 * 1024
SIZE = replica_blob_size(DISK)


def protected_vm(blob_size: int = SIZE, footer: bool = True) -> tuple[str, BlobClient]:
    """A protected VM with one disk whose replica blob the agent has written."""
    vm = "vm-" + uuid.uuid4().hex[:8]
    container = f"replica-{TENANT}-{vm}"
    blob_service().create_container(container)
    blob = blob_service().get_blob_client(container, "os.vhd")
    blob.create_page_blob(blob_size)
    blob.upload_page(b"\x5a" * 512, offset=0, length=512)
    if footer:
        blob.upload_page(Footer.new(SIZE - 512).to_bytes(), offset=blob_size - 512, length=512)
    save_item(ReplicatedItem(
        tenant=TENANT, vm=vm, vm_name=vm, site="site", status="Protected", provider="direct",
        policy="30s", replica_disks=[ReplicaDisk(disk_id="os", container=container, size=DISK,
                                                 blob="os.vhd", source_path="D:\\os.vhdx")],
    ))  # fmt: skip
    return vm, blob


def point(vm: str, command_id: str = "gen-sync-1-1", **disk: object) -> dict:
    return {
        "tenant": TENANT, "vm": vm, "command_id": command_id,
        "status_event": "DeltaSyncCompleted", "consistency": "crash",
        "taken_at": datetime.now(UTC).isoformat(),
        "disks": [{"diskId": "os", "blobSize": SIZE, "bytesSent": 512, "checksums": {}, **disk}],
    }  # fmt: skip


def snapshots(blob: BlobClient) -> list[str]:
    container = blob_service().get_container_client(blob.container_name)
    listed = container.list_blobs(name_starts_with=blob.blob_name, include=["snapshots"])
    return [b.snapshot for b in listed if b.snapshot]


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_a_sound_replica_becomes_one_point_and_a_rerun_takes_no_second_snapshot() -> None:
    vm, blob = protected_vm()
    checked = point(vm, checksums={"0+512": md5(b"\x5a" * 512)})
    first = PointRecorded.model_validate(record_recovery_point(checked))
    again = PointRecorded.model_validate(record_recovery_point(checked))  # a rerun
    assert first.point_id == again.point_id == "gen-sync-1-1"
    assert len(snapshots(blob)) == 1
    assert [p.id for p in list_points(TENANT, vm)] == ["gen-sync-1-1"]
    item = get_item(TENANT, vm)
    assert item is not None and item.recovery_points == 1 and item.last_sync is not None


@pytest.mark.parametrize(
    ("blob_size", "words"),
    [(SIZE - 1024 * 1024, "blob is"), (SIZE + 1024 * 1024, "blob is")],
    ids=["too-small", "too-large"],
)
def test_a_replica_of_the_wrong_size_is_refused(blob_size: int, words: str) -> None:
    vm, blob = protected_vm(blob_size)
    with pytest.raises(ReplicaInvalid, match=f"{words} {blob_size} bytes, expected {SIZE}"):
        record_recovery_point(point(vm))
    assert snapshots(blob) == [] and list_points(TENANT, vm) == []


def test_a_replica_without_a_vhd_footer_is_refused() -> None:
    vm, blob = protected_vm(footer=False)
    with pytest.raises(ReplicaInvalid, match="not a VHD footer"):
        record_recovery_point(point(vm))
    assert snapshots(blob) == []


def test_bytes_that_differ_from_the_agents_checksum_are_refused() -> None:
    vm, blob = protected_vm()
    with pytest.raises(ReplicaInvalid, match=r"bytes 0\+512 differ from what the agent sent"):
        record_recovery_point(point(vm, checksums={"0+512": md5(b"\x00" * 512)}))
    assert snapshots(blob) == []


def test_an_agent_reporting_another_size_is_refused() -> None:
    vm, _ = protected_vm()
    with pytest.raises(ReplicaInvalid, match=f"agent reported a {SIZE + 512}-byte replica"):
        record_recovery_point(point(vm, blobSize=SIZE + 512))
