"""Messages of the local broker in SQLite, so a broker restart loses nothing.

A message is a row: its encoded AMQP bytes plus what the broker needs to decide about it
(entity, session, visibility, expiry, lock, delivery count, dead-letter reason). Locks are not
kept across a restart: a message that was locked becomes available again, as after a lock
expiry.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,            -- queue, topic/Subscriptions/sub, or .../$DeadLetterQueue
    session_id TEXT,
    message_id TEXT,
    body BLOB NOT NULL,              -- the encoded AMQP message
    enqueued REAL NOT NULL,
    visible_at REAL NOT NULL,        -- scheduled messages are invisible until then
    expires_at REAL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS messages_entity ON messages(entity, session_id, seq);
-- A queue without sessions is read in sequence order: without this index every receive
-- sorts the whole queue.
CREATE INDEX IF NOT EXISTS messages_order ON messages(entity, seq);
CREATE INDEX IF NOT EXISTS messages_locked ON messages(locked_until) WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_expiring ON messages(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS duplicates (
    entity TEXT NOT NULL, message_id TEXT NOT NULL, seen REAL NOT NULL,
    PRIMARY KEY (entity, message_id)
);
CREATE TABLE IF NOT EXISTS session_state (
    entity TEXT NOT NULL, session_id TEXT NOT NULL, state BLOB,
    PRIMARY KEY (entity, session_id)
);
"""


@dataclass
class Stored:
    seq: int
    entity: str
    session_id: str | None
    message_id: str | None
    body: bytes
    enqueued: float
    delivery_count: int
    lock_token: str | None = None
    locked_until: float | None = None
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


_COLUMNS = (
    "seq, entity, session_id, message_id, body, enqueued, delivery_count, lock_token, "
    "locked_until, dead_letter_reason, dead_letter_description"
)


class MessageStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # Locks do not survive a restart: their holders are gone.
        self.db.execute("UPDATE messages SET lock_token = NULL, locked_until = NULL")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several writes in one transaction: one WAL commit instead of one per message."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def is_duplicate(self, entity: str, message_id: str | None, window: float) -> bool:
        if not message_id:
            return False
        now = time.time()
        row = self.db.execute(
            "SELECT seen FROM duplicates WHERE entity = ? AND message_id = ?", (entity, message_id)
        ).fetchone()
        if row and now - row[0] < window:
            return True
        self.db.execute(
            "INSERT OR REPLACE INTO duplicates (entity, message_id, seen) VALUES (?, ?, ?)",
            (entity, message_id, now),
        )
        return False

    def add(
        self,
        entity: str,
        body: bytes,
        *,
        session_id: str | None,
        message_id: str | None,
        visible_at: float,
        expires_at: float | None,
        delivery_count: int = 0,
        reason: str | None = None,
        description: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO messages (entity, session_id, message_id, body, enqueued, visible_at, "
            "expires_at, delivery_count, dead_letter_reason, dead_letter_description) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entity, session_id, message_id, body, time.time(), visible_at, expires_at,
             delivery_count, reason, description),
        )  # fmt: skip
        return int(cursor.lastrowid or 0)

    def available(
        self, entity: str, session_id: str | None, sessions: bool, limit: int
    ) -> list[Stored]:
        """Up to `limit` messages a receiver may take now, in sequence order."""
        now = time.time()
        sql = (
            f"SELECT {_COLUMNS} FROM messages WHERE entity = ? AND visible_at <= ? "
            "AND (expires_at IS NULL OR expires_at > ?) "
        )
        params: list = [entity, now, now]
        if sessions:  # the session's one receiver gets its messages in sequence order
            sql += "AND session_id IS ? "
            params.append(session_id)
        sql += "AND (lock_token IS NULL OR locked_until <= ?) ORDER BY seq LIMIT ?"
        params.extend((now, limit))
        return [Stored(*row) for row in self.db.execute(sql, params)]

    def available_sessions(self, entity: str, exclude: set[str]) -> list[str]:
        now = time.time()
        rows = self.db.execute(
            "SELECT session_id FROM messages WHERE entity = ? AND visible_at <= ? "
            "AND session_id IS NOT NULL AND (lock_token IS NULL OR locked_until <= ?) "
            "GROUP BY session_id ORDER BY MIN(seq)",
            (entity, now, now),
        )
        return [s for (s,) in rows if s not in exclude]

    def lock(self, seq: int, token: str, until: float) -> None:
        self.db.execute(
            "UPDATE messages SET lock_token = ?, locked_until = ?, "
            "delivery_count = delivery_count + 1 WHERE seq = ?",
            (token, until, seq),
        )

    def by_token(self, token: str) -> Stored | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE lock_token = ?", (token,)
        ).fetchone()
        return Stored(*row) if row else None

    def delivery_count_of(self, seq: int) -> int | None:
        row = self.db.execute(
            "SELECT delivery_count FROM messages WHERE seq = ?", (seq,)
        ).fetchone()
        return int(row[0]) if row else None

    def entity_of(self, seq: int) -> str | None:
        row = self.db.execute("SELECT entity FROM messages WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row else None

    def release(self, seq: int) -> None:
        """The client gave it back unprocessed (AMQP released): not a delivery attempt."""
        self.db.execute(
            "UPDATE messages SET lock_token = NULL, locked_until = NULL, "
            "delivery_count = MAX(delivery_count - 1, 0) WHERE seq = ?",
            (seq,),
        )

    def delete(self, seq: int) -> None:
        self.db.execute("DELETE FROM messages WHERE seq = ?", (seq,))

    def unlock(self, seq: int) -> None:
        self.db.execute(
            "UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE seq = ?", (seq,)
        )

    def renew(self, token: str, until: float) -> bool:
        cursor = self.db.execute(
            "UPDATE messages SET locked_until = ? WHERE lock_token = ?", (until, token)
        )
        return cursor.rowcount > 0

    def move(self, seq: int, entity: str, reason: str | None, description: str | None) -> None:
        """Dead-letter a message. The dead-letter queue keeps it until someone takes it: TTL
        no longer applies there, or an expired message would vanish on arrival."""
        self.db.execute(
            "UPDATE messages SET entity = ?, lock_token = NULL, locked_until = NULL, "
            "dead_letter_reason = ?, dead_letter_description = ?, visible_at = 0, "
            "expires_at = NULL WHERE seq = ?",
            (entity, reason, description, seq),
        )

    def expired_locks(self) -> list[Stored]:
        now = time.time()
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE lock_token IS NOT NULL AND locked_until <= ?",
            (now,),
        )
        return [Stored(*r) for r in rows]

    def expired(self) -> list[Stored]:
        now = time.time()
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ? "
            "AND entity NOT LIKE '%/$DeadLetterQueue'",
            (now,),
        )
        return [Stored(*r) for r in rows]

    def peek(self, entity: str, from_seq: int, count: int) -> list[Stored]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE entity = ? AND seq >= ? ORDER BY seq LIMIT ?",
            (entity, from_seq, count),
        )
        return [Stored(*r) for r in rows]

    def cancel_scheduled(self, seq: int) -> None:
        self.db.execute("DELETE FROM messages WHERE seq = ? AND visible_at > ?", (seq, time.time()))

    def session_state(self, entity: str, session_id: str) -> bytes | None:
        row = self.db.execute(
            "SELECT state FROM session_state WHERE entity = ? AND session_id = ?",
            (entity, session_id),
        ).fetchone()
        return row[0] if row else None

    def set_session_state(self, entity: str, session_id: str, state: bytes | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO session_state (entity, session_id, state) VALUES (?, ?, ?)",
            (entity, session_id, state),
        )
