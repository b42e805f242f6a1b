"""The real agent daemon (`python -m agent.daemon`, a subprocess) with its upload engine against
devhost + Azurite + the local broker: initial replication and delta cycles end in recovery
points byte-identical to the disk, and a daemon killed mid-upload resumes when restarted.
With a quiesce hook (a shell script standing in for a Hyper-V production checkpoint) the
policy's app-consistent point holds the frozen image; a failing hook gives a crash-consistent
point whose completion event says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent_sim import raw_image
from tests.e2e.conftest import ROOT, ControlPlane, wait_until
from tests.e2e.test_replication import (
    item,
    make_disk,
    points_after,
    protect,
    snapshot_bytes,
    write,
)

TENANT, SITE = "contoso", "site-daemon"

# freeze copies the live disk to a frozen file, then the guest writes on to the live disk (on
# Hyper-V into the checkpoint's .avhdx); thaw leaves a marker. Arguments: ACTION VM COMMAND.
# Only the test's own VM is frozen: VMs of earlier tests on this site get this daemon's
# commands too (and fall back to crash-consistent points).
FREEZING_HOOK = """#!/bin/sh
cat > /dev/null
[ "$2" = "{vm}" ] || {{ echo "not the VM under test" >&2; exit 2; }}
case "$1" in
freeze)
  cp "{live}" "{dir}/frozen-$3.vhdx"
  qemu-io -f vhdx -c "write -P 0x99 44M 1M" "{live}" >/dev/null
  printf '{{"disks": [{{"diskId": "%s-os", "path": "%s"}}]}}\\n' "$2" "{dir}/frozen-$3.vhdx"
  ;;
