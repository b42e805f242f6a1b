"""Changed ranges from Hyper-V resilient change tracking, and the baselines they are asked from.

Each cycle, before a byte is read, `reference` asks Hyper-V for the disks' RCT ids now (a
reference point): the baseline the next cycle asks its changes from. Then `changes(path, since,
size)` asks for the ranges written since the last cycle's id (GetVirtualDiskChanges). The new id
becomes the baseline only once the cycle's writes all succeeded (`Baselines.set` after the
engine returned), so a failed cycle is repeated from the same baseline. What the answers mean:

- ReturnValue 0: the ranges (checked: integers, inside the disk, as many offsets as lengths);
- 32773 (invalid parameter) or 32775 (invalid state): Hyper-V does not know the baseline (change
  tracking was reset: the VM moved, RCT was turned off and on, the disk was replaced) →
  `ChangeTrackingLost`, and the control plane orders a resync;
- 32770 (not supported), or a disk without an RCT id (a VHD, an old configuration version):
  no RCT → `NoRct`, the engine compares block hashes instead;
- anything else: `RctFailed` with the value's documented meaning.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agent.errors import AgentError
from agent.hyperv.powershell import PowerShell, check_guid
from agent.private import write_private

RETURN_VALUES = {
    32768: "Failed",
    32769: "Access Denied",
    32770: "Not Supported",
    32771: "Status is unknown",
    32772: "Timeout",
    32773: "Invalid parameter",
    32774: "System is in use",
    32775: "Invalid state for this operation",
    32776: "Incorrect data type",
    32777: "System is not available",
    32778: "Out of memory",
    32779: "File not found",
}
LOST = (32773, 32775)
UNSUPPORTED = 32770
MAX_RANGES = 1_000_000


class NoRct(Exception):
    """This disk has no usable change tracking: compare block hashes instead."""


def lost(path: str, why: str) -> AgentError:
    return AgentError(
        "ChangeTrackingLost",
        f"Hyper-V can no longer say what changed on {path} since the last cycle: {why}",
        "The control plane resynchronises the disk (a full compare with the replica sends only "
        "what differs); RCT is used again from the next cycle.",
    )


class Rct:
    def __init__(self, shell: PowerShell) -> None:
        self.shell = shell

    def reference(self, vm_id: str, paths: list[str], cancel: threading.Event) -> dict[str, str]:
        """Disk path → its RCT id now; a disk Hyper-V gave none for is left out (no RCT)."""
        check_guid(vm_id, "VM id")
        answer = self.shell.run(
            "rct.ps1", "reference", {"vmId": vm_id, "paths": paths}, cancel=cancel
        )
        point = answer.get("ReferencePoint") if isinstance(answer, dict) else None
        disks = answer.get("Disks") if isinstance(answer, dict) else None
        if not isinstance(point, dict) or not isinstance(disks, list):
            raise AgentError(
                "PowerShellBadOutput",
                "rct.ps1 reference answered no reference point.",
                "Run rct.ps1 -Action reference by hand and check it.",
            )
        ids = point.get("ResilientChangeTrackingIdentifiers") or []
        disk_ids = point.get("VirtualDiskIdentifiers") or []
        path_of = {
            d.get("VirtualDiskIdentifier"): d.get("Path") for d in disks if isinstance(d, dict)
        }
        wanted = {_norm(p): p for p in paths}
        out: dict[str, str] = {}
        for disk_id, rct_id in zip(disk_ids, ids, strict=False):
            path = path_of.get(disk_id)
            if not isinstance(path, str) or not isinstance(rct_id, str):
                continue
            if 0 < len(rct_id) <= 256 and (mine := wanted.get(_norm(path))) is not None:
                out[mine] = rct_id
        return out

    def changes(
        self, path: str, since: str, size: int, cancel: threading.Event
    ) -> list[dict[str, int]]:
        """The ranges written on `path` since the RCT id `since`, as the engine takes them."""
        answer = self.shell.run(
            "rct.ps1",
            "changes",
            {"path": path, "limitId": since, "byteLength": size},
            cancel=cancel,
        )
        value = answer.get("ReturnValue") if isinstance(answer, dict) else None
        if value in LOST:
            raise lost(
                path,
                f"GetVirtualDiskChanges answered {value} ({RETURN_VALUES[value]}) "
                f"for the baseline {since[:80]!r}.",
            )
        if value == UNSUPPORTED:
            raise NoRct(f"GetVirtualDiskChanges answered {value} (Not Supported)")
        if value != 0:
            meaning = RETURN_VALUES.get(value, "undocumented") if isinstance(value, int) else "none"
            raise AgentError(
                "RctFailed",
                f"GetVirtualDiskChanges for {path} answered {value} ({meaning}).",
                "Check the Hyper-V host's event log (Hyper-V-VMMS) for the disk; the next cycle "
                "asks again.",
            )
        offsets, lengths = answer.get("ChangedByteOffsets"), answer.get("ChangedByteLengths")
        if (
            not isinstance(offsets, list)
            or not isinstance(lengths, list)
            or len(offsets) != len(lengths)
            or len(offsets) > MAX_RANGES
        ):
            raise lost(
                path, "GetVirtualDiskChanges answered offsets and lengths that do not pair up."
            )
        if answer.get("ProcessedByteLength") != size:
            raise lost(
                path,
                f"GetVirtualDiskChanges processed {answer.get('ProcessedByteLength')} "
                f"of the disk's {size} bytes.",
            )
        return [{"offset": o, "length": n} for o, n in zip(offsets, lengths, strict=True)]


class Baselines:
    """The RCT id each disk → blob replica was last synced from, in `<state>/daemon/rct.json`.
    Keyed by disk path and blob URL without its SAS: a new blob starts without a baseline."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "daemon" / "rct.json"
        self._lock = threading.Lock()

    @staticmethod
    def key(disk_path: str, sas_url: str) -> str:
        parts = urlsplit(sas_url)
        return f"{disk_path}|{urlunsplit((parts.scheme, parts.netloc, parts.path, '', ''))}"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (FileNotFoundError, ValueError):
            return {}

    def get(self, disk_path: str, sas_url: str) -> str | None:
        with self._lock:
            return self._read().get(self.key(disk_path, sas_url))

    def set(self, disk_path: str, sas_url: str, rct_id: str | None) -> None:
        with self._lock:
            data = self._read()
            if rct_id is None:
                data.pop(self.key(disk_path, sas_url), None)
            else:
                data[self.key(disk_path, sas_url)] = rct_id
            write_private(self.path, json.dumps(data))


def _norm(path: str) -> str:
    """Windows paths compare without case or separator style (Hyper-V answers in its own)."""
    return path.replace("/", "\\").rstrip("\\").lower()
