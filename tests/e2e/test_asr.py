"""The `asr` provider end to end: devhost runs the unchanged app, the real Site Recovery SDK
drives the ARM stand-in's Site Recovery over HTTPS, and the runbook API shows what ASR does.
The stand-in's control endpoint plays VMM's ASR provider (discovering the cloud's VMs) and
injects what a test needs (a health error, a failed job)."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
import requests

from devhost.arm import ArmStandIn
from tests.e2e.conftest import CheckedApi, wait_until
from tests.e2e.test_protection import finished_job, item_of, new_id, report, vm_body

TENANT = "contoso"


def discovered(arm: ArmStandIn, vm: str, cloud: str = "gold") -> None:
    """What VMM's ASR provider reports: the VMM server, the cloud and its VM."""
    arm.site_recovery_control(
        "discover",
        {
            "vault": os.environ["ASR_VAULT_ID"],
            "fabric": {"name": "vmm01", "friendlyName": "vmm01.contoso.local"},
            "cloud": {"name": f"cloud-{cloud}", "friendlyName": cloud},
            "vms": [{"name": vm, "friendlyName": vm, "generation": 1, "osType": "Linux"}],
        },
    )


def enable(api: CheckedApi, vm: str, **body: str) -> dict:
    accepted = api.call(
        "POST", f"tenants/{TENANT}/vms/{vm}/protection", json={"provider": "asr", **body}
    )
    assert accepted.status_code == 202, accepted.text
    return finished_job(api, TENANT, accepted.json()["id"])


def replication_job(api: CheckedApi, protect_job: dict) -> dict:
    return wait_until(
        lambda: (
            (j := api.call("GET", f"tenants/{TENANT}/jobs/{protect_job['id']}-r").json()).get(
                "state"
            )
            in ("Succeeded", "Failed")
            and j
        ),
        timeout=90,
    )


