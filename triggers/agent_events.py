"""Service Bus trigger for `agent-events`: everything the on-premises agents report.

Session id = VM id (the site for site-wide events), so one VM's events arrive in order.
An event is validated first: an invalid one goes to the dead-letter queue with every reason
and is completed, never retried. A valid one is applied once, by its handler in
`application.agent_events`: a duplicate changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df
import azure.functions as func

from application.agent_events import HANDLERS
from azureclients.deadletter import dead_letter
from contracts.events import AgentEvent, EventRejected, EventType
from readmodels.processed import already_processed, mark_processed

bp = df.Blueprint()
log = logging.getLogger(__name__)
# Events not recorded in ProcessedEvents. Progress is overwritten by later progress. A delta
# completion, the one event of every cycle, is deduplicated where it is used: the replication
# orchestration takes only the answer to the command it awaits (by command id), which also
# catches an agent that sends the same outcome again under a new event id; a row per cycle
# would cost two storage calls for nothing. A heartbeat applied twice writes the same time
# twice: it is its own deduplication, at one write instead of three calls more.
UNRECORDED = {
    EventType.REPLICATION_PROGRESS,
    EventType.REPLICATION_DELTA_COMPLETED,
    EventType.AGENT_HEARTBEAT,
}


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
    recorded = event.type not in UNRECORDED
    if recorded and await asyncio.to_thread(already_processed, event.tenant, event.id):
        log.info("agent event %s (%s) is a duplicate; ignored", event.id, event.type)
        return
    await HANDLERS[event.type](event, client)
    if recorded:
        await asyncio.to_thread(mark_processed, event.tenant, event.id, event.type, event.time)
