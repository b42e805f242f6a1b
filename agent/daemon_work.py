"""One command, run with the upload engine: every disk of the VM, progress, then the outcome.

`run_command` returns the `data` of the outcome event (completion or failure) and its type;
it never raises for what the control plane should hear about (an AgentError becomes
`replication.failed` with the engine's code, cause and fix).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.errors import AgentError

log = logging.getLogger("agent.daemon")


@dataclass
class Settings:
    state_dir: Path
    concurrency: int = 8
    bandwidth_bytes_per_s: int | None = None


class Aggregate:
    """Progress of all of a command's disks as one figure (what the replicated item shows)."""

    def __init__(self, disks: list[dict[str, Any]]) -> None:
        self.done = {d["diskId"]: 0 for d in disks}
        self.total = {d["diskId"]: int(d["blobSize"]) for d in disks}  # until the engine knows
        self.rate = 0.0

    def update(self, disk_id: str, progress: Any) -> dict[str, Any]:
        self.done[disk_id] = progress.bytes_done
        self.total[disk_id] = progress.bytes_total
        self.rate = progress.throughput_bytes_per_s
        done, total = sum(self.done.values()), sum(self.total.values())
        eta = (total - done) / self.rate if self.rate > 0 else None
        return {"bytesDone": done, "bytesTotal": total, "throughputBytesPerS": self.rate,
                "etaSeconds": eta,
                "disks": [{"diskId": d, "bytesDone": self.done[d], "bytesTotal": self.total[d]}
                          for d in self.done]}  # fmt: skip


def run_command(
    command: dict[str, Any],
    settings: Settings,
    cancel: threading.Event,
    on_progress: Callable[[dict[str, Any]], None],
) -> tuple[str, dict[str, Any]] | None:
    """(event type, data) of the outcome; None when cancelled (nobody waits for it)."""
    from agent.transfer import TransferOptions, sync

    data, kind = command["data"], command["type"]
    options = TransferOptions(
        concurrency=min(64, int(data.get("concurrency", settings.concurrency))),
        bandwidth_bytes_per_s=data.get("bandwidthBytesPerS") or settings.bandwidth_bytes_per_s,
    )
    aggregate = Aggregate(data["disks"])
    engine_dir = settings.state_dir / "engine"
    engine_dir.mkdir(parents=True, exist_ok=True)
    taken_at = datetime.now(UTC)
    results = []
    try:
        for disk in data["disks"]:
            disk_id = disk["diskId"]

            def progress(p: Any, disk_id: str = disk_id) -> None:
                on_progress({"commandId": command["id"], **aggregate.update(disk_id, p)})

            if kind == "replicate":
                result = _replicate(disk, engine_dir, options, progress, cancel,
                                    resync=bool(data.get("resync")))  # fmt: skip
            else:
                result = sync(disk["path"], disk["sasUrl"], state_dir=engine_dir,
                              options=options, on_progress=progress, cancel=cancel)  # fmt: skip
            results.append({"diskId": disk_id, "blobSize": result.blob_size,
                            "bytesSent": result.bytes_sent,
                            "manifestDigest": result.manifest_digest,
                            "checksums": result.checksums})  # fmt: skip
    except AgentError as error:
        if error.code == "Cancelled" and cancel.is_set():
            return None
        log.warning("command %s failed: %s", command["id"], error)
        return "replication.failed", {
            "commandId": command["id"], **error.to_dict(),
            "changeTrackingLost": error.code == "ChangeTrackingLost",
        }  # fmt: skip
    except Exception as error:  # a bug or an unexpected I/O error: report it, keep running
        log.exception("command %s failed unexpectedly", command["id"])
        return "replication.failed", {
            "commandId": command["id"], "code": "AgentInternalError",
            "cause": f"{type(error).__name__}: {error}",
            "recommendation": "Check the agent's log on the VMM server; the control plane "
            "sends the command again.",
        }  # fmt: skip
    outcome = "replication.initial.completed" if kind == "replicate" else (
        "replication.delta.completed")  # fmt: skip
    # This agent reads disks while the VM runs and does not quiesce the guest: the points it
    # makes are crash-consistent, and it says so even when app consistency was asked for.
    return outcome, {"commandId": command["id"], "consistency": "crash",
                     "takenAt": taken_at.isoformat(), "disks": results}  # fmt: skip


def _replicate(
    disk: dict, engine_dir: Path, options: Any, progress: Callable, cancel: threading.Event,
    *, resync: bool,
) -> Any:  # fmt: skip
    """Initial copy (resumed if interrupted). A disk that changed since an earlier copy to
    this blob is copied over from the start: the control plane asked for a full copy."""
    from agent.transfer import replicate

    try:
        return replicate(disk["path"], disk["sasUrl"], state_dir=engine_dir, options=options,
                         on_progress=progress, cancel=cancel, resync=resync)  # fmt: skip
    except AgentError as error:
        if error.code != "SourceChanged" or resync:
            raise
        log.info("disk %s changed since its last copy: starting over", disk["diskId"])
        return replicate(disk["path"], disk["sasUrl"], state_dir=engine_dir, options=options,
                         on_progress=progress, cancel=cancel, restart=True)  # fmt: skip
