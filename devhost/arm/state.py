"""The stand-in's state in SQLite: resource groups, resources and long-running operations.

A resource is a row holding the JSON body ARM would answer for it, keyed by its lower-cased
id (ARM ids are case-insensitive). Everything a restart must keep is here, so a devhost
restart loses no disk, VM or network; the disks' bytes live in Azurite beside it. Handlers run
on the server's event loop and operations finish in worker threads, so one lock serialises
access; every call is short.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource_groups (
    key TEXT PRIMARY KEY,          -- lower-cased name
    name TEXT NOT NULL,
    location TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    key TEXT PRIMARY KEY,          -- lower-cased ARM id
    resource_group TEXT NOT NULL,  -- lower-cased
    type TEXT NOT NULL,            -- lower-cased, e.g. microsoft.compute/disks
    body TEXT NOT NULL             -- the JSON ARM answers for GET
);
CREATE INDEX IF NOT EXISTS resources_by_group ON resources(resource_group, type);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,          -- InProgress, Succeeded, Failed
    start_time TEXT NOT NULL,
    end_time TEXT,
    output TEXT,                   -- JSON: what the operation returns (grant access: accessSAS)
    error TEXT                     -- JSON: {code, message} when Failed
);
"""


@dataclass
class Operation:
    id: str
    status: str
    start_time: str
    end_time: str | None = None
    output: Any = None
    error: dict | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction; nested calls join the outer one, so a handler can read,
        check and write several resources (a VM and the disks it attaches) atomically."""
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._depth == 1:
                    self._db.execute("ROLLBACK")
                raise
            finally:
                self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ resource groups

    def put_group(self, name: str, location: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resource_groups(key, name, location) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO NOTHING",
                (name.lower(), name, location),
            )

    def group(self, name: str) -> tuple[str, str] | None:
        """(name as created, location), or None when the group does not exist."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, location FROM resource_groups WHERE key = ?", (name.lower(),)
            ).fetchone()
        return (row[0], row[1]) if row else None

    # ------------------------------------------------------------------ resources

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM resources WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, resource_group: str, type_: str, body: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resources(key, resource_group, type, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET body = excluded.body",
                (key, resource_group.lower(), type_.lower(), json.dumps(body)),
            )

    def delete(self, key: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM resources WHERE key = ?", (key,)).rowcount > 0

    def list(self, resource_group: str, type_: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM resources WHERE resource_group = ? AND type = ? ORDER BY key",
                (resource_group.lower(), type_.lower()),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def all_of_type(self, type_: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM resources WHERE type = ? ORDER BY key", (type_.lower(),)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # ------------------------------------------------------------------ operations

    def put_operation(self, op: Operation) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO operations(id, status, start_time, end_time, output, error) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = "
                "excluded.status, end_time = excluded.end_time, output = excluded.output, "
                "error = excluded.error",
                (
                    op.id,
                    op.status,
                    op.start_time,
                    op.end_time,
                    json.dumps(op.output) if op.output is not None else None,
                    json.dumps(op.error) if op.error is not None else None,
                ),
            )

    def operation(self, op_id: str) -> Operation | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, status, start_time, end_time, output, error FROM operations "
                "WHERE id = ?",
                (op_id,),
            ).fetchone()
        if row is None:
            return None
        return Operation(
            row[0],
            row[1],
            row[2],
            row[3],
            json.loads(row[4]) if row[4] else None,
            json.loads(row[5]) if row[5] else None,
        )

    def unfinished_operations(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM operations WHERE status = 'InProgress'"
            ).fetchall()
        return [r[0] for r in rows]
