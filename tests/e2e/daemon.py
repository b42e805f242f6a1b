"""The real agent daemon (`python -m agent.daemon`) as a process the e2e tests start, kill
and restart on the same state directory, for site `site-daemon` of tenant contoso."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, ControlPlane

TENANT, SITE = "contoso", "site-daemon"


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


@pytest.fixture
def daemon(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Agent]:
    running = Agent(control_plane, tmp_path / "state", tmp_path / "agent.log")
    try:
        yield running
    finally:
        running.stop()
