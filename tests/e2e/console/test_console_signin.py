"""The console opened with the Entra sign-in alone, as in Azure, in a real browser against devhost.

App Service authentication is simulated in front of devhost the way it behaves in Azure: the
platform says its authentication is on (WEBSITE_AUTH_ENABLED=True, set here in os.environ,
where devhost runs the app and the app reads it at each request), infra's CONSOLE_SIGN_IN=entra
is set, and the browser's requests carry the principal headers Easy Auth would put on every
request of the signed-in person. No key is ever given to the page.

It proves: the page opens signed in and shows the replicated items, an operator enables
protection from it and the job records the signed-in name as who asked; without the headers
(and no key) the page shows no data and the console's API route answers 401; with the headers
but without CONSOLE_SIGN_IN (an app without the sign-in, where anyone can send them) the
headers are not believed; a signed-in request the page did not make cannot act; and where
several tenants are served, the signed-in page asks which instead of showing a key form.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import KEYS, ControlPlane, wait_until
from tests.e2e.console.conftest import Watched
from tests.e2e.console.test_console import TENANT, report, status_of, vm_body

OPERATOR = "dr-ops@contoso.example"


def easy_auth_headers(name: str = OPERATOR) -> dict[str, str]:
    """The headers App Service authentication puts on a signed-in person's requests."""
    principal = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [{"typ": "name", "val": name}, {"typ": "groups", "val": "operators-group"}],
    }
    return {
        "X-MS-CLIENT-PRINCIPAL-ID": "3f1c0c4e-0000-4000-8000-00000000a11c",
        "X-MS-CLIENT-PRINCIPAL-NAME": name,
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(principal).encode()).decode(),
    }


@pytest.fixture
def platform_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """App Service says its authentication is on (the app reads it at each request)."""
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")


@pytest.fixture
def sign_in(platform_auth: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """...and infra told the app to trust it (consoleClientId set)."""
    monkeypatch.setenv("CONSOLE_SIGN_IN", "entra")


@pytest.fixture
def signed_in_tab(page: tuple[Any, Watched]) -> Iterator[tuple[Any, Watched]]:
    tab, watched = page
    tab.set_extra_http_headers(easy_auth_headers())
    yield tab, watched


def console(cp: ControlPlane, route: str = "#/items") -> str:
    # The e2e control plane serves three tenants (AGENT_SITES), so the page is told which;
    # a deployment in Azure serves one and needs no ?tenant=.
    return f"{cp.base_url}/api/console?tenant={TENANT}{route}"


def door(cp: ControlPlane, path: str) -> str:
    return f"{cp.base_url}/api/console/api/{path}"


def test_signed_in_the_console_opens_without_a_key_and_acts_as_the_operator(
    control_plane: ControlPlane, signed_in_tab: tuple[Any, Watched], sign_in: None
) -> None:
    cp, (tab, _) = control_plane, signed_in_tab
    vm = f"entra-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{vm}", vm_body(vm))
    sent: list[tuple[str, dict[str, str]]] = []
    tab.on("request", lambda r: sent.append((r.url, r.headers)))

    tab.goto(console(cp))
    expect(tab.locator("#signed-in")).to_have_text(f"Signed in as {OPERATOR}")
    expect(tab.locator("#tenant")).to_contain_text(f"Tenant {TENANT}")
    row = tab.locator(f'tr[data-vm="{vm}"]')
    expect(row.locator(".badge").first).to_have_attribute("data-status", "NotProtected")
    assert tab.locator("#signin-key").count() == 0
    assert tab.get_by_role("button", name="Change").count() == 0

    row.locator("a.vm-link").click()
    expect(status_of(tab)).to_have_attribute("data-status", "NotProtected")
    tab.locator('[data-operation="EnableProtection"]').click()
    dialog = tab.locator("dialog[open]")
    expect(dialog.locator('[data-role="preflight"]')).to_contain_text("Preflight passed")
    dialog.locator('[data-role="confirm"]').click()
    panel = tab.locator(".job-panel")
    expect(panel).to_contain_text("EnableProtection")
    job_id = panel.get_attribute("data-job") or _job_of(cp, vm)

    # Who asked is the signed-in operator, as the runbook API (with the key) reads the job.
    def finished() -> dict | None:
        job = cp.call("GET", f"tenants/{TENANT}/jobs/{job_id}").json()
        return job if job["state"] in ("Succeeded", "Failed") else None

    job = wait_until(finished, timeout=60)
    assert job["state"] == "Succeeded", job
    assert job["requestedBy"] == f"entra:{OPERATOR}"
    expect(status_of(tab)).not_to_have_attribute("data-status", "NotProtected", timeout=30_000)

    # Every call went through the console's door, with no key; nothing was kept for a key.
    calls = [(url, headers) for url, headers in sent if urlsplit(url).path != "/api/console"]
    assert calls and all(urlsplit(url).path.startswith("/api/console/api/") for url, _ in calls)
    assert not any("x-functions-key" in headers for _, headers in calls)
    assert tab.evaluate("sessionStorage.getItem('drcp.console.key')") is None
    assert "tenant=" not in tab.url


