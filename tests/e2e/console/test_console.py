"""The operator console in a real browser (Debian's chromium, driven by Playwright) against the
real control plane: devhost running function_app.py, Azurite, the local Service Bus broker,
and the real agent daemon replicating a real disk.

It proves: the page needs a key and never keeps it in its address; a hostile VM name is shown
as text and runs nothing; a person enables protection from the page, sees the preflight as
they type and the API's problem beside a bad field, watches the VM reach Protected without
reloading, starts a test failover and cleans it up (once the failover API is served), brings
an `asr` VM home after a committed failover with the Fail back, Commit failback and Reprotect
buttons (each dialog says what will happen; the job panel shows ASR's tasks; the status moves
FailoverCommitted → FailedBack → FailbackCommitted → Protected without reloading), finds a
failed job by state and VM with its cause and fix in place, and reads plainly that recovery
plans and alerts are not in this release.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from devhost.arm import ArmStandIn
from tests.e2e.conftest import KEYS, CheckedApi, ControlPlane, wait_until
from tests.e2e.console.conftest import Watched, screenshot
from tests.e2e.test_asr import TENANT as ASR_TENANT
from tests.e2e.test_asr import operation, protected_vm
from tests.e2e.test_replication import make_disk, write
from tests.e2e.test_replication_agent import SITE, Agent

TENANT = "contoso"
GB, TB = 1024**3, 1024**4
MIB = 1024 * 1024
XSS_NAME = "<img src=x onerror=alert(1)>"
FLAG_NAME = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


FAILOVER = "/tenants/{tenant}/vms/{vm}/failover"


def console_url(cp: ControlPlane, route: str = "#/items", key: str | None = None) -> str:
    return f"{cp.base_url}/api/console?tenant={TENANT}&code={key or KEYS[TENANT]}{route}"


def report(cp: ControlPlane, cloud: str, *vms: dict, site: str = "site-local") -> None:
    """The agent's inventory of one VMM cloud; waits until the API lists every VM."""
    cp.send_event("inventory.snapshot", TENANT, {"cloud": {"id": cloud, "name": cloud},
                  "vms": list(vms)}, site=site)  # fmt: skip
    wanted = {vm["id"] for vm in vms}

    def listed() -> bool:
        page = cp.call("GET", f"tenants/{TENANT}/vms", params={"top": 1000}).json()
        return wanted <= {v["vm"]["id"] for v in page["value"] if v["present"]}

    wait_until(listed)


def vm_body(vm_id: str, name: str | None = None, disk_path: str | None = None,
            size: int = 16 * GB, **over: Any) -> dict:  # fmt: skip
    body = {"id": vm_id, "name": name or vm_id, "generation": 1, "osType": "linux",
            "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 1, "memoryMb": 1024,
            "nics": [{"id": "nic0"}],
            "disks": [{"id": f"{vm_id}-os", "path": disk_path or f"C:\\VMs\\{vm_id}\\os.vhdx",
                       "format": "VHDX", "sizeBytes": size, "isOsDisk": True}]}  # fmt: skip
    body.update(over)
    return body


def status_of(tab: Any) -> Any:
    return tab.locator("#vm-status .badge")


def open_vm(tab: Any, cp: ControlPlane, vm: str) -> None:
    tab.goto(console_url(cp, f"#/vm/{vm}"))
    expect(status_of(tab)).to_be_visible()


# --- the route itself ----------------------------------------------------------------------


def test_the_console_needs_a_key_and_forbids_foreign_script(control_plane: ControlPlane) -> None:
    cp = control_plane
    refused = requests.get(f"{cp.base_url}/api/console", timeout=30)
    assert refused.status_code == 401
    response = cp.call("GET", "console")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    # Only the page's own inline script and style run; nothing is loaded from anywhere else.
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert f'<script type="module" nonce="{nonce}">' in response.text
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert KEYS[TENANT] not in response.text
    # Each answer has its own nonce.
    assert nonce not in cp.call("GET", "console").headers["Content-Security-Policy"]


# --- hostile names --------------------------------------------------------------------------


