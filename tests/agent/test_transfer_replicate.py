"""Initial replication into a real Azurite, of disks qemu-img made: byte-identical replicas,
only non-zero data sent, every request within Azure's rules, refusals before any write."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from agent import footer
from agent.errors import AgentError, DiskError
from agent.manifest import StateStore
from agent.transfer import TransferOptions, replicate
from devhost.azurite import Azurite
from tests.agent.conftest import SCATTERED, Write
from tests.agent.transfer_support import MIB, RequestLog, check_replica, new_blob, new_sas

FIXTURES = [
    pytest.param("vhdx", "dynamic", "64M", "1M", id="vhdx-dynamic-1M"),
    pytest.param("vhdx", "dynamic", "64M", "32M", id="vhdx-dynamic-32M"),
    pytest.param("vhdx", "dynamic", "300M", "256M", id="vhdx-dynamic-256M"),
    pytest.param("vhdx", "fixed", "64M", None, id="vhdx-fixed"),
    pytest.param("vpc", "dynamic", "64M", None, id="vhd-dynamic"),
    pytest.param("vpc", "fixed", "64M", None, id="vhd-fixed"),
    pytest.param("raw", None, "64M", None, id="raw"),
]


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerClient]:
    with Azurite(tmp_path_factory.mktemp("azurite")) as az:
        svc = BlobServiceClient.from_connection_string(az.connection_string)
        yield svc.create_container("replicas")


def _nonzero_cells(raw: bytes, cell: int = 64 * 1024) -> int:
    zero = bytes(cell)
    return sum(cell for i in range(0, len(raw), cell) if raw[i : i + cell] != zero[: len(raw) - i])


@pytest.mark.parametrize(("fmt", "subformat", "size", "block"), FIXTURES)
def test_each_qemu_disk_replicates_byte_identical(
    container: ContainerClient,
    make_disk: Callable[..., Path],
    qemu_raw: Callable[[Path], bytes],
    tmp_path: Path,
    fmt: str,
    subformat: str | None,
    size: str,
    block: str | None,
) -> None:
    disk = make_disk(fmt, subformat=subformat, size=size, block_size=block, writes=SCATTERED)
    raw = qemu_raw(disk)
    blob, sas = new_blob(container, footer.blob_size(len(raw)))
    log = RequestLog()
    result = replicate(
        disk, sas, state_dir=tmp_path / "state", options=TransferOptions(request_hook=log)
    )
    check_replica(blob, raw, tmp_path)
    log.assert_azure_rules(result.blob_size)
    # Only non-zero 64 KiB cells travel (plus the footer), whatever the format allocated.
    assert result.bytes_sent - footer.FOOTER_SIZE <= _nonzero_cells(raw)
    assert result.bytes_sent == sum(r.length for r in log.writes())
    assert f"{footer.rounded_size(len(raw))}+512" in result.checksums


def test_ext4_filesystem_disk_replicates(
    container: ContainerClient,
    make_ext4_disk: Callable[..., Path],
    qemu_raw: Callable[[Path], bytes],
    tmp_path: Path,
) -> None:
    disk = make_ext4_disk("vhdx", size="64M")
    raw = qemu_raw(disk)
    blob, sas = new_blob(container, footer.blob_size(len(raw)))
    result = replicate(disk, sas, state_dir=tmp_path)
    check_replica(blob, raw, tmp_path)
    assert result.bytes_sent < len(raw) // 4  # a sparse filesystem: most of it never travels


def test_unaligned_size_and_dense_data_stay_within_azure_limits(
    container: ContainerClient, tmp_path: Path
) -> None:
    virtual = 10 * MIB + 3 * 512  # rounds up to 11 MiB; the tail is padding
    disk = tmp_path / "dense.raw"
    disk.write_bytes(os.urandom(virtual))
    blob, sas = new_blob(container, footer.blob_size(virtual))
    log = RequestLog()
    result = replicate(
        disk, sas, state_dir=tmp_path / "s", options=TransferOptions(request_hook=log)
    )
    log.assert_azure_rules(result.blob_size)
    assert max(r.length for r in log.writes()) == 4 * MIB
    check_replica(blob, disk.read_bytes(), tmp_path)
    # Every sampled checksum is the MD5 of what the blob holds there.
    from agent.transfer.target import md5_b64

    data = blob.download_blob().readall()
    for key, value in result.checksums.items():
        off, length = (int(x) for x in key.split("+"))
        assert md5_b64(data[off : off + length]) == value


@pytest.mark.parametrize(
    ("mode", "header"), [("md5", "Content-MD5"), ("crc64", "x-ms-content-crc64")]
)
def test_a_byte_changed_on_the_wire_is_rejected(
    container: ContainerClient, tmp_path: Path, mode: str, header: str
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(2 * MIB))
    blob, sas = new_blob(container, footer.blob_size(2 * MIB))
    seen: list[str] = []

    def corrupt(pipeline_request: object) -> None:
        req = pipeline_request.http_request  # type: ignore[attr-defined]
        if req.headers.get("x-ms-page-write") == "update":
            seen.append(req.headers.get(header, ""))
            body = bytearray(req.data)
            body[100] ^= 0xFF  # after the checksum was computed: the service must notice
            req.data = bytes(body)

    options = TransferOptions(checksum=mode, request_hook=corrupt, concurrency=1)
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=tmp_path / "s", options=options)
    assert err.value.code == "TransferFailed"
    assert seen and all(seen)
    assert list(blob.list_page_ranges()) == []


def _refused(container: ContainerClient, tmp_path: Path, size: int, **sas_kw: object) -> AgentError:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(MIB))
    blob, sas = new_blob(container, size, **sas_kw)  # type: ignore[arg-type]
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=tmp_path / "s")
    assert list(blob.list_page_ranges()) == [], "nothing may be written after a refusal"
    assert err.value.cause and err.value.recommendation
    return err.value


def test_blob_of_the_wrong_size_is_refused(container: ContainerClient, tmp_path: Path) -> None:
    err = _refused(container, tmp_path, 2 * MIB)
    assert err.code == "BlobSizeMismatch" and str(footer.blob_size(MIB)) in err.cause


def test_expired_sas_is_refused(container: ContainerClient, tmp_path: Path) -> None:
    err = _refused(container, tmp_path, footer.blob_size(MIB), expiry=timedelta(minutes=-5))
    assert err.code == "SasExpired"


def test_read_only_sas_is_refused(container: ContainerClient, tmp_path: Path) -> None:
    err = _refused(container, tmp_path, footer.blob_size(MIB), write=False)
    assert err.code == "SasNotWritable"


def test_a_write_only_sas_replicates_and_resumes(
    container: ContainerClient, tmp_path: Path
) -> None:
    """The control plane issues write-only SASes: the engine cannot read the blob's size then,
    so it trusts the replica's size, and still writes a verifiable replica and resumes."""
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(3 * MIB) + bytes(2 * MIB) + os.urandom(MIB))
    blob, sas = new_blob(container, footer.blob_size(6 * MIB), read=False)
    assert "sp=w&" in sas or sas.endswith("sp=w")
    first = replicate(disk, sas, state_dir=tmp_path / "s")
    assert first.bytes_sent == 4 * MIB + footer.FOOTER_SIZE, "zeros are skipped, footer written"
    check_replica(blob, disk.read_bytes(), tmp_path)
    again = replicate(disk, sas, state_dir=tmp_path / "s")
    assert again.bytes_sent == 0, "a rerun with the same write-only SAS sends nothing"


