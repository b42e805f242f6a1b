"""A local AMQP 1.0 broker that the unmodified azure-servicebus SDK talks to.

It speaks the parts of Service Bus the SDK uses: `$cbs` put-token (the key name is checked),
peek-lock delivery with the lock token as delivery tag, settlement echoed back (the SDK
receives in settle mode "second"), abandon and redelivery, dead-lettering with a reason,
max delivery count, sessions (next available session, order kept, one receiver per session,
session state), duplicate detection, scheduled messages, time-to-live and the `$management`
operations for these. It listens on loopback only and keeps messages in SQLite.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proton import Condition, Data, Delivery, Link, Message, Terminus, symbol, timestamp, ulong
from proton.handlers import EndpointStateHandler, MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

from devhost.servicebus.entities import DLQ, Entities, Entity
from devhost.servicebus.store import MessageStore, Stored

log = logging.getLogger("devhost.servicebus")
SESSION_FILTER = symbol("com.microsoft:session-filter")
LOCKED_UNTIL = symbol("com.microsoft:locked-until-utc")
TICKS_AT_EPOCH = 621355968000000000  # .NET ticks of 1970-01-01


def ticks(moment: float) -> int:
    return TICKS_AT_EPOCH + int(moment * 10_000_000)


@dataclass
class Outgoing:
    """A receiver the client attached: the broker sends it messages of one entity."""

    link: Link
    entity: Entity
    session_id: str | None = None
    deliveries: dict[Delivery, int] = field(default_factory=dict)  # delivery -> message seq


class _HoldingEndpoints(EndpointStateHandler):
    """Proton answers every attach at once; Service Bus holds a session receiver's attach
    until a session is free (or its timeout passes), and so must we."""

    def on_link_remote_open(self, event: Any) -> None:
        link = event.link
        if self.is_local_uninitialised(link):
            self.on_link_opening(event)
            if self.is_local_uninitialised(link) and not self.delegate.holds(link):
                link.open()
        elif self.is_local_open(link):
            self.on_link_opened(event)


class BrokerHandler(MessagingHandler):
    """The broker's whole behaviour, on proton's single event thread: links the SDK attaches,
    messages in (`_enqueue`), messages out (`_serve`/`_send`), settlements (`_outcome`), and
    the `$cbs`/`$management` request-response nodes. Durable state is the MessageStore's;
    what lives here (links, deliveries, session owners) dies with the process, as locks do."""

    def __init__(
        self, host: str, port: int, entities: Entities, store: MessageStore, key_name: str
    ) -> None:
        super().__init__(prefetch=0, auto_accept=False, auto_settle=False)
        # Only the endpoint handler stays: this class reads and settles deliveries itself, and
        # proton's message handlers would look at every delivery again for nothing (each event
        # is dispatched to every child handler; that dispatch is most of the broker's CPU).
        self.handlers = [_HoldingEndpoints(False, self)]
        self.url = f"{host}:{port}"
        self.entities = entities
        self.store = store
        self.key_name = key_name
        self.outgoing: dict[Link, Outgoing] = {}
        self.reply_links: dict[tuple[Any, str], Link] = {}  # (connection, address) -> link
        self.replies: dict[Link, deque[Message]] = defaultdict(deque)
        self.session_owners: dict[tuple[str, str], Link] = {}
        self.pending_sessions: list[Link] = []
        self.pending_since: dict[Link, float] = {}
        self.listening = threading.Event()
        self.container: Container | None = None
        self.acceptor: Any = None
        # Entities whose messages changed since the event loop last went idle: only their
        # receivers are served then, not every receiver after every event.
        self.dirty: set[str] = set()
        # Proton is single-threaded: other threads ask for a stop through this pipe.
        self.injector = EventInjector()
        self.connections: set[Any] = set()
        self.stopping = False

    # --- connections and links ---------------------------------------------------------------

    def on_start(self, event: Any) -> None:
        self.container = event.container
        self.acceptor = event.container.listen(self.url)
        event.container.selectable(self.injector)
        event.container.schedule(0.5, self)
        self.listening.set()

    def on_timer_task(self, event: Any) -> None:
        """Every half second: expire locks and messages, serve waiting receivers."""
        if self.stopping:
            return
        self._expire()
        self._time_out_pending()
        self._serve_all()
        event.container.schedule(0.5, self)

    def on_reactor_quiesced(self, event: Any) -> None:
        """The event loop has nothing left to do: serve the receivers of what changed."""
        self._serve_dirty()

    def _touch(self, path: str) -> None:
        self.dirty.add(path)

    def on_shutdown(self, event: Any) -> None:
        """Close the listening socket (so the port is free at once for a restart) and every
        client connection, as a broker process that exits would: clients must see the broker
        go, and reconnect, not wait forever on a socket nobody reads. The event loop ends
        when the connections are closed (a client that does not answer is cut at once)."""
        self.stopping = True
        if self.acceptor is not None:
            self.acceptor.close()
        self.injector.close()
        for connection in list(self.connections):
            connection.condition = Condition("amqp:connection:forced", "The broker stopped.")
            connection.close()
            transport = connection.transport
            if transport is not None:
                transport.close_tail()  # send what is pending (the close), then hang up
                transport.close_head()
        if self.container is not None:
            if self.connections:  # in case a connection lingers
                self.container.schedule(1.0, _Stop(self.container))
            else:
                self.container.stop()

    def request_stop(self) -> None:
        """From any thread: stop the event loop on its own thread."""
        self.injector.trigger(ApplicationEvent("shutdown"))

    def on_connection_bound(self, event: Any) -> None:
        sasl = event.transport.sasl()
        sasl.allow_insecure_mechs = True
        sasl.allowed_mechs("ANONYMOUS PLAIN MSSBCBS")

    def on_connection_opening(self, event: Any) -> None:
        event.connection.container = "devhost-servicebus"
        event.connection.open()
        self.connections.add(event.connection)

    def on_session_opening(self, event: Any) -> None:
        event.session.open()

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_receiver:  # the client sends to us
            address = _path(link.remote_target.address)
            link.target.address = address
            link.source.address = link.remote_source.address
            is_node = address.startswith("$") or "$management" in address
            if not is_node and self.entities.targets(address, {}) is None:
                return self._refuse(link, f"The messaging entity '{address}' could not be found.")
            link.flow(1000)
            link.open()
            return
        address = _path(link.remote_source.address)
        link.source.address = link.remote_source.address  # echoed as given: the SDK compares it
        link.target.address = link.remote_target.address
        link.snd_settle_mode = Link.SND_UNSETTLED
        link.rcv_settle_mode = Link.RCV_SECOND
        if address.startswith("$") or address.endswith("/$management"):
            self.reply_links[(link.connection, address)] = link
            link.open()
            return
        entity = self.entities.receivable(address)
        if entity is None:
            return self._refuse(link, f"The messaging entity '{address}' could not be found.")
        out = Outgoing(link, entity)
        if entity.sessions:
            wanted = _session_filter(link.remote_source.filter)
            if wanted is not None and (entity.path, wanted) in self.session_owners:
                return self._refuse(
                    link, f"The session '{wanted}' is locked by another receiver.",
                    "com.microsoft:session-cannot-be-locked",
                )  # fmt: skip
            self.outgoing[link] = out
            if wanted is None:
                self.pending_sessions.append(link)
                self.pending_since[link] = time.monotonic()
                self._assign_sessions()
                return
            self._open_session(out, wanted)
            return
        self.outgoing[link] = out
        link.open()

    def holds(self, link: Link) -> bool:
        return link in self.pending_sessions

    def _time_out_pending(self) -> None:
        """A session receiver that waited past its timeout gets Service Bus's answer."""
        for link in list(self.pending_sessions):
            timeout = (link.remote_properties or {}).get(symbol("com.microsoft:timeout"), 60_000)
            # Answer a little before the client gives up, so it hears "timeout", not silence.
            if time.monotonic() - self.pending_since.get(link, 0) > 0.7 * float(timeout) / 1000:
                self.pending_sessions.remove(link)
                self.outgoing.pop(link, None)
                self._refuse(link, "No session is available.", "com.microsoft:timeout")

    def _refuse(self, link: Link, text: str, name: str = "amqp:not-found") -> None:
        """Refuse an attach as the AMQP spec says: answer it with no terminus on our side
        (a null target for a client's sender, a null source for its receiver), then detach
        with the error, so the SDK fails the open itself with the matching exception."""
        (link.target if link.is_receiver else link.source).type = Terminus.UNSPECIFIED
        link.condition = Condition(name, text)
        link.open()
        link.close()

    def _open_session(self, out: Outgoing, session_id: str) -> None:
        link = out.link
        out.session_id = session_id
        self.session_owners[(out.entity.path, session_id)] = link
        self._describe_session(link, session_id, time.time() + out.entity.lock_seconds)
        link.open()
        self._touch(out.entity.path)  # its credit may have come while it waited: serve it

    @staticmethod
    def _describe_session(link: Link, session_id: str, locked_until: float) -> None:
        """What the SDK reads from the attach: the session id and its lock expiry."""
        data = link.source.filter
        data.clear()
        data.put_map()
        data.enter()
        data.put_symbol(SESSION_FILTER)
        data.put_string(session_id)
        data.exit()
        link.properties = {LOCKED_UNTIL: ticks(locked_until) if locked_until else 0}

    def _assign_sessions(self) -> None:
        """Give each waiting receiver the next free session, oldest message first."""
        free: dict[str, list[str]] = {}  # entity -> its free sessions, asked once per entity
        for link in list(self.pending_sessions):
            out = self.outgoing.get(link)
            if out is None or link.state & (Link.LOCAL_CLOSED | Link.REMOTE_CLOSED):
                self.pending_sessions.remove(link)
                continue
            path = out.entity.path
            if path not in free:
                taken = {sid for (p, sid) in self.session_owners if p == path}
                free[path] = self.store.available_sessions(path, taken)
            if free[path]:
                self.pending_sessions.remove(link)
                self._open_session(out, free[path].pop(0))

    def on_link_closing(self, event: Any) -> None:
        link = event.link
        if link in self.pending_sessions and link.state & Link.LOCAL_UNINIT:
            # The client stopped waiting for a session: answer its attach as Service Bus
            # does, with a timeout, so the SDK raises OperationTimeoutError.
            self._describe_session(link, "", 0.0)
            link.condition = Condition("com.microsoft:timeout", "No session is available.")
            link.open()
        self._forget(link)
        link.close()

    def on_connection_closing(self, event: Any) -> None:
        self._forget_connection(event.connection)

    def on_disconnected(self, event: Any) -> None:
        self._forget_connection(event.connection)

    def _forget_connection(self, connection: Any) -> None:
        self.connections.discard(connection)
        if self.stopping and not self.connections and self.container is not None:
            self.container.stop()  # the last one is gone: no need to wait for the fallback
        for link in [l for l in self.outgoing if l.connection == connection]:  # noqa: E741
            self._forget(link)
        for key, link in list(self.reply_links.items()):
            if link.connection == connection:
                del self.reply_links[key]
                self.replies.pop(link, None)

    def _forget(self, link: Link) -> None:
        out = self.outgoing.pop(link, None)
        if link in self.pending_sessions:
            self.pending_sessions.remove(link)
        if out is None:
            return
        if out.session_id is not None:
            # The session lock ends with its receiver, and with it the locks of its messages.
            self.session_owners.pop((out.entity.path, out.session_id), None)
            with self.store.batch():
                for seq in out.deliveries.values():
                    self.store.unlock(seq)
        # Without sessions, as in Service Bus, a receiver that went away (closed, or killed)
        # keeps its messages locked until the lock expires; then they are delivered again.
        self._touch(out.entity.path)

    # --- incoming messages -------------------------------------------------------------------

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        link = delivery.link
        if link.is_receiver:
            if delivery.readable and not delivery.partial:
                raw = link.recv(delivery.pending)
                link.advance()
                self._incoming(link, delivery, raw)
            return
        if delivery.updated:
            self._outcome(delivery)

    def _incoming(self, link: Link, delivery: Delivery, raw: bytes) -> None:
        address = link.target.address or ""
        message = Message()
        message.decode(raw)
        try:
            if address == "$cbs":
                self._reply(link, message, self._put_token(message))
            elif address.endswith("$management"):
                entity_path = address[: -len("/$management")]
                self._reply(link, message, self._management(entity_path, message))
            else:
                self._enqueue(address, raw)
            delivery.update(Delivery.ACCEPTED)
        except BrokerError as error:
            delivery.local.condition = Condition(error.condition, str(error))
            delivery.update(Delivery.REJECTED)
        delivery.settle()

    def _enqueue(self, address: str, raw: bytes) -> None:
        with self.store.batch():  # a batch is stored whole or not at all
            self._enqueue_all(address, raw)

    def _enqueue_all(self, address: str, raw: bytes) -> None:
        for one in _unbatch(raw):
            message = Message()
            message.decode(one)
            properties = dict(message.properties or {})
            targets = self.entities.targets(address, properties)
            if targets is None:
                raise BrokerError(f"The messaging entity '{address}' could not be found.")
            if self.entities.dedupes(address) and self.store.is_duplicate(
                address, _text(message.id), self.entities.window_of(address)
            ):
                continue
            annotations = message.annotations or {}
            scheduled = annotations.get(symbol("x-opt-scheduled-enqueue-time"))
            visible_at = _seconds(scheduled) if scheduled else 0.0
            ttl = message.ttl or None
            for entity in targets:
                self.store.add(
                    entity.path, one,
                    session_id=_text(message.group_id), message_id=_text(message.id),
                    visible_at=visible_at,
                    expires_at=(time.time() + ttl) if ttl else None,
                )  # fmt: skip
                self._touch(entity.path)

    # --- outgoing messages -------------------------------------------------------------------

    def on_link_flow(self, event: Any) -> None:
        """The client gave credit: send it what it may take (proton's OutgoingMessageHandler
        did this, and is gone, see __init__)."""
        link = event.link
        if link.is_sender and link.credit and link.state & Link.LOCAL_ACTIVE:
            self.on_sendable(event)

    def on_sendable(self, event: Any) -> None:
        link = event.link
        if link in self.outgoing:
            self._serve(self.outgoing[link])
        elif link in self.replies:
            self._flush_replies(link)

    def _serve_all(self) -> None:
        self.dirty.clear()
        self._assign_sessions()
        for out in list(self.outgoing.values()):
            self._serve(out)
        for link in list(self.replies):
            self._flush_replies(link)

    def _serve_dirty(self) -> None:
        if not self.dirty:
            return
        paths, self.dirty = self.dirty, set()
        if any(self.outgoing[link].entity.path in paths for link in self.pending_sessions
               if link in self.outgoing):  # fmt: skip
            self._assign_sessions()
        for out in list(self.outgoing.values()):
            if out.entity.path in paths:
                self._serve(out)

    def _serve(self, out: Outgoing) -> None:
        link = out.link
        if not link.state & Link.LOCAL_ACTIVE or link.state & Link.LOCAL_CLOSED:
            return
        if out.entity.sessions and out.session_id is None:
            return
        while link.credit > 0:
            found = self.store.available(
                out.entity.path, out.session_id, out.entity.sessions, link.credit
            )
            if not found:
                return
            with self.store.batch():
                for stored in found:
                    if stored.delivery_count >= out.entity.max_delivery_count:
                        limit = out.entity.max_delivery_count
                        reason = f"Message could not be consumed after {limit} delivery attempts."
                        self._dead_letter(stored, "MaxDeliveryCountExceeded", reason)
                        continue
                    self._send(out, stored)

    def _send(self, out: Outgoing, stored: Stored) -> None:
        token_tag = secrets.token_hex(8)  # 16 ASCII bytes: a valid, printable UUID as bytes_le
        until = time.time() + out.entity.lock_seconds
        lock_token = str(uuid.UUID(bytes_le=token_tag.encode()))
        self.store.lock(stored.seq, lock_token, until)
        message = Message()
        message.decode(stored.body)
        message.delivery_count = stored.delivery_count + 1  # this delivery included
        annotations = dict(message.annotations or {})
        annotations.update({
            symbol("x-opt-sequence-number"): int(stored.seq),
            symbol("x-opt-enqueued-time"): timestamp(int(stored.enqueued * 1000)),
            symbol("x-opt-locked-until"): timestamp(int(until * 1000)),
        })  # fmt: skip
        if stored.dead_letter_reason:
            properties = dict(message.properties or {})
            properties["DeadLetterReason"] = stored.dead_letter_reason
            properties["DeadLetterErrorDescription"] = stored.dead_letter_description or ""
            message.properties = properties
        message.annotations = annotations
        delivery = out.link.delivery(token_tag)
        out.link.send(message.encode())
        out.link.advance()
        out.deliveries[delivery] = stored.seq

    def _outcome(self, delivery: Delivery) -> None:
        out = self.outgoing.get(delivery.link)
        if out is None:
            delivery.settle()
            return
        seq = out.deliveries.pop(delivery, None)
        state = delivery.remote_state
        if seq is None and state in (Delivery.ACCEPTED, Delivery.REJECTED, Delivery.MODIFIED):
            # Its lock expired (and the message may be with another receiver by now).
            delivery.local.condition = Condition(
                "com.microsoft:message-lock-lost",
                "The lock supplied is invalid. Either the lock expired, or the message has "
                "already been removed from the queue.",
            )
            delivery.update(Delivery.REJECTED)
            delivery.settle()
            return
        if seq is not None:
            if state == Delivery.ACCEPTED:
                self.store.delete(seq)
            elif state == Delivery.REJECTED:
                info = _condition_info(delivery.remote.condition)
                self._dead_letter_seq(
                    seq, info.get("DeadLetterReason"), info.get("DeadLetterErrorDescription")
                )
            elif state == Delivery.RELEASED:  # never processed: not a delivery attempt
                self.store.release(seq)
            else:  # MODIFIED: abandoned
                self.give_back(seq, out.entity)
            if state != Delivery.ACCEPTED:
                self._touch(out.entity.path)
        delivery.update(state)
        delivery.settle()

    def give_back(self, seq: int, entity: Entity) -> None:
        """Abandoned, or its lock expired: available again, unless it has had maxDeliveryCount
        deliveries; then it goes to the dead-letter queue now, as in Service Bus, not when
        someone next asks for it."""
        count = self.store.delivery_count_of(seq)
        if count is not None and count >= entity.max_delivery_count:
            limit = entity.max_delivery_count
            reason = f"Message could not be consumed after {limit} delivery attempts."
            self._dead_letter_seq(seq, "MaxDeliveryCountExceeded", reason, entity=entity.path)
        else:
            self.store.unlock(seq)
        self._touch(entity.path)

    def _dead_letter(self, stored: Stored, reason: str | None, description: str | None) -> None:
        self._dead_letter_seq(stored.seq, reason, description, entity=stored.entity)

    def _dead_letter_seq(
        self, seq: int, reason: str | None, description: str | None, entity: str | None = None
    ) -> None:
        if entity is None:
            entity = self.store.entity_of(seq)
            if entity is None:
                return
        if entity.endswith(DLQ):
            self.store.unlock(seq)
            return
        self.store.move(seq, entity + DLQ, reason, description)

    def _expire(self) -> None:
        for stored in self.store.expired_locks():
            entity = self.entities.receivable(stored.entity)
            if entity is None:
                self.store.unlock(stored.seq)
            else:
                self.give_back(stored.seq, entity)
            for out in self.outgoing.values():
                for delivery, seq in list(out.deliveries.items()):
                    if seq == stored.seq:
                        del out.deliveries[delivery]
        for stored in self.store.expired():
            entity = self.entities.receivable(stored.entity)
            if entity is not None and entity.dead_letter_on_expiry:
                self._dead_letter(stored, "TTLExpiredException", "The message expired.")
            else:
                self.store.delete(stored.seq)

    # --- request/response: $cbs and $management ------------------------------------------------

    def _put_token(self, request: Message) -> tuple[int, str, Any]:
        token = _text(request.body) or ""
        fields = dict(part.split("=", 1) for part in token.split("&") if "=" in part)
        if fields.get("skn") != self.key_name:
            return 401, f"The key name '{fields.get('skn')}' is not authorized.", None
        return 202, "Accepted", None

    def _reply(self, via: Link, request: Message, result: tuple[int, str, Any]) -> None:
        """Answer on the client's response link for the same node on the same connection."""
        status, description, body = result
        reply = Message(
            body=body,
            correlation_id=request.id,
            properties={
                "status-code": status, "status-description": description,
                "statusCode": status, "statusDescription": description,
            },
        )  # fmt: skip
        link = self.reply_links.get((via.connection, via.target.address or ""))
        if link is None:
            log.warning("no response link for %s", via.target.address)
            return
        self.replies[link].append(reply)
        self._flush_replies(link)

    def _flush_replies(self, link: Link) -> None:
        queue = self.replies.get(link)
        while queue and link.credit > 0:
            message = queue.popleft()
            delivery = link.delivery(secrets.token_hex(8))
            link.send(message.encode())
            link.advance()
            delivery.settle()

    def _management(self, path: str, request: Message) -> tuple[int, str, Any]:
        from devhost.servicebus.management import handle

        return handle(self, path, request)

    def lock_expiry_of(self, token: str, entity: Entity) -> float | None:
        until = time.time() + entity.lock_seconds
        return until if self.store.renew(token, until) else None


