"""Managed disks through the real azure-mgmt-compute client: Import from a qemu-img-made
fixed VHD in a page blob, Azure's refusals, and grant access whose SAS the real storage SDK
reads byte for byte."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.models import Disk
from azure.storage.blob import BlobClient

from tests.arm.conftest import MIB, Lab, Vhd, fixed_vhd, import_body, unique, upload_page_blob


def _import(lab: Lab, name: str, uri: str, **props) -> Disk:
    return (
        lab.compute()
        .disks.begin_create_or_update(lab.group, name, import_body(lab, uri, **props))
        .result()
    )


def _refusal(lab: Lab, uri: str, **props) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as refused:
        _import(lab, unique("refused"), uri, **props)
    return refused.value


def test_import_keeps_what_was_asked_and_the_vhd_size(lab: Lab, vhd: Vhd) -> None:
    name = unique("os")
    disk = _import(lab, name, vhd.url, osType="Linux", hyperVGeneration="V2")
    assert disk.provisioning_state == "Succeeded"
    assert disk.id.endswith(f"/resourceGroups/{lab.group}/providers/Microsoft.Compute/disks/{name}")
    assert disk.creation_data.create_option == "Import"
    assert disk.creation_data.source_uri == vhd.url
    assert disk.os_type == "Linux" and disk.hyper_v_generation == "V2"
    assert disk.disk_size_bytes == 4 * MIB and disk.disk_size_gb == 1
    assert disk.disk_state == "Unattached"
    assert lab.compute().disks.get(lab.group, name).unique_id == disk.unique_id


def test_grant_access_reads_the_imported_bytes_then_end_access_stops_the_sas(
    lab: Lab, vhd: Vhd
) -> None:
    name = unique("read")
    _import(lab, name, vhd.url)
    compute = lab.compute()
    access = compute.disks.begin_grant_access(
        lab.group, name, {"access": "Read", "durationInSeconds": 600}
    ).result()
    assert compute.disks.get(lab.group, name).disk_state == "ActiveSAS"
    sas = BlobClient.from_blob_url(access.access_sas)
    data = sas.download_blob().readall()
    assert hashlib.sha256(data).hexdigest() == vhd.sha256
    # A read SAS: it cannot write the disk.
    with pytest.raises(HttpResponseError) as write:
        sas.upload_page(b"\0" * 512, offset=0, length=512)
    assert write.value.status_code == 403

    compute.disks.begin_revoke_access(lab.group, name).result()
    assert compute.disks.get(lab.group, name).disk_state == "Unattached"
    with pytest.raises(HttpResponseError) as revoked:
        BlobClient.from_blob_url(access.access_sas).download_blob().readall()
    assert revoked.value.status_code == 403


def test_the_sas_expires_when_the_access_granted_ends(lab: Lab, vhd: Vhd) -> None:
    name = unique("short")
    _import(lab, name, vhd.url)
    access = (
        lab.compute()
        .disks.begin_grant_access(lab.group, name, {"access": "Read", "durationInSeconds": 60})
        .result()
    )
    container = urlsplit(access.access_sas).path.split("/")[-2]
    policy = lab.storage.get_container_client(container).get_container_access_policy()
    (identifier,) = policy["signed_identifiers"]
    expiry = datetime.fromisoformat(identifier.access_policy.expiry.replace("Z", "+00:00"))
    assert timedelta(seconds=0) < expiry - datetime.now(UTC) <= timedelta(seconds=61)
    assert identifier.access_policy.permission == "r"


def test_import_from_a_recovery_point_copies_the_snapshot_to_a_blob_first(
    lab: Lab, vhd: Vhd
) -> None:
    """A recovery point is a blob snapshot; the base blob has moved on since. Import takes a
    base blob (docs/failover.md, 'Import and blob snapshots'), so the snapshot is copied to
    one, and the disk holds the point's bytes, not the blob's current ones."""
    point = vhd.blob.create_snapshot()
    vhd.blob.upload_page(b"\xee" * 512, offset=0, length=512)  # the next cycle writes on
    snapshot = BlobClient.from_blob_url(
        f"{vhd.url}?snapshot={point['snapshot']}", credential=lab.storage.credential
    )

    refused = _refusal(lab, snapshot.url)
    assert refused.status_code == 400 and refused.error.code == "InvalidParameter"
    assert refused.error.target == "sourceUri"

    copy = lab.storage.get_blob_client(vhd.blob.container_name, unique("point") + ".vhd")
    copy.start_copy_from_url(snapshot.url, requires_sync=False)
    assert copy.get_blob_properties().copy.status == "success"
    name = unique("from-point")
    _import(lab, name, copy.url)
    access = (
        lab.compute()
        .disks.begin_grant_access(lab.group, name, {"access": "Read", "durationInSeconds": 600})
        .result()
    )
    data = BlobClient.from_blob_url(access.access_sas).download_blob().readall()
    assert hashlib.sha256(data).hexdigest() == vhd.sha256


def test_a_put_of_the_same_disk_again_answers_the_disk_and_keeps_its_bytes(
    lab: Lab, vhd: Vhd
) -> None:
    name = unique("again")
    first = _import(lab, name, vhd.url, osType="Windows")
    again = (
        lab.compute()
        .disks.begin_create_or_update(
            lab.group, name, {**import_body(lab, vhd.url, osType="Windows"), "tags": {"k": "v"}}
        )
        .result()
    )
    assert again.unique_id == first.unique_id and again.tags == {"k": "v"}
    with pytest.raises(HttpResponseError) as changed:
        _import(lab, name, vhd.url.replace(".vhd", "-other.vhd"))
    assert changed.value.error.code == "BadRequest"
    assert "Changing property 'sourceUri' is not allowed" in changed.value.error.message


def test_list_by_group_get_and_delete(lab: Lab, vhd: Vhd) -> None:
    name = unique("gone")
    _import(lab, name, vhd.url)
    compute = lab.compute()
    assert name in {d.name for d in compute.disks.list_by_resource_group(lab.group)}
    compute.disks.begin_delete(lab.group, name).result()
    with pytest.raises(ResourceNotFoundError) as missing:
        compute.disks.get(lab.group, name)
    assert missing.value.error.code == "ResourceNotFound"
    assert name not in {d.name for d in compute.disks.list_by_resource_group(lab.group)}
    compute.disks.begin_delete(lab.group, name).result()  # deleting nothing is no error (204)


# ---------------------------------------------------------------- what Azure refuses


def test_missing_storage_account_id_is_refused(lab: Lab, vhd: Vhd) -> None:
    body = import_body(lab, vhd.url)
    del body["properties"]["creationData"]["storageAccountId"]
    with pytest.raises(HttpResponseError) as refused:
        lab.compute().disks.begin_create_or_update(lab.group, unique("noacct"), body).result()
    assert refused.value.status_code == 400
    assert refused.value.error.code == "InvalidParameter"
    assert refused.value.error.message == (
        "Required parameter 'storageAccountId' is missing (null)."
    )


def test_a_block_blob_is_refused(lab: Lab, vhd: Vhd) -> None:
    block = lab.storage.get_blob_client(vhd.blob.container_name, unique("block") + ".vhd")
    block.upload_blob(vhd.path.read_bytes(), blob_type="BlockBlob")
    refused = _refusal(lab, block.url)
    assert (refused.status_code, refused.error.code) == (400, "BadRequest")
    assert refused.error.message == "Only blobs formatted as VHDs can be imported."


def test_a_size_that_is_not_whole_mib_plus_the_footer_is_refused(
    lab: Lab, vhd: Vhd, tmp_path: Path
) -> None:
    misaligned = tmp_path / "misaligned.vhd"
    data = vhd.path.read_bytes()
    misaligned.write_bytes(data[:-512] + b"\0" * 512 + data[-512:])  # 4 MiB + 512 + footer
    refused = _refusal(lab, upload_page_blob(lab, misaligned).url)
    assert (refused.error.code, refused.error.message) == (
        "BadRequest",
        "Only blobs formatted as VHDs can be imported.",
    )


def test_a_dynamic_vhd_made_by_qemu_img_is_refused(lab: Lab, qemu_img: str, tmp_path: Path) -> None:
    import subprocess

    dynamic = tmp_path / "dynamic.vhd"
    subprocess.run(
        [qemu_img, "create", "-f", "vpc", "-o", "subformat=dynamic", str(dynamic), "8M"], check=True
    )
    padded = dynamic.read_bytes()
    padded += b"\0" * (-len(padded) % 512)
    dynamic.write_bytes(padded)
    refused = _refusal(lab, upload_page_blob(lab, dynamic).url)
    assert refused.status_code == 400 and refused.error.code == "BadRequest"


def _with_footer(
    path: Path, target: Path, *, cookie: bytes | None = None, disk_type: int | None = None
) -> Path:
    data = bytearray(path.read_bytes())
    footer = data[-512:]
    if cookie is not None:
        footer[:8] = cookie
    if disk_type is not None:
        footer[60:64] = struct.pack(">I", disk_type)
        footer[64:68] = b"\0\0\0\0"
        footer[64:68] = struct.pack(">I", ~sum(footer) & 0xFFFFFFFF)
    data[-512:] = footer
    target.write_bytes(bytes(data))
    return target


def test_a_footer_without_the_vhd_cookie_is_refused(lab: Lab, vhd: Vhd, tmp_path: Path) -> None:
    raw = _with_footer(vhd.path, tmp_path / "raw.vhd", cookie=b"\0" * 8)
    blob = upload_page_blob(lab, raw)
    refused = _refusal(lab, blob.url)
    assert refused.error.code == "InvalidVhd"
    assert "Disk is expected to have cookie value 'conectix'" in refused.error.message
    assert blob.url in refused.error.message


def test_a_footer_of_a_dynamic_disk_type_is_refused(lab: Lab, vhd: Vhd, tmp_path: Path) -> None:
    dynamic = _with_footer(vhd.path, tmp_path / "type3.vhd", disk_type=3)
    refused = _refusal(lab, upload_page_blob(lab, dynamic).url)
    assert refused.error.code == "InvalidVhd" and "dynamic" in refused.error.message


def test_a_blob_that_does_not_exist_or_is_in_another_account_is_refused(lab: Lab, vhd: Vhd) -> None:
    gone = _refusal(lab, vhd.url.replace(".vhd", "-missing.vhd"))
    assert gone.error.code == "InvalidParameter" and gone.error.target == "sourceUri"
    body = import_body(lab, vhd.url)
    body["properties"]["creationData"]["storageAccountId"] = lab.settings[
        "REPLICA_STORAGE_ACCOUNT_ID"
    ].replace("devstoreaccount1", "otheraccount")
    with pytest.raises(HttpResponseError) as other:
        lab.compute().disks.begin_create_or_update(lab.group, unique("other"), body).result()
    assert other.value.error.code == "InvalidParameter"


def test_a_disk_made_by_qemu_img_of_many_mib_imports_whole(
    lab: Lab, qemu_img: str, tmp_path: Path
) -> None:
    path = fixed_vhd(qemu_img, tmp_path, 3)
    disk = _import(lab, unique("three"), upload_page_blob(lab, path).url)
    assert disk.disk_size_bytes == 3 * MIB
