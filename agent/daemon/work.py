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

from agent.daemon.paths import check_chain, check_path
from agent.errors import AgentError
from agent.hyperv.powershell import Cancelled as PowerShellCancelled
from agent.hyperv.rct import Baselines, NoRct, Rct
from agent.private import private_dir
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
    allowed_roots: list[Path] | None = None  # None: any path (no AGENT_ALLOWED_DISK_ROOTS)
    rct: Rct | None = None  # Hyper-V change tracking; None: block hashes find the changes


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
    without one (or when it fails) the point is crash-consistent and the event says why.
    Disk paths outside the allowed folders are refused first: no hook runs, nothing is read."""
    try:
        for disk in command["data"]["disks"]:
            check_path(disk["path"], settings.allowed_roots)
    except AgentError as error:
        log.warning("command %s refused: %s", command["id"], error)
        return "replication.failed", {"commandId": command["id"], **error.to_dict(),
                                      "changeTrackingLost": False}  # fmt: skip
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
    engine_dir = private_dir(settings.state_dir / "engine")
    taken_at = taken_at or datetime.now(UTC)
    results = []
    baselines = Baselines(settings.state_dir)
    try:
        # The RCT ids of the disks now, before a byte is read: the next cycle's baseline.
        # A frozen image is compared by hashes (RCT speaks of the live disk).
        now_ids = {} if frozen else _reference(command, settings, cancel)
        for disk in data["disks"]:
            disk_id = disk["diskId"]

            def progress(p: Any, disk_id: str = disk_id) -> None:
                on_progress({"commandId": command["id"], **aggregate.update(disk_id, p)})

            source = check_path((frozen or {}).get(disk_id, disk["path"]), settings.allowed_roots)
            with _open_checked(source, settings.allowed_roots) as image:
                if kind == "replicate":
                    result = _replicate(disk, image, engine_dir, options, progress, cancel,
                                        resync=bool(data.get("resync")))  # fmt: skip
                else:
                    ranges = _changes(disk, image.virtual_size, baselines, now_ids, settings,
                                      cancel)  # fmt: skip
                    result = sync(image, disk["sasUrl"], state_dir=engine_dir, options=options,
                                  on_progress=progress, cancel=cancel, rct_ranges=ranges,
                                  tracked_as=disk["path"])  # fmt: skip
            baselines.set(disk["path"], disk["sasUrl"], now_ids.get(disk["path"]))
            results.append({"diskId": disk_id, "blobSize": result.blob_size,
                            "bytesSent": result.bytes_sent,
                            "manifestDigest": result.manifest_digest,
                            "checksums": result.checksums, "mode": result.mode})  # fmt: skip
    except PowerShellCancelled:
        return None
    except AgentError as error:
        if error.code == "Cancelled" and cancel.is_set():
            return None
        if error.code == "ChangeTrackingLost":
            for disk in data["disks"]:  # the resync the control plane orders starts afresh
                baselines.set(disk["path"], disk["sasUrl"], None)
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


def _open_checked(path: Path, roots: list[Path] | None) -> Any:
    """The disk opened, its differencing chain checked against the allowed folders before any
    of its data is read (only headers were, to learn the chain)."""
    from agent.disks import open_disk

    image = open_disk(path)
    try:
        check_chain(image.chain() if hasattr(image, "chain") else [image.path], roots)
    except BaseException:
        image.close()
        raise
    return image


def _reference(command: dict[str, Any], settings: Settings, cancel: threading.Event
               ) -> dict[str, str]:  # fmt: skip
    """Disk path → its RCT id now; empty without Hyper-V or when it cannot say (then the
    cycle compares hashes and the next one starts a new baseline)."""
    if settings.rct is None:
        return {}
    try:
        return settings.rct.reference(command["vm"], [d["path"] for d in command["data"]["disks"]],
                                      cancel)  # fmt: skip
    except AgentError as error:
        log.warning("no RCT reference point for %s (%s): comparing block hashes", command["vm"],
                    error)  # fmt: skip
        return {}


def _changes(
    disk: dict[str, Any],
    size: int,
    baselines: Baselines,
    now_ids: dict[str, str],
    settings: Settings,
    cancel: threading.Event,
) -> list[dict[str, int]] | None:
    """The ranges RCT says changed since the last cycle, or None: compare block hashes (no
    RCT on this disk, no baseline yet, or RCT not supported). Raises ChangeTrackingLost when
    Hyper-V no longer knows the baseline."""
    since = baselines.get(disk["path"], disk["sasUrl"])
    if settings.rct is None or since is None or disk["path"] not in now_ids:
        return None
    try:
        return settings.rct.changes(disk["path"], since, size, cancel)
    except NoRct as why:
        log.info("disk %s: %s; comparing block hashes", disk["diskId"], why)
        return None


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
    disk: dict, source: Any, engine_dir: Path, options: Any, progress: Callable,
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