def test_a_hostile_vm_name_is_shown_as_text_and_nothing_runs(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, watched) = control_plane, page
    alert_vm, flag_vm = f"xss-{uuid.uuid4().hex[:6]}", f"flag-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{alert_vm}", vm_body(alert_vm, XSS_NAME),
           vm_body(flag_vm, FLAG_NAME, osName="<b>bold</b>"))  # fmt: skip
    tab.goto(console_url(cp))
    row = tab.locator(f'tr[data-vm="{alert_vm}"]')
    expect(row).to_be_visible()
    expect(row.locator(".vm-name")).to_have_text(XSS_NAME)
    expect(tab.locator(f'tr[data-vm="{flag_vm}"] .vm-name')).to_have_text(FLAG_NAME)
    open_vm(tab, cp, flag_vm)
    expect(tab.locator("h1")).to_contain_text(FLAG_NAME)
    tab.wait_for_timeout(500)  # an onerror would have fired by now
    assert tab.locator("main img, main script, main b").count() == 0
    assert tab.evaluate("window.__pwned") is None
    assert watched.dialogs == []
    # The key was taken from the address and is kept nowhere the address bar shows.
    assert "code=" not in tab.url and KEYS[TENANT] not in tab.url


# --- enable protection, bad input, keyboard --------------------------------------------------


