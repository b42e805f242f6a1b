"""Damaged and unsupported images are refused at open with a clear DiskError.

Each case starts from a qemu-made image and breaks exactly one thing per MS-VHDX (checksums
recomputed where the point is not the checksum), so the error is the one named.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from agent.disks import open_disk
from agent.errors import DiskError
from tests.agent import vhdx_edit as edit
from tests.agent.conftest import Write

MIB = 1024 * 1024


@pytest.fixture
def vhdx(make_disk) -> Path:
    """64 MiB dynamic VHDX, 1 MiB blocks, data in blocks 0, 5 and 63 (the last in the file)."""
    return make_disk(
        "vhdx",
        subformat="dynamic",
        block_size="1M",
        writes=[Write(0, 4096, 0x11), Write(5 * MIB, 4096, 0x55), Write(63 * MIB, 512, 0x63)],
    )


def refused(path: Path, **kw: object) -> DiskError:
    with pytest.raises(DiskError) as err:
        open_disk(path, **kw)  # type: ignore[arg-type]
    e = err.value
    assert e.code and e.cause and e.recommendation
    assert str(path.name) in e.cause
    return e


def test_truncated_header_section(vhdx: Path):
    os.truncate(vhdx, 512 * 1024)
    assert refused(vhdx).code == "DiskTruncated"


def test_truncated_data_block_means_bat_past_end(vhdx: Path):
    os.truncate(vhdx, vhdx.stat().st_size - 512 * 1024)
    e = refused(vhdx)
    assert e.code == "VhdxBatPastEnd"
    assert "copy it again" in e.recommendation


def test_bat_entry_pointing_past_the_end(vhdx: Path):
    edit.set_bat_entry(vhdx, 7, edit.FULLY_PRESENT, 4096 * MIB)
    assert refused(vhdx).code == "VhdxBatPastEnd"


def test_wrong_signature_is_not_mistaken_for_raw(vhdx: Path):
    with open(vhdx, "r+b") as f:
        f.write(b"vhdxfilX")
    assert refused(vhdx).code == "VhdxBadSignature"


def test_garbage_named_vhdx_is_refused(tmp_path: Path):
    path = tmp_path / "disk.vhdx"
    path.write_bytes(os.urandom(4096))
    assert refused(path).code == "DiskFormatUnrecognized"


def test_one_bad_header_falls_back_to_the_other(vhdx: Path, qemu_raw):
    expected = qemu_raw(vhdx)
    edit.corrupt_header(vhdx, edit.current_header_index(vhdx))
    with open_disk(vhdx) as disk:
        assert disk.read(0, disk.virtual_size) == expected


def test_both_headers_bad(vhdx: Path):
    edit.corrupt_header(vhdx, 0)
    edit.corrupt_header(vhdx, 1)
    e = refused(vhdx)
    assert e.code == "VhdxHeaderCorrupt"
    assert "CRC-32C" in e.cause


@pytest.mark.parametrize("newer", [0, 1])
def test_current_header_is_the_highest_sequence_number(vhdx: Path, newer: int):
    guids = [uuid.uuid4(), uuid.uuid4()]
    for which in (0, 1):
        seq = 100 if which == newer else 99
        edit.rewrite_header(vhdx, which, sequence=seq, data_write_guid=guids[which])
    with open_disk(vhdx) as disk:
        assert disk.header.data_write_guid == guids[newer]


def test_dirty_log_is_replayed_or_refused_on_request(vhdx: Path, qemu_raw):
    before = qemu_raw(vhdx)
    edit.write_log_entry(vhdx)
    # qemu agrees the log needs replaying: it will not even open the file read-only
    info = subprocess.run(["qemu-img", "info", vhdx], capture_output=True, text=True)
    assert info.returncode != 0 and "log that needs to be replayed" in info.stderr
    e = refused(vhdx, replay_log=False)
    assert e.code == "VhdxLogNotEmpty"
    assert "Mount-VHD" in e.recommendation and "qemu-img check -r all" in e.recommendation
    with open_disk(vhdx) as disk:  # the default: replayed in memory
        replayed = disk.read(0, disk.virtual_size)
    # following the recommendation instead gives the same bytes
    subprocess.run(["qemu-img", "check", "-q", "-r", "all", vhdx], check=True)
    with open_disk(vhdx, replay_log=False) as disk:
        assert disk.read(0, disk.virtual_size) == replayed == before == qemu_raw(vhdx)


def test_log_guid_without_a_valid_entry_has_nothing_to_replay(vhdx: Path, qemu_raw):
    expected = qemu_raw(vhdx)
    edit.write_log_entry(vhdx, valid=False)  # entry CRC wrong: not part of any sequence
    with open_disk(vhdx) as disk:
        assert disk.read(0, disk.virtual_size) == expected


@pytest.mark.parametrize("block_size", [512 * 1024, 512 * MIB, 3 * MIB])
def test_block_size_out_of_range(vhdx: Path, block_size: int):
    _, flags = edit.file_parameters(vhdx)
    edit.set_file_parameters(vhdx, block_size, flags)
    e = refused(vhdx)
    assert e.code == "VhdxBlockSizeInvalid"
    assert str(block_size) in e.cause


def test_unknown_required_region_is_refused(vhdx: Path):
    edit.add_region(vhdx, uuid.uuid4(), 8 * MIB, MIB, required=True)
    assert refused(vhdx).code == "VhdxUnsupportedRegion"


def test_unknown_optional_region_is_ignored(vhdx: Path, qemu_raw):
    expected = qemu_raw(vhdx)
    edit.add_region(vhdx, uuid.uuid4(), 8 * MIB, MIB, required=False)
    with open_disk(vhdx) as disk:
        assert disk.read(0, disk.virtual_size) == expected


def test_unknown_required_metadata_item_is_refused(vhdx: Path):
    edit.set_metadata_item(vhdx, uuid.uuid4(), b"\x01" * 8, flags=0b100)
    assert refused(vhdx).code == "VhdxUnsupportedMetadata"


def test_bad_region_table_checksums(vhdx: Path):
    for table in edit.REGION_OFFSETS:
        with open(vhdx, "r+b") as f:
            f.seek(table + 100)
            f.write(b"\xee")
    assert refused(vhdx).code == "VhdxRegionTableCorrupt"


def test_missing_parent(make_disk, tmp_path: Path):
    parent = tmp_path / "base.vhdx"
    child = tmp_path / "child.avhdx"
    os.replace(make_disk("vhdx", size="8M"), parent)
    os.replace(make_disk("vhdx", size="8M"), child)
    edit.make_differencing(child, parent)
    parent.unlink()
    e = refused(child)
    assert e.code == "ParentNotFound"
    assert "base.vhdx" in e.cause
