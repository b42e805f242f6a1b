"""What the recovery plan and drill tests share: several VMs protected by one real agent
daemon (one inventory snapshot names them all, so none of them is reported gone), plans put
over the API, jobs waited for, and a runbook's HTTPS endpoint on loopback."""

from __future__ import annotations

import json
import os
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from devhost.tls import self_signed
from tests.e2e.conftest import ControlPlane, wait_until
from tests.e2e.daemon import SITE, TENANT, Agent
from tests.e2e.test_replication import DISK, item, job, make_disk, write


def protect_many(cp: ControlPlane, disks_dir: Path, prefix: str, count: int) -> list[str]:
    """`count` VMs with real VHDX disks, reported in one snapshot, protected and Protected."""
    vms = [f"{prefix}{n}-{uuid.uuid4().hex[:5]}" for n in range(1, count + 1)]
    bodies = []
    for n, vm in enumerate(vms):
        disk = make_disk(disks_dir, vm)
        write(disk, 4 + n, 1, 0x20 + n)  # every disk its own bytes
        bodies.append({"id": vm, "name": vm, "generation": 1, "osType": "linux",
                       "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 1,
                       "memoryMb": 1024, "nics": [{"id": "nic0"}],
                       "disks": [{"id": f"{vm}-os", "path": str(disk), "format": "VHDX",
                                  "sizeBytes": DISK, "isOsDisk": True}]})  # fmt: skip
    cloud = {"id": f"{SITE}-{prefix}", "name": prefix}
    cp.send_event("inventory.snapshot", TENANT, {"cloud": cloud, "vms": bodies}, site=SITE)
    for vm in vms:
        wait_until(lambda v=vm: cp.call("POST", f"tenants/{TENANT}/vms/{v}/preflight",
                                        json={}).status_code == 200)  # fmt: skip
        answer = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/protection",
                         json={"targetName": vm, "policy": "30s"})  # fmt: skip
        assert answer.status_code == 202, answer.text
    for vm in vms:
        wait_until(lambda v=vm: item(cp, v).get("status") == "Protected", 180)
    return vms


def put_plan(cp: ControlPlane, name: str, body: dict) -> dict:
    answer = cp.call("PUT", f"tenants/{TENANT}/recovery-plans/{name}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def plan_call(cp: ControlPlane, name: str, what: str, **body) -> dict:
    answer = cp.call("POST", f"tenants/{TENANT}/recovery-plans/{name}/{what}", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def ended(cp: ControlPlane, job_id: str, timeout: float = 240) -> dict:
    return wait_until(
        lambda: (j := job(cp, job_id)).get("state") in ("Succeeded", "Failed") and j, timeout
    )


def step(done: dict, name: str) -> dict:
    return next(s for s in done["steps"] if s["name"] == name)


def times(found: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(found["startTime"]), datetime.fromisoformat(found["endTime"])


@contextmanager
def daemon_for(cp: ControlPlane, work: Path) -> Iterator[Agent]:
    """One real agent daemon for the whole module (its VMs share it)."""
    agent = Agent(cp, work / "state", work / "agent.log")
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class RunbookServer:
    """An HTTPS endpoint on 127.0.0.1 standing in for a runbook's webhook: it records every
    POST and answers with the status its path asks for (/status/500 answers 500)."""

    url: str
    received: list[Received] = field(default_factory=list)


@contextmanager
def runbook_server(work: Path) -> Iterator[RunbookServer]:
    """The server with a certificate of devhost's local TLS helper, trusted by the app's
    process for the test's time through SSL_CERT_FILE (as an operator adds a private CA)."""
    cert, key = work / "runbook.crt", work / "runbook.key"
    self_signed(cert, key)
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            received.append(Received(self.path, dict(self.headers.items()), body))
            status = int(self.path.rsplit("/", 1)[-1]) if "/status/" in self.path else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert)
    try:
        yield RunbookServer(f"https://127.0.0.1:{server.server_address[1]}", received)
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved
        server.shutdown()
        server.server_close()
