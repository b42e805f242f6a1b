"""Start and stop Azurite, the local stand-in for Blob, Queue and Table storage.

Ports default to 0 so parallel test runs never collide; the real ports are read from Azurite's
own "successfully listening" lines. The connection string it returns is the one every Azure SDK
client in this project takes, so nothing downstream knows it talks to Azurite.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# Azurite's well-known development account (public, documented; not a secret).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LISTEN = re.compile(
    r"Azurite (Blob|Queue|Table) service is successfully listening at https?://[^:]+:(\d+)"
)
ROOT = Path(__file__).resolve().parent.parent


class AzuriteNotInstalled(RuntimeError):
    """Azurite's npm package is missing: run `make setup` (it runs `npm ci`)."""


def azurite_binary() -> Path:
    """Where `npm ci` put Azurite; refuse clearly when it is not there."""
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise AzuriteNotInstalled(
            f"Azurite is not installed at {binary}. Fix: run `make setup` (npm ci installs the "
            "pinned azurite from package.json)."
        )
    return binary


@dataclass
class Azurite:
    """A running Azurite with its ports; use as a context manager or call stop()."""

    location: Path
    blob_port: int = 0
    queue_port: int = 0
    table_port: int = 0
    host: str = "127.0.0.1"
    extra_args: list[str] = field(default_factory=list)
    # OAuth mode: HTTPS with a self-signed certificate and `--oauth basic`, so Microsoft Entra
    # tokens (and user-delegation SAS) work as in Azure. Clients trust `cert_path`.
    oauth: bool = False
    process: subprocess.Popen[str] | None = None
    _log: list[str] = field(default_factory=list)

    @property
    def scheme(self) -> str:
        return "https" if self.oauth else "http"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};"
            f"AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.scheme}://{self.host}:{self.blob_port}/{DEV_ACCOUNT};"
            f"QueueEndpoint={self.scheme}://{self.host}:{self.queue_port}/{DEV_ACCOUNT};"
            f"TableEndpoint={self.scheme}://{self.host}:{self.table_port}/{DEV_ACCOUNT};"
        )

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.blob_port}/{DEV_ACCOUNT}"

    @property
    def cert_path(self) -> Path:
        return self.location / "tls" / "cert.pem"

    def _oauth_args(self) -> list[str]:
        from devhost.tls import self_signed

        key = self.location / "tls" / "key.pem"
        if not self.cert_path.exists():
            self_signed(self.cert_path, key, self.host)
        return ["--oauth", "basic", "--cert", str(self.cert_path), "--key", str(key)]

    def start(self, timeout: float = 30.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        args = [
            str(azurite_binary()),
            "--blobHost", self.host, "--queueHost", self.host, "--tableHost", self.host,
            "--blobPort", str(self.blob_port),
            "--queuePort", str(self.queue_port),
            "--tablePort", str(self.table_port),
            "--skipApiVersionCheck",  # the SDKs send API versions newer than Azurite knows
            "--disableTelemetry",
            "--location", str(self.location),
            *(self._oauth_args() if self.oauth else []),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ports: dict[str, int] = {}
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while len(ports) < 3:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("Azurite did not start:\n" + "".join(self._log[-20:]))
            line = self.process.stdout.readline()
            self._log.append(line)
            if match := _LISTEN.search(line):
                ports[match.group(1)] = int(match.group(2))
        self.blob_port, self.queue_port, self.table_port = (
            ports["Blob"],
            ports["Queue"],
            ports["Table"],
        )
        # Keep draining its output so a chatty Azurite never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line)
            del self._log[:-200]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> Azurite:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wipe(location: Path) -> None:
    """Remove an Azurite data folder (tests start from nothing)."""
    shutil.rmtree(location, ignore_errors=True)
