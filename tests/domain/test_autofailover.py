"""The auto-failover safeguards as tables: every path of `decide`, of matching, of the rule's
own checks, and of which signals are still active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.autofailover import (
    ApprovalState,
    AutoFailoverRule,
    Condition,
    Facts,
    Next,
    PlanGate,
    Safeguard,
    Signal,
    SignalSource,
    VmRpo,
    active_signals,
    decide,
    evidence_of,
    matches,
    rule_problems,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
VM_ID = "/subscriptions/s1/resourceGroups/rg-onprem-proxy/providers/Microsoft.Compute/virtualMachines/app-01"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def signal(key: str = "alert-1", condition: str = "Fired", at: float = 600, **changes) -> Signal:
    base: dict[str, Any] = dict(
        source=SignalSource.ALERT, key=key, condition=Condition(condition), time=ago(at),
        event_id=f"{key}-{condition}-{at}", alert_rule="site-down", severity="Sev1",
        resources=(VM_ID,),
    )  # fmt: skip
    return Signal(**{**base, **changes})


def rule(**changes) -> AutoFailoverRule:
    """Active, fail over plan P, persists 300 s, heartbeat lost 300 s, wait 900 s."""
    base: dict[str, Any] = dict(
        tenant="contoso", name="r1", mode="active",
        match={"alertRules": ["site-down"]},
        action={"kind": "failover", "plan": "P"},
        debounce={"persistsSeconds": 300},
        corroborate={"site": "site-a", "evidence": ["heartbeat"], "heartbeatLostSeconds": 300,
                     "waitSeconds": 900},
        cooldownSeconds=3600,
    )  # fmt: skip
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return AutoFailoverRule.model_validate(base)


def facts(**changes) -> Facts:
    """One alert fired 600 s ago; the agent silent for 900 s; the plan idle."""
    base: dict[str, Any] = dict(
        signals=(signal(),), started=ago(590), last_heartbeat=ago(900),
        vms=(VmRpo(vm="vm-1", last_recovery_point=ago(1200), threshold_seconds=600),),
        plan=PlanGate(plan="P"),
    )  # fmt: skip
    return Facts(**{**base, **changes})


# (id, rule changes, facts changes, expected next, stopped by, wake at (seconds from NOW))
CASES = [
    ("all safeguards pass: fail over", {}, {}, Next.FAIL_OVER, None, None),
    # the rule itself
    ("rule deleted while pending", None, {}, Next.STOP, Safeguard.RULE, None),
    ("rule disabled while pending", {"mode": "disabled"}, {}, Next.STOP, Safeguard.RULE, None),
    # only Fired acts
    ("resolved before the action", {},
     {"signals": (signal(), signal(condition="Resolved", at=30))}, Next.STOP,
     Safeguard.FIRED_ONLY, None),
    ("resolved delivered before its fired", {},
     {"signals": (signal(condition="Resolved", at=30), signal())}, Next.STOP,
     Safeguard.FIRED_ONLY, None),
    ("one of two alerts resolved: the other still acts", {},
     {"signals": (signal(), signal("alert-2", at=500), signal(condition="Resolved", at=30))},
     Next.FAIL_OVER, None, None),
    ("a resource available again, then unavailable again: active", {},
     {"signals": (signal(at=900), signal(condition="Resolved", at=800), signal(at=700))},
     Next.FAIL_OVER, None, None),
    # one failover per plan, cooldown
    ("a failover of the plan is running: absorbed", {},
     {"plan": PlanGate(plan="P", running_job="job-9")}, Next.STOP, Safeguard.ONE_PER_PLAN, None),
    ("within the cooldown", {}, {"plan": PlanGate(plan="P", last_failover=ago(1800))},
     Next.STOP, Safeguard.COOLDOWN, None),
    ("after the cooldown", {}, {"plan": PlanGate(plan="P", last_failover=ago(3601))},
     Next.FAIL_OVER, None, None),
    # debounce: persists
    ("not active long enough: wait until it has", {}, {"signals": (signal(at=100),)},
     Next.WAIT, None, 200),
    ("persists 0: the first signal passes", {"debounce": {"persistsSeconds": 0}},
     {"signals": (signal(at=0),), "last_heartbeat": ago(900)}, Next.FAIL_OVER, None, None),
    # debounce: N within a window
    ("3 within 600 s: only 2, wait for the window to pass",
     {"debounce": {"signals": 3, "withinSeconds": 600, "persistsSeconds": None}},
     {"signals": (signal("a", at=300), signal("b", at=100))}, Next.WAIT, None, 500),
    ("3 within 600 s: 3 arrived", {"debounce": {"signals": 3, "withinSeconds": 600,
                                                "persistsSeconds": None}},
     {"signals": (signal("a", at=300), signal("b", at=100), signal("c", at=50))},
     Next.FAIL_OVER, None, None),
    ("3 within 600 s: the same alert three times counts once",
     {"debounce": {"signals": 3, "withinSeconds": 600, "persistsSeconds": None}},
     {"signals": (signal(at=300), signal(at=200), signal(at=100))}, Next.WAIT, None, 500),
    ("3 within 600 s: they fell out of the window, stand down",
     {"debounce": {"signals": 3, "withinSeconds": 600, "persistsSeconds": None}},
     {"signals": (signal("a", at=1300), signal("b", at=700))}, Next.STOP, Safeguard.DEBOUNCE,
     None),
    ("count or persist, whichever first: persist passes",
     {"debounce": {"signals": 3, "withinSeconds": 600, "persistsSeconds": 300}}, {},
     Next.FAIL_OVER, None, None),
    # corroboration: heartbeat
    ("alert fires but the heartbeat is alive: wait for the evidence", {},
     {"last_heartbeat": ago(20)}, Next.WAIT, None, 280),
    ("heartbeat alive when the wait is over: no failover", {},
     {"last_heartbeat": ago(20), "started": ago(900)}, Next.STOP, Safeguard.HEARTBEAT, None),
    ("heartbeat wait capped by the deadline", {"corroborate": {"waitSeconds": 650}},
     {"last_heartbeat": ago(20)}, Next.WAIT, None, 60),
    ("site never reported: stand down at once", {}, {"last_heartbeat": None}, Next.STOP,
     Safeguard.HEARTBEAT, None),
    ("heartbeat lost exactly T: counts as lost", {}, {"last_heartbeat": ago(300)},
     Next.FAIL_OVER, None, None),
    # corroboration: RPO
    ("heartbeat and RPO both required, RPO breached", {"corroborate": {"evidence":
                                                                       ["heartbeat", "rpo"]}},
     {}, Next.FAIL_OVER, None, None),
    ("RPO still within its threshold: wait until it would breach",
     {"corroborate": {"evidence": ["heartbeat", "rpo"]}},
     {"vms": (VmRpo(vm="vm-1", last_recovery_point=ago(500), threshold_seconds=600),)},
     Next.WAIT, None, 101),
    ("one VM still fresh: not every VM of the site breached",
     {"corroborate": {"evidence": ["rpo"]}},
     {"vms": (VmRpo(vm="vm-1", last_recovery_point=ago(1200), threshold_seconds=600),
              VmRpo(vm="vm-2", last_recovery_point=ago(10), threshold_seconds=600)),
      "started": ago(1000)}, Next.STOP, Safeguard.RPO, None),
    ("no VM with a point: RPO cannot be weighed", {"corroborate": {"evidence": ["rpo"]}},
     {"vms": (VmRpo(vm="vm-1", threshold_seconds=600),)}, Next.STOP, Safeguard.RPO, None),
    # dry run
    ("dry run: records what it would do", {"mode": "dryRun"}, {}, Next.DRY_RUN, None, None),
    ("dry run still weighs the evidence", {"mode": "dryRun"},
     {"last_heartbeat": ago(20), "started": ago(900)}, Next.STOP, Safeguard.HEARTBEAT, None),
    ("dry run with approval does not ask", {"mode": "dryRun", "approval": {"required": True}},
     {}, Next.DRY_RUN, None, None),
    # notify only
    ("notify: no corroboration needed, no plan", {"action": {"kind": "notify", "plan": None}},
     {"last_heartbeat": ago(5), "plan": None}, Next.NOTIFY, None, None),
    ("notify still debounces", {"action": {"kind": "notify", "plan": None}},
     {"signals": (signal(at=10),), "plan": None}, Next.WAIT, None, 290),
    # approval
    ("approval required: ask, deadline = now + timeout",
     {"approval": {"required": True, "timeoutSeconds": 600}}, {}, Next.APPROVAL, None, -600),
    ("approval asked: keep waiting until the deadline",
     {"approval": {"required": True, "timeoutSeconds": 600}},
     {"approval": ApprovalState(asked_at=ago(100))}, Next.APPROVAL, None, -500),
    ("approved: fail over", {"approval": {"required": True}},
     {"approval": ApprovalState(asked_at=ago(100), approved=True, by="ab12cd34ef56")},
     Next.FAIL_OVER, None, None),
    ("rejected: stand down", {"approval": {"required": True}},
     {"approval": ApprovalState(asked_at=ago(100), approved=False, by="api")}, Next.STOP,
     Safeguard.APPROVAL, None),
    ("no answer, default abandon", {"approval": {"required": True, "onTimeout": "abandon"}},
     {"approval": ApprovalState(asked_at=ago(1000), timed_out=True)}, Next.STOP,
     Safeguard.APPROVAL, None),
    ("no answer, default proceed", {"approval": {"required": True, "onTimeout": "proceed"}},
     {"approval": ApprovalState(asked_at=ago(1000), timed_out=True)}, Next.FAIL_OVER, None,
     None),
    ("approved, but the agent came back meanwhile: no failover",
     {"approval": {"required": True}},
     {"approval": ApprovalState(asked_at=ago(100), approved=True, by="api"),
      "last_heartbeat": ago(5), "started": ago(1000)}, Next.STOP, Safeguard.HEARTBEAT, None),
    ("approved, but the alert resolved meanwhile", {"approval": {"required": True}},
     {"approval": ApprovalState(asked_at=ago(100), approved=True, by="api"),
      "signals": (signal(), signal(condition="Resolved", at=10))}, Next.STOP,
     Safeguard.FIRED_ONLY, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "given", "expected", "stopped_by", "wake_in"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide(changes, given, expected, stopped_by, wake_in) -> None:
    verdict = decide(None if changes is None else rule(**changes), facts(**given), NOW)
    assert verdict.next is expected, verdict
    assert verdict.stopped_by is stopped_by
    if wake_in is None:
        assert verdict.wake_at is None
    else:
        assert verdict.wake_at == NOW + timedelta(seconds=abs(wake_in))
    if expected is Next.STOP:
        assert verdict.reason is not None and verdict.reason.recommendation
        assert stopped_by in {c.safeguard for c in verdict.checks if not c.passed}


def test_every_safeguard_has_a_path_that_holds() -> None:
    held = {case[4] for case in CASES if case[4] is not None}
    assert held == set(Safeguard) - {Safeguard.DRY_RUN}  # dry run never stops: it records


def test_a_stop_for_a_live_agent_says_so() -> None:
    verdict = decide(rule(), facts(last_heartbeat=ago(20), started=ago(900)), NOW)
    assert verdict.reason is not None and verdict.reason.code == "AgentStillReports"
    assert "last heard 20 s ago" in verdict.reason.cause


def test_evidence_names_the_alert_heartbeat_age_rpo_and_every_check() -> None:
    r, f = rule(corroborate={"evidence": ["heartbeat", "rpo"]}), facts()
    verdict = decide(r, f, NOW)
    evidence = evidence_of(r, r.name, f, verdict, NOW)
    assert evidence.heartbeat_age_seconds == 900
    assert evidence.rpo[0].rpo_seconds == 1200 and evidence.rpo[0].threshold_seconds == 600
    assert evidence.signals[0].alert_rule == "site-down"
    assert [c.safeguard for c in evidence.checks] == [
        Safeguard.FIRED_ONLY, Safeguard.ONE_PER_PLAN, Safeguard.COOLDOWN, Safeguard.DEBOUNCE,
        Safeguard.HEARTBEAT, Safeguard.RPO,
    ]  # fmt: skip
    assert all(c.passed for c in evidence.checks) and evidence.decision is Next.FAIL_OVER
    wire = evidence.model_dump(mode="json", by_alias=True)
    assert {"heartbeatAgeSeconds", "stoppedBy", "lastHeartbeat"} <= set(wire)


# --- which signals are active --------------------------------------------------------------


def test_active_signals_pair_fired_and_resolved_by_key_whatever_the_order() -> None:
    a, b = signal("a", at=300), signal("b", at=200)
    assert active_signals([a, b]) == [a, b]
    assert active_signals([signal("a", "Resolved", at=10), a, b]) == [b]
    assert active_signals([signal("x", "Resolved", at=10)]) == []


# --- matching --------------------------------------------------------------------------------

HEALTH = signal(key=VM_ID, source=SignalSource.HEALTH, alert_rule=None, severity=None,
                state="Unavailable")  # fmt: skip
MATCH_CASES = [
    ("alert rule named", {}, signal(), True),
    ("alert rule named, any case", {}, signal(alert_rule="SITE-DOWN"), True),
    ("another alert rule", {}, signal(alert_rule="cpu-high"), False),
    ("severity not listed", {}, signal(severity="Sev3"), False),
    ("resolved matches whatever its severity", {}, signal(condition="Resolved", severity="Sev4"),
     True),
    ("severities widened", {"match": {"alertRules": ["site-down"], "severities": ["Sev3"]}},
     signal(severity="Sev3"), True),
    ("resource under the rule's resource group",
     {"match": {"resources": ["/subscriptions/s1/resourceGroups/RG-ONPREM-PROXY"]}}, signal(),
     True),
    ("resource elsewhere", {"match": {"resources": ["/subscriptions/s1/resourceGroups/rg-x"]}},
     signal(), False),
    ("a prefix that is not a parent", {"match": {"resources": [VM_ID[:-1]]}}, signal(), False),
    ("health not asked for", {"match": {"resources": [VM_ID]}}, HEALTH, False),
    ("health asked for", {"match": {"resources": [VM_ID], "health": True}}, HEALTH, True),
    ("alerts turned off", {"match": {"resources": [VM_ID], "alerts": False, "health": True}},
     signal(), False),
    ("disabled rule matches nothing", {"mode": "disabled"}, signal(), False),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "sig", "expected"), [c[1:] for c in MATCH_CASES],
                         ids=[c[0] for c in MATCH_CASES])  # fmt: skip
def test_matches(changes, sig, expected) -> None:
    base = rule().model_dump(by_alias=True)
    assert matches(AutoFailoverRule.model_validate({**base, **changes}), sig) is expected


# --- the rule's own checks -------------------------------------------------------------------

PROBLEM_CASES = [
    ("a good rule", {}, []),
    ("matches every alert", {"match": {"alertRules": []}}, ["RuleTooBroad"]),
    ("health without resources", {"match": {"alertRules": ["x"], "health": True}},
     ["HealthNeedsResources"]),
    ("matches nothing", {"match": {"alertRules": ["x"], "alerts": False}},
     ["RuleMatchesNothing"]),
    ("failover without a plan", {"action": {"kind": "failover", "plan": None}}, ["PlanRequired"]),
    ("notify with a plan", {"action": {"kind": "notify", "plan": "P"}}, ["PlanNotUsed"]),
    ("alert alone", {"corroborate": {"evidence": []}}, ["AlertAloneNeverFailsOver"]),
    ("notify needs no evidence", {"action": {"kind": "notify", "plan": None},
                                  "corroborate": {"evidence": [], "site": None}}, []),
    ("evidence without a site", {"corroborate": {"site": None}}, ["SiteRequired"]),
    ("evidence twice", {"corroborate": {"evidence": ["rpo", "rpo"]}}, ["EvidenceRepeated"]),
    ("count without a window", {"debounce": {"signals": 2}}, ["DebounceIncomplete"]),
    ("no debounce", {"debounce": {"persistsSeconds": None}}, ["DebounceMissing"]),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "codes"), [c[1:] for c in PROBLEM_CASES],
                         ids=[c[0] for c in PROBLEM_CASES])  # fmt: skip
def test_rule_problems(changes, codes) -> None:
    base = rule().model_dump(by_alias=True)
    for key, value in changes.items():
        base[key] = {**base[key], **value}
    problems = rule_problems(AutoFailoverRule.model_validate(base))
    assert [p.code for p in problems] == codes
    assert all(p.cause and p.recommendation for p in problems)