def test_bad_input_gets_the_apis_problem_next_to_the_field(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, _) = control_plane, page
    vm = f"form-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{vm}", vm_body(vm))
    open_vm(tab, cp, vm)
    expect(status_of(tab)).to_have_attribute("data-status", "NotProtected")
    # By keyboard: the action opens its dialog with Enter and Escape closes it.
    tab.locator('[data-operation="EnableProtection"]').focus()
    tab.keyboard.press("Enter")
    dialog = tab.locator("dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator('[data-role="preflight"]')).to_contain_text("Preflight passed")
    tab.keyboard.press("Escape")
    expect(tab.locator("dialog[open]")).to_have_count(0)

    tab.locator('[data-operation="EnableProtection"]').click()
    name = dialog.locator("#op-target-name")
    name.fill("x" * 70)  # the live preflight answers 400 InvalidField
    error = dialog.locator("#op-target-name-error")
    expect(error).to_contain_text("InvalidField")
    expect(error).to_contain_text("targetName: String should have at most 64 characters")
    expect(name).to_have_attribute("aria-invalid", "true")
    dialog.locator('[data-role="confirm"]').click()  # and the enable call itself refuses too
    expect(error).to_contain_text("at most 64 characters")
    expect(dialog).to_be_visible()
    name.fill(vm)
    expect(dialog.locator('[data-role="preflight"]')).to_contain_text("Preflight passed")
    expect(error).to_be_hidden()
    dialog.locator('[data-role="cancel"]').click()
    assert cp.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").status_code == 404


# --- the real agent: enable, Protected, test failover, disable -----------------------------


@pytest.fixture(scope="module")
def daemon_vm(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    dict
]:  # fmt: skip
    """A VM with a real disk on the daemon's site and the real agent daemon running."""
    work = tmp_path_factory.mktemp("console-daemon")
    vm = f"web-{uuid.uuid4().hex[:6]}"
    disk = make_disk(work, vm)
    write(disk, 8, 28, 0x3C)  # 29 MiB of data: seconds at the cap below, time to watch it go
    agent = Agent(control_plane, work / "state", work / "agent.log")
    agent.start("--bandwidth", "2MB/s")
    try:
        report(control_plane, f"console-{vm}",
               vm_body(vm, disk_path=str(disk), size=64 * MIB), site=SITE)  # fmt: skip
        yield {"vm": vm, "disk": disk, "agent": agent}
    finally:
        agent.stop()


def test_enable_protection_from_the_page_and_watch_it_reach_protected(
    control_plane: ControlPlane, page: tuple[Any, Watched], daemon_vm: dict
) -> None:
    cp, (tab, _) = control_plane, page
    vm = daemon_vm["vm"]
    tab.goto(console_url(cp))
    tab.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    row = tab.locator(f'tr[data-vm="{vm}"]')
    expect(row.locator(".badge").first).to_have_attribute("data-status", "NotProtected")
    row.locator("a.vm-link").click()
    expect(status_of(tab)).to_have_attribute("data-status", "NotProtected")

    tab.locator('[data-operation="EnableProtection"]').click()
    dialog = tab.locator("dialog[open]")
    dialog.locator("#op-policy").select_option("30s")
    expect(dialog.locator('[data-role="preflight"]')).to_contain_text("Preflight passed")
    expect(dialog.locator('[data-role="preflight"]')).to_contain_text(f"Fails over as {vm}")
    dialog.locator('[data-role="confirm"]').click()
    expect(tab.locator("dialog[open]")).to_have_count(0)

    panel = tab.locator(".job-panel")
    expect(panel).to_contain_text("EnableProtection")
    expect(panel.locator('tr[data-step="Prerequisites check"] .badge')).to_have_attribute(
        "data-status", "Succeeded"
    )
    # Initial replication as it goes: progress, throughput and ETA, here and in the list.
    expect(tab.locator(".progress")).to_contain_text("ETA", timeout=60_000)
    tab.locator('#nav a[data-page="items"]').click()
    row = tab.locator(f'tr[data-vm="{vm}"]')
    expect(row.locator(".progress")).to_contain_text("ETA")
    expect(row.locator("progress")).to_be_visible()
    screenshot(tab, "items")
    row.locator("a.vm-link").click()
    expect(status_of(tab)).to_have_attribute("data-status", "Protected", timeout=120_000)
    assert tab.evaluate("window.__sameDocument") is True
    # Live: the RPO against the 30s policy's threshold, the point on the timeline, a chart.
    expect(tab.locator(".rpo")).to_contain_text("of 5 min")
    expect(tab.locator("#timeline-summary")).to_contain_text("points kept")
    expect(tab.locator("#rpo-chart-summary")).to_contain_text("never over the 5 min threshold")
    # A delta cycle's point shows up on its own (no reload).
    write(daemon_vm["disk"], 40, 1, 0x77)
    expect(tab.locator("#timeline-summary")).to_contain_text(re.compile(r"\b[2-9] points kept"),
                                                             timeout=90_000)  # fmt: skip
    assert tab.evaluate("window.__sameDocument") is True
    screenshot(tab, "vm", full_page=True)
    shown = cp.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").json()
    assert shown["status"] == "Protected" and shown["policy"] == "30s"


def test_a_test_failover_from_the_page_shows_its_steps_then_cleans_up(
    control_plane: ControlPlane, page: tuple[Any, Watched], daemon_vm: dict, arm: Any
) -> None:
    cp, (tab, _) = control_plane, page
    vm = daemon_vm["vm"]
    assert f"/api{FAILOVER}" in cp.call("GET", "openapi.json").json()["paths"]
    open_vm(tab, cp, vm)
    expect(status_of(tab)).to_have_attribute("data-status", "Protected")
    tab.locator('[data-operation="TestFailover"]').click()
    dialog = tab.locator("dialog[open]")
    dialog.locator("#op-point").select_option("latest")
    dialog.locator('[data-role="confirm"]').click()
    panel = tab.locator(".job-panel")
    expect(panel).to_contain_text("TestFailover")
    expect(panel.locator("tr[data-step]").first).to_be_visible(timeout=60_000)
    expect(status_of(tab)).to_have_attribute("data-status", "TestFailoverSucceeded",
                                             timeout=120_000)  # fmt: skip
    expect(panel.locator(".badge").first).to_have_attribute("data-status", "Succeeded")
    assert panel.locator("tr[data-step]").count() >= 1
    screenshot(tab, "vm-test-failover")

    tab.locator('[data-operation="TestFailoverCleanup"]').click()
    tab.locator('dialog[open] [data-role="confirm"]').click()
    expect(tab.locator(".job-panel")).to_contain_text("TestFailoverCleanup")
    expect(status_of(tab)).to_have_attribute("data-status", "Protected", timeout=120_000)


def test_disable_protection_from_the_page(
    control_plane: ControlPlane, page: tuple[Any, Watched], daemon_vm: dict
) -> None:
    cp, (tab, _) = control_plane, page
    vm = daemon_vm["vm"]
    open_vm(tab, cp, vm)
    expect(status_of(tab)).to_have_attribute("data-status", "Protected")
    tab.locator('[data-operation="DisableProtection"]').click()
    dialog = tab.locator("dialog[open]")
    expect(dialog).to_contain_text("Stops replication")
    dialog.locator("#op-delete-replica").check()
    dialog.locator('[data-role="confirm"]').click()
    expect(tab.locator(".job-panel")).to_contain_text("DisableProtection")
    expect(status_of(tab)).to_have_attribute("data-status", "NotProtected", timeout=90_000)
    assert cp.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").json()["status"] == (
        "NotProtected"
    )