def test_a_resync_needs_read_permission(container: ContainerClient, tmp_path: Path) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(MIB))
    blob, sas = new_blob(container, footer.blob_size(MIB), read=False)
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=tmp_path / "s", resync=True)
    assert err.value.code == "SasNotReadable" and "sp=rw" in err.value.recommendation
    assert list(blob.list_page_ranges()) == [], "nothing is written after a refusal"


def test_sas_expiring_mid_transfer_stops_with_sas_expired_and_a_fresh_one_resumes(
    container: ContainerClient, tmp_path: Path
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(12 * MIB))
    blob, short = new_blob(container, footer.blob_size(12 * MIB), expiry=timedelta(seconds=3))
    opts = TransferOptions(concurrency=2, bandwidth_bytes_per_s=2 * MIB)  # ~6 s: outlives it
    with pytest.raises(AgentError) as err:
        replicate(disk, short, state_dir=tmp_path / "s", options=opts)
    assert err.value.code == "SasExpired"  # Azurite's 403 names no cause; the SAS's se= does
    fresh = f"{blob.url}?{new_sas(blob)}"
    again = replicate(disk, fresh, state_dir=tmp_path / "s")
    assert again.mode == "resume" and again.bytes_sent < 12 * MIB
    check_replica(blob, disk.read_bytes(), tmp_path)


