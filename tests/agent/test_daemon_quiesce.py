"""App-consistent points through the quiesce hook: the daemon's work unit (`run_command`) with
the real engine on a real Azurite, qemu-made disks, and hooks that are real shell scripts.

A working hook copies the live disk to a "frozen" file (as a checkpoint freezes the VHDX) and
then lets the "guest" write on to the live disk: the point must hold the frozen bytes, not the
later writes, be sent as a delta, and the next live cycle must send only what differs."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from agent import footer
from agent.daemon.work import NO_HOOK, Settings, run_command
from agent.quiesce import Hook
from contracts.events import ReplicationCompleted
from devhost.azurite import Azurite
from tests.agent.conftest import Write
from tests.agent.test_transfer_delta import _apply
from tests.agent.transfer_support import MIB, check_replica, new_blob

SIZE = 64 * MIB
DISK_ID = "vm1-os"

WORKING = """#!/bin/sh
# freeze|thaw VM COMMAND, the request on stdin (kept for the test to read)
cat > "{dir}/$1-$3.stdin"
case "$1" in
freeze)
  cp "{live}" "{dir}/frozen-$3.vhdx"
  # The guest writes on after the checkpoint (on Hyper-V into the .avhdx).
  qemu-io -f vhdx -c "write -P 0x99 40M 1M" "{live}" >/dev/null
  echo "checkpoint dr-agent-$3 created"  # a log line before the answer, as scripts do
  printf '{{"disks": [{{"diskId": "{disk_id}", "path": "%s"}}]}}\\n' "{dir}/frozen-$3.vhdx"
  ;;
thaw)
  touch "{dir}/thawed-$3"
  ;;
