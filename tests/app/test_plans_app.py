"""Recovery plans where they meet the outside: the runbook call against real HTTPS servers on
loopback (TLS checked, no redirect followed, a timeout kept, nothing but the context sent),
the drill page with hostile values, the wire body and the domain's plan keeping the same
fields, and the plan's orchestrations registered under the names they are started by."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from application.plans import PROVE_DRILL_VM, RUN_PLAN
from application.runbooks import RunbookCall, call_runbook
from contracts.plans import DrillReportView, RecoveryPlanRequest
from devhost.tls import self_signed
from domain.failover import FailoverType
from domain.plans import ActionWhen, RecoveryPlan, plan_errors
from httpapi.drill_page import render
from tests.app.test_seams import registered_orchestrations

TARGET = {
    "AZURE_SUBSCRIPTION_ID": "7a3c2e10-4c1a-4d2e-9b0e-10ca1d0e0001",
    "RECOVERY_RESOURCE_GROUP": "rg-recovery",
    "RECOVERY_LOCATION": "westeurope",
    "RECOVERY_SUBNET_ID": "/subscriptions/x/subnets/default",
    "TEST_FAILOVER_SUBNET_ID": "/subscriptions/x/subnets/isolated",
    "REPLICA_STORAGE_ACCOUNT_ID": "/subscriptions/x/storageAccounts/devstoreaccount1",
}


class Server:
    def __init__(self, url: str, seen: list[tuple[str, dict, bytes]]) -> None:
        self.url, self.seen = url, seen


@pytest.fixture
def https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A loopback HTTPS server whose paths say what to answer: /ok, /redirect, /slow."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    self_signed(cert, key)
    seen: list[tuple[str, dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, dict(self.headers.items()), body))
            if self.path.startswith("/redirect"):
                self.send_response(307)
                self.send_header("Location", "https://127.0.0.1:1/elsewhere")
            elif self.path.startswith("/slow"):
                time.sleep(3)
                self.send_response(200)
            else:
                self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name, value in TARGET.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        yield Server(f"https://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()


def runbook(url: str, timeout: int = 5) -> RunbookCall:
    return RunbookCall(tenant="t", job_id="0001-job", plan="erp", action="dns", url=url,
                       timeout_seconds=timeout, group=2, when=ActionWhen.AFTER,
                       kind=FailoverType.UNPLANNED)  # fmt: skip


def test_a_runbook_gets_the_context_and_nothing_else(https: Server) -> None:
    assert call_runbook(runbook(f"{https.url}/ok?token=abc")) == []
    [(path, headers, body)] = https.seen
    assert path == "/ok?token=abc"
    assert {k.lower() for k in headers} <= {"host", "content-type", "content-length",
                                            "user-agent", "accept-encoding", "connection"}  # fmt: skip
    context = json.loads(body)
    assert (context["RecoveryPlanName"], context["FailoverType"], context["GroupId"]) == (
        "erp", "Unplanned", "2")  # fmt: skip
    assert context["VmMap"] == {} and context["FailoverDirection"] == "PrimaryToSecondary"


def test_a_redirect_is_a_failure_and_is_not_followed(https: Server) -> None:
    [error] = call_runbook(runbook(f"{https.url}/redirect?token=secret"))
    assert error.code == "RunbookFailed" and "HTTP 307" in error.cause
    assert "secret" not in error.cause  # the URL's query (a webhook token) is never shown
    assert len(https.seen) == 1


def test_a_runbook_slower_than_its_timeout_times_out(https: Server) -> None:
    [error] = call_runbook(runbook(f"{https.url}/slow", timeout=1))
    assert error.code == "RunbookTimedOut" and "within 1 s" in error.cause


def test_an_untrusted_certificate_and_plain_http_are_refused(
    https: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other, key = tmp_path / "other.pem", tmp_path / "other-key.pem"
    self_signed(other, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(other))  # the server's certificate is not trusted
    [error] = call_runbook(runbook(f"{https.url}/ok"))
    assert error.code == "RunbookUnreachable" and "CERTIFICATE_VERIFY_FAILED" in error.cause
    [plain] = call_runbook(runbook(https.url.replace("https://", "http://")))
    assert plain.code == "RunbookUrlRefused"
    assert https.seen == []


def test_the_drill_page_escapes_every_value() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    report = DrillReportView.model_validate({
        "id": "0001-d", "tenant": "t", "plan": "erp", "state": "Failed", "startedBy": "api",
        "requested": datetime(2026, 12, 1, tzinfo=UTC), "report": "x",
        "vms": [{"vm": hostile, "group": 1, "vmName": hostile, "errors": [
            {"code": hostile, "cause": hostile, "recommendation": hostile}],
            "disks": [{"diskId": hostile, "managedDiskId": "m", "bytes": 1, "sha256": hostile,
                       "pointBytes": 1, "pointSha256": "b", "identical": False}]}],
        "cleanup": {"confirmed": False, "leftovers": [hostile]},
        "errors": [{"code": "X", "cause": hostile, "recommendation": hostile}],
    })  # fmt: skip
    page = render(report, "n0nce")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<style nonce='n0nce'>" in page
    assert "DIFFERENT" in page


def test_the_wire_body_and_the_domain_plan_hold_the_same_fields() -> None:
    body = RecoveryPlanRequest.model_validate({
        "description": "erp", "stopOnVmFailure": True,
        "drillSchedule": {"everyHours": 24, "startAt": "2026-12-01T02:00:00Z"},
        "groups": [{"vms": ["db"], "preActions": [
            {"kind": "manual", "name": "ok", "instructions": "check", "timeoutSeconds": 60,
             "onTimeout": "proceed", "failoverTypes": ["test"]}],
            "postActions": [{"kind": "runbook", "name": "dns", "url": "https://h/x",
                             "timeoutSeconds": 30, "onFailure": "continue"}]}],
    })  # fmt: skip
    plan = RecoveryPlan.model_validate({**body.model_dump(), "name": "erp"})
    assert plan_errors(plan) == []
    again = RecoveryPlanRequest.model_validate(
        {k: v for k, v in plan.model_dump().items() if k != "name"}
    )
    assert again == body


def test_the_plan_orchestrations_are_registered_under_the_names_they_are_started_by() -> None:
    assert {RUN_PLAN, PROVE_DRILL_VM} <= registered_orchestrations()
