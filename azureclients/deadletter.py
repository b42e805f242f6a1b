"""Dead-lettering invalid agent events, with the reason, so nothing is dropped silently.

A Python function bound to a Service Bus trigger cannot settle its own message (the host owns
the lock; settlement from Python needs the preview SDK-type bindings), so it cannot move an
invalid event into the queue's built-in dead-letter sub-queue with a reason. Instead the trigger
sends the event, body unchanged, to the `agent-events-deadletter` queue with the same
properties Service Bus sets on dead-lettered messages (DeadLetterReason,
DeadLetterErrorDescription) plus where it came from, and then completes the original.
Events that fail for other reasons (a bug, an outage) are abandoned instead and reach the
queue's built-in dead-letter sub-queue after maxDeliveryCount tries, with
MaxDeliveryCountExceeded.
"""

from __future__ import annotations

from azure.servicebus import ServiceBusMessage

from azureclients.clients import servicebus_client
from azureclients.settings import setting
from domain.redaction import redact

DEADLETTER_QUEUE_SETTING = "AGENT_EVENTS_DEADLETTER_QUEUE"
DEADLETTER_QUEUE = "agent-events-deadletter"


def dead_letter(
    body: bytes,
    *,
    reason: str,
    description: str,
    message_id: str | None,
    session_id: str | None,
    source: str,
) -> None:
    queue = setting(DEADLETTER_QUEUE_SETTING, DEADLETTER_QUEUE)
    message = ServiceBusMessage(
        body,
        message_id=message_id,
        content_type="application/json",
        application_properties={
            "DeadLetterReason": reason,
            "DeadLetterErrorDescription": redact(description)[:4096],
            "DeadLetterSource": source,
            "OriginalSessionId": session_id or "",
        },
    )
    with servicebus_client() as client, client.get_queue_sender(queue) as sender:
        sender.send_messages(message)