esac
"""

FAILING = """#!/bin/sh
cat > /dev/null
case "$1" in
freeze) echo "VSS writer SqlServerWriter is in a failed state (retryable)" >&2; exit 3 ;;
thaw) touch "{dir}/thawed-$3" ;;
esac
"""

HANGING = """#!/bin/sh
cat > /dev/null
case "$1" in
freeze) sleep 60 ;;
thaw) touch "{dir}/thawed-$3" ;;
esac
"""


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerClient]:
    with Azurite(tmp_path_factory.mktemp("azurite")) as az:
        svc = BlobServiceClient.from_connection_string(az.connection_string)
        yield svc.create_container("quiesce")


@pytest.fixture
def replica(container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path) -> dict:
    """A VHDX with data, initially replicated by `run_command` with a write-only SAS (as the
    control plane issues it); then a change the next cycle must send."""
    base = [Write(o * MIB, MIB, 0x30 + o) for o in range(0, 64, 4)]
    disk = make_disk("vhdx", subformat="dynamic", size="64M", block_size="1M", writes=base)
    blob, sas = new_blob(container, footer.blob_size(SIZE), read=False)
    settings = Settings(tmp_path / "state")
    kind, data = run(command("replicate", disk, sas), settings)
    assert kind == "replication.initial.completed", data
    _apply(disk, "vhdx", [Write(8 * MIB, 2 * MIB, 0x5A)])  # 2 MiB changed since
    return {"disk": disk, "blob": blob, "sas": sas, "settings": settings}


def command(kind: str, disk: Path, sas: str, consistency: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"disks": [{"diskId": DISK_ID, "path": str(disk), "sasUrl": sas,
                                       "blobSize": footer.blob_size(SIZE)}]}  # fmt: skip
    if kind == "sync":
        data["cycle"] = 1
    if consistency:
        data["consistency"] = consistency
    return {"type": kind, "id": uuid.uuid4().hex, "vm": "vm1", "data": data}


def run(cmd: dict, settings: Settings, cancel: threading.Event | None = None) -> Any:
    return run_command(cmd, settings, cancel or threading.Event(), lambda _: None)


def hook(tmp_path: Path, script: str, replica: dict, timeout: float = 30) -> Hook:
    path = tmp_path / "quiesce.sh"
    path.write_text(script.format(dir=tmp_path, live=replica["disk"], disk_id=DISK_ID))
    path.chmod(0o755)
    return Hook([str(path)], timeout, replica["settings"].state_dir)


def with_hook(replica: dict, quiesce: Hook) -> Settings:
    return Settings(replica["settings"].state_dir, quiesce_hook=quiesce)


def test_with_a_hook_the_point_is_app_consistent_and_holds_the_frozen_image(
    replica: dict, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    settings = with_hook(replica, hook(tmp_path, WORKING, replica))
    cmd = command("sync", replica["disk"], replica["sas"], "app")
    kind, data = run(cmd, settings)
    assert kind == "replication.delta.completed", data
    completed = ReplicationCompleted.model_validate(data)  # the contract accepts it
    assert completed.consistency == "app" and completed.consistency_note is None
    frozen = tmp_path / f"frozen-{cmd['id']}.vhdx"
    check_replica(replica["blob"], qemu_raw(frozen), tmp_path)  # not the guest's later write
    assert qemu_raw(frozen) != qemu_raw(replica["disk"])
    # A delta against the disk's own manifest, though another file was read: only the change.
    assert 0 < completed.disks[0].bytes_sent <= 2 * MIB
    assert (tmp_path / f"thawed-{cmd['id']}").exists()
    request = json.loads((tmp_path / f"freeze-{cmd['id']}.stdin").read_text())
    assert request == {"vm": "vm1", "commandId": cmd["id"],
                       "disks": [{"diskId": DISK_ID, "path": str(replica["disk"])}]}  # fmt: skip
    assert not list((settings.state_dir / "daemon" / "quiesce").glob("*"))  # marker gone

    # The next (crash) cycle reads the live disk again and sends only the guest's later write.
    kind, data = run(command("sync", replica["disk"], replica["sas"]), settings)
    assert kind == "replication.delta.completed" and data["consistency"] == "crash", data
    assert "consistencyNote" not in data  # crash was asked for: nothing to explain
    assert data["disks"][0]["bytesSent"] == MIB
    check_replica(replica["blob"], qemu_raw(replica["disk"]), tmp_path)


def test_a_failing_thaw_keeps_the_app_point_and_is_reported(
    replica: dict, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    script = WORKING.replace(
        'touch "{dir}/thawed-$3"', 'echo "merge failed: disk in use" >&2; exit 1'
    )
    settings = with_hook(replica, hook(tmp_path, script, replica))
    cmd = command("sync", replica["disk"], replica["sas"], "app")
    kind, data = run(cmd, settings)
    assert kind == "replication.delta.completed", data
    completed = ReplicationCompleted.model_validate(data)
    assert completed.consistency == "app"  # the frozen image was read: the point is good
    note = completed.consistency_note or ""
    assert note.startswith("Thaw failed") and "merge failed: disk in use" in note, note
    check_replica(replica["blob"], qemu_raw(tmp_path / f"frozen-{cmd['id']}.vhdx"), tmp_path)


def test_a_failing_freeze_gives_a_crash_consistent_point_and_says_why(
    replica: dict, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    settings = with_hook(replica, hook(tmp_path, FAILING, replica))
    cmd = command("sync", replica["disk"], replica["sas"], "app")
    kind, data = run(cmd, settings)
    assert kind == "replication.delta.completed", data
    completed = ReplicationCompleted.model_validate(data)
    assert completed.consistency == "crash"
    note = completed.consistency_note or ""
    assert "freeze exited with 3" in note and "SqlServerWriter" in note, note
    assert (tmp_path / f"thawed-{cmd['id']}").exists()  # a half-made checkpoint is merged
    check_replica(replica["blob"], qemu_raw(replica["disk"]), tmp_path)


def test_a_freeze_that_hangs_is_stopped_at_the_timeout(
    replica: dict, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    settings = with_hook(replica, hook(tmp_path, HANGING, replica, timeout=1))
    cmd = command("sync", replica["disk"], replica["sas"], "app")
    started = time.monotonic()
    kind, data = run(cmd, settings)
    assert kind == "replication.delta.completed", data
    assert time.monotonic() - started < 20  # not the hook's 60 s sleep
    assert data["consistency"] == "crash" and "within 1 s" in data["consistencyNote"], data
    assert (tmp_path / f"thawed-{cmd['id']}").exists()
    check_replica(replica["blob"], qemu_raw(replica["disk"]), tmp_path)


def test_a_freeze_that_names_no_readable_image_falls_back_to_crash(
    replica: dict, tmp_path: Path
) -> None:
    script = WORKING.replace('cp "{live}"', 'true "{live}"')  # prints a path it never made
    settings = with_hook(replica, hook(tmp_path, script, replica))
    kind, data = run(command("sync", replica["disk"], replica["sas"], "app"), settings)
    assert kind == "replication.delta.completed", data
    assert data["consistency"] == "crash" and "is not a file" in data["consistencyNote"], data


def test_without_a_hook_the_point_is_crash_consistent_and_says_why(
    replica: dict, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    kind, data = run(command("sync", replica["disk"], replica["sas"], "app"), replica["settings"])
    assert kind == "replication.delta.completed", data
    assert data["consistency"] == "crash" and data["consistencyNote"] == NO_HOOK
    ReplicationCompleted.model_validate(data)
    check_replica(replica["blob"], qemu_raw(replica["disk"]), tmp_path)


def test_a_cancel_during_freeze_thaws_and_reports_nothing(replica: dict, tmp_path: Path) -> None:
    settings = with_hook(replica, hook(tmp_path, HANGING, replica))
    cmd = command("sync", replica["disk"], replica["sas"], "app")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    assert run(cmd, settings, cancel) is None
    assert (tmp_path / f"thawed-{cmd['id']}").exists()


def test_a_freeze_left_by_a_killed_daemon_is_thawed_at_start(replica: dict, tmp_path: Path) -> None:
    quiesce = hook(tmp_path, WORKING, replica)
    session = quiesce.session("vm1", "cmd-1", command("sync", replica["disk"], "")["data"]["disks"])
    session.freeze(threading.Event())  # ... and the daemon died before its thaw
    assert not (tmp_path / "thawed-cmd-1").exists()
    quiesce.thaw_leftovers()  # what the daemon does first when it starts
    assert (tmp_path / "thawed-cmd-1").exists()
    assert not list(quiesce.marker_dir.glob("*"))


def test_the_daemon_refuses_to_start_with_a_hook_it_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.daemon import parse_args

    monkeypatch.delenv("AGENT_QUIESCE_HOOK", raising=False)  # the setting under test only

    base = ["--site", "s", "--state-dir", str(tmp_path), "--connection", "Endpoint=sb://127.0.0.1/"]
    script = tmp_path / "quiesce.sh"
    script.write_text("#!/bin/sh\n")  # not executable yet
    with pytest.raises(SystemExit):
        parse_args([*base, "--quiesce-hook", str(script)])
    assert "is not an executable file" in capsys.readouterr().err
    script.chmod(0o755)
    assert parse_args([*base, "--quiesce-hook", str(script)]).quiesce_argv == [str(script)]
    assert parse_args(base).quiesce_argv is None  # no hook: crash-consistent points only
