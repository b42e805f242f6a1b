"""The daemon's inventory: what VMM (or the Hyper-V host) has, reported on a schedule.

Every `poll` seconds it runs inventory.ps1 and compares each VM with what it reported last
(kept in `<state>/daemon/inventory.json`, so a restart does not report everything again):

- a VM that is new or differs → `vm.changed` (session = the VM);
- each cloud's whole list → `inventory.snapshot` at start, every `snapshot` seconds, and when
  a VM appeared or went (only a snapshot can say a VM is gone);
- a VM whose `DRProtect` mark turned on (or whose target changed while on) →
  `protection.requested` with its target, right after a `vm.changed` on the same session, so
  the control plane knows the VM before it is asked to protect it;
- a mark turned off → `protection.disable.requested`.

A failed read (VMM unreachable) is logged and tried again next time: nothing is reported from
a half-read inventory, so a VMM outage never looks like every VM being deleted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.hyperv.inventory import MARKS, Marks, read_clouds
from agent.hyperv.powershell import Cancelled, PowerShell
from agent.private import write_private

log = logging.getLogger("agent.inventory")
Send = Callable[[str, dict[str, Any], str | None], None]  # (type, data, vm or None)


class InventoryReporter:
    def __init__(
        self,
        shell: PowerShell,
        state_dir: Path,
        send: Send,
        stop: threading.Event,
        *,
        poll_seconds: float = 60.0,
        snapshot_seconds: float = 900.0,
    ) -> None:
        self.shell, self.send, self.stop = shell, send, stop
        self.poll, self.snapshot_every = poll_seconds, snapshot_seconds
        self.path = state_dir / "daemon" / "inventory.json"
        self.vms: dict[str, dict[str, Any]] = {}  # vm id → {"cloud", "vm", "marks"}
        self.last_snapshot = 0.0
        self._lock = threading.Lock()
        self._load()
        self.thread = threading.Thread(target=self._run, name="inventory", daemon=True)

    def known(self, vm_id: str) -> tuple[str | None, tuple[str, ...]]:
        """The VM's name and disk paths as last reported (for a shutdown hook)."""
        with self._lock:
            entry = self.vms.get(vm_id)
        if entry is None:
            return None, ()
        return entry["vm"]["name"], tuple(d["path"] for d in entry["vm"]["disks"])

    def disk_paths(self) -> set[str]:
        with self._lock:
            return {d["path"] for e in self.vms.values() for d in e["vm"]["disks"]}

    def _load(self) -> None:
        try:
            self.vms = json.loads(self.path.read_text())["vms"]
        except FileNotFoundError:
            return
        except (ValueError, KeyError, TypeError) as error:
            log.error("ignoring %s (%s): every VM is reported again", self.path, error)
            self.vms = {}

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.cycle()
            except Cancelled:
                return
            except (AgentError, ValueError) as error:
                log.warning("inventory not read, trying again in %g s: %s", self.poll, error)
            except Exception:  # a bug: log it, keep the daemon and the next cycle going
                log.exception("inventory cycle failed")
            self.stop.wait(self.poll)

    def cycle(self) -> None:
        answer = self.shell.run(
            "inventory.ps1", "read", {"customProperties": list(MARKS)}, cancel=self.stop
        )
        clouds = read_clouds(answer, self.shell.source)
        now = time.monotonic()
        seen: dict[str, dict[str, Any]] = {}
        membership_changed = False
        for cloud in clouds:
            for vm in cloud.vms:
                entry = {
                    "cloud": {"id": cloud.id, "name": cloud.name},
                    "vm": vm,
                    "marks": asdict(cloud.marks[vm["id"]]),
                }
                seen[vm["id"]] = entry
                self._report_vm(entry, self.vms.get(vm["id"]))
        if set(seen) != set(self.vms):
            membership_changed = True
        if (
            membership_changed
            or not self.last_snapshot
            or now - self.last_snapshot >= self.snapshot_every
        ):
            for cloud in clouds:
                self.send(
                    "inventory.snapshot",
                    {"cloud": {"id": cloud.id, "name": cloud.name}, "vms": cloud.vms},
                    None,
                )
            self.last_snapshot = now
        with self._lock:
            self.vms = seen
        write_private(self.path, json.dumps({"vms": seen}))
        log.info("inventory: %d VMs in %d clouds", len(seen), len(clouds))

    def _report_vm(self, entry: dict[str, Any], before: dict[str, Any] | None) -> None:
        vm, marks = entry["vm"], Marks(**entry["marks"])
        changed = before is None or before["vm"] != vm or before["cloud"] != entry["cloud"]
        was = Marks(**before["marks"]) if before else Marks()
        wants = marks.protect and (not was.protect or was.request() != marks.request())
        if changed or wants:
            self.send("vm.changed", {"cloud": entry["cloud"], "vm": vm}, vm["id"])
        if wants:
            log.info(
                "VM %s (%s) marked for protection in VMM: %s", vm["name"], vm["id"], marks.request()
            )
            self.send("protection.requested", marks.request(), vm["id"])
        elif was.protect and not marks.protect:
            log.info("VM %s (%s): protection mark removed in VMM", vm["name"], vm["id"])
            self.send(
                "protection.disable.requested",
                {"reason": "The DRProtect custom property of the VM is no longer true in VMM."},
                vm["id"],
            )
