"""A scripted on-premises agent for the control-plane tests: the real Service Bus and Blob SDKs,
real disks (qemu-img images read through `qemu-img convert`), real uploads through the SAS the
control plane issued — and a script per VM saying how to misbehave.

It stands in for the agent only where a test needs the agent to do something on cue (stay
silent, fail, lose change tracking, answer twice). The agent daemon itself is tested with its
real upload engine in test_replication_agent.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import BlobClient

from agent.footer import Footer
from contracts.events import events_queue

CHUNK = 4 * 1024 * 1024
ZERO = bytes(CHUNK)


@dataclass
class Sent:
    """What the agent did for one command (tests read it)."""

    command: dict
    events: list[dict] = field(default_factory=list)


# A script decides what to do with a command: "upload" (default), "silent", or a callable
# that returns extra events to send instead of the normal outcome.
Script = Callable[[dict], str]


class ScriptedAgent:
    """`only_scripted`: commands for VMs without a script are taken off the subscription and
    dropped. The replication loops of VMs an earlier test module protected on the same site
    go on; without it their queued commands (each a full upload for an agent that never sent
    that disk) would delay the commands of this module's VMs by minutes."""

    def __init__(
        self, connection: str, tenant: str, site: str, work: Path, *, only_scripted: bool = False
    ) -> None:
        self.connection, self.tenant, self.site, self.work = connection, tenant, site, work
        self.only_scripted = only_scripted
        self.scripts: dict[str, Script] = {}
        self.commands: list[Sent] = []
        self.errors: list[tuple[str, Exception]] = []  # commands that failed mid-way
        self.last_sent: dict[str, bytes] = {}  # disk id -> the raw image the blob holds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"agent-{site}", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ScriptedAgent:
        self.heartbeat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        with ServiceBusClient.from_connection_string(self.connection) as client:
            receiver = client.get_subscription_receiver("agent-commands", self.site)
            with receiver:
                while not self._stop.is_set():
                    for message in receiver.receive_messages(max_message_count=5,
                                                             max_wait_time=1):  # fmt: skip
                        command = json.loads(str(message))
                        receiver.complete_message(message)
                        try:
                            self.handle(command)
                        except Exception as error:  # e.g. the replica was deleted meanwhile
                            self.errors.append((command["id"], error))

    # --- behaviour ---------------------------------------------------------------------------

    def handle(self, command: dict) -> None:
        if self.only_scripted and command["vm"] not in self.scripts:
            return
        sent = Sent(command)
        self.commands.append(sent)
        if command["type"] == "cancel":
            return
        script = self.scripts.get(command["vm"], lambda c: "upload")
        action = script(command)
        if action == "silent":
            return
        if action == "fail":
            sent.events.append(self.event("replication.failed", command["vm"], {
                "commandId": command["id"], "code": "DiskReadFailed",
                "cause": "The VHDX's log is dirty and cannot be replayed read-only.",
                "recommendation": "Start the VM once in Hyper-V so the log is replayed.",
            }))  # fmt: skip
            return
        if action == "lost":
            sent.events.append(self.event("replication.failed", command["vm"], {
                "commandId": command["id"], "code": "ChangeTrackingLost",
                "cause": "The manifest of the last cycle is missing.",
                "recommendation": "A resynchronization compares the whole disk.",
                "changeTrackingLost": True,
            }))  # fmt: skip
            return
        sent.events.extend(self.upload(command))

    def upload(self, command: dict) -> list[dict]:
        """Send what differs from what the blob holds, then progress and completion."""
        vm, data = command["vm"], command["data"]
        taken_at = datetime.now(UTC)
        images = {d["diskId"]: raw_image(Path(d["path"]), self.work) for d in data["disks"]}
        total = sum(len(image) for image in images.values())
        results, done, events = [], 0, []
        for disk in data["disks"]:
            image = images[disk["diskId"]]
            blob = BlobClient.from_blob_url(disk["sasUrl"])
            previous = None if data.get("resync") else self.last_sent.get(disk["diskId"])
            sent = 0
            for offset in range(0, len(image), CHUNK):
                chunk = image[offset : offset + CHUNK]
                before = previous[offset : offset + CHUNK] if previous else None
                if before == chunk or (before is None and chunk == ZERO[: len(chunk)]):
                    continue
                if chunk == ZERO[: len(chunk)]:
                    blob.clear_page(offset, len(chunk))
                else:
                    blob.upload_page(chunk, offset=offset, length=len(chunk))
                    sent += len(chunk)
            footer = Footer.new(disk["blobSize"] - 512).to_bytes()
            blob.upload_page(footer, offset=disk["blobSize"] - 512, length=512)
            self.last_sent[disk["diskId"]] = image
            done += len(image)
            events.append(self.event("replication.progress", vm, {
                "commandId": command["id"], "bytesDone": done, "bytesTotal": total,
                "throughputBytesPerS": 1e8, "etaSeconds": 0,
            }))  # fmt: skip
            first = min(len(image), 1024 * 1024)
            results.append({
                "diskId": disk["diskId"], "blobSize": disk["blobSize"], "bytesSent": sent,
                "checksums": {f"0+{first}": md5(image[:first]),
                              f"{disk['blobSize'] - 512}+512": md5(footer)},
            })  # fmt: skip
        kind = "initial" if command["type"] == "replicate" else "delta"
        consistency = data.get("consistency", "crash")
        events.append(self.event(f"replication.{kind}.completed", vm, {
            "commandId": command["id"], "consistency": consistency,
            "takenAt": taken_at.isoformat(), "disks": results,
        }))  # fmt: skip
        return events

    # --- events ------------------------------------------------------------------------------

    def event(self, type_: str, vm: str | None, data: dict, event_id: str | None = None) -> dict:
        body = {"type": type_, "tenant": self.tenant, "site": self.site,
                "id": event_id or uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(),
                "data": data}  # fmt: skip
        if vm:
            body["vm"] = vm
        self.send(body)
        return body

    def send(self, body: dict[str, Any]) -> None:
        with (
            ServiceBusClient.from_connection_string(self.connection) as client,
            client.get_queue_sender(events_queue(self.site)) as sender,
        ):
            sender.send_messages(ServiceBusMessage(
                json.dumps(body), session_id=body.get("vm") or self.site, message_id=body["id"]
            ))  # fmt: skip

    def heartbeat(self) -> None:
        self.event("agent.heartbeat", None, {"agentVersion": "scripted"})


def raw_image(path: Path, work: Path) -> bytes:
    """The disk's bytes as a guest sees them (qemu-img reads VHDX, VHD, qcow2 alike)."""
    out = work / f"{path.name}.{uuid.uuid4().hex}.raw"
    # -U: read without taking qemu's image lock. The scripted agent reads a VM's disk while
    # a test writes to it with qemu-io, as the real agent reads a running VM's disk; a lock
    # held by the read made that write fail now and then.
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", str(path), str(out)], check=True)
    try:
        return out.read_bytes()
    finally:
        out.unlink()


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