def test_corrupt_sources_are_refused_before_any_byte(
    container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path
) -> None:
    truncated = make_disk("vhdx", subformat="dynamic", writes=[Write(0, 4 * MIB, 0x42)])
    os.truncate(truncated, truncated.stat().st_size // 2)
    bad_headers = make_disk("vhdx", subformat="dynamic", writes=[Write(0, MIB, 0x42)])
    with bad_headers.open("r+b") as f:
        for header in (64 * 1024, 128 * 1024):  # both copies, so neither can be chosen
            f.seek(header + 8)
            f.write(b"\xde\xad\xbe\xef")
    for disk in (truncated, bad_headers, tmp_path / "missing.vhdx"):
        blob, sas = new_blob(container, footer.blob_size(64 * MIB))
        with pytest.raises(DiskError):
            replicate(disk, sas, state_dir=tmp_path / "s")
        assert list(blob.list_page_ranges()) == []


def test_cancel_then_rerun_sends_only_the_rest(container: ContainerClient, tmp_path: Path) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(24 * MIB))
    blob, sas = new_blob(container, footer.blob_size(24 * MIB))
    cancel = threading.Event()
    seen = []

    def stop_midway(p: object) -> None:
        seen.append(p)
        if p.bytes_done >= 8 * MIB:  # type: ignore[attr-defined]
            cancel.set()

    opts = TransferOptions(bandwidth_bytes_per_s=16 * MIB, concurrency=2)
    state = tmp_path / "state"
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=state, options=opts, on_progress=stop_midway, cancel=cancel)
    assert err.value.code == "Cancelled"
    sent_before = sum(r.end + 1 - r.start for r in blob.list_page_ranges())
    assert 0 < sent_before < 24 * MIB
    second = replicate(disk, sas, state_dir=state)
    assert second.mode == "resume"
    # The rerun sends what was missing, give or take the units in flight at the cancel.
    assert second.bytes_sent - 512 <= 24 * MIB - sent_before + 2 * 4 * MIB
    assert second.bytes_sent - 512 < 24 * MIB
    parsed = check_replica(blob, disk.read_bytes(), tmp_path)
    # The footer's unique id was chosen by the first run and kept in the state dir.
    journal = StateStore(state, disk, sas.split("?")[0]).load()
    assert journal is not None and str(parsed["unique_id"]) == journal.footer_id


