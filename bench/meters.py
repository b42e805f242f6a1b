"""Meters that count what the control plane does, from outside it: on the wire and in logs.

- `StorageMeter`: a counting reverse proxy on 127.0.0.1 in front of Azurite's Blob, Queue
  and Table ports. Clients get its ports in their connection string (and so in every SAS the
  control plane issues); it forwards bytes untouched and names every request it sees with
  `classify` (the operation names of Azure Storage's logs: PutPage, SnapshotBlob, ...).
  `side` tells the control plane's requests (signed: an Authorization header) from the
  agent's (a SAS in the query, no Authorization header).
- `BrokerCounter`: counts, inside the local Service Bus broker's process, what Service Bus
  bills as operations: each message sent, delivered and settled, each `$management` call,
  each session accepted; connections and token puts apart.
- `parse_invocation`: devhost's one JSON line per function invocation
  (devhost/invocation_log.py), read from its stdout.

Nothing here imports the app: it sees only requests, AMQP frames and log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SERVICES = ("blob", "queue", "table")
SNAPSHOT_OPERATIONS = frozenset({"SnapshotBlob", "DeleteSnapshot"})

# --- naming a storage request -----------------------------------------------------------------


def classify(service: str, method: str, target: str, headers: Mapping[str, str]) -> str:
    """The Azure Storage operation a request is (the names its logs use), from the service it
    went to, its method, its request target (path and query) and its headers.

    The path is path-style, as Azurite serves it: /<account>/<container>/<blob> for blobs,
    /<account>/<table-or-entity> for tables, /<account>/<queue>/messages for queues."""
    parts = urlsplit(target)
    query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    path = [unquote(p) for p in parts.path.split("/")[2:] if p]  # after the account
    headers = {k.lower(): v for k, v in headers.items()}
    method = method.upper()
    if service == "blob":
        return _blob_operation(method, path, query, headers)
    if service == "table":
        return _table_operation(method, path, headers)
    if service == "queue":
        return _queue_operation(method, path, query)
    return f"{method} {service}"


def _blob_operation(
    method: str, path: list[str], query: dict[str, str], headers: dict[str, str]
) -> str:
    comp, restype = query.get("comp", ""), query.get("restype", "")
    if restype == "service" or (not path and comp == "properties"):
        if comp == "userdelegationkey":
            return "GetUserDelegationKey"
        if comp == "stats":
            return "GetBlobServiceStats"
        return "SetBlobServiceProperties" if method == "PUT" else "GetBlobServiceProperties"
    if restype == "account":
        return "GetAccountInformation"
    if not path:
        return "ListContainers" if comp == "list" else f"{method} account"
    if len(path) == 1 or restype == "container":
        return _container_operation(method, comp)
    if method in ("GET", "HEAD") and comp == "":
        return "GetBlobProperties" if method == "HEAD" else "GetBlob"
    if method == "DELETE":
        return "DeleteSnapshot" if "snapshot" in query else "DeleteBlob"
    if method == "PUT":
        if comp == "page":
            return "ClearPage" if headers.get("x-ms-page-write") == "clear" else "PutPage"
        if comp == "" and "x-ms-copy-source" in headers:
            return "CopyBlob"
        named = {
            "": "PutBlob",
            "snapshot": "SnapshotBlob",
            "metadata": "SetBlobMetadata",
            "properties": "SetBlobProperties",
            "tags": "SetBlobTags",
            "lease": "LeaseBlob",
            "block": "PutBlock",
            "blocklist": "PutBlockList",
            "tier": "SetBlobTier",
            "copy": "AbortCopyBlob",
            "incrementalcopy": "IncrementalCopyBlob",
        }
        return named.get(comp, f"PUT blob comp={comp}")
    named = {
        "pagelist": "GetPageRanges",
        "metadata": "GetBlobMetadata",
        "tags": "GetBlobTags",
        "blocklist": "GetBlockList",
    }
    return named.get(comp, f"{method} blob comp={comp}")


def _container_operation(method: str, comp: str) -> str:
    if comp == "list":
        return "ListBlobs"
    if method == "PUT":
        named = {
            "": "CreateContainer",
            "metadata": "SetContainerMetadata",
            "acl": "SetContainerACL",
            "lease": "LeaseContainer",
        }
        return named.get(comp, f"PUT container comp={comp}")
    if method == "DELETE":
        return "DeleteContainer"
    named = {
        "": "GetContainerProperties",
        "metadata": "GetContainerMetadata",
        "acl": "GetContainerACL",
    }
    return named.get(comp, f"{method} container comp={comp}")


_ENTITY = re.compile(r"^(?P<table>[^(]+)\((?P<keys>.*)\)$")


def _table_operation(method: str, path: list[str], headers: dict[str, str]) -> str:
    name = path[0] if path else ""
    if name == "$batch":
        return "EntityGroupTransaction"
    if name == "Tables" or name.startswith("Tables("):
        return {"POST": "CreateTable", "DELETE": "DeleteTable"}.get(method, "QueryTables")
    match = _ENTITY.match(name)
    keyed = bool(match and match.group("keys"))
    conditional = "if-match" in headers
    if method == "POST":
        return "InsertEntity"
    if method == "GET":
        return "QueryEntity" if keyed else "QueryEntities"
    if method == "PUT":
        return "UpdateEntity" if conditional else "InsertOrReplaceEntity"
    if method in ("MERGE", "PATCH"):
        return "MergeEntity" if conditional else "InsertOrMergeEntity"
    if method == "DELETE":
        return "DeleteEntity"
    return f"{method} table"


def _queue_operation(method: str, path: list[str], query: dict[str, str]) -> str:
    if not path:
        return "ListQueues" if query.get("comp") == "list" else f"{method} queue service"
    if len(path) == 1:
        named = {"PUT": "CreateQueue", "DELETE": "DeleteQueue"}
        return named.get(method, "GetQueueMetadata")
    if len(path) == 2:  # <queue>/messages
        named = {"POST": "PutMessage", "DELETE": "ClearMessages"}
        return named.get(method, "PeekMessages" if query.get("peekonly") else "GetMessages")
    return {"DELETE": "DeleteMessage", "PUT": "UpdateMessage"}.get(method, f"{method} message")


def side(target: str, headers: Mapping[str, str]) -> str:
    """Who sent a storage request: the control plane signs its requests (an Authorization
    header: a shared key here, a managed identity's token in Azure); the agent holds only
    the SAS the control plane gave it (`sig=` in the query, no Authorization header)."""
    if any(k.lower() == "authorization" for k in headers):
        return "control_plane"
    query = {k.lower() for k, _ in parse_qsl(urlsplit(target).query, keep_blank_values=True)}
    return "agent" if "sig" in query else "anonymous"


def resource(service: str, target: str) -> str:
    """What a request touched, coarsely: the table's name, or the container's name up to its
    first dash for blobs (a replica container is replica-<tenant>-<vm>)."""
    path = [unquote(p) for p in urlsplit(target).path.split("/")[2:] if p]
    if not path:
        return ""
    if service == "table":
        return path[0].split("(", 1)[0]
    return path[0].split("-", 1)[0]


def kind(service: str, operation: str) -> str:
    """The cost kind a request is reported under: blob, snapshot, table or queue."""
    if service == "blob" and operation in SNAPSHOT_OPERATIONS:
        return "snapshot"
    return service


# --- the counting proxy ---------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    service: str
    method: str
    target: str
    headers: dict[str, str]
    body_bytes: int


class RequestParser:
    """Splits the bytes a client sends on one connection into HTTP/1.1 requests (head, then a
    Content-Length or chunked body), without changing a byte. Feed it what arrives; it returns
    the requests completed so far."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._buffer = bytearray()
        self._head: tuple[str, str, dict[str, str]] | None = None
        self._remaining = 0  # body bytes still to come (Content-Length)
        self._chunked = False
        self._body = 0

    def feed(self, data: bytes) -> list[Request]:
        self._buffer += data
        done: list[Request] = []
        while True:
            if self._head is None:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    return done
                head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
                del self._buffer[: end + 4]
                method, target, _ = head[0].split(" ", 2)
                headers = {}
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip()] = value.strip()
                lowered = {k.lower(): v for k, v in headers.items()}
                self._head = (method, target, headers)
                self._chunked = "chunked" in lowered.get("transfer-encoding", "").lower()
                self._remaining = int(lowered.get("content-length", "0") or 0)
                self._body = 0
            if self._chunked:
                if not self._skip_chunks():
                    return done
            else:
                take = min(self._remaining, len(self._buffer))
                del self._buffer[:take]
                self._remaining -= take
                self._body += take
                if self._remaining:
                    return done
            method, target, headers = self._head
            done.append(Request(self.service, method, target, headers, self._body))
            self._head = None

    def _skip_chunks(self) -> bool:
        """Consume chunks; True once the last (zero-length) chunk and its trailer are in."""
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size = int(bytes(self._buffer[:line_end]).split(b";")[0] or b"0", 16)
            if size == 0:  # the last chunk: "0\r\n", any trailers, then an empty line
                end = self._buffer.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return False
                del self._buffer[: end + 4]
                return True
            if len(self._buffer) < line_end + 2 + size + 2:
                return False
            del self._buffer[: line_end + 2 + size + 2]
            self._body += size


