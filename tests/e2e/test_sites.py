"""The site's bandwidth cap set over the runbook API reaches the real agent daemon, which
applies it and says so; the VMM side's "disable protection" reaches the control plane."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.e2e.conftest import ControlPlane, wait_until
from tests.e2e.daemon import SITE, TENANT, Agent
from tests.e2e.test_replication import item, job, make_disk, protect

SETTING = {
    "bytesPerSecond": 50_000_000,
    "timeZone": "Europe/Amsterdam",
    "schedule": [
        {
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "08:00",
            "end": "18:00",
            "bytesPerSecond": 10_000_000,
        }
    ],
}


def test_a_bandwidth_setting_reaches_the_sites_agent_which_applies_it(
    control_plane: ControlPlane, daemon: Agent
) -> None:
    cp, url = control_plane, f"tenants/{TENANT}/sites/{SITE}/bandwidth"
    daemon.start()
    wait_until(lambda: cp.call("PUT", url, json=SETTING).status_code != 404, 60)  # a heartbeat
    sent = cp.call("PUT", url, json=SETTING)
    assert sent.status_code == 202, sent.text
    body = sent.json()
    assert body["setting"]["schedule"][0]["bytesPerSecond"] == 10_000_000
    assert body["commandId"].startswith("bandwidth-") and body["applied"] is None
    applied = wait_until(lambda: (b := cp.call("GET", url).json()).get("applied") and b, 60)
    assert applied["commandId"] == body["commandId"] and not applied["refused"]
    assert "in force" in applied["agentDetail"]


def test_bandwidth_refusals_name_the_problem(control_plane: ControlPlane) -> None:
    cp = control_plane
    unknown = cp.call("PUT", f"tenants/{TENANT}/sites/nowhere/bandwidth", json=SETTING)
    assert unknown.status_code == 404 and unknown.json()["code"] == "SiteNotFound"
    bad = cp.call(
        "PUT", f"tenants/{TENANT}/sites/{SITE}/bandwidth", json={"timeZone": "Mars/Olympus"}
    )
    assert bad.status_code == 400 and "time zone" in bad.json()["cause"]
    unset = cp.call("GET", f"tenants/{TENANT}/sites/never-set/bandwidth")
    assert unset.status_code == 404 and unset.json()["code"] == "BandwidthNotSet"


def test_the_vmm_side_taking_the_mark_away_disables_protection(
    control_plane: ControlPlane, daemon: Agent, tmp_path: Path
) -> None:
    cp, vm = control_plane, "unmark-" + uuid.uuid4().hex[:6]
    daemon.start()
    protect(cp, vm, make_disk(tmp_path, vm), site=SITE)
    wait_until(lambda: item(cp, vm).get("status") == "Protected", 90)
    cp.send_event(
        "protection.disable.requested", TENANT, {"reason": "DRProtect removed"}, vm=vm, site=SITE
    )
    gone = wait_until(lambda: (i := item(cp, vm)).get("status") == "NotProtected" and i, 60)
    jobs = cp.call("GET", f"tenants/{TENANT}/jobs", params={"target": vm}).json()["value"]
    disable = next(j for j in jobs if j["type"] == "DisableProtection")
    assert disable["startedBy"] == "agent" and job(cp, disable["id"])["state"] == "Succeeded"
    assert gone["replicaDisks"], "the replica is kept: deleting it takes an explicit request"
