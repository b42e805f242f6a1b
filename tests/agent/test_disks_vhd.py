"""VHD reader against qemu-made disks, cross-checked with qemu-img, dissect and libvhdi;
differencing VHDs built per spec and cross-checked with libvhdi (dissect has no VHD parents)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from agent.disks import open_disk
from agent.errors import DiskError
from tests.agent import vhd_edit as edit
from tests.agent.conftest import SCATTERED, Write
from tests.agent.independent import dissect_read, first_difference, pyvhdi_read
from tests.agent.test_disks_vhdx import assert_extents_cover_nonzero, assert_unaligned_reads

MIB = 1024 * 1024


@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
def test_qemu_vhd_reads_like_qemu_dissect_and_libvhdi(make_disk, qemu_raw, subformat: str):
    path = make_disk("vpc", subformat=subformat, writes=SCATTERED)
    expected = qemu_raw(path)
    with open_disk(path) as disk:
        info = disk.info()
        assert (info.format, info.subformat) == ("vhd", subformat)
        assert info.virtual_size == len(expected) == 64 * MIB
        ours = disk.read(0, disk.virtual_size)
        assert first_difference(ours, expected) is None
        assert first_difference(dissect_read(path)[0], ours) is None
        assert first_difference(pyvhdi_read(path)[0], ours) is None
        assert_extents_cover_nonzero(disk, expected)
        assert_unaligned_reads(disk, expected)
        assert info.allocated_bytes <= 16 * MIB  # sparse either way


def test_vhd_filesystem_disk(make_ext4_disk, qemu_raw):
    path = make_ext4_disk("vpc", size="64M", subformat="dynamic")
    expected = qemu_raw(path)
    with open_disk(path) as disk:
        ours = disk.read(0, disk.virtual_size)
        assert first_difference(ours, expected) is None
        assert first_difference(dissect_read(path)[0], ours) is None
        assert first_difference(pyvhdi_read(path)[0], ours) is None
        assert_extents_cover_nonzero(disk, expected)


@pytest.fixture
def vhd_chain(make_disk, qemu_raw, tmp_path: Path):
    """parent: blocks 0-5 (2 MiB each) patterned; child: block 1 all its own, block 2 with only
    sectors 16..143 its own (the rest from the parent), block 4 with an unaligned run."""
    parent_src = make_disk(
        "vpc",
        subformat="dynamic",
        size="16M",
        writes=[Write(i * 2 * MIB, 2 * MIB, 0xA0 + i) for i in range(6)],
    )
    child_src = make_disk(
        "vpc",
        subformat="dynamic",
        size="16M",
        writes=[
            Write(2 * MIB, 2 * MIB, 0xB1),
            Write(4 * MIB, 2 * MIB, 0xB2),
            Write(8 * MIB, 2 * MIB, 0xB4),
        ],
    )
    parent_raw, child_raw = qemu_raw(parent_src), qemu_raw(child_src)
    parent, child = tmp_path / "base.vhd", tmp_path / "child.avhd"
    shutil.copy(parent_src, parent)
    shutil.copy(child_src, child)
    edit.make_differencing(child, parent)
    spb = 2 * MIB // 512
    edit.set_bitmap(child, 2, 0, spb, present=False)
    edit.set_bitmap(child, 2, 16, 128, present=True)
    edit.set_bitmap(child, 4, 0, spb, present=False)
    edit.set_bitmap(child, 4, 3, 5, present=True)
    expected = bytearray(parent_raw)
    expected[2 * MIB : 4 * MIB] = child_raw[2 * MIB : 4 * MIB]
    expected[4 * MIB + 16 * 512 : 4 * MIB + 144 * 512] = b"\xb2" * 128 * 512
    expected[8 * MIB + 3 * 512 : 8 * MIB + 8 * 512] = b"\xb4" * 5 * 512
    return parent, child, bytes(expected)


def test_differencing_vhd_reads_like_libvhdi(vhd_chain):
    parent, child, expected = vhd_chain
    with open_disk(child) as disk:
        info = disk.info()
        assert info.subformat == "differencing"
        assert info.chain == [child, parent]
        ours = disk.read(0, disk.virtual_size)
        assert_extents_cover_nonzero(disk, ours)
        assert_unaligned_reads(disk, ours)
    assert first_difference(ours, expected) is None
    assert first_difference(pyvhdi_read(child, [parent])[0], ours) is None


def test_differencing_vhd_parent_by_unicode_name_in_search_dir(vhd_chain, tmp_path: Path):
    parent, child, expected = vhd_chain
    moved = tmp_path / "store"
    moved.mkdir()
    parent.rename(moved / parent.name)
    with pytest.raises(DiskError) as err:
        open_disk(child)
    assert err.value.code == "ParentNotFound"
    with open_disk(child, search_dirs=[moved]) as disk:
        assert disk.read(0, disk.virtual_size) == expected


def test_differencing_vhd_parent_id_mismatch(vhd_chain):
    parent, child, _ = vhd_chain
    edit.set_unique_id(parent, uuid.uuid4())
    with pytest.raises(DiskError) as err:
        open_disk(child)
    assert err.value.code == "ParentIdMismatch"


# ---------------------------------------------------------------- damaged VHDs


def refused(path: Path) -> DiskError:
    with pytest.raises(DiskError) as err:
        open_disk(path)
    assert err.value.cause and err.value.recommendation and path.name in err.value.cause
    return err.value


def test_truncated_vhd(make_disk):
    path = make_disk("vpc", subformat="dynamic", writes=SCATTERED)
    os.truncate(path, path.stat().st_size - 4096)
    assert refused(path).code == "DiskTruncated"


def test_truncated_fixed_vhd_is_not_read_as_raw(make_disk):
    path = make_disk("vpc", subformat="fixed", size="8M")
    os.truncate(path, path.stat().st_size - 1024)
    assert refused(path).code == "DiskFormatUnrecognized"


def test_bad_end_footer_falls_back_to_the_copy_at_the_start(make_disk, qemu_raw):
    path = make_disk("vpc", subformat="dynamic", writes=SCATTERED)
    expected = qemu_raw(path)
    with open(path, "r+b") as f:
        f.seek(-512 + 100, os.SEEK_END)
        f.write(b"\xff")
    with open_disk(path) as disk:
        assert disk.read(0, disk.virtual_size) == expected


def test_bad_footer_checksums(make_disk):
    path = make_disk("vpc", subformat="dynamic")
    for where in (0, path.stat().st_size - 512):
        with open(path, "r+b") as f:
            f.seek(where + 100)
            f.write(b"\xff")
    assert refused(path).code == "VhdFooterChecksum"


def test_bad_dynamic_header_checksum(make_disk):
    path = make_disk("vpc", subformat="dynamic")
    offset, raw = edit.header(path)
    raw[1000] ^= 0xFF
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(bytes(raw))
    assert refused(path).code == "VhdHeaderChecksum"


def test_vhd_bat_past_end(make_disk):
    path = make_disk("vpc", subformat="dynamic", writes=[Write(0, 512)])
    edit.set_bat_entry(path, 3, (path.stat().st_size // 512) + 100)
    assert refused(path).code == "VhdBatPastEnd"
