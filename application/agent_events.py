"""What each kind of agent event does. One small handler per event type.

Inventory and heartbeats are facts: they are projected into the read models. A protection
request starts the protect operation exactly as the API does. Replication events belong to
the VM's replication orchestration and are raised to it as external events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import azure.durable_functions as df

from application.errors import Conflict, NotFound
from application.orchestrations import is_running, replication_instance
from application.prerequisites import recheck_protected_vm
from application.protection import begin_protection, begin_unprotection
from application.sites import BANDWIDTH_COMMAND, bandwidth_applied
from azureclients.deadletter import dead_letter
from contracts.api import DisableProtectionRequest, EnableProtectionRequest
from contracts.events import (
    AgentEvent,
    CommandResult,
    EventType,
    InventorySnapshot,
    ProtectionDisableRequested,
    ProtectionRequested,
    ReplicationProgress,
    VmChanged,
    events_queue,
)
from contracts.inventory import VmmCloudRef
from domain import replication as rules
from domain.jobs import StartedBy
from domain.replication_state import IllegalTransition
from readmodels.inventory import apply_snapshot, get_vm, upsert_vm
from readmodels.items import get_item, get_item_row, update_item
from readmodels.records import ProgressRecord, ReplicatedItem
from readmodels.sites import record_heartbeat

log = logging.getLogger(__name__)
Handler = Callable[[AgentEvent, df.DurableOrchestrationClient], Awaitable[None]]
UNASSIGNED = VmmCloudRef(id="unassigned", name="Unassigned")


async def on_inventory(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    snapshot = event.payload()
    assert isinstance(snapshot, InventorySnapshot)
    outcome = await asyncio.to_thread(
        apply_snapshot,
        event.tenant,
        event.site,
        snapshot.cloud,
        snapshot.vms,
        event_id=event.id,
        event_time=event.time,
    )
    counts = len(outcome.upserted), len(outcome.gone), len(outcome.stale)
    log.info(
        "inventory %s/%s cloud %s: %d upserted, %d gone, %d stale",
        event.tenant,
        event.site,
        snapshot.cloud.id,
        *counts,
    )


async def on_vm_changed(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    change = event.payload()
    assert isinstance(change, VmChanged)
    current = await asyncio.to_thread(get_vm, event.tenant, change.vm.id)
    cloud = change.cloud or (current.cloud if current else UNASSIGNED)
    written = await asyncio.to_thread(
        upsert_vm,
        event.tenant,
        event.site,
        cloud,
        change.vm,
        event_id=event.id,
        event_time=event.time,
    )
    if written:
        await asyncio.to_thread(recheck_protected_vm, event.tenant, change.vm.id)


async def on_protection_requested(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    requested = event.payload()
    assert isinstance(requested, ProtectionRequested)
    assert event.vm is not None
    record = await asyncio.to_thread(get_vm, event.tenant, event.vm)
    if record is None or not record.present:
        await asyncio.to_thread(
            dead_letter,
            event.model_dump_json(by_alias=True).encode(),
            reason="VmNotInInventory",
            description=f"protection.requested for VM '{event.vm}', which no inventory "
            "snapshot of this tenant lists. Send an inventory.snapshot first.",
            message_id=event.id,
            session_id=event.vm,
            source=events_queue(event.site),
        )
        return
    request = EnableProtectionRequest(
        target_name=requested.target_name,
        target_size=requested.target_size,
        provider=requested.provider,
        policy=requested.policy,
    )
    try:
        job, created = await begin_protection(
            client, event.tenant, record, request, StartedBy.AGENT, f"agent {event.site}"
        )
        log.info(
            "protection requested by agent for %s: job %s (new: %s)", event.vm, job.id, created
        )
    except Conflict as conflict:
        log.info("protection request for %s not started: %s", event.vm, conflict)


async def on_protection_disable_requested(
    event: AgentEvent, client: df.DurableOrchestrationClient
) -> None:
    """The VMM side took the VM's protection mark away: disable protection as the API would,
    keeping the replica (deleting it takes an explicit request)."""
    requested = event.payload()
    assert isinstance(requested, ProtectionDisableRequested) and event.vm is not None
    try:
        job, created = await begin_unprotection(
            client, event.tenant, event.vm, DisableProtectionRequest(), StartedBy.AGENT
        )
        log.info(
            "disable requested by agent for %s (%s): job %s (new: %s)",
            event.vm,
            requested.reason or "no reason given",
            job.id,
            created,
        )
    except (Conflict, NotFound, IllegalTransition) as refused:
        log.info("disable request for %s not started: %s", event.vm, refused)


async def on_progress(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    progress = event.payload()
    assert isinstance(progress, ReplicationProgress) and event.vm is not None

    def apply(item: ReplicatedItem) -> None:
        if item.progress and item.progress.updated and item.progress.updated > event.time:
            return  # an older report arrived late
        percent = (
            100.0 * progress.bytes_done / progress.bytes_total if progress.bytes_total else 0.0
        )
        item.progress = ProgressRecord(
            command_id=progress.command_id,
            percent=round(percent, 2),
            bytes_done=progress.bytes_done,
            bytes_total=progress.bytes_total,
            throughput_bytes_per_s=progress.throughput_bytes_per_s,
            eta_seconds=progress.eta_seconds,
            updated=event.time,
        )

    # Progress stays out of the orchestration (it would grow its history with every report):
    # the orchestration reads it from the item when its stall timer fires.
    row = await asyncio.to_thread(get_item_row, event.tenant, event.vm)
    if row is not None:  # read once: the update changes this row unless it changed meanwhile
        await asyncio.to_thread(update_item, event.tenant, event.vm, apply, read=row)


async def forward(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    """Hand a replication outcome to the orchestration waiting for it, as the event's data
    (the orchestration validates it as the model of its type): the VM's replication loop, or
    the operation running on the VM when the command was that operation's own."""
    assert event.vm is not None
    outcome = event.payload()
    instance = await asyncio.to_thread(
        waiting_instance, event.tenant, event.vm, getattr(outcome, "command_id", "")
    )
    if not is_running(await client.get_status(instance)):
        log.warning("no running orchestration %s; %s %s ignored", instance, event.type, event.id)
        return
    await client.raise_event(instance, event.type.value, outcome.wire())


