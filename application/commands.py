"""Commands to a site's agent, over the `agent-commands` topic.

Each command carries application property `site`, so the site's subscription (filtered on it)
delivers only its own commands; session id = VM id keeps one VM's commands in order; message
id = command id, so a resend after a crash is dropped by duplicate detection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.servicebus import ServiceBusMessage
from pydantic import BaseModel, Field

from application.health import policy_of
from azureclients.sas import blob_sas_url
from azureclients.senders import cancel_scheduled_on_topic, schedule_on_topic, send_to_topic
from azureclients.settings import setting
from contracts.commands import (
    AgentCommand,
    CancelCommand,
    CommandType,
    DiskTarget,
    ReplicateCommand,
    ShutdownCommand,
    SyncCommand,
)
from domain import replication as rules
from domain.retention import Consistency
from readmodels.records import ReplicaDisk, ReplicatedItem

log = logging.getLogger(__name__)


class CommandTarget(BaseModel):
    """What a replication command is built from, and whether the VM still replicates: the
    item's fields a command needs."""

    tenant: str
    vm: str
    site: str
    status: str
    policy: str | None = None
    replica_disks: list[ReplicaDisk] = Field(default_factory=list)
    last_app_consistent_point: datetime | None = None

    @classmethod
    def of(cls, item: ReplicatedItem) -> CommandTarget:
        return cls.model_validate(item, from_attributes=True)


def replication_command(
    target: CommandTarget,
    kind: CommandType,
    command_id: str,
    *,
    cycle: int,
    resync: bool,
    now: datetime,
) -> tuple[AgentCommand, Consistency]:
    """A replicate or sync command with a fresh SAS per disk, and the consistency it asks for,
    for the agent to run at `now` (the time it is, or the time it will be delivered).

    The SAS is for that one blob only (sr=b), write-only (read+write for a resync: a full
    compare reads the blob), and short-lived."""
    consistency = rules.consistency_for_cycle(
        policy_of(target), target.last_app_consistent_point, now
    )
    disks = [
        DiskTarget(
            disk_id=disk.disk_id,
            path=disk.source_path,
            sas_url=blob_sas_url(disk.container, disk.blob, write=True, read=resync, used_from=now),
            blob_size=rules.replica_blob_size(disk.size),
        )
        for disk in target.replica_disks
    ]
    if kind is CommandType.REPLICATE:
        data = ReplicateCommand(disks=disks, resync=resync).wire()
    else:
        data = SyncCommand(disks=disks, consistency=consistency.value, cycle=cycle).wire()
    command = AgentCommand(
        type=kind,
        id=command_id,
        tenant=target.tenant,
        site=target.site,
        vm=target.vm,
        time=now,
        data=data,
    )
    return command, consistency


@dataclass(frozen=True)
class Sent:
    """A replication command on its way: delivered `at` (now, or when Service Bus enqueues
    it; `sequence_number` cancels it until then)."""

    command_id: str
    consistency: Consistency
    at: datetime
    sequence_number: int | None


def send_replication(
    target: CommandTarget,
    kind: CommandType,
    command_id: str,
    *,
    cycle: int,
    resync: bool = False,
    not_before: datetime | None = None,
) -> Sent:
    """Build and send a replicate or sync command: now, or enqueued at `not_before`."""
    now = datetime.now(UTC)
    at = max(now, not_before) if not_before else now
    command, consistency = replication_command(
        target, kind, command_id, cycle=cycle, resync=resync, now=at
    )
    return Sent(command.id, consistency, at, send(command, at=at))


def cancel_command(item: ReplicatedItem, command_id: str, now: datetime) -> AgentCommand:
    """Tell the agent to drop the upload of command `command_id` (the loop that sent it ended)."""
    return AgentCommand(
        type=CommandType.CANCEL,
        id=f"{command_id}-cancel",
        tenant=item.tenant,
        site=item.site,
        vm=item.vm,
        time=now,
        data=CancelCommand(command_id=command_id).wire(),
    )


def shutdown_command(
    item: ReplicatedItem, command_id: str, timeout_seconds: int, now: datetime
) -> AgentCommand:
    """Shut the source VM down and confirm it is off (a planned failover); the agent answers
    with `command.result` under the same id."""
    data = ShutdownCommand(
        timeout_seconds=timeout_seconds,
        vm_name=item.vm_name,
        disk_paths=[disk.source_path for disk in item.replica_disks],
    )
    return AgentCommand(
        type=CommandType.SHUTDOWN,
        id=command_id,
        tenant=item.tenant,
        site=item.site,
        vm=item.vm,
        time=now,
        data=data.wire(),
    )


def send(command: AgentCommand, *, at: datetime | None = None) -> int | None:
    """Send `command` now, or, with `at` in the future, have Service Bus enqueue it then: the
    scheduled message's sequence number (cancel_scheduled takes it), else None."""
    message = ServiceBusMessage(
        command.model_dump_json(by_alias=True),
        message_id=command.id,
        session_id=command.vm or command.site,  # a site-wide command: the site's session
        content_type="application/json",
        subject=command.type.value,
        application_properties={"site": command.site, "tenant": command.tenant},
    )
    topic = _topic()
    if at is not None and at > datetime.now(UTC):
        return schedule_on_topic(topic, message, at)
    send_to_topic(topic, message)
    return None


def cancel_scheduled(sequence_number: int) -> bool:
    """Cancel a command still waiting to be enqueued; False when it no longer waits (it was
    enqueued, maybe delivered: a cancel command reaches it there)."""
    try:
        cancel_scheduled_on_topic(_topic(), sequence_number)
    except Exception as error:  # not found (enqueued already) or the namespace's answer
        log.info("scheduled command %s not cancelled: %s", sequence_number, error)
        return False
    return True


def _topic() -> str:
    return setting("AGENT_COMMANDS_TOPIC", "agent-commands")
