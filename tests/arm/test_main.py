"""`python -m devhost.arm` runs on its own and tells a shell what it needs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from devhost.azurite import Azurite

ROOT = Path(__file__).resolve().parents[2]


def test_the_stand_in_runs_alone_and_prints_its_endpoint(azurite: Azurite, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost.arm",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--storage",
            azurite.connection_string,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            if "=" in line and line.startswith("  "):
                name, _, value = line.strip().partition("=")
                printed[name] = value
            if "SSL_CERT_FILE" in printed:
                break
        assert printed["ARM_ENDPOINT"].startswith("https://127.0.0.1:")
        assert {
            "AZURE_SUBSCRIPTION_ID",
            "RECOVERY_SUBNET_ID",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
        } <= set(printed)
        refused = requests.get(
            f"{printed['ARM_ENDPOINT']}/subscriptions",
            verify=printed["REQUESTS_CA_BUNDLE"],
            timeout=10,
        )
        assert (
            refused.status_code == 401 and refused.json()["error"]["code"] == "AuthenticationFailed"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
