"""The `$management` request/response operations the SDK uses on an entity."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from proton import Message, symbol, timestamp

if TYPE_CHECKING:
    from devhost.servicebus.broker import BrokerHandler

Result = tuple[int, str, Any]


def _ms(seconds: float) -> timestamp:
    return timestamp(int(seconds * 1000))


def handle(broker: BrokerHandler, path: str, request: Message) -> Result:
    operation = str((request.properties or {}).get("operation", ""))
    body = request.body if isinstance(request.body, dict) else {}
    entity = broker.entities.receivable(path)
    if entity is None and operation != "com.microsoft:schedule-message":
        return 404, f"The messaging entity '{path}' could not be found.", None
    store = broker.store

    if operation == "com.microsoft:renew-lock":
        expirations = []
        for token in body.get("lock-tokens", []):
            until = broker.lock_expiry_of(str(token), entity)
            if until is None:
                return (
                    410,
                    "The lock supplied is invalid. Either the lock expired, or the "
                    "message has already been removed from the queue.",
                    None,
                )
            expirations.append(_ms(until))
        return 200, "OK", {"expirations": expirations}

    if operation == "com.microsoft:update-disposition":
        status = str(body.get("disposition-status", ""))
        for token in body.get("lock-tokens", []):
            stored = store.by_token(str(token))
            if stored is None:
                return 410, "The lock supplied is invalid.", None
            if status == "completed":
                store.delete(stored.seq)
            elif status == "suspended":
                broker._dead_letter(
                    stored, body.get("deadletter-reason"), body.get("deadletter-description")
                )
            else:  # abandoned (or deferred, which the broker treats as abandoned)
                broker.give_back(stored.seq, entity)
        broker._touch(entity.path)
        return 200, "OK", {}

    if operation == "com.microsoft:renew-session-lock":
        return 200, "OK", {"expiration": _ms(time.time() + entity.lock_seconds)}

    if operation == "com.microsoft:get-session-state":
        state = store.session_state(entity.path, str(body.get("session-id")))
        return 200, "OK", {"session-state": state}

    if operation == "com.microsoft:set-session-state":
        state = body.get("session-state")
        store.set_session_state(entity.path, str(body.get("session-id")), state)
        return 200, "OK", {}

    if operation == "com.microsoft:schedule-message":
        numbers = []
        for item in body.get("messages", []):
            raw = bytes(item.get("message"))
            message = Message()
            message.decode(raw)
            when = (message.annotations or {}).get(symbol("x-opt-scheduled-enqueue-time"))
            visible_at = when.timestamp() if hasattr(when, "timestamp") else float(when) / 1000
            targets = broker.entities.targets(path, dict(message.properties or {})) or []
            for target in targets:
                numbers.append(
                    store.add(
                        target.path,
                        raw,
                        session_id=item.get("session-id") or None,
                        message_id=item.get("message-id"),
                        visible_at=visible_at,
                        expires_at=None,
                    )
                )
        return 200, "OK", {"sequence-numbers": numbers}

    if operation == "com.microsoft:cancel-scheduled-message":
        for number in body.get("sequence-numbers", []):
            store.cancel_scheduled(int(number))
        return 200, "OK", {}

    if operation == "com.microsoft:peek-message":
        found = store.peek(
            entity.path, int(body.get("from-sequence-number", 0)), int(body.get("message-count", 1))
        )
        if not found:
            return 204, "No messages", None
        messages = []
        for stored in found:
            message = Message()
            message.decode(stored.body)
            annotations = dict(message.annotations or {})
            message.delivery_count = stored.delivery_count  # deliveries so far; a peek is none
            annotations[symbol("x-opt-sequence-number")] = int(stored.seq)
            annotations[symbol("x-opt-enqueued-time")] = _ms(stored.enqueued)
            message.annotations = annotations
            messages.append({"message": message.encode()})
        return 200, "OK", {"messages": messages}

    return 501, f"The operation '{operation}' is not supported by the local broker.", None
