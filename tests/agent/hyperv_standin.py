"""The stand-in PowerShell (tests/agent/standin/pwsh) from a test's side: its world, its PATH,
and the calls it recorded. See the stand-in's docstring for what it plays back."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(__file__).with_name("standin")
FIXTURES = Path(__file__).with_name("fixtures") / "hyperv"


class StandIn:
    def __init__(self, directory: Path, world: dict[str, Any] | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "world.json").write_text(json.dumps(world or {}))

    @property
    def env(self) -> dict[str, str]:
        """The daemon's environment additions: the stand-in first on PATH, and its world."""
        return {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HYPERV_STANDIN": str(self.dir)}

    def update(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the world under the stand-in's own lock (it may be running right now)."""
        with (self.dir / "world.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.dir / "world.json"
            world = json.loads(path.read_text())
            change(world)
            path.write_text(json.dumps(world, indent=1))

    def wrote(self, path: Path | str, offset: int, length: int) -> None:
        """The guest wrote these bytes: Hyper-V's change tracking now knows it."""

        def record(world: dict[str, Any]) -> None:
            disk = world.setdefault("rct", {}).setdefault(str(path), {"seq": 1, "writes": []})
            disk["writes"].append([disk["seq"], offset, length])

        self.update(record)

    def reset_tracking(self, path: Path | str) -> None:
        """Hyper-V reset the disk's change tracking (moved, RCT off and on): old ids unknown."""

        def reset(world: dict[str, Any]) -> None:
            disk = world.setdefault("rct", {}).setdefault(str(path), {"seq": 1, "writes": []})
            disk["generation"] = disk.get("generation", 0) + 1
            disk["writes"] = []

        self.update(reset)

    def world(self) -> dict[str, Any]:
        return json.loads((self.dir / "world.json").read_text())

    def calls(self, script: str | None = None) -> list[dict[str, Any]]:
        path = self.dir / "calls.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        calls = [json.loads(line) for line in lines]
        return [c for c in calls if script is None or c["script"] == script]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())