thaw) touch "{dir}/thawed-$3" ;;
esac
"""
FAILING_HOOK = """#!/bin/sh
cat > /dev/null
case "$1" in
freeze) echo "VSS writer SqlServerWriter is in a failed state" >&2; exit 3 ;;
thaw) touch "{dir}/thawed-$3" ;;
esac
"""


class Agent:
    """The daemon as a process: started, killed, restarted on the same state dir."""

    def __init__(self, cp: ControlPlane, state_dir: Path, log: Path) -> None:
        self.cp, self.state_dir, self.log = cp, state_dir, log
        self.process: subprocess.Popen | None = None

    def start(self, *extra: str) -> None:
        env = {**os.environ, "AGENT_SERVICEBUS_CONNECTION": self.cp.broker.connection_string}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent.daemon", "--site", SITE, "--tenant", TENANT,
                 "--state-dir", str(self.state_dir), "--progress-seconds", "0.5",
                 "--heartbeat-seconds", "5", *extra],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def quiesce_hook(directory: Path, script: str, vm: str, live: Path) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / "quiesce.sh"
    path.write_text(script.format(dir=directory, vm=vm, live=live))
    path.chmod(0o755)
    return path


def reasons(shown: dict) -> list[str]:
    return [r["code"] for r in shown["health"]["reasons"]]


def outcome_of(agent: Agent, command_id: str) -> dict[str, Any]:
    """The completion event the daemon sent for a command (kept in its command journal)."""
    entry = json.loads((agent.state_dir / "daemon" / "commands" / f"{command_id}.json").read_text())
    return entry["outcome"]["data"]


@pytest.fixture
def agent(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Agent]:
    running = Agent(control_plane, tmp_path / "state", tmp_path / "agent.log")
    try:
        yield running
    finally:
        running.stop()


def test_the_daemon_replicates_then_syncs_into_byte_identical_points(
    control_plane: ControlPlane, agent: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "daemon-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path, vm)
    write(disk, 20, 3, 0x3C)
    first = raw_image(disk, tmp_path)
    agent.start()
    protect(cp, vm, disk, site=SITE)
    shown = wait_until(lambda: (i := item(cp, vm)).get("status") == "Protected" and i, 90)
    assert shown["progress"]["bytesTotal"] > 0 and shown["progress"]["percent"] == 100.0
    assert snapshot_bytes(cp, vm, shown["recoveryPoints"][-1]) == first
    # Heartbeats came. (Not "health Normal": policy 30s asks every cycle for the app-consistent
    # point this daemon without a quiesce hook cannot make, so from the first delta cycle on,
    # which starts right after the initial one, health is Warning AppConsistencyProblem.)
    assert wait_until(lambda: "AgentHeartbeatMissing" not in reasons(item(cp, vm)), 30)

    write(disk, 40, 1, 0x77)  # a delta: new data
    write(disk, 20, 1, 0x00)  # and zeros over data that was sent before
    written = datetime.now(UTC)
    expected = raw_image(disk, tmp_path)
    newer = points_after(cp, vm, written)
    assert snapshot_bytes(cp, vm, newer[0]) == expected
    assert snapshot_bytes(cp, vm, item(cp, vm)["recoveryPoints"][-1]) == first
    # The policy asked for app consistency; without a quiesce hook the point is crash and says so.
    assert newer[0]["consistency"] == "crash"
    assert "no quiesce hook" in outcome_of(agent, newer[0]["id"])["consistencyNote"]
    assert "AppConsistencyProblem" in reasons(item(cp, vm))


def test_an_agent_killed_mid_upload_resumes_when_restarted(
    control_plane: ControlPlane, agent: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "killed-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path, vm)
    for at in range(8, 56, 8):
        write(disk, at, 6, at)  # 37 MiB of data: about 9 s at the cap below
    expected = raw_image(disk, tmp_path)
    agent.start("--bandwidth", "4MB/s")
    protect(cp, vm, disk, site=SITE)
    moving = wait_until(
        lambda: (p := item(cp, vm).get("progress")) and 0 < p["bytesDone"] < p["bytesTotal"] and p,
        timeout=60, interval=0.1,
    )  # fmt: skip
    assert moving["throughputBytesPerS"] > 0 and moving["etaSeconds"] is not None
    agent.kill()
    time.sleep(1)
    agent.start()  # no cap now; the journal says which command to resume
    shown = wait_until(lambda: (i := item(cp, vm)).get("status") == "Protected" and i, 90)
    assert snapshot_bytes(cp, vm, shown["recoveryPoints"][-1]) == expected
    log = agent.log.read_text()
    assert "resuming command" in log, log[-2000:]


def test_the_daemon_keeps_working_across_a_broker_restart(
    control_plane: ControlPlane, agent: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "bus-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path, vm)
    agent.start()
    protect(cp, vm, disk, site=SITE)
    wait_until(lambda: item(cp, vm).get("status") == "Protected", 90)
    cp.restart_broker(downtime=3)  # devhost's triggers and the daemon lose their links
    write(disk, 30, 2, 0x42)
    written = datetime.now(UTC)
    expected = raw_image(disk, tmp_path)
    newer = points_after(cp, vm, written, timeout=120)
    assert snapshot_bytes(cp, vm, newer[0]) == expected
    assert "reconnecting" in agent.log.read_text()


def test_a_quiesce_hook_makes_the_app_consistent_point_from_the_frozen_image(
    control_plane: ControlPlane, agent: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "app-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path, vm)
    write(disk, 20, 3, 0x3C)
    hooks = tmp_path / "hook"
    agent.start("--quiesce-hook", str(quiesce_hook(hooks, FREEZING_HOOK, vm, disk)))
    protect(cp, vm, disk, site=SITE)  # policy 30s: an app-consistent point every hour
    shown = wait_until(lambda: (i := item(cp, vm)).get("status") == "Protected" and i, 90)
    assert shown["recoveryPoints"][-1]["consistency"] == "crash"  # the initial copy
    app = wait_until(
        lambda: [p for p in item(cp, vm)["recoveryPoints"] if p["consistency"] == "app"], 75
    )
    frozen = hooks / f"frozen-{app[0]['id']}.vhdx"
    assert snapshot_bytes(cp, vm, app[0]) == raw_image(frozen, tmp_path)
    assert raw_image(frozen, tmp_path) != raw_image(disk, tmp_path)  # the guest wrote on
    assert (hooks / f"thawed-{app[0]['id']}").exists()
    assert "consistencyNote" not in outcome_of(agent, app[0]["id"])
    assert app[0]["note"] is None
    shown = item(cp, vm)
    assert "AppConsistencyProblem" not in [r["code"] for r in shown["health"]["reasons"]]


def test_a_failing_quiesce_hook_gives_a_crash_point_that_says_why(
    control_plane: ControlPlane, agent: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "vss-" + uuid.uuid4().hex[:6]
    disk = make_disk(tmp_path, vm)
    hooks = tmp_path / "hook"
    agent.start("--quiesce-hook", str(quiesce_hook(hooks, FAILING_HOOK, vm, disk)))
    protect(cp, vm, disk, site=SITE)
    wait_until(lambda: item(cp, vm).get("status") == "Protected", 90)
    write(disk, 30, 1, 0x5A)
    written = datetime.now(UTC)
    expected = raw_image(disk, tmp_path)
    newer = points_after(cp, vm, written)
    assert newer[0]["consistency"] == "crash"
    assert snapshot_bytes(cp, vm, newer[0]) == expected
    note = outcome_of(agent, newer[0]["id"])["consistencyNote"]
    assert "freeze exited with 3" in note and "SqlServerWriter" in note, note
    # The operator sees it on the point and, while it is the latest, in the item's health.
    assert newer[0]["note"] == note
    # Every cycle asks again (no app-consistent point yet) and the hook fails again.
    shown = item(cp, vm)
    assert "freeze exited with 3" in shown["recoveryPoints"][0]["note"]
    [problem] = [r for r in shown["health"]["reasons"] if r["code"] == "AppConsistencyProblem"]
    assert "freeze exited with 3" in problem["cause"] and shown["health"]["state"] != "Normal"
    assert (hooks / f"thawed-{newer[0]['id']}").exists()
