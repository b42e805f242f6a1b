"""Sending the replication command of a cycle to the VM's site agent."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df

from activities.seams import Seam, VmRef
from application import commands
from application.commands import CommandTarget
from contracts.commands import CommandType
from domain import replication as rules
from domain.retention import Consistency
from readmodels.items import require_item_row

bp = df.Blueprint()


class CommandInput(VmRef):
    command_id: str
    type: CommandType
    resync: bool = False
    cycle: int = 0
    final_sync: bool = False  # a planned failover's last sync, sent while it is under way
    # The item's facts as the last recorded point left them (None: read the item).
    target: CommandTarget | None = None
    # Deliver it then, not now: the next cycle's command, sent by the cycle before it.
    not_before: datetime | None = None


class CommandSent(Seam):
    """`sent` False: the VM no longer replicates (e.g. protection was disabled), so the loop
    ends cleanly; `status` says why. `sent_at` (when the agent gets it) starts the command's
    stall watch; `sequence_number` names a command Service Bus holds until then."""

    sent: bool
    status: str
    command_id: str | None = None
    consistency: Consistency | None = None
    sent_at: datetime | None = None
    sequence_number: int | None = None


@bp.activity_trigger(input_name="payload")
def send_agent_command(payload: dict) -> dict:
    """A replicate or sync command with a fresh SAS per disk, to the VM's site, now or (the
    next cycle's, sent by the one before) enqueued at `not_before`. Nothing is written: the
    orchestration remembers the command it waits for, and when the agent gets it."""
    request = CommandInput.model_validate(payload)
    target = request.target or CommandTarget.of(require_item_row(request.tenant, request.vm).model)
    if not rules.replicates(target.status, final_sync=request.final_sync):
        return CommandSent(sent=False, status=target.status).out()
    now = datetime.now(UTC)
    at = max(now, request.not_before) if request.not_before else now
    command, consistency = commands.replication_command(
        target,
        request.type,
        request.command_id,
        cycle=request.cycle,
        resync=request.resync,
        now=at,
    )
    sequence_number = commands.send(command, at=at)
    return CommandSent(
        sent=True,
        status=target.status,
        command_id=command.id,
        consistency=consistency,
        sent_at=at,
        sequence_number=sequence_number,
    ).out()