# --- an asr VM's way home: failback, its commit, reprotect ---------------------------------


def test_an_asr_vm_comes_home_from_the_page_failback_commit_reprotect(
    control_plane: ControlPlane, page: tuple[Any, Watched], api: CheckedApi, asr: ArmStandIn
) -> None:
    cp, (tab, _) = control_plane, page
    assert ASR_TENANT == TENANT  # the VM the helpers make is one this page's tenant sees
    vm = protected_vm(api, asr, "asrc")
    assert operation(api, vm, type="unplanned")["state"] == "Succeeded"
    assert operation(api, vm, "/commit")["state"] == "Succeeded"

    open_vm(tab, cp, vm)
    tab.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    expect(status_of(tab)).to_have_attribute("data-status", "FailoverCommitted")
    tab.locator('[data-operation="Failback"]').click()
    dialog = tab.locator("dialog[open]")
    expect(dialog.locator(".intro")).to_contain_text(
        "Copies the Azure VM's changes back on premises while it runs"
    )
    # Going on at once unless the operator asks to approve the shutdown on the job.
    expect(dialog.locator('input[name="completeOnApproval"]')).not_to_be_checked()
    dialog.locator('[data-role="confirm"]').click()
    expect(tab.locator("dialog[open]")).to_have_count(0)
    panel = tab.locator(".job-panel")
    expect(panel.locator(".job-type")).to_have_text("Failback")
    # ASR's tasks, mirrored; the first one says the body asked for a sync while it runs.
    synced = panel.locator('tr[data-step="Synchronize data while the Azure virtual machine runs"]')
    expect(synced).to_be_visible(timeout=60_000)
    started = panel.locator('tr[data-step="Start the on-premises virtual machine"] .badge')
    expect(started).to_have_attribute("data-status", "Succeeded", timeout=120_000)
    expect(status_of(tab)).to_have_attribute("data-status", "FailedBack", timeout=60_000)
    # Nothing replicates now: the last point's age is not judged as an RPO.
    expect(tab.locator('[data-rpo="not-replicating"]')).to_contain_text("not replicating")
    expect(tab.locator(".rpo.over")).to_have_count(0)
    expect(panel.locator(".badge").first).to_have_attribute("data-status", "Succeeded")
    screenshot(tab, "vm-failback")

    tab.locator('[data-operation="CommitFailback"]').click()
    expect(dialog.locator(".intro")).to_contain_text("Makes the failback final")
    dialog.locator('[data-role="confirm"]').click()
    expect(panel.locator(".job-type")).to_have_text("CommitFailback")
    expect(status_of(tab)).to_have_attribute("data-status", "FailbackCommitted", timeout=120_000)

    tab.locator('[data-operation="ReProtect"]').click()
    expect(dialog.locator(".intro")).to_contain_text("Starts replicating the on-premises VM")
    dialog.locator('[data-role="confirm"]').click()
    expect(panel.locator(".job-type")).to_have_text("Reprotect")
    expect(panel.locator('tr[data-step="Reverse replicate"]')).to_be_visible(timeout=60_000)
    expect(status_of(tab)).to_have_attribute("data-status", "Protected", timeout=120_000)
    expect(tab.locator('[data-operation="TestFailover"]')).to_be_enabled()
    assert tab.evaluate("window.__sameDocument") is True
    assert cp.call("GET", f"tenants/{TENANT}/replicated-items/{vm}").json()["status"] == (
        "Protected"
    )


# --- jobs, plans, alerts ------------------------------------------------------------------


