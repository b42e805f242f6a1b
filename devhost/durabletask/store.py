"""SQLite persistence of the task hub: instances, history, the inbox of new events, and work.

Every episode commits its whole effect (history appended, inbox event consumed, new work and
timers queued, status) in one transaction, before anything is acted on. So a process killed
at any point restarts into a consistent state: finished activities are in history and are not
run again; activities that were running are still in `work` and run again (at least once,
as in Azure).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_status ON instances(status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    visible_at REAL NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE INDEX IF NOT EXISTS inbox_visible ON inbox(visible_at);
CREATE TABLE IF NOT EXISTS work (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    PRIMARY KEY (instance_id, task_id)
);
"""

RUNNING_STATES = ("Pending", "Running")


@dataclass
class Instance:
    """One orchestration instance; `state` is the engine's bookkeeping (see engine.py)."""

    id: str
    name: str
    status: str
    input: str | None
    created: str
    updated: str
    output: str | None = None
    custom_status: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATES


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- reads ------------------------------------------------------------------------------

    def load(self, instance_id: str, *, with_history: bool = True) -> Instance | None:
        row = self.db.execute(
            "SELECT id, name, status, input, created, updated, output, custom_status, state "
            "FROM instances WHERE id = ?",
            (instance_id,),
        ).fetchone()
        if row is None:
            return None
        instance = Instance(*row[:8], state=json.loads(row[8]))
        if with_history:
            instance.history = [
                json.loads(e)
                for (e,) in self.db.execute(
                    "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
                )
            ]
        return instance

    def query(
        self, statuses: Iterable[str] | None = None, prefix: str | None = None
    ) -> list[Instance]:
        sql = (
            "SELECT id, name, status, input, created, updated, output, custom_status, state "
            "FROM instances WHERE 1=1"
        )
        params: list[Any] = []
        if statuses:
            statuses = list(statuses)
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params += statuses
        if prefix:
            sql += " AND id >= ? AND id < ?"
            params += [prefix, prefix + "\uffff"]
        return [
            Instance(*row[:8], state=json.loads(row[8]))
            for row in self.db.execute(sql + " ORDER BY created", params)
        ]

    def unfinished(self) -> list[str]:
        placeholders = ",".join("?" * len(RUNNING_STATES))
        return [
            i
            for (i,) in self.db.execute(
                f"SELECT id FROM instances WHERE status IN ({placeholders})", RUNNING_STATES
            )
        ]

    def due_events(self, instance_id: str, now: float, limit: int) -> list[tuple[int, dict]]:
        rows = self.db.execute(
            "SELECT id, event FROM inbox WHERE instance_id = ? AND visible_at <= ? "
            "ORDER BY visible_at, id LIMIT ?",
            (instance_id, now, limit),
        )
        return [(i, json.loads(e)) for i, e in rows]

    def inbox(self, instance_id: str) -> list[dict]:
        """Every queued event of an instance, due or not, oldest first."""
        rows = self.db.execute(
            "SELECT event FROM inbox WHERE instance_id = ? ORDER BY id", (instance_id,)
        )
        return [json.loads(e) for (e,) in rows]

    def due_instances(self, now: float) -> list[str]:
        return [
            i
            for (i,) in self.db.execute(
                "SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= ?", (now,)
            )
        ]

    def next_wakeup(self) -> float | None:
        (value,) = self.db.execute("SELECT MIN(visible_at) FROM inbox").fetchone()
        return value

    def pending_work(self) -> list[tuple[str, int, str, str | None]]:
        return list(self.db.execute("SELECT instance_id, task_id, name, input FROM work"))

    # --- writes (callers wrap them in `transaction`) -----------------------------------------

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def save(self, instance: Instance, appended: list[dict], first_seq: int) -> None:
        self.db.execute(
            "INSERT INTO instances (id, name, status, input, created, updated, output, "
            "custom_status, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
            "SET name=excluded.name, status=excluded.status, input=excluded.input, "
            "created=excluded.created, updated=excluded.updated, output=excluded.output, "
            "custom_status=excluded.custom_status, state=excluded.state",
            (
                instance.id, instance.name, instance.status, instance.input, instance.created,
                instance.updated, instance.output, instance.custom_status,
                json.dumps(instance.state),
            ),
        )  # fmt: skip
        if appended:
            self.db.executemany(
                "INSERT OR REPLACE INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
                [(instance.id, first_seq + n, json.dumps(e)) for n, e in enumerate(appended)],
            )

    def reset_history(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    def enqueue(self, instance_id: str, event: dict, visible_at: float) -> None:
        self.db.execute(
            "INSERT INTO inbox (instance_id, visible_at, event) VALUES (?, ?, ?)",
            (instance_id, visible_at, json.dumps(event)),
        )

    def consume(self, *inbox_ids: int) -> None:
        self.db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in inbox_ids])

    def drop_timer(self, instance_id: str, timer_id: int) -> None:
        self.db.execute(
            "DELETE FROM inbox WHERE instance_id = ? AND json_extract(event, '$.EventType') = 11 "
            "AND json_extract(event, '$.TimerId') = ?",
            (instance_id, timer_id),
        )

    def add_work(self, instance_id: str, task_id: int, name: str, input_: str | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO work (instance_id, task_id, name, input) VALUES (?, ?, ?, ?)",
            (instance_id, task_id, name, input_),
        )

    def finish_work(self, instance_id: str, task_id: int) -> bool:
        cursor = self.db.execute(
            "DELETE FROM work WHERE instance_id = ? AND task_id = ?", (instance_id, task_id)
        )
        return cursor.rowcount > 0

    def clear_instance_queues(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        self.db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))

    def purge(self, instance_id: str) -> int:
        self.clear_instance_queues(instance_id)
        self.reset_history(instance_id)
        return self.db.execute("DELETE FROM instances WHERE id = ?", (instance_id,)).rowcount
