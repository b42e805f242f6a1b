"""Sending the replication command of a cycle to the VM's site agent."""

from __future__ import annotations

from datetime import datetime

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
    next cycle's, sent by the one before) enqueued at `not_before`. The item is read, not
    written: the orchestration remembers the command it waits for, and when the agent gets
    it. (A cycle that records a point sends the next one from record_recovery_point.)"""
    request = CommandInput.model_validate(payload)
    item = require_item_row(request.tenant, request.vm).model
    target = CommandTarget.of(item)
    # Site Recovery replicates an asr VM: the agent is never asked to (a loop started for it
    # by mistake ends here, having sent nothing).
    replicating = item.provider != "asr"
    if not replicating or not rules.replicates(target.status, final_sync=request.final_sync):
        return CommandSent(sent=False, status=target.status).out()
    sent = commands.send_replication(
        target,
        request.type,
        request.command_id,
        cycle=request.cycle,
        resync=request.resync,
        not_before=request.not_before,
    )
    return CommandSent(
        sent=True,
        status=target.status,
        command_id=sent.command_id,
        consistency=sent.consistency,
        sent_at=sent.at,
        sequence_number=sent.sequence_number,
    ).out()
