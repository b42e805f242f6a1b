"""Auto-failover: the rules operators set, and the way an alert becomes a decision.

An alert (or availability change) is matched against every rule that is not disabled. Each
rule it matches keeps it in the rule's signal log, then either starts the rule's decision (a
job of type AutoFailoverDecision, started by `alert`, whose orchestration is
`decide_auto_failover`) or nudges the decision already pending, which reads the log again.
The decision gathers its facts here (`evaluate`), lets `domain.autofailover.decide` judge
them, records the evidence on its job, and in the end asks for the plan's failover through
the one call below (`start_plan_failover`) or stands down, saying which safeguard held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, Field

from application import plans
from application.errors import NotFound
from application.health import policy_of
from application.orchestrations import DECIDE_AUTO_FAILOVER, SIGNAL_EVENT, DecisionInput
from contracts.api import PlanFailoverRequest
from domain import autofailover as rules
from domain import replication
from domain.autofailover import (
    ActionKind,
    ApprovalState,
    AutoFailoverRule,
    Condition,
    Evidence,
    FailoverAsked,
    Next,
    PlanGate,
    RuleRefused,
    RuleSpec,
    Signal,
    Verdict,
    VmRpo,
)
from domain.errors import DomainError, ErrorInfo
from domain.jobs import Job, JobType, StartedBy, cancel_job, fail_job, succeed_job, with_evidence
from domain.plans import PlanOperation
from readmodels import autofailover as store
from readmodels import jobs
from readmodels.items import ITEMS
from readmodels.sites import last_heartbeat
from readmodels.tables import ConcurrentUpdate

log = logging.getLogger(__name__)
# A claim whose job row is not there yet is a decision being started; past this age, its
# starter died between the claim and the job, and the next signal takes the rule over.
CLAIM_GRACE = timedelta(minutes=5)


# --- rules -----------------------------------------------------------------------------------


def _name_ok(name: str) -> None:
    if not re.match(rules.NAME_PATTERN, name):
        raise RuleRefused(
            ErrorInfo(
                code="InvalidRuleName",
                cause=f"'{name[:80]}' is not a rule name.",
                recommendation="Use 1-63 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit.",
            )
        )


def _not_found(tenant: str, name: str) -> NotFound:
    return NotFound(
        ErrorInfo(
            code="AutoFailoverRuleNotFound",
            cause=f"Tenant '{tenant}' has no auto-failover rule '{name}'.",
            recommendation="List the rules with GET /api/tenants/{tenant}/auto-failover-rules.",
        )
    )


def put_rule(tenant: str, name: str, spec: RuleSpec) -> tuple[AutoFailoverRule, bool]:
    """Create or replace the rule; every problem is refused at once. Returns (rule, created)."""
    _name_ok(name)
    problems = rules.rule_problems(spec)
    if problems:
        raise RuleRefused(*problems)
    created = store.get_rule(tenant, name) is None
    rule = AutoFailoverRule(
        **spec.model_dump(), tenant=tenant, name=name, updated=datetime.now(UTC)
    )
    store.save_rule(rule)
    return rule, created


def get_rule(tenant: str, name: str) -> AutoFailoverRule:
    _name_ok(name)
    rule = store.get_rule(tenant, name)
    if rule is None:
        raise _not_found(tenant, name)
    return rule


def delete_rule(tenant: str, name: str) -> None:
    """A decision pending for the rule stands down at its next look (RuleDeleted)."""
    get_rule(tenant, name)
    store.delete_rule(tenant, name)


def pending_job(tenant: str, name: str) -> str | None:
    """The rule's decision under way, if any."""
    row = store.pending_decision(tenant, name)
    if row is None or row.model.job_id is None:
        return None
    job = jobs.get_job(tenant, row.model.job_id)
    return row.model.job_id if job is not None and not job.finished else None


# --- from a signal to a decision -------------------------------------------------------------


def _target(rule: AutoFailoverRule) -> str:
    """What the decision's job is about: the plan it may fail over, else the rule."""
    return rule.action.plan or f"auto-failover-rule:{rule.name}"