class _Stop:
    """A timer task that ends the event loop."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def on_timer_task(self, event: Any) -> None:
        self.container.stop()


class BrokerError(Exception):
    def __init__(self, text: str, condition: str = "amqp:not-found") -> None:
        super().__init__(text)
        self.condition = condition


def _path(address: str | None) -> str:
    """Clients name nodes by full URL (amqps://host/queue) or by path: keep the path."""
    address = address or ""
    if "://" in address:
        address = address.split("://", 1)[1].partition("/")[2]
    return address


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC).timestamp()
    return float(value) / 1000.0


def _session_filter(data: Data | None) -> str | None:
    """The session a receiver asked for (None: the next available one). Proton leaves the
    filter's cursor before its first node, so step onto it before reading."""
    if data is None:
        return None
    data.rewind()
    value = data.get_object() if data.next() is not None else None
    if isinstance(value, dict):
        found = value.get(SESSION_FILTER)
        return _text(found)
    return None


def _condition_info(condition: Condition | None) -> dict[str, str]:
    if condition is None:
        return {}
    info = condition.info or {}
    return {str(k): _text(v) or "" for k, v in dict(info).items()}


def _unbatch(raw: bytes) -> list[bytes]:
    """A batch (several messages in one) arrives as data sections that are themselves
    encoded messages; anything else is one message."""
    data = Data()
    parts: list[bytes] = []
    rest = raw
    while rest:
        data.clear()
        used = data.decode(rest)
        if used <= 0:
            break
        value = data.get_object()
        rest = rest[used:]
        descriptor = getattr(value, "descriptor", None)
        if descriptor == ulong(0x75):  # a data section
            payload = bytes(value.value)
            if payload[:2] == b"\x00\x53" and payload[2:3] and 0x70 <= payload[2] <= 0x78:
                parts.append(payload)
    return parts or [raw]


