"""Replication status and health between recovery points: a stall watch and a status move."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df

from activities.seams import Seam, VmRef
from application.health import quiet_since, refresh
from contracts.errors import ErrorDetail
from domain import replication as rules
from domain.model import HealthState
from domain.replication_state import ReplicationEvent
from readmodels.items import require_item_row, update_item
from readmodels.records import ReplicatedItem

bp = df.Blueprint()


class StallInput(VmRef):
    command_id: str
    sent_at: datetime  # when the command was sent (the orchestration knows; the item need not)
    stall_seconds: int


class StallSeen(Seam):
    stalled: bool
    quiet_seconds: float  # since the command last made progress


class StatusInput(VmRef):
    event: ReplicationEvent
    failure: ErrorDetail | None = None  # what the agent (or verification) reported


class StatusSet(Seam):
    status: str
    health: HealthState


@bp.activity_trigger(input_name="payload")
def check_stall(payload: dict) -> dict:
    """How long the current command has made no progress; past the limit, health says so.

    The orchestration asks this when its stall timer fires instead of following every
    progress event itself, so progress never grows its history."""
    check = StallInput.model_validate(payload)
    row = require_item_row(check.tenant, check.vm)
    now = datetime.now(UTC)
    last = quiet_since(row.model, check.command_id, check.sent_at)
    quiet = (now - last).total_seconds()
    stalled = rules.is_stalled(last, check.stall_seconds, now)

    def watch(current: ReplicatedItem) -> None:
        # Every watch refreshes health: a silent agent shows up in RPO and heartbeat too.
        stall = check.stall_seconds if stalled else None
        refresh(current, now, stall_seconds=stall, last_progress=last)

    update_item(check.tenant, check.vm, watch, read=row)
    return StallSeen(stalled=stalled, quiet_seconds=quiet).out()


@bp.activity_trigger(input_name="payload")
def set_replication_status(payload: dict) -> dict:
    """Move the item through the state machine, with health (and a failure's reason)."""
    change = StatusInput.model_validate(payload)
    now = datetime.now(UTC)

    def apply(item: ReplicatedItem) -> None:
        item.status = rules.next_status(item.status, change.event)
        refresh(item, now, failure=change.failure)

    item = update_item(change.tenant, change.vm, apply)
    return StatusSet(status=item.status, health=item.health.state).out()
