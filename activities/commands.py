"""Sending the replication command of a cycle to the VM's site agent."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.durable_functions as df

from activities.seams import Seam, VmRef
from application import commands
from contracts.commands import CommandType
from domain import replication as rules
from domain.retention import Consistency
from readmodels.items import require_item_row, update_item
from readmodels.records import ReplicatedItem

bp = df.Blueprint()


class CommandInput(VmRef):
    command_id: str
    type: CommandType
    resync: bool = False
    cycle: int = 0
    final_sync: bool = False  # a planned failover's last sync, sent while it is under way


class CommandSent(Seam):
    """`sent` False: the VM no longer replicates (e.g. protection was disabled), so the loop
    ends cleanly; `status` says why."""

    sent: bool
    status: str
    command_id: str | None = None
    consistency: Consistency | None = None


@bp.activity_trigger(input_name="payload")
def send_agent_command(payload: dict) -> dict:
    """A replicate or sync command with a fresh SAS per disk, to the VM's site; the item
    remembers the command it now waits for (and when it was sent, for the stall watch)."""
    request = CommandInput.model_validate(payload)
    row = require_item_row(request.tenant, request.vm)
    item = row.model
    if not rules.replicates(item.status, final_sync=request.final_sync):
        return CommandSent(sent=False, status=item.status).out()
    now = datetime.now(UTC)
    command, consistency = commands.replication_command(
        item, request.type, request.command_id, cycle=request.cycle, resync=request.resync, now=now
    )
    commands.send(command)

    def sent(current: ReplicatedItem) -> None:
        if current.command_id != command.id:
            current.command_id, current.command_sent = command.id, now

    updated = update_item(request.tenant, request.vm, sent, read=row)
    return CommandSent(
        sent=True, status=updated.status, command_id=command.id, consistency=consistency
    ).out()
