"""Disks made by tools we did not write (qemu-img, qemu-io, mkfs.ext4), shared by agent tests.

Factories, not files: each call makes a new image in a session temp folder, so a test that
edits or corrupts its disk never disturbs another. Typical use:

    def test_x(make_disk, qemu_raw):
        disk = make_disk("vhdx", subformat="dynamic", size="64M", block_size="1M",
                         writes=[Write(0x100000, 65536, 0xAB), Write(0x300000, 4096, zero=True)])
        expected = qemu_raw(disk)          # bytes of `qemu-img convert -O raw`

`make_ext4_disk` builds a sparse disk that holds a real ext4 filesystem with files in it.
Module-scoped variants are cheap to build on top: call the session factories from a
`@pytest.fixture(scope="module")`. Use `fmt="vpc"` for VHD (qemu's name); `qemu_raw` takes the
source format from the suffix.

Shapes qemu cannot make are built by editing its files per the specs: `tests/agent/vhdx_edit.py`
(differencing VHDX, sector sizes, block states, headers, regions, logs) and
`tests/agent/vhd_edit.py` (differencing VHD). `tests/agent/independent.py` reads any image
with dissect.hypervisor and libvhdi for cross-checks.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Write:
    """One `qemu-io` write: `pattern` bytes (or zeros with `zero=True`, i.e. `write -z`)."""

    offset: int
    length: int
    pattern: int = 0xAB
    zero: bool = False

    def command(self) -> str:
        if self.zero:
            return f"write -z {self.offset} {self.length}"
        return f"write -P {self.pattern:#x} {self.offset} {self.length}"


#: Scattered writes used by most fixtures: unaligned starts, block-crossing runs, a zero-write
#: over written data and one at the very end of a 64 MiB disk.
SCATTERED: tuple[Write, ...] = (
    Write(0, 4096, 0x11),
    Write(512 * 3, 512, 0x22),
    Write(0x0F_F000, 0x2000, 0x33),  # crosses the 1 MiB boundary
    Write(0x50_0200, 0x1_0000, 0x44),
    Write(0x50_4000, 0x1000, zero=True),  # zeroes part of the previous write
    Write(0x1F0_0000, 0x20_0000, 0x55),  # 2 MiB spanning 31-33 MiB
    Write(0x3FF_FE00, 512, 0x66),  # last sector of 64 MiB
)


def _run(argv: Sequence[str | os.PathLike[str]]) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr or proc.stdout}")


def _tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        pytest.fail(
            f"{name} is missing. Fix: run `make setup` (apt-get install qemu-utils e2fsprogs)."
        )
    return path


@pytest.fixture(scope="session")
def disk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("disks")


@pytest.fixture(scope="session")
def make_disk(disk_dir: Path) -> Callable[..., Path]:
    """make_disk(fmt, *, subformat=None, size="64M", block_size=None, writes=(), name=None).

    fmt is a qemu format: "vhdx", "vpc" (VHD) or "raw". Writes go through qemu-io in one run.
    Returns the path of a new file.
    """
    qemu_img, qemu_io = _tool("qemu-img"), _tool("qemu-io")
    counter = itertools.count()

    def make(
        fmt: str,
        *,
        subformat: str | None = None,
        size: str | int = "64M",
        block_size: str | None = None,
        writes: Sequence[Write] = (),
        name: str | None = None,
        extra_options: Sequence[str] = (),
    ) -> Path:
        ext = {"vpc": "vhd"}.get(fmt, fmt)
        path = disk_dir / f"{name or fmt}-{next(counter)}.{ext}"
        options = [f"subformat={subformat}"] if subformat else []
        if block_size:
            options.append(f"block_size={block_size}")
        if fmt == "vpc":
            options.append("force_size=on")  # virtual size exactly as asked, as Hyper-V makes
        options.extend(extra_options)
        argv: list[str | Path] = [qemu_img, "create", "-q", "-f", fmt]
        if options:
            argv += ["-o", ",".join(options)]
        _run([*argv, path, str(size)])
        if writes:
            cmds: list[str] = []
            for w in writes:
                cmds += ["-c", w.command()]
            _run([qemu_io, "-f", fmt, *cmds, path])
        return path

    return make


@pytest.fixture(scope="session")
def qemu_raw(disk_dir: Path) -> Callable[..., bytes]:
    """qemu_raw(path, fmt=None): the whole virtual disk as `qemu-img convert -O raw` reads it.

    The source format is passed explicitly (from the suffix unless given): qemu probes a fixed
    VHD, which has no header at its start, as raw, footer included.
    """
    qemu_img = _tool("qemu-img")
    counter = itertools.count()
    by_suffix = {".vhd": "vpc", ".avhd": "vpc", ".vhdx": "vhdx", ".avhdx": "vhdx", ".raw": "raw"}

    def convert(path: Path, fmt: str | None = None) -> bytes:
        out = disk_dir / f"qemu-raw-{next(counter)}.raw"
        src_fmt = fmt or by_suffix[Path(path).suffix.lower()]
        _run([qemu_img, "convert", "-f", src_fmt, "-O", "raw", path, out])
        try:
            return out.read_bytes()
        finally:
            out.unlink()

    return convert


@pytest.fixture(scope="session")
def make_ext4_disk(disk_dir: Path) -> Callable[..., Path]:
    """make_ext4_disk(fmt="vhdx", *, size="64M", subformat="dynamic", block_size=None).

    A raw file formatted with `mkfs.ext4 -d` from a folder of files (text, a 3 MiB file of
    random bytes, a nested folder), then `qemu-img convert`ed to `fmt`: sparse, realistic.
    """
    qemu_img, mkfs = _tool("qemu-img"), _tool("mkfs.ext4")
    counter = itertools.count()

    def make(
        fmt: str = "vhdx",
        *,
        size: str = "64M",
        subformat: str = "dynamic",
        block_size: str | None = None,
    ) -> Path:
        n = next(counter)
        src = disk_dir / f"ext4-src-{n}"
        (src / "etc").mkdir(parents=True)
        (src / "etc" / "motd").write_text("Welcome to the replicated VM.\n" * 40)
        (src / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
        (src / "small.txt").write_text("hello\n")
        raw = disk_dir / f"ext4-{n}.raw"
        _run([qemu_img, "create", "-q", "-f", "raw", raw, size])
        _run([mkfs, "-q", "-F", "-E", "nodiscard", "-d", src, raw])
        if fmt == "raw":
            return raw
        ext = {"vpc": "vhd"}.get(fmt, fmt)
        out = disk_dir / f"ext4-{n}.{ext}"
        options = [f"subformat={subformat}"]
        if block_size:
            options.append(f"block_size={block_size}")
        if fmt == "vpc":
            options.append("force_size=on")
        _run([qemu_img, "convert", "-O", fmt, "-o", ",".join(options), raw, out])
        raw.unlink()
        return out

    return make
