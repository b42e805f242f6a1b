"""One command, run with the upload engine: every disk of the VM, progress, then the outcome.

`run_command` returns the `data` of the outcome event (completion or failure) and its type;
when the command asks for an app-consistent point it freezes the VM through the operator's
quiesce hook (agent/quiesce.py), reads the frozen images and thaws. It never raises for what
the control plane should hear about (an AgentError becomes `replication.failed` with the
engine's code, cause and fix).
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
from agent.quiesce import Hook, QuiesceCancelled, QuiesceFailed
from agent.throttle import TokenBucket

log = logging.getLogger("agent.daemon")


@dataclass
class Settings:
    state_dir: Path
    concurrency: int = 8
    bandwidth_bytes_per_s: int | None = None
    quiesce_hook: Hook | None = None  # None: every point is crash-consistent
    shared_bucket: TokenBucket | None = None  # the site's cap, shared by every transfer


NO_HOOK = ("App consistency was asked for, but this agent has no quiesce hook configured "
           "(AGENT_QUIESCE_HOOK): this point is crash-consistent.")  # fmt: skip


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
    """(event type, data) of the outcome; None when cancelled (nobody waits for it).

    App consistency, when the command asks for it, comes from the operator's quiesce hook;
    without one (or when it fails) the point is crash-consistent and the event says why."""
    if command["data"].get("consistency") != "app":
        return _copy(command, settings, cancel, on_progress)
    if settings.quiesce_hook is None:
        return _copy(command, settings, cancel, on_progress, note=NO_HOOK)
    return _app_consistent(command, settings.quiesce_hook, settings, cancel, on_progress)


def _app_consistent(
    command: dict[str, Any], hook: Hook, settings: Settings, cancel: threading.Event,
    on_progress: Callable[[dict[str, Any]], None],
) -> tuple[str, dict[str, Any]] | None:  # fmt: skip
    """Freeze, read the frozen images, thaw. A freeze that fails is thawed at once (it may
    have left half a checkpoint) and the disks are read live: a crash-consistent point now
    is worth more than none, and the note tells the operator what to fix."""
    disks = command["data"]["disks"]
    session = hook.session(command["vm"], command["id"], disks)
    try:
        frozen = session.freeze(cancel)
        check_frozen(frozen, disks)
    except QuiesceCancelled:
        session.thaw()
        return None
    except QuiesceFailed as failed:
        log.warning("command %s: no app-consistent point: %s", command["id"], failed)
        note = f"App consistency was asked for but not reached: {failed} This point is "
        note += "crash-consistent."
        return _copy(command, settings, cancel, on_progress,
                     note=_and_thaw(note, session.thaw()))  # fmt: skip
    taken_at = datetime.now(UTC)  # the checkpoint exists: its instant has passed
    try:
        outcome = _copy(command, settings, cancel, on_progress, frozen=frozen, taken_at=taken_at)
    finally:
        problem = session.thaw()
    if outcome is not None and problem and outcome[0] != "replication.failed":
        outcome[1]["consistencyNote"] = _and_thaw(None, problem)
    return outcome


def check_frozen(frozen: dict[str, Path], disks: list[dict[str, Any]]) -> None:
    """Each frozen image opens and has its disk's size: the replica blob fits it exactly."""
    from agent.disks import open_disk
    from agent.footer import blob_size

    for disk in disks:
        image = frozen[disk["diskId"]]
        try:
            with open_disk(image) as opened:
                size = blob_size(opened.virtual_size)
        except AgentError as error:
            raise QuiesceFailed(
                f"the frozen image of disk {disk['diskId']}, {image}, cannot be read "
                f"({error.code}: {error.cause})."
            ) from None
        if "blobSize" in disk and size != int(disk["blobSize"]):
            raise QuiesceFailed(
                f"the frozen image of disk {disk['diskId']}, {image}, is not the size of the "
                f"disk (replica {size} bytes, expected {disk['blobSize']})."
            )


def _and_thaw(note: str | None, problem: str | None) -> str | None:
    if not problem:
        return note
    thaw = (f"Thaw failed: {problem} A checkpoint may remain on the VM: remove it (on "
            "Hyper-V, Remove-VMCheckpoint merges it).")  # fmt: skip
    return f"{note} {thaw}" if note else thaw


def _copy(
    command: dict[str, Any],
    settings: Settings,
    cancel: threading.Event,
    on_progress: Callable[[dict[str, Any]], None],
    *,
    frozen: dict[str, Path] | None = None,
    taken_at: datetime | None = None,
    note: str | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """Every disk through the engine: the frozen images when given (an app-consistent point),
    else the live disks (crash-consistent). Either way the replica's state is the disk's."""
    from agent.transfer import TransferOptions, sync

    data, kind = command["data"], command["type"]
    options = TransferOptions(
        concurrency=_concurrency(data.get("concurrency"), settings.concurrency),
        bandwidth_bytes_per_s=_own_cap(data.get("bandwidthBytesPerS")),
        shared_bucket=settings.shared_bucket,
    )
    aggregate = Aggregate(data["disks"])
    engine_dir = settings.state_dir / "engine"
    engine_dir.mkdir(parents=True, exist_ok=True)
    taken_at = taken_at or datetime.now(UTC)
    results = []
    try:
        for disk in data["disks"]:
            disk_id = disk["diskId"]
            source = (frozen or {}).get(disk_id, disk["path"])

            def progress(p: Any, disk_id: str = disk_id) -> None:
                on_progress({"commandId": command["id"], **aggregate.update(disk_id, p)})

            if kind == "replicate":
                result = _replicate(disk, source, engine_dir, options, progress, cancel,
                                    resync=bool(data.get("resync")))  # fmt: skip
            else:
                result = sync(source, disk["sasUrl"], state_dir=engine_dir, options=options,
                              on_progress=progress, cancel=cancel,
                              tracked_as=disk["path"])  # fmt: skip
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
    completed = {"commandId": command["id"], "consistency": "app" if frozen else "crash",
                 "takenAt": taken_at.isoformat(), "disks": results}  # fmt: skip
    if note:
        completed["consistencyNote"] = note
    return outcome, completed


def _concurrency(asked: object, setting: int) -> int:
    """The command's concurrency, never above the agent's own setting: the operator sized it
    for this server and its link."""
    if isinstance(asked, int) and not isinstance(asked, bool) and asked >= 1:
        return min(asked, setting, 64)
    return min(setting, 64)


def _own_cap(asked: object) -> int | None:
    """A command's own cap for its transfers (on top of the site's shared one)."""
    if isinstance(asked, int) and not isinstance(asked, bool) and asked >= 1:
        return asked
    return None


def _replicate(
    disk: dict, source: str | Path, engine_dir: Path, options: Any, progress: Callable,
    cancel: threading.Event, *, resync: bool,
) -> Any:  # fmt: skip
    """Initial copy (resumed if interrupted). A disk that changed since an earlier copy to
    this blob is copied over from the start: the control plane asked for a full copy."""
    from agent.transfer import replicate

    def copy(**how: bool) -> Any:
        return replicate(source, disk["sasUrl"], state_dir=engine_dir, options=options,
                         on_progress=progress, cancel=cancel, tracked_as=disk["path"],
                         **how)  # fmt: skip

    try:
        return copy(resync=resync)
    except AgentError as error:
        if error.code != "SourceChanged" or resync:
            raise
        log.info("disk %s changed since its last copy: starting over", disk["diskId"])
        return copy(restart=True)
