"""Recovery plans end to end on devhost + Azurite + the local broker + the ARM stand-in, with
the real agent daemon replicating six VMs: groups fail over in order and the VMs of a group in
parallel (read from the job's recorded step times), manual approvals are approved, rejected
or time out, and a runbook action receives the plan's context over real TLS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.arm import ArmStandIn
from tests.e2e.conftest import KEYS, ControlPlane, wait_until
from tests.e2e.daemon import TENANT, Agent
from tests.e2e.plans_support import (
    RunbookServer,
    daemon_for,
    ended,
    plan_call,
    protect_many,
    put_plan,
    runbook_server,
    step,
    times,
)
from tests.e2e.test_alerts import alert, deliver, heartbeat
from tests.e2e.test_failover import Azure
from tests.e2e.test_replication import item, job


@pytest.fixture(scope="module")
def agent(
    control_plane: ControlPlane, arm: ArmStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agent]:
    with daemon_for(control_plane, tmp_path_factory.mktemp("plans-agent")) as running:
        yield running


@pytest.fixture(scope="module")
def six(control_plane: ControlPlane, agent: Agent, tmp_path_factory) -> list[str]:
    return protect_many(control_plane, tmp_path_factory.mktemp("plan-disks"), "pl", 6)


@pytest.fixture
def runbook(tmp_path: Path) -> Iterator[RunbookServer]:
    with runbook_server(tmp_path) as server:
        yield server


def group_of(vms: list[str], *sizes: int) -> list[dict]:
    groups, at = [], 0
    for size in sizes:
        groups.append({"vms": vms[at : at + size]})
        at += size
    return groups


def test_groups_fail_over_in_order_and_the_vms_of_a_group_in_parallel(
    control_plane: ControlPlane, six: list[str]
) -> None:
    cp = control_plane
    shown = put_plan(cp, "three-tier", {"description": "db, app, web",
                                        "groups": group_of(six, 2, 2, 2)})  # fmt: skip
    assert [(v["vm"], v["group"], v["status"]) for v in shown["vms"]] == [
        (vm, 1 + n // 2, "Protected") for n, vm in enumerate(six)
    ]
    assert shown["health"]["state"] == "Warning"  # never drilled
    assert shown["health"]["reasons"][0]["code"] == "DrillNeverPassed"
    listed = cp.call("GET", f"tenants/{TENANT}/recovery-plans").json()["value"]
    assert "three-tier" in [p["name"] for p in listed]

    started = plan_call(cp, "three-tier", "failover", type="test", recoveryPoint="latest")
    assert started["type"] == "RecoveryPlanTestFailover" and started["target"] == "three-tier"
    again = plan_call(cp, "three-tier", "failover", type="test")
    assert again["id"] == started["id"] and again["created"] is False
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", (
        done["errors"],
        [(s["name"], s["state"]) for s in done["steps"]],
    )
    names = [s["name"] for s in done["steps"]]
    for number, vms in enumerate([six[0:2], six[2:4], six[4:6]], 1):
        assert f"Group {number}" in names
        assert all(f"Group {number}: {vm}" in names for vm in vms)

    # Order: every VM of a group ended before any VM of the next one began.
    spans = {vm: times(step(done, f"Group {1 + n // 2}: {vm}")) for n, vm in enumerate(six)}
    for first, second in ((six[0:2], six[2:4]), (six[2:4], six[4:6])):
        assert max(spans[vm][1] for vm in first) <= min(spans[vm][0] for vm in second)
    # Parallel: the VMs of a group ran at the same time (each began before the other ended).
    for a, b in (six[0:2], six[2:4], six[4:6]):
        assert spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1], (spans[a], spans[b])

    for vm in six:
        shown = item(cp, vm)
        assert shown["status"] == "TestFailoverSucceeded"
        vm_job = job(cp, shown["failover"]["jobId"])
        assert vm_job["type"] == "TestFailover" and vm_job["state"] == "Succeeded"
        assert vm_job["id"].startswith(started["id"])  # the VM's own job, under the plan's

    refused = cp.call("POST", f"tenants/{TENANT}/recovery-plans/three-tier/commit")
    assert refused.status_code == 409 and refused.json()["code"] == "RecoveryPlanNotReady"
    cleanup = plan_call(cp, "three-tier", "cleanup")
    done = ended(cp, cleanup["id"])
    assert done["state"] == "Succeeded", (
        done["errors"],
        [(s["name"], s["state"]) for s in done["steps"]],
    )
    assert all(item(cp, vm)["status"] == "Protected" for vm in six)


def test_a_vm_not_ready_refuses_the_plan_naming_each_vm_and_nothing_starts(
    control_plane: ControlPlane, six: list[str]
) -> None:
    cp = control_plane
    put_plan(cp, "with-ghost", {"groups": [{"vms": [six[0], "ghost-01"]}, {"vms": [six[1]]}]})
    jobs_before = cp.call("GET", f"tenants/{TENANT}/jobs?target=with-ghost").json()["value"]
    answer = cp.call("POST", f"tenants/{TENANT}/recovery-plans/with-ghost/failover",
                     json={"type": "unplanned"})  # fmt: skip
    assert answer.status_code == 409
    problem = answer.json()
    assert problem["code"] == "RecoveryPlanNotReady"
    assert "ghost-01: never protected (NotProtected)" in problem["cause"]
    assert [e["code"] for e in problem["errors"][1:]] == ["RecoveryPlanVmNotReady"]
    assert item(cp, six[0])["status"] == "Protected"
    assert cp.call("GET", f"tenants/{TENANT}/jobs?target=with-ghost").json()["value"] == jobs_before
    nothing = cp.call("POST", f"tenants/{TENANT}/recovery-plans/with-ghost/cleanup")
    assert nothing.status_code == 409  # ghost-01 is refused here too
    bad = cp.call("PUT", f"tenants/{TENANT}/recovery-plans/bad",
                  json={"groups": [{"vms": ["a", "a"], "postActions": [
                      {"kind": "runbook", "name": "dns", "url": "http://hooks.example/x"}]}]})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["code"] == "RecoveryPlanInvalid"
    assert len(bad.json()["errors"]) == 2  # both reasons at once
    assert cp.call("DELETE", f"tenants/{TENANT}/recovery-plans/with-ghost").status_code == 204
    gone = cp.call("GET", f"tenants/{TENANT}/recovery-plans/with-ghost")
    assert gone.status_code == 404 and gone.json()["code"] == "RecoveryPlanNotFound"


def awaiting(cp: ControlPlane, job_id: str, name: str) -> dict:
    """Wait until the job's approval step is under way."""
    return wait_until(
        lambda: any(s["name"] == name and s["state"] == "InProgress"
                    for s in job(cp, job_id).get("steps", [])), 120)  # fmt: skip