class StorageMeter:
    """A counting reverse proxy in front of Azurite, on loopback, one port per service.

    Use as a context manager around a running Azurite; `connection_string` points clients at
    it. `counts()` gives "side|kind|operation" -> requests so far, `body_bytes()` the bytes
    their bodies carried, `by_resource()` the same counts by table or container."""

    def __init__(
        self, upstream_host: str, upstream_ports: Mapping[str, int], account: str, key: str
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_ports = dict(upstream_ports)
        self.account, self.key = account, key
        self.ports: dict[str, int] = {}
        self._counts: Counter[str] = Counter()
        self._bytes: Counter[str] = Counter()
        self._resources: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._relays: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="storage-meter", daemon=True)
        self._ready = threading.Event()

    @property
    def connection_string(self) -> str:
        host = "127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};AccountKey={self.key};"
            f"BlobEndpoint=http://{host}:{self.ports['blob']}/{self.account};"
            f"QueueEndpoint=http://{host}:{self.ports['queue']}/{self.account};"
            f"TableEndpoint=http://{host}:{self.ports['table']}/{self.account};"
        )

    def __enter__(self) -> StorageMeter:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the storage meter did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        """Stop listening and end the connections still open (clients that kept them)."""
        for server in self._servers:
            server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def body_bytes(self) -> dict[str, int]:
        with self._lock:
            return dict(self._bytes)

    def by_resource(self) -> dict[str, int]:
        """ "side|kind|operation|resource" -> requests so far."""
        with self._lock:
            return dict(self._resources)

    def record(self, request: Request) -> None:
        operation = classify(request.service, request.method, request.target, request.headers)
        key = f"{side(request.target, request.headers)}|{kind(request.service, operation)}|"
        with self._lock:
            self._counts[key + operation] += 1
            self._bytes[key + operation] += request.body_bytes
            self._resources[f"{key}{operation}|{resource(request.service, request.target)}"] += 1

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        for service in SERVICES:
            server = loop.run_until_complete(
                asyncio.start_server(lambda r, w, s=service: self._relay(s, r, w), "127.0.0.1", 0)
            )
            self._servers.append(server)
            self.ports[service] = server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _relay(
        self, service: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_ports[service]
            )
        except OSError:
            writer.close()
            return
        parser = RequestParser(service)
        task = asyncio.current_task()
        if task is not None:  # held until the connection ends: the loop keeps no reference
            self._relays.add(task)

        async def upstream() -> None:
            while data := await reader.read(1 << 16):
                for request in parser.feed(data):
                    self.record(request)
                up_writer.write(data)
                await up_writer.drain()
            with contextlib.suppress(OSError):
                up_writer.write_eof()

        async def downstream() -> None:
            while data := await up_reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        try:
            with contextlib.suppress(OSError, ConnectionError):
                await asyncio.gather(upstream(), downstream())
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(OSError):
                    w.close()
            self._relays.discard(task)


