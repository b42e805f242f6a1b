"""Service Bus triggers for the agents' events: one per site, on the site's own queue.

Only a site's agent may send to its queue (`agent-events-<site>`), so the queue says who sent
an event, not the body: the sites come from the setting AGENT_SITES, read when the app is
indexed (`application.agent_sites`), and each gets a trigger bound to its queue. Session id =
VM id (the site for site-wide events), so one VM's events arrive in order.

An event is validated first. An invalid one, one whose body names another site or tenant than
its queue's, or one from a clock far ahead, goes to the dead-letter queue with every reason and
is completed, never retried. A valid one is applied once, by its handler in
`application.agent_events`: a duplicate changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from application.agent_events import HANDLERS
from application.agent_sites import AgentSite, SitesInvalid, agent_sites, refusal
from azureclients.deadletter import dead_letter
from azureclients.settings import MissingSetting
from contracts.events import AgentEvent, EventRejected, EventType
from domain.redaction import redact
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


async def receive(
    msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient, sender: AgentSite
) -> None:
    """One event from `sender`'s queue: refused with its reasons, or applied once."""
    body = msg.get_body()
    try:
        event = AgentEvent.parse(body)
    except EventRejected as rejected:
        await _dead_letter(msg, sender, "InvalidAgentEvent", "; ".join(rejected.reasons))
        return
    if refused := refusal(event, sender, datetime.now(UTC)):
        await _dead_letter(msg, sender, *refused)
        return
    recorded = event.type not in UNRECORDED
    if recorded and await asyncio.to_thread(already_processed, event.tenant, event.id):
        log.info("agent event %s (%s) is a duplicate; ignored", event.id, event.type)
        return
    await HANDLERS[event.type](event, client)
    if recorded:
        await asyncio.to_thread(mark_processed, event.tenant, event.id, event.type, event.time)


async def _dead_letter(
    msg: func.ServiceBusMessage, sender: AgentSite, reason: str, description: str
) -> None:
    description = redact(description)  # reasons may quote the event: no signature in logs
    log.warning(
        "agent event %s on %s refused (%s): %s", msg.message_id, sender.queue, reason, description
    )
    await asyncio.to_thread(
        dead_letter,
        msg.get_body(),
        reason=reason,
        description=description,
        message_id=msg.message_id,
        session_id=msg.session_id,
        source=sender.queue,
    )


def _register(site: AgentSite) -> None:
    """The trigger of one site's queue (a closure: Functions binds one queue per function)."""

    @bp.function_name(site.function_name)
    @bp.service_bus_queue_trigger(
        arg_name="msg",
        queue_name=site.queue,
        connection="ServiceBusConnection",
        is_sessions_enabled=True,
    )
    @bp.durable_client_input(client_name="client")
    async def agent_events(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient):
        await receive(msg, client, site)


try:
    SITES = agent_sites()
    if not SITES:
        log.warning("AGENT_SITES names no site: no agent events are read")
except (SitesInvalid, MissingSetting) as error:  # the runbook API still serves
    log.error("no agent events are read: %s", error)
    SITES = []
for _site in SITES:
    _register(_site)
