"""The entities the broker serves, declared in a JSON file kept with devhost."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("entities.json")
DLQ = "/$DeadLetterQueue"


@dataclass(frozen=True)
class Entity:
    """A queue or a topic subscription: something messages are received from."""

    path: str
    sessions: bool = False
    duplicate_detection: bool = False
    max_delivery_count: int = 10
    lock_seconds: float = 60.0
    dead_letter_on_expiry: bool = False
    filter: dict[str, str] = field(default_factory=dict)


@dataclass
class Entities:
    queues: dict[str, Entity]
    topics: dict[str, list[Entity]]  # topic -> its subscriptions
    topic_dedupe: dict[str, bool]
    duplicate_window: float = 600.0

    def receivable(self, address: str) -> Entity | None:
        """The entity a receiver attached to `address` reads (DLQs read like queues)."""
        base = address[: -len(DLQ)] if address.endswith(DLQ) else address
        if base in self.queues:
            entity = self.queues[base]
        else:
            entity = next(
                (
                    s
                    for subs in self.topics.values()
                    for s in subs
                    if s.path.lower() == base.lower()
                ),
                None,
            )
        if entity is None:
            return None
        if address.endswith(DLQ):
            return Entity(path=address, lock_seconds=entity.lock_seconds, max_delivery_count=10**9)
        return entity

    def targets(self, address: str, properties: dict) -> list[Entity] | None:
        """Where a message sent to `address` goes; None when there is no such entity."""
        if address in self.queues:
            return [self.queues[address]]
        if address in self.topics:
            return [
                s
                for s in self.topics[address]
                if all(str(properties.get(k)) == str(v) for k, v in s.filter.items())
            ]
        return None

    def dedupes(self, address: str) -> bool:
        if address in self.queues:
            return self.queues[address].duplicate_detection
        return self.topic_dedupe.get(address, False)


def _entity(path: str, spec: dict) -> Entity:
    return Entity(
        path=path,
        sessions=bool(spec.get("requiresSession")),
        duplicate_detection=bool(spec.get("requiresDuplicateDetection")),
        max_delivery_count=int(spec.get("maxDeliveryCount", 10)),
        lock_seconds=float(spec.get("lockDurationSeconds", 60)),
        dead_letter_on_expiry=bool(spec.get("deadLetteringOnMessageExpiration")),
        filter={str(k): str(v) for k, v in (spec.get("filter") or {}).items()},
    )


def load_entities(path: Path = DEFAULT_CONFIG) -> Entities:
    config = json.loads(path.read_text())
    queues = {name: _entity(name, spec) for name, spec in config.get("queues", {}).items()}
    topics, dedupe = {}, {}
    for topic, spec in config.get("topics", {}).items():
        topics[topic] = [
            _entity(f"{topic}/Subscriptions/{sub}", sub_spec)
            for sub, sub_spec in spec.get("subscriptions", {}).items()
        ]
        dedupe[topic] = bool(spec.get("requiresDuplicateDetection"))
    return Entities(
        queues, topics, dedupe, float(config.get("duplicateDetectionWindowSeconds", 600))
    )
