"""kill -9 `python -m devhost` in the middle of an orchestration, start it again: the
orchestration resumes from its SQLite history, and steps that finished are not run again.
The status URL handed out before the crash still works after it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from tests.host.conftest import ROOT, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_free_env() -> dict[str, str]:
    """This process's environment without devhost's settings: real environment variables win
    over local.settings.json (as app settings do in Azure), and other tests of the session may
    have exported their own keys."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DEVHOST_", "CRASH_"))}


def start_devhost(settings: Path, port: int, data: Path, out: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app", "tests.host.crash_app", "--settings",
         str(settings), "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT, stdout=out.open("a"), stderr=subprocess.STDOUT, env=settings_free_env(),
    )  # fmt: skip
    try:
        wait_for(lambda: "devhost: listening" in out.read_text(), timeout=30)
    except AssertionError:
        process.kill()
        raise AssertionError(f"devhost did not start:\n{out.read_text()}") from None
    return process


def test_kill_9_mid_orchestration_then_restart_resumes_from_history(tmp_path: Path) -> None:
    runs, key = tmp_path / "runs.log", "key-" + uuid.uuid4().hex
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {
        "DEVHOST_MASTER_KEY": "master-" + uuid.uuid4().hex, "DEVHOST_HOST_KEYS": f"ops={key}",
        "CRASH_RUN_LOG": str(runs), "CRASH_STEP_SECONDS": "0.8"}}))  # fmt: skip
    port, data, out = free_port(), tmp_path / "data", tmp_path / "devhost.out"
    first = start_devhost(settings, port, data, out)
    try:
        started = requests.post(f"http://127.0.0.1:{port}/api/steps", json=0,
                                headers={"x-functions-key": key}, timeout=10)  # fmt: skip
        assert started.status_code == 202, started.text
        status_url = started.json()["statusQueryGetUri"]
        wait_for(lambda: runs.exists() and "begin 2" in runs.read_text(), timeout=30)
    finally:
        os.kill(first.pid, signal.SIGKILL)  # steps 0 and 1 done, step 2 in flight
        first.wait()
    before = runs.read_text().splitlines()
    assert before[-1] == "begin 2" and "end 2" not in before

    second = start_devhost(settings, port, data, tmp_path / "devhost-2.out")
    try:
        done = wait_for(
            lambda: (s := requests.get(status_url, timeout=10).json())["runtimeStatus"]
            in ("Completed", "Failed") and s, timeout=30,
        )  # fmt: skip
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert (done["runtimeStatus"], done["output"]) == ("Completed", 4)
    lines = runs.read_text().splitlines()
    for step in ("begin 0", "end 0", "begin 1", "end 1"):
        assert lines.count(step) == 1, f"{step} ran again after the restart"
    assert lines.count("begin 2") == 2, "the step in flight at the kill runs again (at least once)"
    assert [line for line in lines if line.startswith("end")] == [f"end {n}" for n in range(4)]
    assert second.returncode == 0