def test_an_approval_lets_the_plan_go_on_and_a_runbook_receives_the_plans_context(
    control_plane: ControlPlane, six: list[str], runbook: RunbookServer
) -> None:
    cp = control_plane
    first, second = six[0], six[1]
    put_plan(cp, "approved", {"groups": [
        {"vms": [first], "postActions": [{"kind": "runbook", "name": "Update DNS",
                                          "url": f"{runbook.url}/hooks/dns?token=s3cret",
                                          "timeoutSeconds": 10}]},
        {"vms": [second], "preActions": [{"kind": "manual", "name": "Check the database",
                                          "instructions": "Log in and run the checks.",
                                          "timeoutSeconds": 600}]},
    ]})  # fmt: skip
    started = plan_call(cp, "approved", "failover", type="test")
    gate = "Approval: Check the database (Group 2, before)"
    awaiting(cp, started["id"], gate)
    assert item(cp, second)["status"] == "Protected", "group 2 waits for the approval"

    # What the runbook received, over TLS, after group 1 and before the approval.
    [call] = runbook.received
    assert call.path == "/hooks/dns?token=s3cret"
    context = call.body
    shown = item(cp, first)
    assert context["RecoveryPlanName"] == "approved"
    assert (context["FailoverType"], context["FailoverDirection"], context["GroupId"]) == (
        "Test", "PrimaryToSecondary", "1")  # fmt: skip
    assert context["JobId"] == started["id"] and context["ActionWhen"] == "after"
    vm = context["VmMap"][first]
    assert vm["ResourceId"] == shown["failover"]["vmId"]
    assert vm["RoleName"] == f"{first}-test" and vm["ResourceGroupName"] == "rg-recovery"
    assert vm["RecoveryPointId"] == shown["failover"]["recoveryPointId"]
    assert list(context["VmMap"]) == [first]
    sent = str(call.headers) + str(call.body)
    assert not any(key in sent for key in KEYS.values()), "never the tenant's key"
    assert "x-functions-key" not in {h.lower() for h in call.headers}

    answer = cp.call("POST", f"tenants/{TENANT}/jobs/{started['id']}/approve")
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == started["id"]
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", (
        done["errors"],
        [(s["name"], s["state"]) for s in done["steps"]],
    )
    assert step(done, gate)["state"] == "Succeeded"
    late = cp.call("POST", f"tenants/{TENANT}/jobs/{started['id']}/reject")
    assert late.status_code == 409 and late.json()["code"] == "JobNotAwaitingApproval"
    assert item(cp, second)["status"] == "TestFailoverSucceeded"
    assert ended(cp, plan_call(cp, "approved", "cleanup")["id"])["state"] == "Succeeded"


