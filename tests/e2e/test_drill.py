"""The DR drill end to end on the real agent's replicas: a plan's schedule starts it (the
timer trigger), every VM is failed over for a test, each managed disk is read back through
grant access and hashed beside its recovery point, the times make the RTO and RPO, the
cleanup is confirmed in Azure, and the report is served as JSON and HTML. A plan whose last
passed drill is older than the drill policy shows a Warning with the date."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from devhost.arm import ArmStandIn
from readmodels.plans import get_drill, save_drill
from tests.e2e.conftest import ControlPlane, wait_until
from tests.e2e.daemon import TENANT, Agent
from tests.e2e.plans_support import daemon_for, ended, protect_many, put_plan, step
from tests.e2e.test_failover import Azure
from tests.e2e.test_replication import item, job


@pytest.fixture(scope="module")
def agent(
    control_plane: ControlPlane, arm: ArmStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agent]:
    with daemon_for(control_plane, tmp_path_factory.mktemp("drill-agent")) as running:
        yield running


@pytest.fixture(scope="module")
def two(control_plane: ControlPlane, agent: Agent, tmp_path_factory) -> list[str]:
    return protect_many(control_plane, tmp_path_factory.mktemp("drill-disks"), "dr", 2)


def point_sha256(cp: ControlPlane, vm: str, point_id: str) -> tuple[int, str]:
    """The point's snapshot, read from the replica storage by the test itself."""
    shown = item(cp, vm)
    point = next(p for p in shown["recoveryPoints"] if p["id"] == point_id)
    ((disk_id, snapshot),) = point["snapshots"].items()
    replica = next(d for d in shown["replicaDisks"] if d["diskId"] == disk_id)
    service = BlobServiceClient.from_connection_string(cp.azurite.connection_string)
    data = (
        service.get_blob_client(replica["container"], replica["blob"], snapshot=snapshot)
        .download_blob()
        .readall()
    )
    return len(data), hashlib.sha256(data).hexdigest()


def test_a_scheduled_drill_proves_every_disk_and_cleans_up(
    control_plane: ControlPlane, two: list[str], arm: ArmStandIn
) -> None:
    cp = control_plane
    first, second = two
    start_at = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    shown = put_plan(cp, "drilled", {"groups": [{"vms": [first]}, {"vms": [second]}],
                                     "drillSchedule": {"everyHours": 24,
                                                       "startAt": start_at.isoformat()}})  # fmt: skip
    assert datetime.fromisoformat(shown["nextDrill"]) == start_at
    assert shown["health"]["reasons"][0]["code"] == "DrillNeverPassed"

    drills = f"tenants/{TENANT}/recovery-plans/drilled/drills"
    [drill] = wait_until(lambda: cp.call("GET", drills).json()["value"], 75, interval=1)
    assert drill["startedBy"] == "schedule" and drill["state"] == "InProgress"
    again = cp.call("POST", f"tenants/{TENANT}/recovery-plans/drilled/drill")
    assert again.status_code == 202 and again.json()["id"] == drill["id"]
    assert again.json()["created"] is False

    done = ended(cp, drill["id"], 300)
    assert done["state"] == "Succeeded", (
        done["errors"],
        [(s["name"], s["state"]) for s in done["steps"]],
    )
    assert done["type"] == "RecoveryPlanDrill" and done["startedBy"] == "schedule"
    names = [s["name"] for s in done["steps"]]
    for name in (f"Group 1: {first}", f"Group 2: {second}", f"Prove {first}",
                 f"Prove {second}", "Clean up", "Confirm cleanup", "Drill report"):  # fmt: skip
        assert step(done, name)["state"] == "Succeeded", name
    assert names.index(f"Prove {second}") > names.index(f"Group 2: {second}")

    report = cp.call("GET", f"{drills}/{drill['id']}").json()
    assert report["state"] == "Passed", report
    requested = datetime.fromisoformat(report["requested"])
    for vm in report["vms"]:
        [disk] = vm["disks"]
        assert disk["identical"] is True
        # Not trusted from a field: the test reads the point's snapshot itself.
        assert (disk["pointBytes"], disk["pointSha256"]) == point_sha256(
            cp, vm["vm"], vm["recoveryPointId"]
        )
        assert (disk["bytes"], disk["sha256"]) == (disk["pointBytes"], disk["pointSha256"])
        created = datetime.fromisoformat(vm["vmCreated"])
        assert created > requested
        assert vm["rtoSeconds"] == pytest.approx((created - requested).total_seconds())
        point_time = datetime.fromisoformat(vm["recoveryPointTime"])
        began = datetime.fromisoformat(job(cp, vm["jobId"])["startTime"])
        assert vm["rpoSeconds"] == pytest.approx(max((began - point_time).total_seconds(), 0))
        assert vm["vmName"] == f"{vm['vm']}-test" and vm["errors"] == []
    assert report["rtoSeconds"] == max(vm["rtoSeconds"] for vm in report["vms"])
    assert report["cleanup"]["confirmed"] is True and report["cleanup"]["leftovers"] == []
    azure = Azure()
    for vm in two:
        assert azure.made_for(vm) == {"vms": [], "disks": [], "nics": []}
        assert item(cp, vm)["status"] == "Protected"

    page = cp.call("GET", f"{drills}/{drill['id']}/report")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    for vm in report["vms"]:
        assert vm["vm"] in page.text and vm["disks"][0]["sha256"] in page.text
    assert "identical" in page.text and "Passed" in page.text
    keyless = requests.get(cp.url(f"{drills}/{drill['id']}/report"), timeout=10)
    assert keyless.status_code == 401

    shown = cp.call("GET", f"tenants/{TENANT}/recovery-plans/drilled").json()
    assert shown["health"] == {"state": "Normal", "reasons": []}
    assert shown["lastPassedDrill"]["id"] == drill["id"]
    assert datetime.fromisoformat(shown["nextDrill"]) == start_at + timedelta(hours=24)

    # The drill policy (DRILL_MAX_AGE_DAYS, 30 by default): 40 days later, a Warning with the
    # date of the last passed drill.
    old = get_drill(TENANT, drill["id"])
    aged = old.model_copy(update={"requested": old.requested - timedelta(days=40)})
    save_drill(aged)
    shown = cp.call("GET", f"tenants/{TENANT}/recovery-plans/drilled").json()
    assert shown["health"]["state"] == "Warning"
    [reason] = shown["health"]["reasons"]
    assert reason["code"] == "DrillOutOfDate"
    assert f"{aged.requested:%Y-%m-%d}" in reason["cause"] and "30 days" in reason["cause"]
    save_drill(old)
    assert cp.call("DELETE", f"tenants/{TENANT}/recovery-plans/drilled").status_code == 204
