"""Verification before a recovery point: the activity refuses a replica whose size, VHD
footer or bytes differ from what the agent reported, and takes nothing (no snapshot, no row).

The real `record_recovery_point` activity runs against Azurite; the replica blobs are written
the way the agent writes them (a fixed-VHD footer in the last 512 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobClient
from pydantic import ValidationError

from activities.recovery_points import PointRecorded, record_recovery_point
from agent.footer import Footer
from application import verification
from application.verification import ReplicaInvalid, Span, read_groups
from azureclients.clients import blob_service
from bench.meters import StorageMeter
from domain.replication import replica_blob_size
from readmodels.items import get_item, save_item
from readmodels.points import list_points
from readmodels.records import ReplicaDisk, ReplicatedItem

pytestmark = pytest.mark.usefixtures("read_models")
TENANT = "verify"
DISK = 4 * 1024 * 1024
SIZE = replica_blob_size(DISK)
FOOTER = Footer.new(SIZE - 512).to_bytes()  # the footer the agent wrote


def protected_vm(blob_size: int = SIZE, footer: bool = True) -> tuple[str, BlobClient]:
    """A protected VM with one disk whose replica blob the agent has written."""
    vm = "vm-" + uuid.uuid4().hex[:8]
    container = f"replica-{TENANT}-{vm}"
    blob_service().create_container(container)
    blob = blob_service().get_blob_client(container, "os.vhd")
    blob.create_page_blob(blob_size)
    blob.upload_page(b"\x5a" * 512, offset=0, length=512)
    if footer:
        blob.upload_page(FOOTER, offset=blob_size - 512, length=512)
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


def written(blob: BlobClient, offset: int, length: int, fill: int) -> tuple[str, str]:
    """Write `length` bytes of `fill` at `offset`, as the agent does; its checksum entry."""
    data = bytes([fill]) * length
    blob.upload_page(data, offset=offset, length=length)
    return f"{offset}+{length}", md5(data)


def footer_entry() -> tuple[str, str]:
    return f"{SIZE - 512}+512", md5(FOOTER)


def reads(calls: StorageMeter) -> Counter[str]:
    counts = calls.counts()
    return Counter({k.rsplit("|", 1)[1]: v for k, v in counts.items() if "|blob|Get" in k})


def test_verification_reads_the_footer_once_and_close_ranges_together(
    storage_calls: StorageMeter,
) -> None:
    """Two adjacent written ranges (one read), one far away (its own read), the footer (one
    read, which also gives the size and the bytes of the agent's footer checksum); no page
    range listing."""
    vm, blob = protected_vm()
    a, b = 64 * 1024, 3 * 1024 * 1024
    entries = [written(blob, a, 4096, 1), written(blob, a + 4096, 8192, 2)]
    checksums = dict([*entries, written(blob, b, 4096, 3), footer_entry()])
    before = reads(storage_calls)
    PointRecorded.model_validate(record_recovery_point(point(vm, checksums=checksums)))
    done = reads(storage_calls) - before
    assert done == Counter({"GetBlob": 3}), done


@pytest.mark.parametrize("which", [0, 1], ids=["first", "second"])
def test_a_tampered_range_read_together_with_a_sound_one_is_caught(which: int) -> None:
    vm, blob = protected_vm()
    entries = [written(blob, 8192, 4096, 1), written(blob, 8192 + 4096, 4096, 2)]
    tampered = entries[which][0]
    offset, length = (int(x) for x in tampered.split("+"))
    blob.upload_page(b"\xee" * length, offset=offset, length=length)  # after the agent's write
    with pytest.raises(ReplicaInvalid, match=rf"bytes {offset}\+{length} differ"):
        record_recovery_point(point(vm, checksums=dict(entries)))
    assert snapshots(blob) == [] and list_points(TENANT, vm) == []


def test_a_footer_that_differs_from_the_agents_footer_checksum_is_caught() -> None:
    """The footer is a valid VHD footer, but not the one the agent says it wrote."""
    vm, blob = protected_vm()
    other = md5(Footer.new(SIZE - 512).to_bytes())  # another id: valid, but not this one
    with pytest.raises(ReplicaInvalid, match=rf"bytes {SIZE - 512}\+512 differ"):
        record_recovery_point(point(vm, checksums={f"{SIZE - 512}+512": other}))
    assert snapshots(blob) == []


@pytest.mark.parametrize(
    "span", [f"{SIZE - 512}+1024", "-512+512", "0+0", f"{SIZE}+512", "0x10+512", "512"]
)
def test_a_checksum_of_bytes_outside_the_blob_or_of_no_range_is_refused(span: str) -> None:
    """The event contract refuses such a range (the trigger dead-letters the event), so
    verification never reads outside the blob; nothing is snapshotted."""
    vm, blob = protected_vm()
    with pytest.raises(ValidationError, match=r"checksum range"):
        record_recovery_point(point(vm, checksums={span: md5(b"")}))
    assert snapshots(blob) == []


def test_a_range_longer_than_one_read_is_read_in_parts(
    storage_calls: StorageMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification, "MAX_READ", 64 * 1024)
    vm, blob = protected_vm()
    data = bytes(range(256)) * 800  # 200 KiB: four reads of at most 64 KiB
    blob.upload_page(data, offset=0, length=len(data))
    before = reads(storage_calls)
    record_recovery_point(point(vm, checksums={f"0+{len(data)}": md5(data)}))
    assert reads(storage_calls) - before == Counter({"GetBlob": 1 + 4})
    blob.upload_page(b"\0" * 512, offset=len(data) - 512, length=512)  # its last part changed
    with pytest.raises(ReplicaInvalid, match=rf"bytes 0\+{len(data)} differ"):
        record_recovery_point(point(vm, "gen-sync-2-1", checksums={f"0+{len(data)}": md5(data)}))


def test_ranges_are_read_together_only_when_close_and_within_one_read() -> None:
    mib = 1024 * 1024
    spans = [
        Span(0, 4 * mib, "a"),
        Span(4 * mib, 4 * mib, "b"),  # adjacent
        Span(9 * mib, mib, "c"),  # 1 MiB gap: still together (10 MiB in all)
        Span(10 * mib + 1 + mib, mib, "d"),  # gap over 1 MiB
        Span(12 * mib + 1, 16 * mib, "e"),  # close, but the read would pass 16 MiB
    ]
    groups = read_groups(spans)
    assert [[s.digest for s in g] for g in groups] == [["a", "b", "c"], ["d"], ["e"]]
