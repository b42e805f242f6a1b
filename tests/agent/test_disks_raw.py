"""Raw images and format detection: the simplest reader, and `open_disk`'s dispatch."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.disks import open_disk
from agent.errors import DiskError
from tests.agent.conftest import SCATTERED


def test_raw_reads_what_qemu_wrote_and_extents_cover_every_nonzero_byte(make_disk, qemu_raw):
    path = make_disk("raw", size="64M", writes=SCATTERED)
    expected = qemu_raw(path)
    with open_disk(path) as disk:
        assert disk.info().format == "raw"
        assert disk.virtual_size == len(expected) == 64 * 1024 * 1024
        assert disk.read(0, disk.virtual_size) == expected
        assert disk.read(1537, 1000) == expected[1537:2537]  # unaligned
        extents = list(disk.allocated_extents())
        covered = bytearray(len(expected))
        for e in extents:
            covered[e.offset : e.end] = expected[e.offset : e.end]
        assert bytes(covered) == expected
        # sparse: far less than the virtual size is reported allocated
        assert sum(e.length for e in extents) < 8 * 1024 * 1024


def test_raw_extents_are_sorted_and_merged(make_disk):
    path = make_disk("raw", size="8M", writes=[])
    with open(path, "r+b") as f:
        for off in (0x40_0000, 0x10_0000, 0x11_0000):
            f.seek(off)
            f.write(b"\x01" * 0x1_0000)
    with open_disk(path) as disk:
        ext = list(disk.allocated_extents())
    assert ext == sorted(ext)
    assert all(a.end < b.offset for a, b in itertools.pairwise(ext))


def test_read_outside_the_disk_is_a_caller_error(make_disk):
    with open_disk(make_disk("raw", size="1M")) as disk, pytest.raises(ValueError):
        disk.read(1024 * 1024 - 512, 1024)


def test_fingerprint_changes_when_the_file_changes(make_disk):
    path = make_disk("raw", size="1M")
    with open_disk(path) as disk:
        before = disk.fingerprint()
        assert disk.fingerprint() == before
        with open(path, "r+b") as f:
            f.write(b"x")
        os.utime(path, ns=(1, 1))
        assert disk.fingerprint() != before


def test_missing_file_is_refused_with_the_fix(tmp_path: Path):
    with pytest.raises(DiskError) as err:
        open_disk(tmp_path / "nope.vhdx")
    assert err.value.code == "DiskNotFound"
    assert "nope.vhdx" in err.value.cause


def test_unreadable_file_is_refused(tmp_path: Path):
    """As root every file is readable, so the check runs as `nobody` via setpriv (stdlib-only
    path: agent.disks imports nothing else before the format is known)."""
    path = tmp_path / "secret.raw"
    path.write_bytes(b"\0" * 512)
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(DiskError) as err:
            open_disk(path)
        assert err.value.code == "DiskPermissionDenied"
        return
    setpriv, python = shutil.which("setpriv"), shutil.which("python3", path="/usr/bin:/bin")
    if not (setpriv and python):
        pytest.skip("running as root without setpriv and a system python3 to drop privileges")
    tmp_path.chmod(0o755)
    script = (
        "try:\n    from agent.disks import open_disk\n"
        "except Exception as e:\n    print('IMPORT', e)\n    raise SystemExit(0)\n"
        f"try:\n    open_disk({str(path)!r})\n"
        "except Exception as e:\n    print(getattr(e, 'code', repr(e)))\n"
        "else:\n    print('OPENED')\n"
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if proc.stdout.startswith("IMPORT") or "Permission denied" in proc.stderr:
        pytest.skip(f"user nobody cannot import the checkout: {proc.stdout}{proc.stderr}")
    assert proc.stdout.strip() == "DiskPermissionDenied", proc.stderr


def test_empty_file_and_directory_are_refused(tmp_path: Path):
    (tmp_path / "empty.vhdx").write_bytes(b"")
    with pytest.raises(DiskError) as err:
        open_disk(tmp_path / "empty.vhdx")
    assert err.value.code == "DiskEmpty"
    with pytest.raises(DiskError) as err:
        open_disk(tmp_path)
    assert err.value.code == "DiskNotAFile"