def _claim(rule: AutoFailoverRule, now: datetime) -> tuple[str, bool]:
    """The rule's pending decision, or a new one claimed for it: (job id, claimed now)."""
    for _ in range(20):
        row = store.pending_decision(rule.tenant, rule.name)
        current = row.model if row else None
        if current is not None and current.job_id:
            job = jobs.get_job(rule.tenant, current.job_id)
            starting = job is None and current.claimed and now - current.claimed < CLAIM_GRACE
            if (job is not None and not job.finished) or starting:
                return current.job_id, False
        job_id = jobs.new_job_id(now)
        claim = store.PendingDecision(
            tenant=rule.tenant, rule=rule.name, job_id=job_id, claimed=now
        )
        try:
            store.DECISIONS.replace(rule.tenant, rule.name, claim, row.etag if row else None)
        except ConcurrentUpdate:
            continue  # another alert claimed it first: join that decision on the next pass
        jobs.create_job_with_id(
            rule.tenant, job_id, JobType.AUTO_FAILOVER_DECISION, _target(rule), StartedBy.ALERT
        )
        return job_id, True
    raise ConcurrentUpdate(f"could not claim a decision for rule {rule.tenant}/{rule.name}")


def _release_claim(tenant: str, rule: str, job_id: str) -> None:
    """Clear the rule's pending decision if it is still `job_id` (idempotent)."""
    for _ in range(20):
        row = store.pending_decision(tenant, rule)
        if row is None or row.model.job_id != job_id:
            return
        cleared = row.model.model_copy(update={"job_id": None, "claimed": None})
        try:
            store.DECISIONS.replace(tenant, rule, cleared, row.etag)
            return
        except ConcurrentUpdate:
            continue


async def start_decision(
    client: df.DurableOrchestrationClient, rule: AutoFailoverRule
) -> tuple[str, bool]:
    """Start the rule's decision, or return the one pending: (job id, started)."""
    job_id, claimed = await asyncio.to_thread(_claim, rule, datetime.now(UTC))
    if not claimed:
        return job_id, False
    decision = DecisionInput(tenant=rule.tenant, rule=rule.name, job_id=job_id)
    try:
        await client.start_new(DECIDE_AUTO_FAILOVER, job_id, decision.model_dump(mode="json"))
    except Exception as error:
        job = await asyncio.to_thread(jobs.get_job, rule.tenant, job_id)
        if job is not None:
            failed = fail_job(
                job,
                datetime.now(UTC),
                [
                    ErrorInfo(
                        "OrchestrationNotStarted",
                        f"The decision could not be started: {error}",
                        "The alert is kept; the rule's next alert starts a decision again. "
                        "Check /api/health if it persists.",
                    )
                ],
            )
            await asyncio.to_thread(jobs.save_job, failed)
        await asyncio.to_thread(_release_claim, rule.tenant, rule.name, job_id)
        raise
    return job_id, True


async def _nudge(client: df.DurableOrchestrationClient, job_id: str, signal: Signal) -> None:
    """Wake the pending decision; it reads the signal from the log. If it is just ending,
    its end sees the signal undecided and starts the next decision itself."""
    try:
        await client.raise_event(job_id, SIGNAL_EVENT, {"eventId": signal.event_id})
    except Exception as error:  # the log holds the signal: nothing is lost
        log.info("decision %s not nudged (%s); it reads the signal log", job_id, error)


async def on_signal(
    client: df.DurableOrchestrationClient, signal: Signal, received: datetime
) -> list[str]:
    """Route `signal` to every rule it matches; returns what happened, one line per rule."""
    matched = [
        r for r in await asyncio.to_thread(store.rules_that_match) if rules.matches(r, signal)
    ]
    said = []
    for rule in matched:
        where = f"{rule.tenant}/{rule.name}"
        await asyncio.to_thread(store.record_signal, rule.tenant, rule.name, signal, received)
        if signal.condition is Condition.RESOLVED:
            pending = await asyncio.to_thread(pending_job, rule.tenant, rule.name)
            if pending is None:
                said.append(f"{where}: resolved, no decision pending")
                continue
            await _nudge(client, pending, signal)
            said.append(f"{where}: resolved, told decision {pending}")
            continue
        records = await asyncio.to_thread(store.signals_of, rule.tenant, rule.name)
        if not store.undecided_fired(records):
            said.append(f"{where}: already decided (a redelivery)")
            continue
        job_id, started = await start_decision(client, rule)
        if not started:
            await _nudge(client, job_id, signal)
        said.append(f"{where}: {'started' if started else 'joined'} decision {job_id}")
    return said


# --- the decision's steps --------------------------------------------------------------------


