"""A recovery plan of `asr` VMs end to end: the plan picks each VM's failover orchestration by
its provider, so its VMs fail over, are cleaned up and committed through the stand-in's Site
Recovery, and each VM's job under the plan's mirrors ASR's job as a VM failed over alone."""

from __future__ import annotations

import uuid

from devhost.arm import ArmStandIn
from tests.e2e.conftest import CheckedApi, wait_until
from tests.e2e.test_asr import TENANT, asr_item, protected_vm
from tests.e2e.test_protection import finished_job, item_of


def two_group_plan(api: CheckedApi, asr: ArmStandIn, prefix: str) -> tuple[str, list[str]]:
    """Two VMs ASR protects, one per group of a new plan, which shows them asr and Protected."""
    vms = [protected_vm(api, asr, f"{prefix}{n}") for n in (1, 2)]
    plan = f"{prefix}-{uuid.uuid4().hex[:6]}"
    answer = api.call(
        "PUT",
        f"tenants/{TENANT}/recovery-plans/{plan}",
        json={"groups": [{"vms": [vms[0]]}, {"vms": [vms[1]]}]},
    )
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert [(v["vm"], v["group"], v["status"]) for v in shown["vms"]] == [
        (vms[0], 1, "Protected"),
        (vms[1], 2, "Protected"),
    ]
    return plan, vms


def plan_operation(api: CheckedApi, plan: str, what: str, **body: object) -> dict:
    """POST the plan's operation and wait for the plan's job to end."""
    accepted = api.call("POST", f"tenants/{TENANT}/recovery-plans/{plan}/{what}", json=body)
    assert accepted.status_code == 202, accepted.text
    started = accepted.json()
    done = wait_until(
        lambda: (
            (j := api.call("GET", f"tenants/{TENANT}/jobs/{started['id']}").json()).get("state")
            in ("Succeeded", "Failed")
            and j
        ),
        timeout=120,
    )
    assert done["state"] == "Succeeded", (
        done["errors"],
        [(s["name"], s["state"]) for s in done["steps"]],
    )
    return done


def vm_failover_job(api: CheckedApi, plan_job: dict, vm: str) -> dict:
    """The VM's own failover job, under the plan's (its id derives from the plan's job id)."""
    failover = item_of(api, TENANT, vm)["failover"]
    assert failover["jobId"].startswith(f"{plan_job['id']}-v"), failover
    return finished_job(api, TENANT, failover["jobId"])


def vm_job_of(api: CheckedApi, plan_job: dict, index: int) -> dict:
    """The plan's VM number `index`'s job of a commit or cleanup: the plan's job id, -v000…"""
    vm_job = finished_job(api, TENANT, f"{plan_job['id']}-v{index:03d}")
    assert vm_job["state"] == "Succeeded", vm_job
    return vm_job


def test_a_plans_test_failover_of_asr_vms_goes_through_asr_and_its_cleanup_too(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    plan, vms = two_group_plan(api, asr, "asrpt")

    done = plan_operation(api, plan, "failover", type="test")
    assert done["type"] == "RecoveryPlanTestFailover" and done["target"] == plan
    names = [s["name"] for s in done["steps"]]
    for group, vm in enumerate(vms, 1):
        assert f"Group {group}" in names and f"Group {group}: {vm}" in names, names
    for vm in vms:
        item = item_of(api, TENANT, vm)
        assert item["status"] == "TestFailoverSucceeded"
        assert item["failover"]["vmName"] == f"{vm}-test"
        vm_job = vm_failover_job(api, done, vm)
        assert vm_job["type"] == "TestFailover" and vm_job["state"] == "Succeeded", vm_job
        steps = [s["name"] for s in vm_job["steps"]]
        assert steps[0] == "Choose recovery point"
        assert "Create test virtual machine" in steps, steps  # ASR's job's tasks, mirrored
        assert asr_item(asr, vm)["properties"]["testFailoverState"] == "WaitingForCompletion"

    cleanup = plan_operation(api, plan, "cleanup")
    assert cleanup["type"] == "RecoveryPlanTestFailoverCleanup"
    for n, vm in enumerate(vms):
        vm_job = vm_job_of(api, cleanup, n)
        assert "Cleaning up test environment" in [s["name"] for s in vm_job["steps"]], vm_job
        item = item_of(api, TENANT, vm)
        assert item["status"] == "Protected" and item["failover"] is None, item
        assert asr_item(asr, vm)["properties"]["testFailoverState"] == "None"


def test_a_plans_unplanned_failover_of_asr_vms_goes_through_asr_and_commits(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    plan, vms = two_group_plan(api, asr, "asrpu")

    done = plan_operation(api, plan, "failover", type="unplanned")
    assert done["type"] == "RecoveryPlanUnplannedFailover"
    for vm in vms:
        item = item_of(api, TENANT, vm)
        assert item["status"] == "FailedOver"
        assert item["failover"]["vmName"] == vm
        vm_job = vm_failover_job(api, done, vm)
        assert vm_job["type"] == "UnplannedFailover" and vm_job["state"] == "Succeeded", vm_job
        steps = [s["name"] for s in vm_job["steps"]]
        assert steps[0] == "Choose recovery point"
        assert "Create the virtual machine" in steps, steps  # ASR's job's tasks, mirrored
        in_asr = asr_item(asr, vm)["properties"]
        assert in_asr["activeLocation"] == "Recovery", in_asr
        assert in_asr["protectionState"] != "Protected", in_asr
        assert in_asr["failoverRecoveryPointId"].endswith(item["failover"]["recoveryPointId"])

    commit_through_asr(api, asr, plan, vms)


def test_a_plans_planned_failover_of_asr_vms_lets_asr_shut_down_and_sync_each_vm(
    api: CheckedApi, asr: ArmStandIn
) -> None:
    plan, vms = two_group_plan(api, asr, "asrpp")

    done = plan_operation(api, plan, "failover", type="planned")
    assert done["type"] == "RecoveryPlanPlannedFailover" and done["target"] == plan
    for vm in vms:
        item = item_of(api, TENANT, vm)
        assert item["status"] == "FailedOver", item
        assert item["failover"]["vmName"] == vm
        vm_job = vm_failover_job(api, done, vm)
        assert vm_job["type"] == "PlannedFailover" and vm_job["state"] == "Succeeded", vm_job
        steps = [s["name"] for s in vm_job["steps"]]
        assert "Shut down the virtual machine" in steps, steps  # ASR's job's tasks, mirrored
        assert "Synchronize data" in steps, steps
        assert "Choose recovery point" not in steps, steps  # ASR's final synchronisation makes it
        made = asr_item(asr, vm)["properties"]["failoverRecoveryPointId"]
        assert item["failover"]["recoveryPointId"] == made.rsplit("/", 1)[-1], (item, made)

    commit_through_asr(api, asr, plan, vms)


def commit_through_asr(api: CheckedApi, asr: ArmStandIn, plan: str, vms: list[str]) -> None:
    """Commit the plan: each VM's job is ASR's commit, then its watch ends; ASR says committed."""
    committed = plan_operation(api, plan, "commit")
    assert committed["type"] == "RecoveryPlanCommit"
    for n, vm in enumerate(vms):
        steps = [s["name"] for s in vm_job_of(api, committed, n)["steps"]]
        assert "Commit" in steps and steps[-1] == "End the replication watch", steps
        item = item_of(api, TENANT, vm)
        assert item["status"] == "FailoverCommitted", item
        in_asr = asr_item(asr, vm)["properties"]
        assert in_asr["protectionStateDescription"] == "Planned failover committed", in_asr