def _job_of(cp: ControlPlane, vm: str) -> str:
    jobs = cp.call("GET", f"tenants/{TENANT}/jobs", params={"target": vm}).json()["value"]
    return jobs[0]["id"]


def test_without_a_sign_in_or_a_key_there_is_no_data(
    control_plane: ControlPlane, page: tuple[Any, Watched], sign_in: None
) -> None:
    cp, (tab, _) = control_plane, page
    vm = f"nosign-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{vm}", vm_body(vm))
    refused = requests.get(console(cp), timeout=30)
    assert refused.status_code == 401 and vm not in refused.text
    tab.goto(console(cp))
    expect(tab.locator("#signin-key")).to_be_visible()  # the key form, nothing else
    assert tab.locator(f'tr[data-vm="{vm}"]').count() == 0
    assert tab.locator("#signed-in").count() == 0
    answer = requests.get(door(cp, f"tenants/{TENANT}/vms"), timeout=30)
    assert answer.status_code == 401
    assert answer.json()["code"] == "SignInRequired"
    # A runbook's key does not open the door either: it is the sign-in's alone.
    keyed = requests.get(door(cp, f"tenants/{TENANT}/vms"), timeout=30,
                         headers={"x-functions-key": KEYS[TENANT], "x-drcp-console": "1"})  # fmt: skip
    assert keyed.status_code == 401


def test_the_headers_are_not_believed_where_the_sign_in_is_not_set_up(
    control_plane: ControlPlane, signed_in_tab: tuple[Any, Watched], platform_auth: None
) -> None:
    cp, (tab, _) = control_plane, signed_in_tab
    headers = {**easy_auth_headers(), "x-drcp-console": "1"}
    answer = requests.get(door(cp, f"tenants/{TENANT}/vms"), headers=headers, timeout=30)
    assert answer.status_code == 401 and answer.json()["code"] == "SignInRequired"
    assert requests.get(console(cp), headers=headers, timeout=30).status_code == 401
    tab.goto(console(cp))
    expect(tab.locator("#signin-key")).to_be_visible()
    assert tab.locator("#signed-in").count() == 0


def test_signed_in_a_request_from_another_site_cannot_act(
    control_plane: ControlPlane, sign_in: None
) -> None:
    # A person's sign-in goes with every request their browser sends, whichever site made
    # it; only the console page adds its own header, which another site cannot.
    vm = f"csrf-{uuid.uuid4().hex[:6]}"
    report(control_plane, f"console-{vm}", vm_body(vm))
    forged = requests.post(door(control_plane, f"tenants/{TENANT}/vms/{vm}/protection"),
                           headers=easy_auth_headers(), timeout=30)  # fmt: skip
    assert forged.status_code == 403 and forged.json()["code"] == "ConsoleRequestRequired"
    assert control_plane.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").status_code == 404


def test_signed_in_where_several_tenants_are_served_the_page_asks_which(
    control_plane: ControlPlane, signed_in_tab: tuple[Any, Watched], sign_in: None
) -> None:
    # Not a deployment from infra/ (one tenant each), but this e2e control plane serves three.
    cp, (tab, _) = control_plane, signed_in_tab
    response = tab.goto(f"{cp.base_url}/api/console#/items")
    assert response is not None and response.status == 400
    expect(tab.locator("h1")).to_have_text("The console cannot open")
    expect(tab.locator("main")).to_contain_text("TenantNotAdmitted")
    expect(tab.locator("main")).to_contain_text("?tenant=")
    expect(tab.locator("#signed-in")).to_have_text(f"Signed in as {OPERATOR}")
    assert tab.locator("#signin-key").count() == 0
