"""The replica footer against the VHD spec and against qemu-img, an implementation we did not write."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from agent import footer
from agent.footer import FOOTER_SIZE, MIB, Footer
from tests.agent.transfer_support import qemu_info_vpc


def _qemu_fixed_vhd(tmp_path: Path, size: int) -> bytes:
    path = tmp_path / f"q{size}.vhd"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed",
         str(path), str(size)],
        check=True,
    )  # fmt: skip
    with path.open("rb") as f:
        f.seek(-FOOTER_SIZE, 2)
        return f.read()


@pytest.mark.parametrize(
    "size", [3 * MIB, 127 * MIB, 1024 * MIB, 40 * 1024 * MIB, 200 * 1024 * MIB]
)
def test_geometry_matches_qemu_for_the_same_size(tmp_path: Path, size: int) -> None:
    # qemu grows the disk to a whole CHS product (the spec floors); on that size both agree.
    theirs = footer.parse(_qemu_fixed_vhd(tmp_path, size))
    assert footer.chs_geometry(theirs["current_size"]) == theirs["geometry"]


def test_footer_fields_follow_the_spec() -> None:
    uid = uuid.uuid4()
    raw = Footer(size=10 * MIB, unique_id=uid, timestamp=1234).to_bytes()
    assert len(raw) == FOOTER_SIZE
    assert raw[:8] == b"conectix"
    parsed = footer.parse(raw)
    assert parsed["features"] == 2 and parsed["version"] == 0x00010000
    assert parsed["data_offset"] == 0xFFFFFFFFFFFFFFFF
    assert parsed["disk_type"] == 2
    assert parsed["original_size"] == parsed["current_size"] == 10 * MIB
    assert parsed["unique_id"] == uid and parsed["timestamp"] == 1234
    # Checksum: one's complement of the byte sum with the field zeroed.
    assert int.from_bytes(raw[64:68], "big") == ~sum(raw[:64] + bytes(4) + raw[68:]) & 0xFFFFFFFF


def test_a_flipped_byte_fails_the_checksum() -> None:
    raw = bytearray(Footer.new(5 * MIB).to_bytes())
    raw[100] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        footer.parse(bytes(raw))


@pytest.mark.parametrize(
    ("virtual", "rounded"),
    [(1, MIB), (MIB, MIB), (MIB + 512, 2 * MIB), (10 * MIB - 4096, 10 * MIB)],
)
def test_size_rounds_up_to_whole_mib(virtual: int, rounded: int) -> None:
    assert footer.rounded_size(virtual) == rounded
    assert footer.blob_size(virtual) == rounded + FOOTER_SIZE


def test_qemu_reads_our_replica_as_a_fixed_vhd_of_the_rounded_size(tmp_path: Path) -> None:
    virtual = 7 * MIB + 3 * 512  # not MiB aligned: the replica must round it up
    data = b"\x5a" * 4096
    path = tmp_path / "replica.vhd"
    with path.open("wb") as f:
        f.write(data)
        f.truncate(footer.rounded_size(virtual))
        f.seek(footer.rounded_size(virtual))
        f.write(Footer.new(virtual).to_bytes())
    info = qemu_info_vpc(path)
    assert info["format"] == "vpc"
    assert info["virtual-size"] == 8 * MIB
    read = subprocess.run(
        ["qemu-io", "-f", "vpc", "-c", "read -P 0x5a 0 4096", "-c", "read -P 0 4096 1M", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert "Pattern verification failed" not in read.stdout + read.stderr