class Evaluated(BaseModel):
    """One look of a decision: the verdict, the signals it weighed (row keys), and the action
    as the rule said it then."""

    verdict: Verdict
    considered: list[str] = Field(default_factory=list)
    plan: str | None = None
    recovery_point: str = "latest"


def _vms(tenant: str, site: str) -> list[VmRpo]:
    """The site's replicating VMs with their latest point and RPO threshold."""
    found = []
    for item in ITEMS.all(tenant):
        if item.site != site or not replication.replicates(item.status):
            continue
        try:
            threshold = policy_of(item).rpo_threshold_seconds
        except DomainError:
            continue  # a policy the settings no longer define: its own health says so
        found.append(
            VmRpo(
                vm=item.vm,
                last_recovery_point=item.last_recovery_point,
                threshold_seconds=threshold,
            )
        )
    return found


def _unfinished(tenant: str, job_id: str | None) -> str | None:
    if job_id is None:
        return None
    job = jobs.get_job(tenant, job_id)
    return job_id if job is not None and not job.finished else None


def _plan_gate(tenant: str, plan: str, job_id: str) -> PlanGate:
    row = store.plan_record(tenant, plan)
    if row is None:
        return PlanGate(plan=plan)
    record = row.model
    holder = record.holder_job if record.holder_job != job_id else None
    running = _unfinished(tenant, record.failover_job) or _unfinished(tenant, holder)
    return PlanGate(plan=plan, running_job=running, last_failover=record.last_failover)


def _load_job(tenant: str, job_id: str) -> Job:
    job = jobs.get_job(tenant, job_id)
    if job is None:
        raise LookupError(f"decision job {tenant}/{job_id} does not exist")
    return job


def evaluate(tenant: str, rule_name: str, job_id: str, approval: ApprovalState) -> Evaluated:
    """Gather the facts as of now, judge them, keep the evidence on the job."""
    now = datetime.now(UTC)
    job = _load_job(tenant, job_id)
    rule = store.get_rule(tenant, rule_name)
    records = store.signals_of(tenant, rule_name)
    considered = store.undecided_fired(records, job_id)
    fired = [records[k].signal for k in considered]
    keys = {s.key for s in fired}
    ended = [
        r.signal
        for r in records.values()
        if r.signal.condition is Condition.RESOLVED and r.signal.key in keys
    ]
    site = rule.corroborate.site if rule else None
    plan = rule.action.plan if rule and rule.action.kind is ActionKind.FAIL_OVER else None
    facts = rules.Facts(
        signals=(*fired, *ended),
        started=job.start_time,
        last_heartbeat=last_heartbeat(tenant, site) if site else None,
        vms=tuple(_vms(tenant, site)) if site else (),
        plan=_plan_gate(tenant, plan, job_id) if plan else None,
        approval=approval,
    )
    verdict = rules.decide(rule, facts, now)
    if rule is not None:
        evidence = rules.evidence_of(rule, rule_name, facts, verdict, now)
    else:
        evidence = (
            job.evidence
            or Evidence(rule=rule_name, mode=rules.Mode.DISABLED, action=rules.RuleAction())
        ).model_copy(
            update={
                "checks": verdict.checks,
                "decision": verdict.next,
                "stopped_by": verdict.stopped_by,
                "evaluated_at": now,
            }
        )
    updated = with_evidence(job, evidence)
    if updated != job:
        jobs.save_job(updated)
    return Evaluated(
        verdict=verdict,
        considered=considered,
        plan=plan,
        recovery_point=rule.action.recovery_point if rule else "latest",
    )


async def start_plan_failover(
    client: df.DurableOrchestrationClient, tenant: str, plan: str, recovery_point: str
) -> tuple[Job, bool]:
    """The one call into recovery plans: an unplanned failover of `plan`, started by alert.
    Returns the plan's failover job and whether it was started now (False: one was running)."""
    request = PlanFailoverRequest(type="unplanned", recovery_point=recovery_point)
    return await plans.begin_plan_operation(
        client, tenant, plan, PlanOperation.FAILOVER, request, StartedBy.ALERT
    )


def _hold_plan(tenant: str, plan: str, job_id: str) -> str | None:
    """Hold the plan for this decision while it asks for the failover; the job that already
    runs a failover of it (or holds it) otherwise."""
    for _ in range(20):
        row = store.plan_record(tenant, plan)
        record = row.model if row else store.PlanRecord(tenant=tenant, plan=plan)
        if record.decision_job == job_id and record.failover_job:
            return None  # a retry after the failover started: ask again, it joins
        running = _unfinished(tenant, record.failover_job)
        holder = _unfinished(tenant, record.holder_job) if record.holder_job != job_id else None
        if running or holder:
            return running or holder
        held = record.model_copy(update={"holder_job": job_id})
        try:
            store.PLANS.replace(tenant, plan, held, row.etag if row else None)
            return None
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"could not hold plan {tenant}/{plan}")


