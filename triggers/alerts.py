"""The `alerts` Event Grid trigger: Azure Monitor alerts (common alert schema, through the
alert custom topic) and Health Resources availability changes, each in the Event Grid schema
or as a CloudEvent 1.0.

The Functions host answers Event Grid's subscription validation handshake (and the
CloudEvents OPTIONS handshake) itself, before this function runs. An event is read into a
signal and routed to every auto-failover rule it matches (`application.autofailover`).

What Event Grid does with the answer: 2xx is delivered; a 5xx is delivered again on its retry
schedule, up to the subscription's retry policy, then dead-lettered; 400 and 413 are not
retried. A function behind the Event Grid trigger cannot choose its status code (the host
answers 5xx when it raises, 2xx otherwise), so an event that cannot be read, which no retry
would fix, is logged and kept with its reason in the AlertsDeadLetter table, and the function
returns (2xx, never retried). Anything else that fails (storage, the task hub) raises, and
Event Grid delivers the event again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from application.autofailover import on_signal
from contracts.alerts import AlertRejected, Envelope, signal_of
from domain.errors import ErrorInfo
from readmodels.autofailover import dead_letter_alert

bp = df.Blueprint()
log = logging.getLogger(__name__)


def envelope_of(event: func.EventGridEvent | func.CloudEvent) -> Envelope:
    """Either envelope, as the worker builds it: a payload with `specversion` arrives as a
    CloudEvent even when the parameter says EventGridEvent."""
    if isinstance(event, func.CloudEvent):
        return Envelope(
            schema="CloudEventSchemaV1_0",
            id=event.id,
            type=event.type,
            subject=event.subject,
            source=event.source,
            time=event.time,
            data=event.get_json(),
        )
    return Envelope(
        schema="EventGridSchema",
        id=event.id,
        type=event.event_type,
        subject=event.subject,
        source=event.topic,
        time=event.event_time,
        data=event.get_json(),
    )


def _as_sent(envelope: Envelope) -> dict[str, Any]:
    return envelope.model_dump(mode="json", by_alias=True)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def alerts(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    received = datetime.now(UTC)
    envelope = envelope_of(event)
    try:
        signal = signal_of(envelope, received)
    except AlertRejected as rejected:
        reason = ErrorInfo(rejected.code, "; ".join(rejected.reasons), rejected.recommendation)
        log.warning("alert event %s (%s) refused: %s", envelope.id, envelope.type, reason)
        await asyncio.to_thread(dead_letter_alert, _as_sent(envelope), reason, received)
        return
    if signal is None:
        log.info("event %s (%s) is not a signal; nothing to do", envelope.id, envelope.type)
        return
    said = await on_signal(client, signal, received)
    log.info(
        "%s %s of %s (event %s): %s",
        signal.source,
        signal.condition,
        signal.alert_rule or signal.key,
        envelope.id,
        "; ".join(said) or "no auto-failover rule matches",
    )