def test_source_changed_refuses_resume_until_restart(
    container: ContainerClient, tmp_path: Path
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(16 * MIB))
    blob, sas = new_blob(container, footer.blob_size(16 * MIB))
    cancel = threading.Event()
    state = tmp_path / "state"

    def stop(p: object) -> None:
        if p.bytes_done >= 4 * MIB:  # type: ignore[attr-defined]
            cancel.set()

    with pytest.raises(AgentError):
        replicate(disk, sas, state_dir=state, on_progress=stop, cancel=cancel,
                  options=TransferOptions(concurrency=1, bandwidth_bytes_per_s=8 * MIB))  # fmt: skip
    with disk.open("r+b") as f:
        f.seek(12 * MIB)
        f.write(b"\x00" * MIB)  # zero a range: stale data there must not survive the restart
    os.utime(disk, ns=(1, 2))
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=state)
    assert err.value.code == "SourceChanged"
    result = replicate(disk, sas, state_dir=state, restart=True)
    assert result.mode == "initial"
    check_replica(blob, disk.read_bytes(), tmp_path)


def test_a_second_run_after_completion_sends_nothing(
    container: ContainerClient, tmp_path: Path
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(3 * MIB))
    _, sas = new_blob(container, footer.blob_size(3 * MIB))
    first = replicate(disk, sas, state_dir=tmp_path)
    again = replicate(disk, sas, state_dir=tmp_path)
    assert again.mode == "noop" and again.bytes_sent == 0
    assert again.manifest_digest == first.manifest_digest


def test_bandwidth_cap_holds_through_the_engine(container: ContainerClient, tmp_path: Path) -> None:
    import time

    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(12 * MIB))
    blob, sas = new_blob(container, footer.blob_size(12 * MIB))
    start = time.monotonic()
    replicate(disk, sas, state_dir=tmp_path, options=TransferOptions(bandwidth_bytes_per_s=4 * MIB))
    elapsed = time.monotonic() - start
    assert 2.7 <= elapsed <= 4.5, elapsed  # 12 MiB at 4 MiB/s; uncapped it takes ~0.2 s
    check_replica(blob, disk.read_bytes(), tmp_path)


def test_missing_blob_and_block_blob_are_refused(
    container: ContainerClient, tmp_path: Path
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(MIB))
    blob, sas = new_blob(container, footer.blob_size(MIB))
    blob.delete_blob()
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=tmp_path)
    assert err.value.code == "BlobNotFound"
    blob.upload_blob(b"not a disk")  # a block blob under the same name
    with pytest.raises(AgentError) as err:
        replicate(disk, sas, state_dir=tmp_path)
    assert err.value.code == "BlobTypeMismatch"
    assert blob.download_blob().readall() == b"not a disk"


def test_shapes_qemu_cannot_make_replicate_as_an_independent_reader_sees_them(
    container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path
) -> None:
    """A differencing VHDX (child over its parent) and a 4096-byte-sector VHDX, built by editing
    qemu-made files per MS-VHDX; the expected bytes come from dissect.hypervisor."""
    from tests.agent import vhdx_edit as edit
    from tests.agent.independent import dissect_read

    parent = make_disk("vhdx", subformat="dynamic", size="16M", block_size="1M",
                       writes=[Write(0, 3 * MIB, 0xA1)])  # fmt: skip
    child = make_disk("vhdx", subformat="dynamic", size="16M", block_size="1M",
                      writes=[Write(MIB, MIB, 0xB1)])  # fmt: skip
    edit.make_differencing(child, parent)
    big_sectors = make_disk("vhdx", subformat="dynamic", size="16M", block_size="1M",
                            writes=[Write(5 * MIB, 8192, 0xC1)])  # fmt: skip
    edit.set_sector_sizes(big_sectors, 4096, 4096)
    for disk in (child, big_sectors):
        expected = dissect_read(disk)[0]
        blob, sas = new_blob(container, footer.blob_size(len(expected)))
        replicate(disk, sas, state_dir=tmp_path / disk.name)
        check_replica(blob, expected, tmp_path)
    child_view = dissect_read(child)[0]
    assert child_view[:MIB] == b"\xa1" * MIB and child_view[MIB : 2 * MIB] == b"\xb1" * MIB
