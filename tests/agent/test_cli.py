"""`python -m agent` as an operator runs it: in a subprocess, against a real Azurite.

Covers inspect, replicate and sync with --json, one clear message and a non-zero exit for bad
input, a kill -9 in mid-upload followed by a rerun that sends only the rest, and peak memory on
a big sparse disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from agent import footer
from devhost.azurite import Azurite
from tests.agent.conftest import Write
from tests.agent.transfer_support import MIB, check_replica, new_blob

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerClient]:
    with Azurite(tmp_path_factory.mktemp("azurite")) as az:
        svc = BlobServiceClient.from_connection_string(az.connection_string)
        yield svc.create_container("cli")


def agent(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_inspect_reports_format_sizes_and_allocation(make_disk: Callable[..., Path]) -> None:
    disk = make_disk("vhdx", subformat="dynamic", size="64M", block_size="1M",
                     writes=[Write(0, MIB, 0x11), Write(10 * MIB, 4096, 0x22)])  # fmt: skip
    run = agent("inspect", disk, "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["format"] == "vhdx" and info["subformat"] == "dynamic"
    assert info["virtual_size"] == 64 * MIB and info["block_size"] == MIB
    assert info["allocated_bytes"] == 2 * MIB  # two 1 MiB blocks hold the writes
    assert info["replica_blob_size"] == 64 * MIB + 512
    human = agent("inspect", disk)
    assert human.returncode == 0 and "vhdx (dynamic)" in human.stdout


def test_replicate_then_sync_with_json_lines(
    container: ContainerClient, make_disk: Callable[..., Path], qemu_raw: Callable, tmp_path: Path
) -> None:
    disk = make_disk("vhdx", subformat="dynamic", writes=[Write(MIB, 6 * MIB, 0x31)])
    blob, sas = new_blob(container, footer.blob_size(64 * MIB))
    state = tmp_path / "state"
    run = agent("replicate", disk, "--to", sas, "--state-dir", state, "--json",
                "--concurrency", "4")  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = events(run.stdout)
    assert out[-1]["event"] == "result" and out[-1]["bytes_sent"] == 6 * MIB + 512
    progress = [e for e in out if e["event"] == "progress"]
    assert progress and progress[-1]["bytes_done"] == progress[-1]["bytes_total"]
    assert {"throughput_bytes_per_s", "eta_seconds"} <= progress[-1].keys()
    assert "sig=" not in run.stdout + run.stderr  # the SAS secret is never echoed

    subprocess.run(["qemu-io", "-f", "vhdx", "-c", "write -P 0x44 20M 64k", "-c",
                    "write -z 2M 64k", str(disk)], check=True, capture_output=True)  # fmt: skip
    rct = tmp_path / "rct.json"
    rct.write_text(json.dumps([{"offset": 20 * MIB, "length": 65536},
                               {"offset": 2 * MIB, "length": 65536}]))  # fmt: skip
    run = agent("sync", disk, "--to", sas, "--state-dir", state, "--rct", rct, "--json")
    assert run.returncode == 0, run.stderr
    result = events(run.stdout)[-1]
    assert result["mode"] == "rct" and result["bytes_sent"] == 65536
    assert result["bytes_cleared"] == 65536
    check_replica(blob, qemu_raw(disk), tmp_path)
    human = agent("sync", disk, "--to", sas, "--state-dir", state)
    assert human.returncode == 0 and "hash: sent 0 B" in human.stdout


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing-disk", "Disk"),
        ("expired", "SasExpired"),
        ("read-only", "SasNotWritable"),
        ("wrong-size", "BlobSizeMismatch"),
        ("bad-rct", "BadChangedRanges"),
        ("no-sas", "SasMissing"),
    ],
)
def test_bad_input_one_clear_message_nonzero_exit_nothing_written(
    container: ContainerClient, tmp_path: Path, case: str, code: str
) -> None:
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(MIB))
    size = footer.blob_size(MIB) * (2 if case == "wrong-size" else 1)
    blob, sas = new_blob(container, size, write=case != "read-only",
                         expiry=timedelta(minutes=-1 if case == "expired" else 60))  # fmt: skip
    target = str(disk) if case != "missing-disk" else str(tmp_path / "nope.vhdx")
    to = sas.split("?")[0] if case == "no-sas" else sas
    argv = ["replicate", target, "--to", to, "--state-dir", tmp_path / "s", "--json"]
    if case == "bad-rct":
        (tmp_path / "r.json").write_text('[{"offset": -5, "length": 1}]')
        argv = ["sync", target, "--to", to, "--state-dir", tmp_path / "s", "--rct",
                tmp_path / "r.json", "--json"]  # fmt: skip
        assert agent("replicate", target, "--to", to, "--state-dir", tmp_path / "s").returncode == 0
        before = [(r.start, r.end) for r in blob.list_page_ranges()]
    run = agent(*argv)
    assert run.returncode == 1, run.stdout + run.stderr
    err = events(run.stdout)[-1]
    assert err["event"] == "error" and err["code"].startswith(code)
    assert err["cause"] and err["recommendation"]
    assert "Traceback" not in run.stderr and "fix:" in run.stderr
    if case == "bad-rct":
        assert [(r.start, r.end) for r in blob.list_page_ranges()] == before
    else:
        assert list(blob.list_page_ranges()) == []


def test_kill_9_mid_upload_then_rerun_sends_only_the_rest(
    container: ContainerClient, tmp_path: Path
) -> None:
    total = 32 * MIB
    disk = tmp_path / "d.raw"
    disk.write_bytes(os.urandom(total))
    blob, sas = new_blob(container, footer.blob_size(total))
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "agent", "replicate", str(disk), "--to", sas,
            "--state-dir", str(state), "--json", "--bandwidth", "8MiB/s", "--concurrency", "2"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "progress" and event["bytes_done"] >= 12 * MIB:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    landed = sum(r.end + 1 - r.start for r in blob.list_page_ranges())
    assert 8 * MIB <= landed < total

    rerun = agent("replicate", disk, "--to", sas, "--state-dir", state, "--json")
    assert rerun.returncode == 0, rerun.stderr
    result = events(rerun.stdout)[-1]
    assert result["mode"] == "resume"
    # What landed before the kill is not sent again, except what the journal had not yet
    # recorded: it flushes every 0.25 s (2 MiB at this cap), in whole 4 MiB units, and the two
    # requests in flight when the process died.
    slack = 2 * MIB + 4 * MIB + 2 * 4 * MIB
    assert result["bytes_sent"] - 512 <= total - landed + slack
    # At least the 12 MiB reported done, less one unflushed quarter second and unit, is kept.
    assert result["bytes_sent"] - 512 <= total - (12 * MIB - 2 * MIB - 4 * MIB)
    check_replica(blob, disk.read_bytes(), tmp_path)


def test_peak_memory_stays_bounded_on_a_big_sparse_disk(
    container: ContainerClient, tmp_path: Path
) -> None:
    virtual = 256 * 1024 * MIB  # 256 GiB, sparse
    disk = tmp_path / "big.raw"
    with disk.open("wb") as f:
        f.truncate(virtual)
        f.seek(1024 * MIB)
        chunk = os.urandom(8 * MIB)
        for _ in range(24):  # 192 MiB of dense data streams through the engine
            f.write(chunk)
        for i in range(64):  # and scattered islands across the whole disk
            f.seek(i * (virtual // 64) + 4096)
            f.write(chunk[:65536])
    _, sas = new_blob(container, footer.blob_size(virtual))
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report the
    # test runner's own peak; VmHWM belongs to the new address space only.
    probe = (
        "import json, re, sys\n"
        "from agent.__main__ import main\n"
        "code = main(sys.argv[1:])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print(json.dumps({'maxrss_kib': int(hwm)}), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, "replicate", str(disk), "--to", sas, "--state-dir",
         str(tmp_path / "s"), "--json", "--concurrency", "32"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    peak_mib = json.loads(run.stderr.strip().splitlines()[-1])["maxrss_kib"] / 1024
    result = events(run.stdout)[-1]
    assert result["bytes_sent"] == 192 * MIB + 64 * 2 * 65536 + 512  # islands span 2 cells
    assert peak_mib < 256, f"peak RSS {peak_mib:.0f} MiB"


def test_run_hands_its_arguments_to_the_daemon() -> None:
    run = agent("run", "--help")
    assert run.returncode == 0
    assert "--site" in run.stdout and "python -m agent run" in run.stdout
