"""The daemon's command journal: which commands it accepted, and how each one ended.

One small JSON file per command under `<state-dir>/daemon/commands/`, written atomically. It
makes the daemon idempotent and restartable:
- a command delivered twice (Service Bus is at-least-once; the control plane resends a
  stalled command under the same id) runs once; if it already ended, its outcome is sent
  again with the same event id, so the control plane deduplicates it;
- a command accepted but not ended when the daemon stopped (killed, rebooted) runs again at
  start, and the upload engine resumes it from its own journal.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.private import private_dir, write_private

OPEN = ("accepted", "running")
KEEP_SECONDS = 7 * 24 * 3600  # ended commands are forgotten after a week


@dataclass
class Entry:
    command: dict[str, Any]
    state: str  # accepted | running | done | failed | cancelled
    outcome: dict[str, Any] | None = None  # the event that reported the end


class CommandJournal:
    def __init__(self, state_dir: Path) -> None:
        self.dir = private_dir(Path(state_dir) / "daemon" / "commands")

    def _path(self, command_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in command_id)
        return self.dir / f"{safe}.json"

    def get(self, command_id: str) -> Entry | None:
        try:
            raw = json.loads(self._path(command_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Entry(raw["command"], raw["state"], raw.get("outcome"))

    def accept(self, command: dict[str, Any]) -> Entry | None:
        """Record a new command; the existing entry when it was seen before (a duplicate)."""
        existing = self.get(command["id"])
        if existing is not None:
            return existing
        self.save(Entry(command, "accepted"))
        return None

    def save(self, entry: Entry) -> None:
        """Written 0600: a command holds its disks' SAS URLs."""
        record = {"command": entry.command, "state": entry.state, "outcome": entry.outcome}
        write_private(self._path(entry.command["id"]), json.dumps(record))

    def open_commands(self) -> list[dict[str, Any]]:
        """Commands accepted but not ended, oldest first (to resume after a restart)."""
        entries = []
        for path in sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime):
            entry = self.get(path.stem)
            if entry is None:
                try:
                    raw = json.loads(path.read_text())
                    entry = Entry(raw["command"], raw["state"], raw.get("outcome"))
                except (OSError, ValueError, KeyError):
                    continue
            if entry.state in OPEN:
                entries.append(entry.command)
        return entries

    def forget_old(self, now: float | None = None) -> int:
        """Drop ended commands older than a week; returns how many."""
        limit = (now or time.time()) - KEEP_SECONDS
        gone = 0
        for path in self.dir.glob("*.json"):
            try:
                if (
                    path.stat().st_mtime < limit
                    and json.loads(path.read_text())["state"] not in OPEN
                ):
                    path.unlink()
                    gone += 1
            except (OSError, ValueError, KeyError):
                continue
        return gone