def test_protect_with_asr_watches_initial_replication_to_protected(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = new_id("asr")
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    job = enable(api, vm)
    assert job["state"] == "Succeeded", job
    progress = wait_until(
        lambda: (
            (i := item_of(api, TENANT, vm)).get("status") == "InitialReplicationInProgress" and i
        ),
        timeout=60,
    )
    assert progress["provider"] == "asr"
    initial = replication_job(api, job)
    assert initial["state"] == "Succeeded", initial
    steps = [s["name"] for s in initial["steps"]]
    assert len(steps) == len(set(steps)), steps  # each ASR task once, however often looked at
    assert steps[:2] == ["Create replication policy", "Associate replication policy with the cloud"]
    assert "Prerequisites check for enabling protection" in steps  # ASR's tasks, mirrored
    assert steps[-1] == "Initial replication"
    protected = item_of(api, TENANT, vm)
    assert protected["status"] == "Protected"
    assert protected["rpoSeconds"] is not None

    asr.site_recovery_control(
        "health-errors",
        {
            "item": _asr_item_id(vm),
            "errors": [
                {
                    "errorCode": "78069",
                    "errorMessage": "Replication is paused for the virtual machine.",
                    "possibleCauses": "The Hyper-V host lost its connection to Azure.",
                    "recommendedAction": "Check the host's outbound HTTPS to Azure.",
                }
            ],
        },
    )
    health = wait_until(
        lambda: (h := item_of(api, TENANT, vm)["health"]).get("state") == "Critical" and h,
        timeout=30,
    )
    reason = next(r for r in health["reasons"] if r["code"] == "Asr78069")
    assert "lost its connection" in reason["cause"]
    assert reason["recommendation"] == "Check the host's outbound HTTPS to Azure."


def test_a_failed_asr_enable_job_shows_on_our_job_with_cause_and_fix(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = new_id("asrf")
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    asr.site_recovery_control(
        "settings",
        {
            "failNext": {
                "EnableDr": {
                    "task": 1,
                    "code": "70094",
                    "message": "Enable protection failed for the virtual machine.",
                    "possibleCauses": "The VM has a pass-through disk.",
                    "recommendedAction": "Remove the pass-through disk and enable again.",
                }
            }
        },
    )
    job = enable(api, vm)
    initial = replication_job(api, job)
    assert initial["state"] == "Failed", initial
    (error,) = initial["errors"]
    assert error["code"] == "Asr70094"
    assert "pass-through" in error["cause"]
    assert error["recommendation"] == "Remove the pass-through disk and enable again."
    failed_step = next(s for s in initial["steps"] if s["state"] == "Failed")
    assert failed_step["name"] == "Identifying the replication target"


def _asr_item_id(vm: str) -> str:
    return (
        f"{os.environ['ASR_VAULT_ID']}/replicationFabrics/vmm01/replicationProtectionContainers/"
        f"cloud-gold/replicationProtectedItems/{vm}"
    )


def test_the_tenant_default_provider_applies_when_enable_names_none(
    api: CheckedApi, asr: ArmStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANT_DEFAULT_PROVIDERS", '{"contoso": "asr"}')
    vm = new_id("asrd")
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    accepted = api.call("POST", f"tenants/{TENANT}/vms/{vm}/protection", json={})
    assert accepted.status_code == 202, accepted.text
    assert finished_job(api, TENANT, accepted.json()["id"])["state"] == "Succeeded"
    assert item_of(api, TENANT, vm)["provider"] == "asr"
    preflight = api.call("POST", f"tenants/{TENANT}/vms/{vm}/preflight", json={}).json()
    assert preflight["provider"] == "asr"


def test_once_found_a_look_at_an_asr_vm_is_one_arm_read(api: CheckedApi, asr: ArmStandIn) -> None:
    """The watch remembers where ASR keeps the VM: it does not list the vault's fabrics, a
    fabric's clouds and a cloud's VMs again on each look (three reads more, every look)."""
    vm = new_id("asrl")
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    assert replication_job(api, enable(api, vm))["state"] == "Succeeded"
    seen: list[tuple[str, str]] = []
    assert asr.standin is not None
    asr.standin.observer = lambda request, status: seen.append((request.method, request.path))
    try:
        wait_until(
            lambda: sum(p.endswith(f"/replicationProtectedItems/{vm}") for _, p in seen) >= 3
        )
    finally:
        asr.standin.observer = None
    mine = [(m, p) for m, p in seen if f"/{vm}" in p]
    assert {m for m, _ in mine} == {"GET"} and all(p.endswith(vm) for _, p in mine), mine
    listed = [
        p for _, p in seen if p.endswith(("/replicationFabrics", "/replicationProtectableItems"))
    ]
    assert listed == [], listed  # no VM's watch looks its place up again


def test_disable_protection_removes_the_asr_item(api: CheckedApi, asr: ArmStandIn) -> None:
    vm = new_id("asro")
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    assert replication_job(api, enable(api, vm))["state"] == "Succeeded"
    accepted = api.call("DELETE", f"tenants/{TENANT}/vms/{vm}/protection", json={})
    assert accepted.status_code == 202, accepted.text
    job = finished_job(api, TENANT, accepted.json()["id"])
    assert job["state"] == "Succeeded", job
    assert item_of(api, TENANT, vm)["status"] == "NotProtected"

    def asr_item_response() -> requests.Response:
        return requests.get(
            f"{asr.endpoint}{_asr_item_id(vm)}?api-version=2025-08-01",
            headers={"Authorization": f"Bearer {_token()}"},
            verify=str(asr.ca_bundle_path),
            timeout=10,
        )

    # (a Response with 404 is falsy itself: wait for its body)
    gone = wait_until(
        lambda: (r := asr_item_response()).status_code == 404 and r.json(), timeout=30
    )
    assert gone["error"]["code"] == "ReplicationProtectedItemNotFound"


def _token() -> str:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential().get_token("https://management.azure.com/.default").token


# --- failover through ASR ----------------------------------------------------------------------


def protected_vm(api: CheckedApi, asr: ArmStandIn, prefix: str) -> str:
    """A VM ASR protects on a 30 s policy, replicating long enough to have several points."""
    vm = new_id(prefix)
    report(api, TENANT, vm_body(vm))
    discovered(asr, vm)
    assert replication_job(api, enable(api, vm, policy="tight"))["state"] == "Succeeded"
    asr.site_recovery_control("age", {"item": _asr_item_id(vm), "seconds": 100})
    return vm


def operation(api: CheckedApi, vm: str, path: str = "", **body: object) -> dict:
    """POST the failover operation and wait for its job to end."""
    accepted = api.call("POST", f"tenants/{TENANT}/vms/{vm}/failover{path}", json=body)
    assert accepted.status_code == 202, accepted.text
    return finished_job(api, TENANT, accepted.json()["id"])


def asr_item(asr: ArmStandIn, vm: str) -> dict:
    response = requests.get(
        f"{asr.endpoint}{_asr_item_id(vm)}?api-version=2025-08-01",
        headers={"Authorization": f"Bearer {_token()}"},
        verify=str(asr.ca_bundle_path),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def test_a_test_failover_through_asr_from_a_chosen_point_and_its_cleanup(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = protected_vm(api, asr, "asrt")
    points = item_of(api, TENANT, vm)["recoveryPoints"]
    assert len(points) >= 3, points  # ASR's points, newest first, named as a failover takes them
    assert points[0]["time"] > points[1]["time"]

    job = operation(api, vm, type="test", recoveryPoint=points[1]["id"])
    assert job["state"] == "Succeeded", job
    steps = [s["name"] for s in job["steps"]]
    assert steps[0] == "Choose recovery point"
    assert "Create test virtual machine" in steps  # ASR's job's tasks, mirrored
    item = item_of(api, TENANT, vm)
    assert item["status"] == "TestFailoverSucceeded"
    assert item["failover"]["vmName"] == f"{vm}-test"
    assert item["failover"]["recoveryPointId"] == points[1]["id"]
    assert asr_item(asr, vm)["properties"]["testFailoverState"] == "WaitingForCompletion"

    cleanup = operation(api, vm, "/cleanup")
    assert cleanup["state"] == "Succeeded", cleanup
    assert "Cleaning up test environment" in [s["name"] for s in cleanup["steps"]]
    item = item_of(api, TENANT, vm)
    assert item["status"] == "Protected" and item["failover"] is None
    assert asr_item(asr, vm)["properties"]["testFailoverState"] == "None"


def test_an_unplanned_failover_through_asr_a_change_of_point_and_commit(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = protected_vm(api, asr, "asru")
    points = item_of(api, TENANT, vm)["recoveryPoints"]
    app_consistent = next(p for p in points if p["consistency"] == "app")
    assert app_consistent != points[0]  # the first point only: an older one

    job = operation(api, vm, type="unplanned", recoveryPoint="latestAppConsistent")
    assert job["state"] == "Succeeded", job
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailedOver"
    assert item["failover"]["recoveryPointId"] == app_consistent["id"]
    assert item["failover"]["vmName"] == vm
    assert "CancelFailover" not in item["allowedOperations"]  # ASR has no cancel
    refused = api.call("POST", f"tenants/{TENANT}/vms/{vm}/failover/cancel", json={})
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "OperationNotOfferedByProvider"
    assert "ChangePit" in refused.json()["recommendation"]

    newest = item_of(api, TENANT, vm)["recoveryPoints"][0]  # ASR took none after the failover
    changed = operation(api, vm, "/recovery-point", recoveryPoint="latest")
    assert changed["state"] == "Succeeded", changed
    assert item_of(api, TENANT, vm)["failover"]["recoveryPointId"] == newest["id"]
    assert asr_item(asr, vm)["properties"]["failoverRecoveryPointId"].endswith(newest["id"])

    committed = operation(api, vm, "/commit")
    assert committed["state"] == "Succeeded", committed
    assert "End the replication watch" in [s["name"] for s in committed["steps"]]
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailoverCommitted"
    committed_in_asr = asr_item(asr, vm)["properties"]
    assert committed_in_asr["protectionStateDescription"] == "Planned failover committed"


def test_a_planned_failover_through_asr_records_the_point_asr_made(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = protected_vm(api, asr, "asrp")
    job = operation(api, vm, type="planned")
    assert job["state"] == "Succeeded", job
    steps = [s["name"] for s in job["steps"]]
    assert "Shut down the virtual machine" in steps and "Synchronize data" in steps
    assert "Choose recovery point" not in steps  # ASR's final synchronisation makes it
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailedOver"
    made = asr_item(asr, vm)["properties"]["failoverRecoveryPointId"]
    assert item["failover"]["recoveryPointId"] == made.rsplit("/", 1)[-1]


def test_a_failed_asr_test_failover_fails_our_job_with_asrs_cause_and_fix(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = protected_vm(api, asr, "asrx")
    asr.site_recovery_control(
        "settings",
        {
            "failNext": {
                "TestFailover": {
                    "task": 1,
                    "code": "70038",
                    "message": "The test virtual machine could not be created.",
                    "possibleCauses": "The subscription's vCPU quota is exhausted.",
                    "recommendedAction": "Raise the quota for the VM family, then retry.",
                }
            }
        },
    )
    job = operation(api, vm, type="test")
    assert job["state"] == "Failed", job
    (error,) = job["errors"]
    assert error["code"] == "Asr70038" and "quota is exhausted" in error["cause"]
    assert error["recommendation"] == "Raise the quota for the VM family, then retry."
    assert next(s for s in job["steps"] if s["state"] == "Failed")["name"] == (
        "Create test virtual machine"
    )
    item = item_of(api, TENANT, vm)
    assert item["status"] == "TestFailoverFailed"
    assert item["allowedOperations"] == ["TestFailoverCleanup"]

    cleanup = operation(api, vm, "/cleanup")
    assert cleanup["state"] == "Succeeded", cleanup
    assert item_of(api, TENANT, vm)["status"] == "Protected"


def test_a_point_asr_does_not_have_is_refused_before_anything_starts(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = protected_vm(api, asr, "asrn")
    refused = api.call(
        "POST", f"tenants/{TENANT}/vms/{vm}/failover", json={"type": "test", "recoveryPoint": "42"}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "RecoveryPointNotFound"
    assert item_of(api, TENANT, vm)["status"] == "Protected"


# --- the way home: failback, its commit, reverse replication ---------------------------------

COMPLETE_FAILBACK = "Complete the failback (shut the Azure VM down, copy the rest)"
APPROVAL = "Approval: complete the failback (shut the Azure VM down, copy the rest)"


def home(api: CheckedApi, vm: str, path: str, **body: object) -> requests.Response:
    return api.call("POST", f"tenants/{TENANT}/vms/{vm}/{path}", json=body)


def done(api: CheckedApi, vm: str, path: str, **body: object) -> dict:
    """POST a way-home operation and wait for its job to end."""
    accepted = home(api, vm, path, **body)
    assert accepted.status_code == 202, accepted.text
    return finished_job(api, TENANT, accepted.json()["id"])


def committed_vm(api: CheckedApi, asr: ArmStandIn, prefix: str) -> str:
    vm = protected_vm(api, asr, prefix)
    assert operation(api, vm, type="unplanned")["state"] == "Succeeded"
    assert operation(api, vm, "/commit")["state"] == "Succeeded"
    return vm


def test_failback_commit_and_reprotect_bring_an_asr_vm_home_and_protected_again(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = committed_vm(api, asr, "asrb")
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailoverCommitted"
    assert set(item["allowedOperations"]) == {"Failback", "DisableProtection"}
    early = home(api, vm, "reprotect")  # not before the failback and its commit
    assert early.status_code == 409 and early.json()["code"] == "OperationNotAllowed"

    back = done(api, vm, "failback", dataSync="whileRunning")
    assert back["state"] == "Succeeded", back
    assert back["type"] == "Failback"
    steps = [s["name"] for s in back["steps"]]  # ASR's tasks, mirrored
    synced = steps.index("Synchronize data while the Azure virtual machine runs")
    # ASR waited after the copy while it ran (its Complete failover): we went on at once.
    assert steps[synced + 1] == COMPLETE_FAILBACK
    assert steps[-1] == "Start the on-premises virtual machine"
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailedBack" and item["allowedOperations"] == ["CommitFailback"]
    assert asr_item(asr, vm)["properties"]["activeLocation"] == "Primary"

    commit = done(api, vm, "failback/commit")
    assert commit["state"] == "Succeeded" and commit["type"] == "CommitFailback", commit
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailbackCommitted"
    assert item["failover"] is None  # ASR removed what the failover made in Azure
    assert set(item["allowedOperations"]) == {"ReProtect", "DisableProtection"}

    reprotect = done(api, vm, "reprotect")
    assert reprotect["state"] == "Succeeded" and reprotect["type"] == "Reprotect", reprotect
    steps = [s["name"] for s in reprotect["steps"]]
    assert "Reverse replicate" in steps and steps[-1] == "Watch replication"
    item = item_of(api, TENANT, vm)
    assert item["status"] == "Protected"
    assert "TestFailover" in item["allowedOperations"]
    # The watch runs again: it copies what ASR replicates after the reprotect onto the item.
    ended = datetime.fromisoformat(reprotect["endTime"])
    watched = wait_until(
        lambda: (
            (i := item_of(api, TENANT, vm)).get("lastSync")
            and datetime.fromisoformat(i["lastSync"]) >= ended
            and i
        ),
        timeout=60,
    )
    assert watched["rpoSeconds"] is not None
    assert watched["recoveryPoints"], "ASR takes points again"


def test_a_failed_failback_shows_asrs_cause_and_leaves_the_azure_vm_running(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = committed_vm(api, asr, "asrf")
    asr.site_recovery_control(
        "settings",
        {
            "failNext": {
                "PlannedFailover": {
                    "task": 1,
                    "code": "70094",
                    "message": "The on-premises virtual machine could not be reached.",
                    "possibleCauses": "The Hyper-V host is offline or not registered.",
                    "recommendedAction": "Bring the host online in VMM, then fail back again.",
                }
            }
        },
    )
    job = done(api, vm, "failback", dataSync="duringDowntime")
    assert job["state"] == "Failed", job
    (error,) = job["errors"]
    assert error["code"] == "Asr70094" and "host is offline" in error["cause"]
    assert error["recommendation"] == "Bring the host online in VMM, then fail back again."
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailoverCommitted"  # the Azure VM runs on
    assert "Failback" in item["allowedOperations"]

    bad = home(api, vm, "failback", dataSync="sometimes")
    assert bad.status_code == 400 and "dataSync" in bad.text


def waiting_for_approval(api: CheckedApi, job_id: str) -> dict:
    return wait_until(
        lambda: (
            (j := api.call("GET", f"tenants/{TENANT}/jobs/{job_id}").json())
            and any(s["name"] == APPROVAL and s["state"] == "InProgress" for s in j["steps"])
            and j
        ),
        timeout=60,
    )


def test_a_failback_waits_for_approval_before_the_azure_vm_stops_when_asked_to(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    vm = committed_vm(api, asr, "asra")
    asked = home(api, vm, "failback", completeOnApproval=True)
    assert asked.status_code == 202, asked.text
    waiting = waiting_for_approval(api, asked.json()["id"])
    assert "Synchronize data while the Azure virtual machine runs" in [
        s["name"] for s in waiting["steps"] if s["state"] == "Succeeded"
    ]
    assert item_of(api, TENANT, vm)["status"] == "FailbackInProgress"
    rejected = api.call("POST", f"tenants/{TENANT}/jobs/{waiting['id']}/reject")
    assert rejected.status_code == 202, rejected.text
    job = finished_job(api, TENANT, waiting["id"])
    assert job["state"] == "Failed", job
    assert [e["code"] for e in job["errors"]] == ["ApprovalRejected"]
    assert "Cancel Azure Site Recovery's job" in [s["name"] for s in job["steps"]]
    item = item_of(api, TENANT, vm)
    assert item["status"] == "FailoverCommitted" and "Failback" in item["allowedOperations"]
    assert asr_item(asr, vm)["properties"]["activeLocation"] == "Recovery"  # still in Azure

    again = home(api, vm, "failback", completeOnApproval=True)
    assert again.status_code == 202, again.text
    waiting = waiting_for_approval(api, again.json()["id"])
    approved = api.call("POST", f"tenants/{TENANT}/jobs/{waiting['id']}/approve")
    assert approved.status_code == 202, approved.text
    job = finished_job(api, TENANT, waiting["id"])
    assert job["state"] == "Succeeded", job
    steps = [s["name"] for s in job["steps"]]
    assert steps.index(APPROVAL) < steps.index(COMPLETE_FAILBACK)
    assert steps[-1] == "Start the on-premises virtual machine"
    assert item_of(api, TENANT, vm)["status"] == "FailedBack"