# --- Service Bus operations, counted inside the broker ------------------------------------


class BrokerCounter:
    """Counts, in the broker's own process, the operations Service Bus bills: messages sent
    (one per message, plus one per 64 KB beyond the first), delivered and settled, the
    `$management` calls (renew lock, session state, ...) and sessions accepted. Token puts
    on `$cbs` and connections are counted apart: they are not messaging operations."""

    _installed: BrokerCounter | None = None

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, entity: str, n: int = 1) -> None:
        with self._lock:
            self.counts[f"{kind}|{entity}"] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    @classmethod
    def install(cls) -> BrokerCounter:
        """Wrap the broker's handler once in this process; every broker started after counts."""
        if cls._installed is not None:
            return cls._installed
        from devhost.servicebus import broker as module

        counter = cls()
        handler = module.BrokerHandler
        enqueue, send, outcome = handler._enqueue_all, handler._send, handler._outcome
        management, token = handler._management, handler._put_token
        open_session, refuse = handler._open_session, handler._refuse
        opening = handler.on_connection_opening

        def _enqueue_all(self: Any, address: str, raw: bytes) -> None:
            for one in module._unbatch(raw):
                counter.add("send", address, 1 + max(0, (len(one) - 1) // 65536))
            enqueue(self, address, raw)

        def _send(self: Any, out: Any, stored: Any) -> None:
            counter.add("receive", out.entity.path)
            send(self, out, stored)

        def _outcome(self: Any, delivery: Any) -> None:
            out = self.outgoing.get(delivery.link)
            if out is not None:  # a settlement a client sent (even one whose lock expired)
                state = delivery.remote_state
                names = {
                    module.Delivery.ACCEPTED: "complete",
                    module.Delivery.REJECTED: "deadletter",
                    module.Delivery.RELEASED: "release",
                }
                counter.add(names.get(state, "abandon"), out.entity.path)
            outcome(self, delivery)

        def _management(self: Any, path: str, request: Any) -> Any:
            operation = str((request.properties or {}).get("operation", "")).split(":")[-1]
            counter.add(f"management:{operation}", path)
            return management(self, path, request)

        def _put_token(self: Any, request: Any) -> Any:
            counter.add("cbs-token", "$cbs")
            return token(self, request)

        def _open_session(self: Any, out: Any, session_id: str) -> None:
            counter.add("accept-session", out.entity.path)
            open_session(self, out, session_id)

        def _refuse(self: Any, link: Any, text: str, name: str = "amqp:not-found") -> None:
            if name == "com.microsoft:timeout":
                counter.add("accept-session-timeout", "")
            refuse(self, link, text, name)

        def on_connection_opening(self: Any, event: Any) -> None:
            counter.add("connection", "")
            opening(self, event)

        handler._enqueue_all, handler._send, handler._outcome = _enqueue_all, _send, _outcome
        handler._management, handler._put_token = _management, _put_token
        handler._open_session, handler._refuse = _open_session, _refuse
        handler.on_connection_opening = on_connection_opening
        cls._installed = counter
        return counter


# Message operations Service Bus bills; the rest are reported apart.
MESSAGE_OPERATIONS = ("send", "receive", "complete", "abandon", "deadletter", "release")


def broker_side(operation: str, entity: str) -> str:
    """Whose operation it is: the control plane sends commands and receives events; the agent
    sends events and receives commands. Sessions accepted and `$management` calls on the
    events queue are the Functions host's Service Bus trigger, the control plane's."""
    commands = entity.startswith("agent-commands")
    if operation == "send":
        return "control_plane" if commands or entity.endswith("deadletter") else "agent"
    if not entity:
        return "both"
    return "agent" if commands else "control_plane"


# --- devhost's invocation log -----------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    function: str
    trigger: str
    instance: str | None
    seconds: float
    ended: float  # wall-clock time the line was read: the invocation's end, within the pipe
    extra: dict[str, Any]

    @property
    def started(self) -> float:
        return self.ended - self.seconds


def parse_invocation(line: str, ended: float | None = None) -> Invocation | None:
    """One invocation-log line as devhost prints it (None for any other line)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or "function" not in record or "trigger" not in record:
        return None
    known = {"function", "trigger", "instance", "durationMs", "outcome"}
    return Invocation(
        function=str(record["function"]),
        trigger=str(record["trigger"]),
        instance=record.get("instance"),
        seconds=float(record.get("durationMs", 0.0)) / 1000,
        ended=time.time() if ended is None else ended,
        extra={k: v for k, v in record.items() if k not in known},
    )