class Broker:
    """Run the broker on a background thread: `with Broker(...) as broker: broker.port`."""

    def __init__(
        self,
        *,
        port: int = 5672,
        data_dir: Path = Path(".devhost/servicebus"),
        entities: Entities | None = None,
        key_name: str = "local",
        host: str = "127.0.0.1",
    ) -> None:
        from devhost.servicebus.entities import load_entities

        if not _is_loopback(host):
            raise ValueError(
                f"servicebus: refusing to listen on {host!r}: the local broker accepts any "
                "client without a real key, so it listens on loopback only. "
                "Fix: use 127.0.0.1 (the default)."
            )
        if port == 0:
            port = _free_port(host)
        self.host, self.port = host, port
        self.store = MessageStore(data_dir / "messages.sqlite")
        self.handler = BrokerHandler(host, port, entities or load_entities(), self.store, key_name)
        self.container = Container(self.handler)
        self.thread = threading.Thread(target=self.container.run, name="servicebus", daemon=True)

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://{self.host}:{self.port};SharedAccessKeyName={self.handler.key_name};"
            "SharedAccessKey=local-development-only;UseDevelopmentEmulator=true"
        )

    def start(self) -> Broker:
        self.thread.start()
        if not self.handler.listening.wait(10):
            raise RuntimeError("the Service Bus broker did not start")
        return self

    def stop(self) -> None:
        self.handler.request_stop()
        self.thread.join(10)
        self.store.close()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