def waiting_instance(tenant: str, vm: str, command_id: str) -> str:
    """Who waits for the answer to `command_id`: an operation's commands carry its job id
    (its instance id) as their prefix, and are answered to it only while it holds the VM;
    every other command is the replication loop's. A loop command's id says so by its shape,
    so the answer of every cycle is routed without reading the item."""
    if rules.is_cycle_command(command_id):
        return replication_instance(tenant, vm)
    item = get_item(tenant, vm)
    job = item.active_job_id if item else None
    if job and command_id.startswith(f"{job}-"):
        return job
    return replication_instance(tenant, vm)


async def on_heartbeat(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    await asyncio.to_thread(
        record_heartbeat, event.tenant, event.site, event.time or datetime.now(UTC)
    )


async def on_command_result(event: AgentEvent, client: df.DurableOrchestrationClient) -> None:
    """The end of a command that is not a replication (a shutdown for a planned failover) is
    raised to the operation that sent it; other acknowledgements (a cancel done) are logged."""
    result = event.payload()
    assert isinstance(result, CommandResult)
    log.info("agent %s: command %s %s", event.site, result.command_id, result.status)
    if result.command_id.startswith(BANDWIDTH_COMMAND):
        await asyncio.to_thread(bandwidth_applied, event.tenant, event.site, result)
        return
    if event.vm is None:
        return
    instance = await asyncio.to_thread(waiting_instance, event.tenant, event.vm, result.command_id)
    if instance != replication_instance(event.tenant, event.vm) and is_running(
        await client.get_status(instance)
    ):
        await client.raise_event(instance, event.type.value, result.wire())


HANDLERS: dict[EventType, Handler] = {
    EventType.INVENTORY_SNAPSHOT: on_inventory,
    EventType.VM_CHANGED: on_vm_changed,
    EventType.PROTECTION_REQUESTED: on_protection_requested,
    EventType.PROTECTION_DISABLE_REQUESTED: on_protection_disable_requested,
    EventType.REPLICATION_PROGRESS: on_progress,
    EventType.REPLICATION_INITIAL_COMPLETED: forward,
    EventType.REPLICATION_DELTA_COMPLETED: forward,
    EventType.REPLICATION_FAILED: forward,
    EventType.COMMAND_RESULT: on_command_result,
    EventType.AGENT_HEARTBEAT: on_heartbeat,
}
