"""VHDX log replay: our in-memory replay reads what qemu's `qemu-img check -r all` writes.

Logs are made per MS-VHDX 2.3 by tests/agent/vhdx_edit.py on qemu-made disks: data and zero
descriptors over payload, a BAT update allocating a new block past the old end of file, stale
older sequences, an entry wrapping around the end of the circular log.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from agent.disks import open_disk
from agent.errors import DiskError
from tests.agent import vhdx_edit as edit
from tests.agent.conftest import Write
from tests.agent.independent import first_difference

MIB = 1024 * 1024


def replayed_by_qemu(path: Path, qemu_raw) -> bytes:
    """Replay a copy with qemu (it writes the file) and read it back as raw."""
    copy = path.with_name("qemu-replayed-" + path.name)
    shutil.copy(path, copy)
    done = subprocess.run(["qemu-img", "check", "-r", "all", copy], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return qemu_raw(copy)


@pytest.fixture
def disk(make_disk) -> Path:
    """16 MiB dynamic VHDX, 1 MiB blocks, data in blocks 0 and 2; blocks 5+ unallocated."""
    return make_disk(
        "vhdx",
        subformat="dynamic",
        block_size="1M",
        size="16M",
        writes=[Write(0, MIB, 0x10), Write(2 * MIB, MIB, 0x12)],
    )


def page(byte: int) -> bytes:
    return bytes([byte]) * 4088 + b"\xde\xad\xbe\xef\x01\x02\x03\x04"


def allocation_ops(path: Path, block: int, new_offset: int) -> list:
    """Data descriptors that rewrite the BAT page holding `block`'s entry to point at
    `new_offset` (FULLY_PRESENT): what a writer logs when it allocates a block."""
    bat_off, _ = edit.regions(path)[edit.BAT]
    index = edit.payload_index(path, block)
    page_at = bat_off + (index * 8) // 4096 * 4096
    with open(path, "rb") as f:
        f.seek(page_at)
        raw = bytearray(f.read(4096))
    at = bat_off + index * 8 - page_at
    raw[at : at + 8] = (edit.FULLY_PRESENT | (new_offset // MIB) << 20).to_bytes(8, "little")
    return [("data", page_at, bytes(raw))]


def test_replayed_log_reads_like_qemu_after_its_replay(disk: Path, qemu_raw):
    """As Hyper-V allocates: grow the file, write the new block's data in place, log the BAT
    page that maps it (plus logged data and zero pages over existing blocks), crash."""
    before = qemu_raw(disk)
    new_block = edit.append_mib_block(disk, bytes(4096) + page(0x55))
    size = disk.stat().st_size
    _, block0 = edit.bat_entry(disk, edit.payload_index(disk, 0))
    _, block2 = edit.bat_entry(disk, edit.payload_index(disk, 2))
    ops = [
        ("data", block0 + 8192, page(0x77)),
        ("zero", block2 + 4096, 8192),
        *allocation_ops(disk, 5, new_block),
    ]
    guid = uuid.uuid4()
    entry = edit.log_entry(guid, 7, 0, ops, flushed_file_offset=size, last_file_offset=size)
    edit.write_log(disk, [(0, entry)], guid)

    expected = replayed_by_qemu(disk, qemu_raw)
    assert expected != before  # the log really changes the disk
    assert expected[5 * MIB + 4096 : 5 * MIB + 8192] == page(0x55)
    assert expected[8192 : 8192 + 4096] == page(0x77)
    with open_disk(disk) as d:
        ours = d.read(0, d.virtual_size)
        extents = [(e.offset, e.length) for e in d.allocated_extents()]
    assert first_difference(ours, expected) is None
    assert (5 * MIB, MIB) in extents
    assert disk.stat().st_size == size  # replayed in memory only


def test_log_may_grow_the_file(disk: Path):
    """LastFileOffset past the end: the file had grown when the writer crashed and the growth
    was lost; the replayed BAT may map a block there, which reads as zeros beyond the file."""
    size = disk.stat().st_size
    new_block = (size + MIB - 1) // MIB * MIB
    ops = [*allocation_ops(disk, 5, new_block), ("data", new_block + 4096, page(0x55))]
    guid = uuid.uuid4()
    entry = edit.log_entry(
        guid, 7, 0, ops, flushed_file_offset=size, last_file_offset=new_block + MIB
    )
    edit.write_log(disk, [(0, entry)], guid)
    with open_disk(disk) as d:
        block5 = d.read(5 * MIB, MIB)
    assert block5 == bytes(4096) + page(0x55) + bytes(MIB - 8192)


def test_only_the_newest_valid_sequence_is_replayed(disk: Path, qemu_raw):
    size = disk.stat().st_size
    _, block0 = edit.bat_entry(disk, edit.payload_index(disk, 0))
    guid = uuid.uuid4()

    def entry(seq: int, tail: int, byte: int) -> bytes:
        return edit.log_entry(
            guid,
            seq,
            tail,
            [("data", block0, page(byte))],
            flushed_file_offset=size,
            last_file_offset=size,
        )

    placed = [
        (0, entry(3, 0, 0x31)),  # an older sequence: 3, 4
        (8192, entry(4, 0, 0x32)),
        (40960, entry(20, 40960, 0x41)),  # the newest: 20, 21 (tail = its first entry)
        (49152, entry(21, 40960, 0x42)),
    ]
    edit.write_log(disk, placed, guid)
    expected = replayed_by_qemu(disk, qemu_raw)
    with open_disk(disk) as d:
        ours = d.read(0, MIB)
    assert ours[:4088] == b"\x42" * 4088
    assert first_difference(ours, expected[:MIB]) is None


def test_entry_wrapping_around_the_end_of_the_log(disk: Path, qemu_raw):
    size = disk.stat().st_size
    _, block2 = edit.bat_entry(disk, edit.payload_index(disk, 2))
    h = edit.read_header(disk, edit.current_header_index(disk))
    guid = uuid.uuid4()
    entry = edit.log_entry(
        guid,
        9,
        h.log_length - 4096,
        [("data", block2, page(0x99)), ("data", block2 + 4096, page(0x9A))],
        flushed_file_offset=size,
        last_file_offset=size,
    )
    assert len(entry) == 3 * 4096  # header sector + 2 data sectors: 2 of them wrap
    edit.write_log(disk, [(h.log_length - 4096, entry)], guid)
    with open_disk(disk) as d:
        ours = d.read(2 * MIB, 8192)
    assert ours == page(0x99) + page(0x9A)
    assert ours == replayed_by_qemu(disk, qemu_raw)[2 * MIB : 2 * MIB + 8192]


def test_log_from_a_longer_file_is_refused(disk: Path):
    size = disk.stat().st_size
    guid = uuid.uuid4()
    entry = edit.log_entry(
        guid,
        1,
        0,
        [("zero", MIB, 4096)],
        flushed_file_offset=size + 64 * MIB,
        last_file_offset=size + 64 * MIB,
    )
    edit.write_log(disk, [(0, entry)], guid)
    with pytest.raises(DiskError) as err:
        open_disk(disk)
    assert err.value.code == "VhdxLogCorrupt"
    assert "truncated" in err.value.cause
