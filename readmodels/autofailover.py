"""Auto-failover in Table Storage: the rules, the signals each rule matched, which decision
of a rule is pending, what each plan's auto-failovers did, and alerts that could not be read.

- `AutoFailoverRules`: one row per rule (tenant, rule name).
- `AlertSignals`: one row per signal a rule matched, partition `<tenant>~<rule>`; the row key
  derives from the signal (key, condition, time), so a redelivered event changes nothing. A
  Fired signal is decided once: the decision that weighed it marks it with its job id.
- `AutoFailoverDecisions`: the rule's pending decision (its job id), claimed with an ETag
  condition so two alerts arriving together start one decision.
- `AutoFailoverPlans`: per plan, the decision holding it while it asks for the failover, the
  failover job it started and when (the one-per-plan and cooldown safeguards read these).
- `AlertsDeadLetter`: events the alert function refused, with the reason (the Functions
  Event Grid trigger cannot answer the status code that makes Event Grid dead-letter).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.autofailover import AutoFailoverRule, Condition, Mode, Signal
from domain.errors import ErrorInfo
from readmodels.tables import ModelTable, Row

RULES = ModelTable("AutoFailoverRules", AutoFailoverRule)


def get_rule(tenant: str, name: str) -> AutoFailoverRule | None:
    row = RULES.get(tenant, name)
    return row.model if row else None


def save_rule(rule: AutoFailoverRule) -> None:
    RULES.upsert(rule.tenant, rule.name, rule, Mode=rule.mode.value)


def delete_rule(tenant: str, name: str) -> None:
    RULES.delete(tenant, name)


def rules_that_match() -> list[AutoFailoverRule]:
    """Every tenant's rules that are not disabled: an alert names no tenant, so each is matched
    against all of them (one deployment serves its tenant; its storage holds only its rules)."""
    client = RULES.client()
    entities = client.query_entities("Mode ne @off", parameters={"off": Mode.DISABLED.value})
    return [AutoFailoverRule.model_validate_json(e["Json"]) for e in entities]


# --- signals ---------------------------------------------------------------------------------


class SignalRecord(BaseModel):
    signal: Signal
    received: datetime
    decided_by: str | None = None  # the decision job that weighed this Fired signal


SIGNALS = ModelTable("AlertSignals", SignalRecord)


def _partition(tenant: str, rule: str) -> str:
    return f"{tenant}~{rule}"


def signal_row_key(signal: Signal) -> str:
    text = f"{signal.key}|{signal.condition}|{signal.time.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def record_signal(tenant: str, rule: str, signal: Signal, received: datetime) -> bool:
    """Keep `signal` for `rule`; False when it was already kept (a redelivery)."""
    record = SignalRecord(signal=signal, received=received)
    return SIGNALS.insert(_partition(tenant, rule), signal_row_key(signal), record)


def signals_of(tenant: str, rule: str) -> dict[str, SignalRecord]:
    """Every signal kept for the rule, by row key."""
    client = SIGNALS.client()
    entities = client.query_entities(
        "PartitionKey eq @pk", parameters={"pk": _partition(tenant, rule)}
    )
    return {e["RowKey"]: SignalRecord.model_validate_json(e["Json"]) for e in entities}


def undecided_fired(records: dict[str, SignalRecord], job_id: str | None = None) -> list[str]:
    """Row keys of Fired signals no decision has weighed yet (or `job_id` is weighing)."""
    return [
        key
        for key, r in records.items()
        if r.signal.condition is Condition.FIRED and r.decided_by in (None, job_id)
    ]


def mark_decided(tenant: str, rule: str, row_keys: list[str], job_id: str) -> None:
    pk = _partition(tenant, rule)
    changed = []
    for key in row_keys:
        row = SIGNALS.get(pk, key)
        if row is not None and row.model.decided_by is None:
            changed.append((key, row.model.model_copy(update={"decided_by": job_id}), {}))
    if changed:
        SIGNALS.upsert_many(pk, changed)


# --- pending decisions and plans -------------------------------------------------------------


class PendingDecision(BaseModel):
    tenant: str
    rule: str
    job_id: str | None = None
    claimed: datetime | None = None


DECISIONS = ModelTable("AutoFailoverDecisions", PendingDecision)


def pending_decision(tenant: str, rule: str) -> Row[PendingDecision] | None:
    return DECISIONS.get(tenant, rule)


class PlanRecord(BaseModel):
    tenant: str
    plan: str
    holder_job: str | None = None  # a decision asking for the plan's failover right now
    failover_job: str | None = None  # the last failover an auto-failover decision started
    last_failover: datetime | None = None
    decision_job: str | None = None  # the decision that started it


PLANS = ModelTable("AutoFailoverPlans", PlanRecord)


def plan_record(tenant: str, plan: str) -> Row[PlanRecord] | None:
    return PLANS.get(tenant, plan)


# --- refused alerts --------------------------------------------------------------------------


class DeadLetteredAlert(BaseModel):
    received: datetime
    reason: ErrorInfo
    event: str  # the event as it came, JSON (cut at 30,000 characters)
    truncated: bool = False


DEAD_LETTERS = ModelTable("AlertsDeadLetter", DeadLetteredAlert)
MAX_EVENT_TEXT = 30_000  # a table property holds 64 KiB (32 K UTF-16 characters)


def dead_letter_alert(event: dict[str, Any], reason: ErrorInfo, received: datetime) -> str:
    """Keep a refused event with its reason; returns its row key (partition: the day)."""
    text = json.dumps(event, default=str)
    record = DeadLetteredAlert(
        received=received,
        reason=reason,
        event=text[:MAX_EVENT_TEXT],
        truncated=len(text) > MAX_EVENT_TEXT,
    )
    key = f"{received:%H%M%S}-{uuid.uuid4().hex[:12]}"
    DEAD_LETTERS.insert(f"{received:%Y%m%d}", key, record, Reason=reason.code)
    return key
