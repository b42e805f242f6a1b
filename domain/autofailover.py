"""Auto-failover: which alerts a rule matches, and the safeguards between an alert and a
recovery plan's failover. Pure rules: no I/O, `now` is always a parameter.

A rule says what to match (alert rules, target resources, severities; Health Resources
availability), what to do (fail over plan P, unplanned, from the latest or the latest
app-consistent point; or only notify), and the safeguards:

- only `Fired` acts: a signal is active from its `Fired` until its `Resolved` (an alert's
  Fired and Resolved share the alert id; a resource's Unavailable and Available share the
  resource id). When nothing that fired is still active, what is pending is cancelled;
- debounce: N active signals within a window, or one that stays active T seconds;
- corroboration by the control plane's own evidence, every item of the rule's list: the
  site's agent heartbeat lost for at least T, the RPO of every replicating VM of the site
  breached. An alert alone never fails a site over while its agent still reports. The
  decision waits for the evidence up to `waitSeconds` from the first signal, then stands down;
- one failover per plan at a time (a running one absorbs further alerts) and a cooldown
  after one;
- optional human approval with a timeout and a stated default (proceed or abandon);
- dry-run: decide and record, do nothing.

`decide` is the whole judgement, from facts gathered by the caller; it says what happens next
(wait until a moment, ask for approval, act, or stop and why) and lists every check it made,
passed or not, which the decision job shows as its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from domain.errors import DomainError, ErrorInfo

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Model(BaseModel):
    """Frozen; camelCase on the wire (the runbook API and the job's evidence show these
    models as they are), snake_case in Python; unknown fields refused."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


# --- signals ---------------------------------------------------------------------------------


class SignalSource(StrEnum):
    ALERT = "alert"  # Azure Monitor, common alert schema, through the custom topic
    HEALTH = "health"  # Health Resources AvailabilityStatusChanged


class Condition(StrEnum):
    FIRED = "Fired"  # an alert fired; a resource became Unavailable
    RESOLVED = "Resolved"  # the alert resolved; the resource is Available again


class Signal(_Model):
    """One alert or availability change, as the rules read it."""

    source: SignalSource
    key: str = Field(
        description="What a Fired and its Resolved share: the alert id, or the "
        "resource id of an availability change."
    )
    condition: Condition
    time: AwareDatetime = Field(description="When Azure says it happened.")
    event_id: str
    alert_rule: str | None = None
    severity: str | None = None
    resources: tuple[str, ...] = Field(
        default=(),
        description="The alert's target resources, or the resource whose availability changed.",
    )
    state: str | None = Field(default=None, description="Health: the availability state sent.")
    description: str | None = None


# --- rules -----------------------------------------------------------------------------------


class Mode(StrEnum):
    DISABLED = "disabled"  # matches nothing
    DRY_RUN = "dryRun"  # decides and records what it would do, does nothing
    ACTIVE = "active"  # acts


class ActionKind(StrEnum):
    FAIL_OVER = "failover"
    NOTIFY = "notify"


class Corroboration(StrEnum):
    HEARTBEAT = "heartbeat"  # the site's agent heartbeat lost for at least T
    RPO = "rpo"  # every replicating VM of the site over its RPO threshold


SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
Severity = Literal["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]


class RuleMatch(_Model):
    alert_rules: tuple[str, ...] = Field(
        default=(), description="Alert rule names (essentials.alertRule); empty: any."
    )
    resources: tuple[str, ...] = Field(
        default=(),
        description="ARM ids a signal's resource must equal or lie under (a VM, a resource "
        "group, a subscription); empty: any. Compared without regard to case.",
    )
    severities: tuple[Severity, ...] = Field(
        default=("Sev0", "Sev1"), description="Alert severities that match."
    )
    alerts: bool = Field(default=True, description="Match Azure Monitor alerts.")
    health: bool = Field(
        default=False,
        description="Match Health Resources availability changes (Unavailable fires, "
        "Available resolves); needs `resources`.",
    )


class RuleAction(_Model):
    kind: ActionKind = ActionKind.FAIL_OVER
    plan: str | None = Field(default=None, description="The recovery plan to fail over.")
    recovery_point: Literal["latest", "latestAppConsistent"] = "latest"


class Debounce(_Model):
    """Passes when `signals` active signals fall within `withinSeconds`, or when one has stayed
    active `persistsSeconds` (whichever is set; both: whichever comes first)."""

    signals: int | None = Field(default=None, ge=1, le=1000)
    within_seconds: int | None = Field(default=None, ge=1, le=86400)
    persists_seconds: int | None = Field(default=300, ge=0, le=86400)


class Corroborate(_Model):
    site: str | None = Field(default=None, description="The site whose evidence counts.")
    evidence: tuple[Corroboration, ...] = Field(
        default=(Corroboration.HEARTBEAT,),
        description="Every item must hold before a failover: heartbeat, rpo.",
    )
    heartbeat_lost_seconds: int = Field(default=300, ge=30, le=86400)
    wait_seconds: int = Field(
        default=900,
        ge=0,
        le=86400,
        description="How long from the first signal the decision waits for the evidence "
        "before it stands down.",
    )


class Approval(_Model):
    required: bool = False
    timeout_seconds: int = Field(default=900, ge=10, le=7 * 86400)
    on_timeout: Literal["proceed", "abandon"] = Field(
        default="abandon", description="What happens when nobody answers in time."
    )


class RuleSpec(_Model):
    """What an operator sets: the body of PUT .../auto-failover-rules/{rule}."""

    mode: Mode = Field(default=Mode.DRY_RUN, description="disabled, dryRun (default), active.")
    description: str | None = Field(default=None, max_length=500)
    match: RuleMatch
    action: RuleAction
    debounce: Debounce = Field(default_factory=Debounce)
    corroborate: Corroborate = Field(default_factory=Corroborate)
    approval: Approval = Field(default_factory=Approval)
    cooldown_seconds: int = Field(
        default=3600, ge=0, le=30 * 86400, description="After an auto-failover of the plan."
    )


class AutoFailoverRule(RuleSpec):
    tenant: str
    name: str
    updated: AwareDatetime | None = None


class RuleRefused(DomainError):
    status = 400


def rule_problems(spec: RuleSpec) -> list[ErrorInfo]:
    """Every reason the rule cannot be kept, at once (empty: it can)."""
    problems = []
    match, action, corroborate = spec.match, spec.action, spec.corroborate
    if not match.alerts and not match.health:
        problems.append(
            ErrorInfo(
                "RuleMatchesNothing",
                "match.alerts and match.health are both false.",
                "Set match.alerts or match.health to true.",
            )
        )
    if match.alerts and not match.alert_rules and not match.resources:
        problems.append(
            ErrorInfo(
                "RuleTooBroad",
                "The rule would match every alert of every rule and resource.",
                "Name the alert rules (match.alertRules) or the resources (match.resources) it is "
                "about.",
            )
        )
    if match.health and not match.resources:
        problems.append(
            ErrorInfo(
                "HealthNeedsResources",
                "Health Resources reports every VM of the subscription; "
                "without match.resources any VM's outage would match.",
                "List the VMs (or their resource group) in match.resources.",
            )
        )
    if action.kind is ActionKind.FAIL_OVER and not action.plan:
        problems.append(
            ErrorInfo(
                "PlanRequired",
                "action.kind is failover but no plan is named.",
                "Set action.plan to the recovery plan to fail over.",
            )
        )
    if action.kind is ActionKind.NOTIFY and action.plan:
        problems.append(
            ErrorInfo(
                "PlanNotUsed",
                "action.kind is notify, which fails nothing over, yet action.plan is set.",
                "Remove action.plan, or set action.kind to failover.",
            )
        )
    if action.kind is ActionKind.FAIL_OVER and not corroborate.evidence:
        problems.append(
            ErrorInfo(
                "AlertAloneNeverFailsOver",
                "corroborate.evidence is empty: an alert alone would fail the plan over.",
                "Keep at least one of heartbeat, rpo in corroborate.evidence.",
            )
        )
    if corroborate.evidence and not corroborate.site:
        problems.append(
            ErrorInfo(
                "SiteRequired",
                "corroborate.evidence is checked against a site, but none is named.",
                "Set corroborate.site to the site whose agent and VMs the plan protects.",
            )
        )
    if len(set(corroborate.evidence)) != len(corroborate.evidence):
        problems.append(
            ErrorInfo(
                "EvidenceRepeated",
                "corroborate.evidence names an item twice.",
                "List each of heartbeat, rpo at most once.",
            )
        )
    debounce = spec.debounce
    if (debounce.signals is None) != (debounce.within_seconds is None):
        problems.append(
            ErrorInfo(
                "DebounceIncomplete",
                "debounce.signals and debounce.withinSeconds go together.",
                "Set both (N signals within a window) or neither.",
            )
        )
    if debounce.signals is None and debounce.persists_seconds is None:
        problems.append(
            ErrorInfo(
                "DebounceMissing",
                "The rule has no debounce: one signal would act at once.",
                "Set debounce.persistsSeconds (0 acts on the first signal), or "
                "debounce.signals with debounce.withinSeconds.",
            )
        )
    return problems


def _under(resource: str, scope: str) -> bool:
    resource, scope = resource.lower().rstrip("/"), scope.lower().rstrip("/")
    return resource == scope or resource.startswith(scope + "/")


def matches(rule: RuleSpec, signal: Signal) -> bool:
    """Whether `signal` is about what the rule watches (a disabled rule matches nothing)."""
    match = rule.match
    if rule.mode is Mode.DISABLED:
        return False
    if match.resources and not any(
        _under(r, scope) for r in signal.resources for scope in match.resources
    ):
        return False
    if signal.source is SignalSource.HEALTH:
        return match.health
    if not match.alerts:
        return False
    if match.alert_rules and (signal.alert_rule or "").lower() not in {
        r.lower() for r in match.alert_rules
    }:
        return False
    # A Resolved is matched whatever its severity: it ends what its Fired started.
    return signal.condition is Condition.RESOLVED or signal.severity in match.severities


def active_signals(signals: Iterable[Signal]) -> list[Signal]:
    """The latest Fired of each key that no later Resolved ended, oldest first. Order of
    arrival does not matter (Event Grid does not keep it): a Resolved delivered before its
    Fired still ends it."""
    fired: dict[str, Signal] = {}
    resolved: dict[str, datetime] = {}
    for s in signals:
        if s.condition is Condition.FIRED:
            if s.key not in fired or s.time > fired[s.key].time:
                fired[s.key] = s
        elif s.key not in resolved or s.time > resolved[s.key]:
            resolved[s.key] = s.time
    active = [s for k, s in fired.items() if k not in resolved or resolved[k] < s.time]
    return sorted(active, key=lambda s: s.time)


# --- facts and the decision ------------------------------------------------------------------


class VmRpo(_Model):
    vm: str
    last_recovery_point: AwareDatetime | None = None
    threshold_seconds: int


class PlanGate(_Model):
    """What the plan is doing: a failover running now (any job holding the plan), and when the
    last auto-failover of it started."""

    plan: str
    running_job: str | None = None
    last_failover: AwareDatetime | None = None


class ApprovalState(_Model):
    asked_at: AwareDatetime | None = None
    approved: bool | None = None  # None: no answer (yet)
    by: str | None = None
    timed_out: bool = False


class Facts(_Model):
    """What the decision sees, gathered at one moment."""

    signals: tuple[Signal, ...]
    started: AwareDatetime  # when the decision began (its first signal arrived)
    last_heartbeat: AwareDatetime | None = None
    vms: tuple[VmRpo, ...] = ()
    plan: PlanGate | None = None
    approval: ApprovalState = Field(default_factory=ApprovalState)


class Safeguard(StrEnum):
    RULE = "rule"
    FIRED_ONLY = "firedOnly"
    ONE_PER_PLAN = "onePerPlan"
    COOLDOWN = "cooldown"
    DEBOUNCE = "debounce"
    HEARTBEAT = "heartbeat"
    RPO = "rpo"
    DRY_RUN = "dryRun"
    APPROVAL = "approval"


class Check(_Model):
    safeguard: Safeguard
    passed: bool
    detail: str


class Next(StrEnum):
    WAIT = "wait"  # until `wake_at` (or a new signal)
    APPROVAL = "approval"  # ask, or keep waiting for, a person's answer until `wake_at`
    FAIL_OVER = "failOver"
    NOTIFY = "notify"
    DRY_RUN = "dryRun"  # record what would happen
    STOP = "stop"  # not acting: `stopped_by` says which safeguard held, `reason` why


class Verdict(_Model):
    next: Next
    checks: tuple[Check, ...] = ()
    wake_at: AwareDatetime | None = None
    stopped_by: Safeguard | None = None
    reason: ErrorInfo | None = None
    would: str | None = None  # dry-run and notify: what acting would have meant

    @model_validator(mode="after")
    def _complete(self) -> Verdict:
        if self.next is Next.STOP and (self.stopped_by is None or self.reason is None):
            raise ValueError("a stop names the safeguard that held and the reason")
        if self.next in (Next.WAIT, Next.APPROVAL) and self.wake_at is None:
            raise ValueError("a wait says until when")
        return self


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


def _stop(checks: list[Check], safeguard: Safeguard, reason: ErrorInfo) -> Verdict:
    checks.append(Check(safeguard=safeguard, passed=False, detail=reason.cause))
    return Verdict(next=Next.STOP, checks=tuple(checks), stopped_by=safeguard, reason=reason)


def _wait(checks: list[Check], safeguard: Safeguard, detail: str, until: datetime) -> Verdict:
    checks.append(Check(safeguard=safeguard, passed=False, detail=detail))
    return Verdict(next=Next.WAIT, checks=tuple(checks), wake_at=until)


def _debounce(debounce: Debounce, active: Sequence[Signal], now: datetime):
    """(passed, wake_at, detail): whether the debounce passed; if not, when time alone could
    change that (None: only new signals could)."""
    wakes, details = [], []
    if debounce.signals is not None and debounce.within_seconds is not None:
        window = timedelta(seconds=debounce.within_seconds)
        recent = [s for s in active if s.time >= now - window]
        detail = (
            f"{len(recent)} active signal(s) within {debounce.within_seconds} s "
            f"(needs {debounce.signals})"
        )
        if len(recent) >= debounce.signals:
            return True, None, detail
        details.append(detail)
        # Once the newest has left the window, only a new signal could start a count again.
        newest = max(s.time for s in active) + window
        if newest > now:
            wakes.append(newest)
    if debounce.persists_seconds is not None:
        first = active[0]
        due = first.time + timedelta(seconds=debounce.persists_seconds)
        detail = (
            f"active for {max(0, _seconds(now - first.time))} s (needs "
            f"{debounce.persists_seconds} s)"
        )
        if now >= due:
            return True, None, detail
        details.append(detail)
        wakes.append(due)
    return False, (min(wakes) if wakes else None), "; ".join(details)


@dataclass(frozen=True)
class _Weighed:
    """One item of evidence weighed: its check; when it could hold by time alone (None: it
    holds, or no wait can bring it); the reason to stand down at once when none can."""

    check: Check
    due: datetime | None = None
    final: ErrorInfo | None = None


def _heartbeat(spec: Corroborate, last: datetime | None, now: datetime) -> _Weighed:
    site, need = spec.site, spec.heartbeat_lost_seconds
    if last is None:
        reason = ErrorInfo(
            "SiteNeverReported",
            f"No heartbeat of site '{site}' was ever recorded: no evidence to weigh the alert "
            "against.",
            "Check that corroborate.site names the site whose agent protects the plan's VMs "
            "(GET .../replicated-items shows each VM's site).",
        )
        return _Weighed(
            Check(safeguard=Safeguard.HEARTBEAT, passed=False, detail=reason.cause), final=reason
        )
    age = now - last
    passed = age >= timedelta(seconds=need)
    detail = f"site '{site}' agent last heard {max(0, _seconds(age))} s ago (lost from {need} s)"
    check = Check(safeguard=Safeguard.HEARTBEAT, passed=passed, detail=detail)
    return _Weighed(check, due=None if passed else last + timedelta(seconds=need))


def _rpo(spec: Corroborate, vms: Sequence[VmRpo], now: datetime) -> _Weighed:
    measured = [(v, v.last_recovery_point) for v in vms if v.last_recovery_point is not None]
    if not measured:
        reason = ErrorInfo(
            "NoRpoToWeigh",
            f"Site '{spec.site}' has no replicating VM with a recovery point: an RPO breach "
            "cannot be judged.",
            "Remove rpo from corroborate.evidence, or check corroborate.site.",
        )
        return _Weighed(
            Check(safeguard=Safeguard.RPO, passed=False, detail=reason.cause), final=reason
        )
    # Limits are exclusive: exactly at the threshold is not yet a breach.
    ends = {v.vm: point + timedelta(seconds=v.threshold_seconds) for v, point in measured}
    fresh = [vm for vm, end in ends.items() if now <= end]
    detail = (
        f"{len(measured) - len(fresh)} of {len(measured)} VM(s) of site '{spec.site}' over "
        "their RPO threshold" + (f"; within it: {', '.join(fresh[:10])}" if fresh else "")
    )
    check = Check(safeguard=Safeguard.RPO, passed=not fresh, detail=detail)
    due = max(ends[vm] for vm in fresh) + timedelta(seconds=1) if fresh else None
    return _Weighed(check, due=due)


def _corroborate(rule: RuleSpec, facts: Facts, now: datetime) -> list[_Weighed]:
    return [
        _heartbeat(rule.corroborate, facts.last_heartbeat, now)
        if item is Corroboration.HEARTBEAT
        else _rpo(rule.corroborate, facts.vms, now)
        for item in rule.corroborate.evidence
    ]


def decide(rule: AutoFailoverRule | None, facts: Facts, now: datetime) -> Verdict:
    """What happens next for a decision of `rule`, given `facts` as of `now`."""
    checks: list[Check] = []
    if rule is None or rule.mode is Mode.DISABLED:
        gone = "deleted" if rule is None else "disabled"
        return _stop(
            checks,
            Safeguard.RULE,
            ErrorInfo(
                f"Rule{gone.capitalize()}",
                f"The rule was {gone} while the decision was pending.",
                "Nothing to do; put the rule back (mode dryRun or active) to act on new alerts.",
            ),
        )
    active = active_signals(facts.signals)
    if not active:
        return _stop(
            checks,
            Safeguard.FIRED_ONLY,
            ErrorInfo(
                "AlertResolved",
                "Every signal that fired was resolved before anything was done.",
                "Nothing to do; a new Fired alert starts a new decision.",
            ),
        )
    checks.append(
        Check(
            safeguard=Safeguard.FIRED_ONLY,
            passed=True,
            detail=f"{len(active)} signal(s) fired and not resolved",
        )
    )

    failover = rule.action.kind is ActionKind.FAIL_OVER
    plan = facts.plan
    if failover and plan is not None:
        if plan.running_job:
            return _stop(
                checks,
                Safeguard.ONE_PER_PLAN,
                ErrorInfo(
                    "PlanFailoverRunning",
                    f"Plan '{plan.plan}' is already failing over (job "
                    f"{plan.running_job}); this alert is absorbed by it.",
                    f"Follow job {plan.running_job}.",
                ),
            )
        checks.append(
            Check(
                safeguard=Safeguard.ONE_PER_PLAN,
                passed=True,
                detail=f"no failover of plan '{plan.plan}' is running",
            )
        )
        if plan.last_failover is not None:
            ends = plan.last_failover + timedelta(seconds=rule.cooldown_seconds)
            if now < ends:
                return _stop(
                    checks,
                    Safeguard.COOLDOWN,
                    ErrorInfo(
                        "CooldownActive",
                        f"Plan '{plan.plan}' was failed over automatically "
                        f"{_seconds(now - plan.last_failover)} s ago; the cooldown is "
                        f"{rule.cooldown_seconds} s (until {ends.isoformat()}).",
                        "Look at the plan's last failover first; a failover now needs a person "
                        "(POST .../recovery-plans/{plan}/failover).",
                    ),
                )
        checks.append(
            Check(
                safeguard=Safeguard.COOLDOWN,
                passed=True,
                detail=f"no auto-failover of the plan within the last {rule.cooldown_seconds} s",
            )
        )

    passed, wake, detail = _debounce(rule.debounce, active, now)
    if not passed:
        if wake is None:
            return _stop(
                checks,
                Safeguard.DEBOUNCE,
                ErrorInfo(
                    "DebounceNotMet",
                    f"The signals did not settle: {detail}.",
                    "Nothing to do; if such bursts should act, lower debounce.signals or widen "
                    "debounce.withinSeconds.",
                ),
            )
        return _wait(checks, Safeguard.DEBOUNCE, detail, wake)
    checks.append(Check(safeguard=Safeguard.DEBOUNCE, passed=True, detail=detail))

    weighed = _corroborate(rule, facts, now)
    checks.extend(w.check for w in weighed)
    held = [w for w in weighed if not w.check.passed]
    if failover and held:
        final = next((w for w in held if w.final is not None), None)
        if final is not None and final.final is not None:  # no wait can bring it: stand down
            return Verdict(
                next=Next.STOP,
                checks=tuple(checks),
                stopped_by=final.check.safeguard,
                reason=final.final,
            )
        deadline = facts.started + timedelta(seconds=rule.corroborate.wait_seconds)
        first = held[0].check
        if now >= deadline:
            reason = ErrorInfo(
                "AgentStillReports"
                if first.safeguard is Safeguard.HEARTBEAT
                else "NotCorroborated",
                f"Not failing over: {first.detail}; an alert alone never fails a site over "
                f"(waited {rule.corroborate.wait_seconds} s for the evidence).",
                "Check the site from its own side. To fail over anyway, a person starts the "
                "plan's failover (POST .../recovery-plans/{plan}/failover).",
            )
            return Verdict(
                next=Next.STOP, checks=tuple(checks), stopped_by=first.safeguard, reason=reason
            )
        latest = max(w.due for w in held if w.due is not None)
        return Verdict(next=Next.WAIT, checks=tuple(checks), wake_at=min(deadline, latest))

    action = (
        f"fail over plan '{rule.action.plan}' (unplanned, {rule.action.recovery_point})"
        if failover
        else "notify"
    )
    if rule.mode is Mode.DRY_RUN:
        if failover and rule.approval.required:
            checks.append(
                Check(
                    safeguard=Safeguard.APPROVAL,
                    passed=True,
                    detail=f"would ask for approval ({rule.approval.timeout_seconds}"
                    f" s, then {rule.approval.on_timeout})",
                )
            )
        checks.append(
            Check(
                safeguard=Safeguard.DRY_RUN,
                passed=False,
                detail=f"dry run: would {action}; nothing done",
            )
        )
        return Verdict(next=Next.DRY_RUN, checks=tuple(checks), would=action)
    if not failover:
        return Verdict(next=Next.NOTIFY, checks=tuple(checks), would=action)

    approval, policy = facts.approval, rule.approval
    if policy.required:
        who = approval.by or "someone"
        if approval.approved is True:
            checks.append(
                Check(safeguard=Safeguard.APPROVAL, passed=True, detail=f"approved by {who}")
            )
        elif approval.approved is False:
            return _stop(
                checks,
                Safeguard.APPROVAL,
                ErrorInfo(
                    "FailoverRejected",
                    f"{who} rejected the failover.",
                    "Nothing to do; a person can still start the plan's failover.",
                ),
            )
        elif approval.timed_out:
            if policy.on_timeout == "abandon":
                return _stop(
                    checks,
                    Safeguard.APPROVAL,
                    ErrorInfo(
                        "ApprovalTimedOut",
                        f"Nobody answered within {policy.timeout_seconds} s and "
                        "the rule's default is to abandon.",
                        "Nothing was done; a person can still start the plan's failover.",
                    ),
                )
            checks.append(
                Check(
                    safeguard=Safeguard.APPROVAL,
                    passed=True,
                    detail=f"nobody answered within {policy.timeout_seconds} s; "
                    "the rule's default is to proceed",
                )
            )
        else:
            asked = approval.asked_at or now
            checks.append(
                Check(
                    safeguard=Safeguard.APPROVAL,
                    passed=False,
                    detail=f"waiting for approval (then {policy.on_timeout})",
                )
            )
            return Verdict(
                next=Next.APPROVAL,
                checks=tuple(checks),
                wake_at=asked + timedelta(seconds=policy.timeout_seconds),
            )
    return Verdict(next=Next.FAIL_OVER, checks=tuple(checks), would=action)


# --- what the decision job records -------------------------------------------------------------


class FailoverAsked(_Model):
    """What the decision asked of the plan, and what it got back."""

    plan: str
    recovery_point: str
    asked_at: AwareDatetime
    job_id: str | None = None  # the plan's failover job
    created: bool | None = None  # False: a failover of the plan was already running
    errors: tuple[ErrorInfo, ...] = ()


class VmRpoSeen(_Model):
    vm: str
    rpo_seconds: float | None
    threshold_seconds: int


class Evidence(_Model):
    """Everything a decision weighed, as its job shows it."""

    rule: str
    mode: Mode
    action: RuleAction
    signals: tuple[Signal, ...] = ()
    site: str | None = None
    last_heartbeat: AwareDatetime | None = None
    heartbeat_age_seconds: float | None = None
    rpo: tuple[VmRpoSeen, ...] = ()
    checks: tuple[Check, ...] = ()
    decision: Next | None = None
    stopped_by: Safeguard | None = None
    would: str | None = None
    approval: ApprovalState | None = None
    failover: FailoverAsked | None = None
    evaluated_at: AwareDatetime | None = None


MAX_SIGNALS_SHOWN = 20


def evidence_of(
    rule: RuleSpec, name: str, facts: Facts, verdict: Verdict, now: datetime
) -> Evidence:
    """The job's evidence for `verdict`, from the facts it was made on."""
    heartbeat = facts.last_heartbeat
    return Evidence(
        rule=name,
        mode=rule.mode,
        action=rule.action,
        signals=tuple(sorted(facts.signals, key=lambda s: s.time)[-MAX_SIGNALS_SHOWN:]),
        site=rule.corroborate.site,
        last_heartbeat=heartbeat,
        heartbeat_age_seconds=None if heartbeat is None else (now - heartbeat).total_seconds(),
        rpo=tuple(
            VmRpoSeen(
                vm=v.vm,
                rpo_seconds=None
                if v.last_recovery_point is None
                else max(0.0, (now - v.last_recovery_point).total_seconds()),
                threshold_seconds=v.threshold_seconds,
            )
            for v in facts.vms
        ),
        checks=verdict.checks,
        decision=verdict.next,
        stopped_by=verdict.stopped_by,
        would=verdict.would,
        approval=facts.approval if rule.approval.required else None,
        evaluated_at=now,
    )