def test_jobs_filter_by_state_and_vm_with_cause_and_fix_in_place(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, _) = control_plane, page
    vm = f"big-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{vm}", vm_body(vm, size=5 * TB))  # gen 1: OS disk over 2 TiB
    accepted = cp.call("POST", f"tenants/{TENANT}/vms/{vm}/protection", json={})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    wait_until(
        lambda: cp.call("GET", f"tenants/{TENANT}/jobs/{job_id}").json()["state"] == "Failed"
    )

    tab.goto(console_url(cp, "#/jobs"))
    expect(tab.locator("h1")).to_have_text("Jobs")
    tab.locator("#filter-state").select_option("Failed")
    expect(tab.locator(f'#filter-target option[value="{vm}"]')).to_have_count(1)
    tab.locator("#filter-target").select_option(vm)
    job = tab.locator(f'details[data-job="{job_id}"]')
    expect(job).to_have_attribute("open", "")  # a failed job opens with its errors shown
    step = job.locator('tr[data-step="Prerequisites check"]')
    expect(step.locator(".badge")).to_have_attribute("data-status", "Failed")
    errors = job.locator(".step-errors")
    expect(errors).to_contain_text("OsDiskTooLarge")
    expect(errors).to_contain_text("Fix: Shrink the OS disk")
    expect(tab.locator(".jobs > li")).to_have_count(1)
    assert "state=Failed" in tab.url and f"target={vm}" in tab.url
    screenshot(tab, "jobs")
    # The state filter alone lists other VMs' failures too; this one stays listed.
    tab.locator("#filter-target").select_option("")
    expect(job).to_be_visible()
    # And the list of VMs does not hide it: the VM's last job failed, with its first error.
    tab.locator('#nav a[data-page="items"]').click()
    failed = tab.locator(f'tr[data-vm="{vm}"] .last-failed')
    expect(failed).to_contain_text("EnableProtection")
    expect(failed).to_contain_text("OsDiskTooLarge: OS disk")


def test_plans_and_alerts_say_plainly_whether_this_release_has_them(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, _) = control_plane, page
    paths = cp.call("GET", "openapi.json").json()["paths"]
    tab.goto(console_url(cp))
    expect(tab.locator("h1")).to_have_text("Replicated items")
    tab.locator('#nav a[data-page="plans"]').focus()
    tab.keyboard.press("Enter")
    expect(tab.locator("h1")).to_have_text("Recovery plans")
    if "/api/tenants/{tenant}/recovery-plans" not in paths:
        expect(tab.locator(".not-available")).to_contain_text(
            "Recovery plans and drills are not available in this release."
        )
    screenshot(tab, "plans")
    tab.locator('#nav a[data-page="alerts"]').click()
    expect(tab.locator("h1")).to_have_text("Alerts and auto-failover")
    if "/api/tenants/{tenant}/auto-failover-rules" not in paths:
        expect(tab.locator(".not-available")).to_contain_text("not available in this release")
    screenshot(tab, "alerts")


def test_a_key_of_another_tenant_is_refused_with_the_apis_problem(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, _) = control_plane, page
    tab.goto(console_url(cp, key=KEYS["fabrikam"]))  # a valid host key, not contoso's
    error = tab.locator("#signin-key-error")
    expect(error).to_contain_text("TenantForbidden")
    expect(error).to_contain_text("This key is not a key of tenant 'contoso'")
    # Typed once: the right key opens the console without leaving the page.
    tab.locator("#signin-key").fill(KEYS[TENANT])
    tab.locator("#signin-key").press("Enter")
    expect(tab.locator("h1")).to_have_text("Replicated items")
    assert KEYS[TENANT] not in tab.url


def test_focus_stays_where_it_was_across_live_refreshes(
    control_plane: ControlPlane, page: tuple[Any, Watched]
) -> None:
    cp, (tab, _) = control_plane, page
    vm = f"focus-{uuid.uuid4().hex[:6]}"
    report(cp, f"console-{vm}", vm_body(vm))
    tab.goto(console_url(cp))
    link = tab.locator(f'tr[data-vm="{vm}"] a.vm-link')
    link.focus()
    before = tab.locator("#live").inner_text()
    expect(tab.locator("#live")).not_to_have_text(before, timeout=10_000)  # a refresh happened
    assert tab.evaluate("document.activeElement.dataset.key") == f"vm:{vm}"
    tab.keyboard.press("Enter")
    expect(status_of(tab)).to_have_attribute("data-status", "NotProtected")
