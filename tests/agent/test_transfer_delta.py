"""Delta sync and resync on a real Azurite: after random writes (some of them zeroing ranges)
the replica equals the new source, with RCT ranges and with block hashes; the manifest is never
ahead of the blob; a lost manifest asks for a resync, and a resync repairs a damaged blob."""

from __future__ import annotations

import json
import random
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from agent import footer
from agent.errors import AgentError
from agent.manifest import StateStore
from agent.transfer import TransferOptions, replicate, sync
from agent.transfer.plan import align_out
from devhost.azurite import Azurite
from tests.agent.conftest import Write
from tests.agent.transfer_support import MIB, RequestLog, check_replica, new_blob

SIZE = 64 * MIB


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerClient]:
    with Azurite(tmp_path_factory.mktemp("azurite")) as az:
        svc = BlobServiceClient.from_connection_string(az.connection_string)
        yield svc.create_container("deltas")


def _random_writes(seed: int, n: int = 24) -> list[Write]:
    """Scattered 4-128 KiB writes at 512-byte offsets; every third one writes zeros."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.choice([4096, 8192, 65536, 131072, 512 * 7])
        offset = rng.randrange(0, (SIZE - length) // 512) * 512
        out.append(Write(offset, length, pattern=rng.randrange(1, 256), zero=i % 3 == 0))
    return out


def _apply(disk: Path, fmt: str, writes: list[Write]) -> None:
    cmds = [arg for w in writes for arg in ("-c", w.command())]
    subprocess.run(["qemu-io", "-f", fmt, *cmds, str(disk)], check=True, capture_output=True)


@pytest.fixture
def replicated(
    container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path
) -> tuple[Path, object, str, Path]:
    """A dynamic VHDX with data in most places the later writes hit, already replicated."""
    base = [Write(o * MIB, MIB, 0x30 + o % 200) for o in range(0, 64, 3)]
    disk = make_disk("vhdx", subformat="dynamic", size="64M", block_size="1M", writes=base)
    blob, sas = new_blob(container, footer.blob_size(SIZE))
    state = tmp_path / "state"
    replicate(disk, sas, state_dir=state)
    return disk, blob, sas, state


@pytest.mark.parametrize("seed", [1, 2])
def test_hash_delta_after_random_writes_equals_the_new_source(
    replicated: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path, seed: int
) -> None:
    disk, blob, sas, state = replicated
    writes = _random_writes(seed)
    _apply(disk, "vhdx", writes)
    log = RequestLog()
    result = sync(disk, sas, state_dir=state, options=TransferOptions(request_hook=log))
    assert result.mode == "hash"
    check_replica(blob, qemu_raw(disk), tmp_path)
    log.assert_azure_rules(result.blob_size)
    touched = {w.offset // MIB for w in writes} | {(w.offset + w.length - 1) // MIB for w in writes}
    assert result.bytes_sent <= len(touched) * MIB  # never more than the changed hash blocks
    assert result.bytes_cleared > 0  # some writes zeroed data the blob held
    # Nothing changed since: the next cycle sends nothing.
    assert sync(disk, sas, state_dir=state).bytes_sent == 0


def test_rct_delta_sends_only_the_listed_ranges(
    replicated: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    disk, blob, sas, state = replicated
    writes = _random_writes(7)
    _apply(disk, "vhdx", writes)
    ranges = [{"offset": w.offset, "length": w.length} for w in writes]
    log = RequestLog()
    result = sync(
        disk, sas, state_dir=state, rct_ranges=ranges, options=TransferOptions(request_hook=log)
    )
    assert result.mode == "rct"
    check_replica(blob, qemu_raw(disk), tmp_path)
    changed = sum(align_out(w.offset, w.length)[1] for w in writes)
    assert result.bytes_sent + result.bytes_cleared <= changed
    for req in log.requests:  # every request lies inside a listed range
        assert any(w.offset <= req.offset and req.offset + req.length <= w.offset + w.length
                   for w in writes), req  # fmt: skip
    # The manifest was updated from the RCT cycle: a hash cycle now finds nothing to send.
    assert sync(disk, sas, state_dir=state).bytes_sent == 0


def test_sync_without_a_manifest_is_change_tracking_lost(
    container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path
) -> None:
    disk = make_disk("vhdx", subformat="dynamic", writes=[Write(0, MIB, 0x77)])
    _, sas = new_blob(container, footer.blob_size(SIZE))
    with pytest.raises(AgentError) as err:
        sync(disk, sas, state_dir=tmp_path / "never-replicated")
    assert err.value.code == "ChangeTrackingLost" and "resync" in err.value.recommendation


def test_bad_rct_ranges_are_refused_before_any_write(replicated: tuple) -> None:
    disk, blob, sas, state = replicated
    before = [(r.start, r.end) for r in blob.list_page_ranges()]
    for bad in ([{"offset": SIZE - 512, "length": 4096}], [{"offset": "0", "length": 1}], {}):
        with pytest.raises(AgentError) as err:
            sync(disk, sas, state_dir=state, rct_ranges=bad)  # type: ignore[arg-type]
        assert err.value.code == "BadChangedRanges"
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == before


def test_an_interrupted_delta_never_leaves_the_manifest_ahead(
    replicated: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    disk, blob, sas, state = replicated
    store = StateStore(state, disk, sas.split("?")[0])
    digest_before = store.load().manifest_digest  # type: ignore[union-attr]
    writes = [Write(o * MIB + 4096, 256 * 1024, 0x90 + o) for o in range(0, 60, 2)]
    _apply(disk, "vhdx", writes)
    cancel = threading.Event()

    def stop(p: object) -> None:
        if p.phase == "rct" and p.bytes_done >= MIB:  # type: ignore[attr-defined]
            cancel.set()

    ranges = [{"offset": w.offset, "length": w.length} for w in writes]
    opts = TransferOptions(concurrency=1, bandwidth_bytes_per_s=2 * MIB)
    with pytest.raises(AgentError) as err:
        sync(disk, sas, state_dir=state, rct_ranges=ranges, options=opts, on_progress=stop,
             cancel=cancel)  # fmt: skip
    assert err.value.code == "Cancelled"
    journal = store.load()
    assert journal is not None and journal.manifest_digest == digest_before
    assert journal.pending  # what may be half-written is remembered
    # The next cycle's RCT list no longer has those ranges (Hyper-V moved on): still repaired.
    result = sync(disk, sas, state_dir=state, rct_ranges=[])
    assert result.bytes_sent >= 1 * MIB
    check_replica(blob, qemu_raw(disk), tmp_path)
    assert store.load().pending == []  # type: ignore[union-attr]


def test_resync_repairs_a_damaged_blob_sending_only_differences(
    replicated: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    disk, blob, sas, _ = replicated
    blob.upload_page(b"\xee" * 65536, 5 * MIB, 65536)  # garbage where the source is zero
    blob.upload_page(b"\xee" * 8192, 3 * MIB, 8192)  # garbage over data
    blob.clear_page(9 * MIB, MIB)  # data lost
    result = replicate(disk, sas, state_dir=tmp_path / "fresh-state", resync=True)
    assert result.mode == "resync"
    check_replica(blob, qemu_raw(disk), tmp_path)
    assert 0 < result.bytes_sent <= 2 * MIB
    assert result.bytes_cleared >= 65536
    # The resync left a manifest: a delta works from it straight away.
    _apply(disk, "vhdx", [Write(20 * MIB, 4096, 0x12)])
    assert sync(disk, sas, state_dir=tmp_path / "fresh-state").bytes_sent <= MIB


def test_small_hash_blocks_send_small_deltas(
    container: ContainerClient, make_disk: Callable[..., Path], qemu_raw: Callable, tmp_path: Path
) -> None:
    disk = make_disk("vhdx", subformat="dynamic", writes=[Write(0, 8 * MIB, 0x21)])
    blob, sas = new_blob(container, footer.blob_size(SIZE))
    opts = TransferOptions(hash_block_bytes=64 * 1024)
    replicate(disk, sas, state_dir=tmp_path, options=opts)
    _apply(disk, "vhdx", [Write(3 * MIB + 512, 4096, 0x99)])
    result = sync(disk, sas, state_dir=tmp_path, options=opts)
    assert 0 < result.bytes_sent <= 64 * 1024
    check_replica(blob, qemu_raw(disk), tmp_path)
    json.dumps(result.checksums)  # serialisable for the event the daemon sends
