"""Service Bus trigger for `agent-events`: everything the on-premises agents report.

Session id = VM id (the site for site-wide events), so one VM's events arrive in order.
An event is validated first: an invalid one goes to the dead-letter queue with every reason
and is completed, never retried. A valid one is applied once: a duplicate changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from contracts.events import AgentEvent, EventRejected, EventType
from core.deadletter import dead_letter
from readmodels.processed import already_processed, mark_processed
from triggers.event_handlers import HANDLERS

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.service_bus_queue_trigger(
    arg_name="msg",
    queue_name="agent-events",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
@bp.durable_client_input(client_name="client")
async def agent_event(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    body = msg.get_body()
    try:
        event = AgentEvent.parse(body)
    except EventRejected as rejected:
        log.warning("agent event %s rejected: %s", msg.message_id, rejected)
        await asyncio.to_thread(
            dead_letter,
            body,
            reason="InvalidAgentEvent",
            description="; ".join(rejected.reasons),
            message_id=msg.message_id,
            session_id=msg.session_id,
            source="agent-events",
        )
        return
    if event.type is not EventType.REPLICATION_PROGRESS and await asyncio.to_thread(
        already_processed, event.tenant, event.id
    ):
        log.info("agent event %s (%s) is a duplicate; ignored", event.id, event.type)
        return
    await HANDLERS[event.type](event, client)
    if event.type is not EventType.REPLICATION_PROGRESS:
        # Progress is overwritten by later progress: not worth a row per event.
        await asyncio.to_thread(mark_processed, event.tenant, event.id, event.type, event.time)