def test_a_rejection_stops_the_plan_before_its_group(
    control_plane: ControlPlane, six: list[str]
) -> None:
    cp = control_plane
    first, second = six[2], six[3]
    put_plan(cp, "rejected", {"groups": [
        {"vms": [first]},
        {"vms": [second], "preActions": [{"kind": "manual", "name": "Go?"}]},
    ]})  # fmt: skip
    started = plan_call(cp, "rejected", "failover", type="test")
    gate = "Approval: Go? (Group 2, before)"
    awaiting(cp, started["id"], gate)
    other = cp.call("POST", f"tenants/fabrikam/jobs/{started['id']}/reject", tenant="fabrikam")
    assert other.status_code == 404  # another tenant's key never answers this job
    answer = cp.call("POST", f"tenants/{TENANT}/jobs/{started['id']}/reject")
    assert answer.status_code == 202, answer.text
    done = ended(cp, started["id"])
    assert done["state"] == "Failed"
    [error] = done["errors"]
    assert error["code"] == "ApprovalRejected" and "rejected by key:" in error["cause"]
    assert step(done, gate)["state"] == "Failed"
    assert not any(s["name"].startswith("Group 2:") for s in done["steps"])
    assert item(cp, first)["status"] == "TestFailoverSucceeded"
    assert item(cp, second)["status"] == "Protected", "group 2 never started"

    cleanup = ended(cp, plan_call(cp, "rejected", "cleanup")["id"])
    assert cleanup["state"] == "Succeeded", cleanup
    assert f"Group 2: {second} (skipped: Protected, nothing to do)" in [
        s["name"] for s in cleanup["steps"]
    ]
    assert item(cp, first)["status"] == "Protected"


def test_approval_timeouts_proceed_or_abandon_and_a_failing_runbook_may_let_it_go_on(
    control_plane: ControlPlane, six: list[str], runbook: RunbookServer
) -> None:
    cp = control_plane
    first, second = six[4], six[5]
    put_plan(cp, "timeouts", {"groups": [
        {"vms": [first],
         "preActions": [{"kind": "manual", "name": "Optional check", "timeoutSeconds": 1,
                         "onTimeout": "proceed"}],
         "postActions": [{"kind": "runbook", "name": "Flaky", "url": f"{runbook.url}/status/500",
                          "onFailure": "continue"}]},
        {"vms": [second],
         "preActions": [{"kind": "manual", "name": "Required check", "timeoutSeconds": 2,
                         "onTimeout": "abandon"}]},
    ]})  # fmt: skip
    started = plan_call(cp, "timeouts", "failover", type="test")
    done = ended(cp, started["id"])
    assert done["state"] == "Failed"
    assert [e["code"] for e in done["errors"]] == ["RunbookFailed", "ApprovalTimedOut"]
    assert "HTTP 500" in done["errors"][0]["cause"]
    names = [s["name"] for s in done["steps"]]
    assert "Approval: Optional check (Group 1, before): no answer within 1 s, proceeded" in names
    assert step(done, "Runbook: Flaky (Group 1, after)")["state"] == "Failed"
    waited = step(done, "Approval: Required check (Group 2, before)")
    start, end = times(waited)
    assert waited["state"] == "Failed" and end - start >= timedelta(seconds=2)
    assert item(cp, first)["status"] == "TestFailoverSucceeded"
    assert item(cp, second)["status"] == "Protected"
    assert [r.path for r in runbook.received] == ["/status/500"]
    assert ended(cp, plan_call(cp, "timeouts", "cleanup")["id"])["state"] == "Succeeded"


