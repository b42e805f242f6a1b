"""The operator tool reads a managed disk's bytes the way Azure offers them (grant access,
SAS download, end access), run as an operator runs it: a separate process with the
environment `.devhost/arm/env.sh` gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.arm.conftest import OTHER_CREDENTIALS, Lab, Vhd, import_body, unique

ROOT = Path(__file__).resolve().parents[2]


def _env_file(lab: Lab) -> dict[str, str]:
    values = {}
    for line in (lab.data_dir / "env.sh").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = value
    return values


def _run(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in OTHER_CREDENTIALS and k not in lab.settings
    }
    env.update(_env_file(lab))
    return subprocess.run(
        [sys.executable, "-m", "tools.read_disk", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tool_reads_a_disk_equal_to_its_source(lab: Lab, vhd: Vhd, tmp_path: Path) -> None:
    disk = (
        lab.compute()
        .disks.begin_create_or_update(lab.group, unique("proof"), import_body(lab, vhd.url))
        .result()
    )
    digest = _run(lab, "--disk-id", disk.id, "--sha256")
    assert digest.returncode == 0, digest.stderr
    assert json.loads(digest.stdout) == {
        "disk": disk.id,
        "bytes": vhd.path.stat().st_size,
        "sha256": vhd.sha256,
    }

    out = tmp_path / "copy.vhd"
    written = _run(lab, "--disk-id", disk.id, "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_bytes() == vhd.path.read_bytes()
    # Access ended after each read.
    assert lab.compute().disks.get(lab.group, disk.name).disk_state == "Unattached"


def test_the_tool_names_what_went_wrong(lab: Lab) -> None:
    not_a_disk = _run(lab, "--disk-id", lab.settings["RECOVERY_SUBNET_ID"], "--sha256")
    assert not_a_disk.returncode == 2 and "is not a managed disk id" in not_a_disk.stderr
    missing = (
        lab.settings["RECOVERY_SUBNET_ID"].split("/providers/")[0]
        + "/providers/Microsoft.Compute/disks/none"
    )
    gone = _run(lab, "--disk-id", missing, "--sha256")
    assert gone.returncode == 1 and "ResourceNotFound" in gone.stderr
