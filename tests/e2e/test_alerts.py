"""Alerts to auto-failover decisions on devhost, end to end: recorded payloads (the common
alert schema as the alert custom topic delivers it, Health Resources availability changes,
each in the Event Grid schema and as CloudEvents) posted to devhost's Event Grid webhook
route, the real `alerts` function, rules set over the runbook API, agent heartbeats sent
through the Service Bus broker, and the decision jobs read back over the API.

A decision that acts asks for the plan's failover and its job records what came back; here
the plans do not exist, so that is the plan's refusal (tests/e2e/test_recovery_plans.py
follows an alert through a real plan failover of a replicated VM)."""

from __future__ import annotations

import copy
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from readmodels.autofailover import DEAD_LETTERS
from readmodels.sites import record_heartbeat
from tests.e2e.conftest import CheckedApi, ControlPlane, wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"
TENANT = "contoso"
DECISION = "AutoFailoverDecision"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())["event"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert(
    name: str,
    rule: str,
    *,
    alert_id: str | None = None,
    fired: datetime | None = None,
    resources: list[str] | None = None,
    severity: str | None = None,
) -> dict:
    """A recorded common-alert-schema event, about alert rule `rule`."""
    event = copy.deepcopy(recorded(name))
    essentials = event["data"]["data"]["essentials"]
    essentials["alertRule"] = event["subject"] = rule
    if alert_id:
        essentials["alertId"] = event["id"] = alert_id
    when = iso(fired or datetime.now(UTC) - timedelta(seconds=30))
    essentials["firedDateTime"] = when
    event["time" if "specversion" in event else "eventTime"] = when
    if "resolvedDateTime" in essentials:
        essentials["resolvedDateTime"] = iso(datetime.now(UTC))
    if resources is not None:
        essentials["alertTargetIDs"] = resources
    if severity:
        essentials["severity"] = severity
    return event


def health(name: str, resource: str, at: datetime | None = None) -> dict:
    event = copy.deepcopy(recorded(name))
    properties = event["data"]["resourceInfo"]["properties"]
    properties["targetResourceId"] = event["subject"] = resource
    properties["occurredTime"] = iso(at or datetime.now(UTC))
    event["id"] = uuid.uuid4().hex
    return event


def deliver(cp: ControlPlane, *events: dict, code: str | None = None) -> requests.Response:
    """Post as Event Grid does: an array of Event Grid events, or one CloudEvent."""
    key = os.environ["DEVHOST_MASTER_KEY"] if code is None else code
    url = f"{cp.base_url}/runtime/webhooks/eventgrid?functionName=alerts&code={key}"
    if len(events) == 1 and "specversion" in events[0]:
        body, kind = events[0], "application/cloudevents+json"
    else:
        body, kind = list(events), "application/json"
    return requests.post(
        url,
        data=json.dumps(body),
        timeout=30,
        headers={"aeg-event-type": "Notification", "Content-Type": kind},
    )


def heartbeat(cp: ControlPlane, site: str, age_seconds: float) -> None:
    """The site's agent last reported `age_seconds` ago, as its heartbeat event records it.
    (Each test has a site of its own, so no test's heartbeat is another's evidence; the
    channel of a site's events, a queue per site, is tested with the agent events.)"""
    record_heartbeat(TENANT, site, datetime.now(UTC) - timedelta(seconds=age_seconds))


def names() -> tuple[str, str, str, str]:
    """A fresh (rule, alert rule, site, plan) for one test: tests share the tenant."""
    suffix = uuid.uuid4().hex[:8]
    return f"r-{suffix}", f"site-down-{suffix}", f"site-{suffix}", f"plan-{suffix}"


def put_rule(
    api: CheckedApi, rule: str, alert_rule: str, site: str, plan: str | None, **changes: Any
) -> dict:
    body: dict[str, Any] = {
        "mode": "active",
        "match": {"alertRules": [alert_rule]},
        "action": {"kind": "failover", "plan": plan, "recoveryPoint": "latestAppConsistent"},
        "debounce": {"persistsSeconds": 0},
        "corroborate": {
            "site": site,
            "evidence": ["heartbeat"],
            "heartbeatLostSeconds": 60,
            "waitSeconds": 0,
        },
    }
    body.update(changes)
    answer = api.call("PUT", f"tenants/{TENANT}/auto-failover-rules/{rule}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def decisions(cp: ControlPlane, target: str) -> list[dict]:
    jobs = cp.call("GET", f"tenants/{TENANT}/jobs?target={target}").json()["value"]
    return [j for j in jobs if j["type"] == DECISION]


def decided(cp: ControlPlane, target: str, count: int = 1, timeout: float = 60) -> list[dict]:
    """The target's decision jobs, once `count` of them have finished."""

    def finished() -> list[dict] | None:
        found = decisions(cp, target)
        done = [j for j in found if j["state"] in ("Succeeded", "Failed", "Cancelled")]
        return found if len(done) >= count else None

    return wait_until(finished, timeout)


def waiting(cp: ControlPlane, target: str) -> dict:
    """The target's decision, once it has looked and waits (for time or more signals)."""

    def looked() -> dict | None:
        found = decisions(cp, target)
        evidence = found[0].get("evidence") if found else None
        return found[0] if evidence and evidence["decision"] == "wait" else None

    return wait_until(looked)


def stopped(job: dict) -> tuple[str, str]:
    return job["state"], job["evidence"]["stoppedBy"]


# --- acting: the plan's failover is asked for, and what came back is recorded ---------------


@pytest.mark.parametrize("envelope", ["eventgrid", "cloudevent"])
def test_fired_alert_with_the_agent_silent_asks_for_the_plans_failover(
    control_plane: ControlPlane, api: CheckedApi, envelope: str
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)  # the agent went quiet ten minutes ago
    put_rule(api, rule, alert_rule, site, plan)
    answer = deliver(cp, alert(f"common-alert-fired.{envelope}.json", alert_rule))
    assert answer.status_code == 200, answer.text

    (job,) = decided(cp, plan)
    assert job["startedBy"] == "alert" and job["target"] == plan
    evidence = job["evidence"]
    assert evidence["decision"] == "failOver" and evidence["stoppedBy"] is None
    assert all(check["passed"] for check in evidence["checks"])
    assert {c["safeguard"] for c in evidence["checks"]} >= {"firedOnly", "debounce", "heartbeat"}
    assert evidence["heartbeatAgeSeconds"] >= 600 and evidence["site"] == site
    assert evidence["signals"][0]["alertRule"] == alert_rule
    assert evidence["signals"][0]["condition"] == "Fired"
    # It asked to fail plan P over, unplanned from the point the rule names, and says what
    # came back: the tenant has no such plan, so recovery plans refused it.
    asked = evidence["failover"]
    assert asked["plan"] == plan and asked["recoveryPoint"] == "latestAppConsistent"
    assert job["state"] == "Failed"
    (error,) = job["errors"]
    assert error["code"] == "RecoveryPlanNotFound"
    assert plan in error["cause"] and error["recommendation"]
    assert [s["name"] for s in job["steps"]] == ["Safeguards", f"Fail over plan {plan}"]
    assert api.call("GET", f"tenants/{TENANT}/jobs/{job['id']}").json()["evidence"] == evidence


# --- an alert alone never fails a site over -------------------------------------------------


def test_alert_fires_but_the_heartbeat_is_alive_no_failover(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=0)
    corroborate = {
        "site": site,
        "evidence": ["heartbeat"],
        "heartbeatLostSeconds": 60,
        "waitSeconds": 3,
    }
    put_rule(api, rule, alert_rule, site, plan, corroborate=corroborate)
    deliver(cp, alert("common-alert-fired.cloudevent.json", alert_rule))

    (job,) = decided(cp, plan)
    assert stopped(job) == ("Cancelled", "heartbeat")
    assert job["evidence"]["failover"] is None  # nothing was asked of the plan
    (reason,) = job["errors"]
    assert reason["code"] == "AgentStillReports" and "waited 3 s" in reason["cause"]
    assert job["evidence"]["heartbeatAgeSeconds"] < 60


# --- only Fired acts; a Resolved before the action cancels ----------------------------------


@pytest.mark.parametrize(
    ("fired", "resolved"), [("eventgrid", "cloudevent"), ("cloudevent", "eventgrid")]
)
def test_resolved_before_the_action_cancels_the_pending_decision(
    control_plane: ControlPlane, api: CheckedApi, fired: str, resolved: str
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(api, rule, alert_rule, site, plan, debounce={"persistsSeconds": 600})
    alert_id = f"/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/{uuid.uuid4()}"
    deliver(cp, alert(f"common-alert-fired.{fired}.json", alert_rule, alert_id=alert_id))
    pending = waiting(cp, plan)
    assert pending["state"] == "InProgress"
    rule_view = api.call("GET", f"tenants/{TENANT}/auto-failover-rules/{rule}").json()
    assert rule_view["pendingJob"] == pending["id"]

    deliver(cp, alert(f"common-alert-resolved.{resolved}.json", alert_rule, alert_id=alert_id))
    (job,) = decided(cp, plan)
    assert stopped(job) == ("Cancelled", "firedOnly")
    assert job["errors"][0]["code"] == "AlertResolved"
    assert (
        api.call("GET", f"tenants/{TENANT}/auto-failover-rules/{rule}").json()["pendingJob"] is None
    )


def test_a_resolved_alone_starts_nothing_and_a_redelivery_changes_nothing(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(api, rule, alert_rule, site, plan, mode="dryRun")
    assert deliver(cp, alert("common-alert-resolved.eventgrid.json", alert_rule)).status_code == 200
    fired = alert(
        "common-alert-fired.eventgrid.json",
        alert_rule,
        alert_id=f"/subscriptions/s/providers/alerts/{uuid.uuid4()}",
    )
    deliver(cp, fired)
    decided(cp, plan)
    deliver(cp, fired)  # Event Grid delivers at least once
    deliver(cp, fired)
    jobs = decided(cp, plan)
    assert len(jobs) == 1 and jobs[0]["evidence"]["decision"] == "dryRun"


# --- debounce -------------------------------------------------------------------------------


def test_debounce_two_alerts_within_the_window_act_one_alone_waits(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(
        api,
        rule,
        alert_rule,
        site,
        plan,
        debounce={"signals": 2, "withinSeconds": 600, "persistsSeconds": None},
    )
    first = alert(
        "common-alert-fired.eventgrid.json",
        alert_rule,
        alert_id=f"/subscriptions/s/providers/alerts/{uuid.uuid4()}",
    )
    deliver(cp, first)
    pending = waiting(cp, plan)
    debounce = next(c for c in pending["evidence"]["checks"] if c["safeguard"] == "debounce")
    assert (
        not debounce["passed"] and "1 active signal(s) within 600 s (needs 2)" in debounce["detail"]
    )

    second = alert(
        "common-alert-fired.cloudevent.json",
        alert_rule,
        alert_id=f"/subscriptions/s/providers/alerts/{uuid.uuid4()}",
    )
    deliver(cp, second)
    (job,) = decided(cp, plan)  # the pending decision took the second alert: one job
    assert job["id"] == pending["id"] and len(job["evidence"]["signals"]) == 2
    assert job["evidence"]["decision"] == "failOver"
    assert job["errors"][0]["code"] == "RecoveryPlanNotFound"


# --- Health Resources; dry run; notify only -------------------------------------------------


def test_health_unavailable_in_dry_run_records_what_it_would_do(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, _, site, plan) = control_plane, names()
    vm = (
        f"/subscriptions/s1/resourceGroups/rg-{site}/providers/Microsoft.Compute/"
        "virtualMachines/probe"
    )
    heartbeat(cp, site, age_seconds=600)
    put_rule(
        api,
        rule,
        "unused",
        site,
        plan,
        mode="dryRun",
        match={
            "resources": [f"/subscriptions/s1/resourceGroups/rg-{site}"],
            "alerts": False,
            "health": True,
        },
    )
    deliver(cp, health("health-annotated.eventgrid.json", vm))  # context only: no decision
    deliver(cp, health("health-unavailable.eventgrid.json", vm))
    (job,) = decided(cp, plan)
    evidence = job["evidence"]
    assert job["state"] == "Succeeded" and evidence["decision"] == "dryRun"
    assert evidence["would"] == f"fail over plan '{plan}' (unplanned, latestAppConsistent)"
    assert evidence["failover"] is None  # a dry run asks nothing of the plan
    (sig,) = evidence["signals"]
    assert sig["source"] == "health" and sig["state"] == "Unavailable"
    assert sig["resources"] == [vm]


def test_health_available_again_cancels_and_notify_rules_notify(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, _, site, _) = control_plane, names()
    vm = (
        f"/subscriptions/s1/resourceGroups/rg-{site}/providers/Microsoft.Compute/"
        "virtualMachines/probe"
    )
    target = f"auto-failover-rule:{rule}"
    put_rule(
        api,
        rule,
        "unused",
        site,
        None,
        action={"kind": "notify"},
        match={"resources": [vm], "alerts": False, "health": True},
        debounce={"persistsSeconds": 600},
        corroborate={"evidence": []},
    )
    went = datetime.now(UTC) - timedelta(seconds=60)
    deliver(cp, health("health-unavailable.eventgrid.json", vm, at=went))
    waiting(cp, target)
    deliver(cp, health("health-available.cloudevent.json", vm, at=went + timedelta(seconds=30)))
    (job,) = decided(cp, target)
    assert stopped(job) == ("Cancelled", "firedOnly")

    put_rule(
        api,
        rule,
        "unused",
        site,
        None,
        action={"kind": "notify"},
        match={"resources": [vm], "alerts": False, "health": True},
        debounce={"persistsSeconds": 0},
        corroborate={"evidence": []},
    )
    deliver(cp, health("health-unavailable.eventgrid.json", vm))
    jobs = decided(cp, target, count=2)
    notified = next(j for j in jobs if j["state"] == "Succeeded")
    assert notified["evidence"]["decision"] == "notify" and notified["evidence"]["failover"] is None


# --- approval -------------------------------------------------------------------------------


def _awaiting_approval(cp: ControlPlane, plan: str) -> dict:
    def asked() -> dict | None:
        found = decisions(cp, plan)
        steps = found[0]["steps"] if found else []
        return (
            found[0]
            if any(s["name"] == "Approval" and s["state"] == "InProgress" for s in steps)
            else None
        )

    return wait_until(asked)


@pytest.mark.parametrize("answer", ["approve", "reject"])
def test_approval_is_asked_and_the_answer_decides(
    control_plane: ControlPlane, api: CheckedApi, answer: str
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(
        api,
        rule,
        alert_rule,
        site,
        plan,
        approval={"required": True, "timeoutSeconds": 300, "onTimeout": "abandon"},
    )
    deliver(cp, alert("common-alert-fired.eventgrid.json", alert_rule))
    job = _awaiting_approval(cp, plan)
    assert job["evidence"]["approval"]["askedAt"] is not None

    given = api.call("POST", f"tenants/{TENANT}/jobs/{job['id']}/{answer}")
    assert given.status_code == 202, given.text
    (done,) = decided(cp, plan)
    approval = done["evidence"]["approval"]
    assert approval["by"].startswith("key:") and approval["approved"] is (answer == "approve")
    if answer == "approve":
        assert done["evidence"]["failover"]["plan"] == plan
        assert done["errors"][0]["code"] == "RecoveryPlanNotFound"
    else:
        assert stopped(done) == ("Cancelled", "approval")
        assert done["errors"][0]["code"] == "FailoverRejected"
        assert done["evidence"]["failover"] is None
    again = api.call("POST", f"tenants/{TENANT}/jobs/{job['id']}/approve")
    assert again.status_code == 409 and again.json()["code"] == "JobNotAwaitingApproval"


def test_approval_timeout_takes_the_rules_default(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(
        api,
        rule,
        alert_rule,
        site,
        plan,
        approval={"required": True, "timeoutSeconds": 10, "onTimeout": "abandon"},
    )
    deliver(cp, alert("common-alert-fired.cloudevent.json", alert_rule))
    (job,) = decided(cp, plan, timeout=60)
    assert stopped(job) == ("Cancelled", "approval")
    assert job["errors"][0]["code"] == "ApprovalTimedOut"
    assert job["evidence"]["approval"]["timedOut"] is True


def test_approving_a_job_that_does_not_wait_is_refused(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    missing = api.call("POST", f"tenants/{TENANT}/jobs/no-such-job/approve")
    assert missing.status_code == 404 and missing.json()["code"] == "JobNotFound"
    other = control_plane.call(
        "POST", f"tenants/{TENANT}/jobs/no-such-job/reject", tenant="fabrikam"
    )
    assert other.status_code == 403


# --- the rule changes under a pending decision ----------------------------------------------


def test_a_rule_deleted_while_its_decision_waits_stands_it_down(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    heartbeat(cp, site, age_seconds=600)
    put_rule(api, rule, alert_rule, site, plan, debounce={"persistsSeconds": 4})
    deliver(cp, alert("common-alert-fired.eventgrid.json", alert_rule, fired=datetime.now(UTC)))
    wait_until(lambda: decisions(cp, plan))
    assert api.call("DELETE", f"tenants/{TENANT}/auto-failover-rules/{rule}").status_code == 204
    (job,) = decided(cp, plan)
    assert stopped(job) == ("Cancelled", "rule") and job["errors"][0]["code"] == "RuleDeleted"


# --- what the trigger refuses, and the handshakes -------------------------------------------


def test_unreadable_events_are_kept_with_the_reason_and_never_retried(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    cp, (rule, alert_rule, site, plan) = control_plane, names()
    put_rule(api, rule, alert_rule, site, plan)
    no_condition = alert("common-alert-fired.eventgrid.json", alert_rule)
    del no_condition["data"]["data"]["essentials"]["monitorCondition"]
    no_condition["id"] = f"no-condition-{uuid.uuid4()}"
    other_schema = {
        "id": f"other-{uuid.uuid4()}",
        "eventType": "Fired",
        "subject": alert_rule,
        "eventTime": iso(datetime.now(UTC)),
        "dataVersion": "1.0",
        "data": {"schemaId": "Microsoft.Insights/activityLogs", "data": {}},
    }
    for event in (no_condition, other_schema):
        # 200: the function took it and will not be given it again (no retry can fix it)
        assert deliver(cp, event).status_code == 200

    def kept(event_id: str) -> dict | None:
        for row in DEAD_LETTERS.all(datetime.now(UTC).strftime("%Y%m%d")):
            if event_id in row.event:
                return row.model_dump()
        return None

    refused = wait_until(lambda: kept(no_condition["id"]))
    assert refused["reason"]["code"] == "AlertEventInvalid"
    assert "monitorCondition" in refused["reason"]["cause"]  # never taken for Fired
    assert "essentials" in wait_until(lambda: kept(other_schema["id"]))["reason"]["cause"]
    assert decisions(cp, plan) == []

    # Not an event at all: the host answers 400, which Event Grid does not retry.
    url = f"{cp.base_url}/runtime/webhooks/eventgrid?functionName=alerts&code="
    garbage = requests.post(url + os.environ["DEVHOST_MASTER_KEY"], data=b"{not json", timeout=10)
    assert garbage.status_code == 400 and garbage.json()["code"] == "BodyNotJson"


def test_the_webhook_needs_the_system_key_and_answers_the_handshakes(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    validation = {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/s",
        "subject": "",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": iso(datetime.now(UTC)),
        "dataVersion": "2",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
    }
    url = f"{cp.base_url}/runtime/webhooks/eventgrid?functionName=alerts&code="
    answer = requests.post(
        url + os.environ["DEVHOST_MASTER_KEY"],
        json=[validation],
        timeout=10,
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert answer.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    options = requests.options(
        url + os.environ["DEVHOST_MASTER_KEY"],
        timeout=10,
        headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
    )
    assert options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    for key in ("", "wrong"):
        refused = deliver(cp, alert("common-alert-fired.eventgrid.json", "x"), code=key)
        assert refused.status_code == 401


# --- the rules API --------------------------------------------------------------------------


def test_rules_api_keeps_lists_and_deletes_rules_and_refuses_unsafe_ones(
    control_plane: ControlPlane, api: CheckedApi
) -> None:
    rule, alert_rule, site, plan = names()
    url = f"tenants/{TENANT}/auto-failover-rules"
    minimal = {
        "match": {"alertRules": [alert_rule]},
        "action": {"plan": plan},
        "corroborate": {"site": site},
    }
    kept = api.call("PUT", f"{url}/{rule}", json=minimal)
    assert kept.status_code == 200, kept.text
    view = kept.json()
    # Safe by default: a dry run, heartbeat corroboration, a debounce, a cooldown.
    assert view["mode"] == "dryRun" and view["corroborate"]["evidence"] == ["heartbeat"]
    assert view["debounce"]["persistsSeconds"] == 300 and view["cooldownSeconds"] == 3600
    assert view["approval"] == {"required": False, "timeoutSeconds": 900, "onTimeout": "abandon"}
    assert api.call("GET", f"{url}/{rule}").json() == view
    listed = api.call("GET", f"{url}?top=1000").json()["value"]
    assert rule in [r["name"] for r in listed]

    unsafe = {**minimal, "match": {"alertRules": []}, "corroborate": {"site": site, "evidence": []}}
    refused = api.call("PUT", f"{url}/{rule}", json=unsafe)
    assert refused.status_code == 400
    assert {e["code"] for e in refused.json()["errors"]} == {
        "RuleTooBroad",
        "AlertAloneNeverFailsOver",
    }
    typo = api.call("PUT", f"{url}/{rule}", json={**minimal, "mdoe": "active"})
    assert typo.status_code == 400 and typo.json()["code"] == "InvalidField"
    bad_name = api.call("PUT", f"{url}/bad%20name", json=minimal)
    assert bad_name.status_code == 400 and bad_name.json()["code"] == "InvalidRuleName"

    assert api.call("DELETE", f"{url}/{rule}").status_code == 204
    gone = api.call("GET", f"{url}/{rule}")
    assert gone.status_code == 404 and gone.json()["code"] == "AutoFailoverRuleNotFound"
    assert api.call("DELETE", f"{url}/{rule}").status_code == 404
    other = control_plane.call("GET", "tenants/fabrikam/auto-failover-rules", tenant="fabrikam")
    assert other.status_code == 200 and rule not in [r["name"] for r in other.json()["value"]]