def test_devhost_killed_mid_plan_resumes_it_without_a_second_vm_or_disk(
    control_plane: ControlPlane, six: list[str], arm: ArmStandIn
) -> None:
    cp = control_plane
    first, second, third = six[0], six[1], six[2]
    put_plan(cp, "restarted", {"groups": [{"vms": [first, second]}, {"vms": [third]}]})
    started = plan_call(cp, "restarted", "failover", type="test")
    wait_until(
        lambda: any(
            s["name"] == f"Group 1: {first}" for s in job(cp, started["id"]).get("steps", [])
        ),
        60,
        interval=0.05,
    )
    cp.restart_host()
    done = ended(cp, started["id"])
    assert done["state"] == "Succeeded", done["errors"]
    names = [s["name"] for s in done["steps"]]
    for name in (
        "Group 1",
        f"Group 1: {first}",
        f"Group 1: {second}",
        "Group 2",
        f"Group 2: {third}",
    ):
        assert names.count(name) == 1, names
    azure = Azure()
    for vm in (first, second, third):
        made = azure.made_for(vm)
        assert (len(made["vms"]), len(made["disks"]), len(made["nics"])) == (1, 1, 1), vm
        assert item(cp, vm)["status"] == "TestFailoverSucceeded"
    assert ended(cp, plan_call(cp, "restarted", "cleanup")["id"])["state"] == "Succeeded"


def test_a_fired_alert_with_the_agent_silent_fails_the_plan_over_for_real(
    control_plane: ControlPlane, agent: Agent, arm: ArmStandIn, tmp_path: Path
) -> None:
    """The whole path an operator turns auto-failover on for: the alert, every safeguard
    passed, the plan's unplanned failover started by `alert`, and its VM failed over."""
    cp = control_plane
    (vm,) = protect_many(cp, tmp_path, "af", 1)
    suffix = uuid.uuid4().hex[:8]
    plan, rule, alert_rule, site = f"af-{suffix}", f"r-{suffix}", f"down-{suffix}", f"s-{suffix}"
    put_plan(cp, plan, {"groups": [{"vms": [vm]}]})
    heartbeat(cp, site, age_seconds=600)  # the site's agent went quiet ten minutes ago
    ruled = cp.call("PUT", f"tenants/{TENANT}/auto-failover-rules/{rule}", json={
        "mode": "active",
        "match": {"alertRules": [alert_rule]},
        "action": {"kind": "failover", "plan": plan, "recoveryPoint": "latest"},
        "debounce": {"persistsSeconds": 0},
        "corroborate": {"site": site, "evidence": ["heartbeat"], "heartbeatLostSeconds": 60,
                        "waitSeconds": 0},
    })  # fmt: skip
    assert ruled.status_code == 200, ruled.text
    assert deliver(cp, alert("common-alert-fired.eventgrid.json", alert_rule)).status_code == 200

    decision = wait_until(
        lambda: next((j for j in cp.call("GET", f"tenants/{TENANT}/jobs?target={plan}").json()
                      ["value"] if j["type"] == "AutoFailoverDecision"
                      and j["state"] in ("Succeeded", "Failed")), None),
        90,
    )  # fmt: skip
    assert decision["state"] == "Succeeded", decision["errors"]
    asked = decision["evidence"]["failover"]
    assert asked["plan"] == plan and asked["created"] is True and not asked["errors"]
    failover = ended(cp, asked["jobId"])
    assert failover["startedBy"] == "alert" and failover["type"] == "RecoveryPlanUnplannedFailover"
    assert failover["state"] == "Succeeded", failover["errors"]
    assert item(cp, vm)["status"] == "FailedOver"
    made = Azure().made_for(vm)
    assert (len(made["vms"]), len(made["disks"])) == (1, 1)
    assert ended(cp, plan_call(cp, plan, "commit")["id"])["state"] == "Succeeded"