def _after_ask(
    tenant: str, plan: str, job_id: str, failover: Job | None, created: bool, now: datetime
) -> None:
    """Let go of the plan; remember the failover running on it (it absorbs later alerts), and
    when this decision started one (the cooldown counts from then)."""
    for _ in range(20):
        row = store.plan_record(tenant, plan)
        if row is None:
            return
        change: dict[str, Any] = {}
        if row.model.holder_job == job_id:
            change["holder_job"] = None
        if failover is not None and row.model.failover_job != failover.id:
            change.update(failover_job=failover.id, decision_job=job_id)
            if created:
                change["last_failover"] = now
        if not change:
            return
        try:
            store.PLANS.replace(tenant, plan, row.model.model_copy(update=change), row.etag)
            return
        except ConcurrentUpdate:
            continue


async def ask_plan_failover(
    client: df.DurableOrchestrationClient,
    tenant: str,
    job_id: str,
    plan: str,
    recovery_point: str,
) -> FailoverAsked:
    """Ask for the plan's failover, once per plan at a time; what came back is recorded."""
    now = datetime.now(UTC)
    asked = FailoverAsked(plan=plan, recovery_point=recovery_point, asked_at=now)
    running = await asyncio.to_thread(_hold_plan, tenant, plan, job_id)
    if running is not None:
        return asked.model_copy(update={"job_id": running, "created": False})
    try:
        job, created = await start_plan_failover(client, tenant, plan, recovery_point)
    except DomainError as refused:
        await asyncio.to_thread(_after_ask, tenant, plan, job_id, None, False, now)
        return asked.model_copy(update={"errors": refused.errors})
    await asyncio.to_thread(_after_ask, tenant, plan, job_id, job, created, now)
    return asked.model_copy(update={"job_id": job.id, "created": created})


def _end(
    job: Job,
    verdict: Verdict | None,
    asked: FailoverAsked | None,
    failure: ErrorInfo | None,
    now: datetime,
) -> Job:
    evidence = job.evidence
    if evidence is not None and asked is not None:
        job = with_evidence(job, evidence.model_copy(update={"failover": asked}))
    if failure is not None:
        return fail_job(job, now, [failure])
    if asked is not None and asked.errors:
        return fail_job(job, now, list(asked.errors))
    if verdict is not None and verdict.next is Next.STOP and verdict.reason is not None:
        return cancel_job(job, now, verdict.reason)
    return succeed_job(job, now)


async def conclude(
    client: df.DurableOrchestrationClient,
    tenant: str,
    rule_name: str,
    job_id: str,
    *,
    verdict: Verdict | None,
    considered: list[str],
    asked: FailoverAsked | None = None,
    failure: ErrorInfo | None = None,
) -> str | None:
    """End the decision's job (Succeeded: it acted, notified or recorded a dry run; Cancelled:
    a safeguard held; Failed: it could not act), mark the signals it weighed as decided, free
    the rule, and start the next decision if signals came meanwhile. Returns that one's id."""
    now = datetime.now(UTC)
    job = await asyncio.to_thread(_load_job, tenant, job_id)
    ended = _end(job, verdict, asked, failure, now)
    if ended != job:
        await asyncio.to_thread(jobs.save_job, ended)
    if asked is None:  # a failure between holding the plan and asking: let it go
        plan = job.target
        with contextlib.suppress(LookupError):
            await asyncio.to_thread(_after_ask, tenant, plan, job_id, None, False, now)
    await asyncio.to_thread(store.mark_decided, tenant, rule_name, considered, job_id)
    await asyncio.to_thread(_release_claim, tenant, rule_name, job_id)
    if failure is not None:
        return None  # no follow-up on a failure: it would likely fail the same way
    rule = await asyncio.to_thread(store.get_rule, tenant, rule_name)
    if rule is None or rule.mode is rules.Mode.DISABLED:
        return None
    records = await asyncio.to_thread(store.signals_of, tenant, rule_name)
    if not store.undecided_fired(records):
        return None
    follow_up, started = await start_decision(client, rule)
    return follow_up if started else None
