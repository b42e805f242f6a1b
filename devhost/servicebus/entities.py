"""The entities the broker serves, declared in a JSON file kept with devhost.

The file names queues, and topics with their subscriptions (a subscription's `filter` is a set
of application properties that must all match, like a Service Bus correlation filter). Property
names follow the Service Bus ones in seconds (`lockDurationSeconds`, ...). A typo must not pass
silently as a default, so an unknown key is refused with the list of known ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).with_name("entities.json")
DLQ = "/$DeadLetterQueue"
DEFAULT_SITE = "site-local"  # the site entities.json declares; add_site copies its queue


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
    duplicate_window: float | None = None  # seconds; None: the file's default


@dataclass
class Entities:
    queues: dict[str, Entity]
    topics: dict[str, list[Entity]]  # topic -> its subscriptions
    topic_dedupe: dict[str, bool]
    duplicate_window: float = 600.0
    topic_windows: dict[str, float] = field(default_factory=dict)

    def add_site(self, site: str) -> Entities:
        """A site's own entities as the app and infra/ make them: its events queue
        (`agent-events-<site>`, shaped like the default site's) and its commands subscription
        (filtered on `site`). Already there: unchanged."""
        queue = f"agent-events-{site}"
        if queue not in self.queues:
            self.queues[queue] = replace(self.queues[f"agent-events-{DEFAULT_SITE}"], path=queue)
        subscriptions = self.topics.setdefault("agent-commands", [])
        path = f"agent-commands/Subscriptions/{site}"
        if not any(s.path == path for s in subscriptions):
            subscriptions.append(Entity(path=path, filter={"site": site}))
        return self

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

    def window_of(self, address: str) -> float:
        """The duplicate detection window of the queue or topic `address`, in seconds."""
        queue = self.queues.get(address)
        own = queue.duplicate_window if queue else self.topic_windows.get(address)
        return own if own is not None else self.duplicate_window


class EntitiesError(SystemExit):
    """The entities file cannot be used: the message names the problem and the fix."""


QUEUE_KEYS = {
    "requiresSession", "requiresDuplicateDetection", "maxDeliveryCount", "lockDurationSeconds",
    "deadLetteringOnMessageExpiration", "duplicateDetectionWindowSeconds",
}  # fmt: skip
SUBSCRIPTION_KEYS = (
    QUEUE_KEYS - {"requiresDuplicateDetection", "duplicateDetectionWindowSeconds"}
) | {"filter"}
TOPIC_KEYS = {"requiresDuplicateDetection", "duplicateDetectionWindowSeconds", "subscriptions"}
FILE_KEYS = {"queues", "topics", "duplicateDetectionWindowSeconds"}


def _check_keys(where: str, spec: object, allowed: set[str], path: Path) -> dict:
    if not isinstance(spec, dict):
        raise EntitiesError(
            f"servicebus: {path}: {where} must be a JSON object, not {type(spec).__name__}. "
            "Fix: see devhost/servicebus/entities.json for the shape."
        )
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise EntitiesError(
            f"servicebus: {path}: {where} has unknown key(s) {', '.join(unknown)}. "
            f"Fix: use only {', '.join(sorted(allowed))}."
        )
    return spec


def _entity(path: str, spec: dict) -> Entity:
    return Entity(
        path=path,
        sessions=bool(spec.get("requiresSession")),
        duplicate_detection=bool(spec.get("requiresDuplicateDetection")),
        max_delivery_count=int(spec.get("maxDeliveryCount", 10)),
        lock_seconds=float(spec.get("lockDurationSeconds", 60)),
        dead_letter_on_expiry=bool(spec.get("deadLetteringOnMessageExpiration")),
        filter={str(k): str(v) for k, v in (spec.get("filter") or {}).items()},
        duplicate_window=(
            float(spec["duplicateDetectionWindowSeconds"])
            if "duplicateDetectionWindowSeconds" in spec
            else None
        ),
    )


def load_entities(path: Path = DEFAULT_CONFIG) -> Entities:
    """Read and check an entities file; a bad one raises EntitiesError naming the fix."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise EntitiesError(
            f"servicebus: entities file {path} does not exist. Fix: pass --config with an "
            "existing file, or leave it out to use devhost/servicebus/entities.json."
        ) from error
    except json.JSONDecodeError as error:
        raise EntitiesError(
            f"servicebus: {path} is not valid JSON ({error}). Fix: correct the file; "
            "devhost/servicebus/entities.json shows the shape."
        ) from error
    _check_keys("the file", config, FILE_KEYS, path)
    queues = {
        name: _entity(name, _check_keys(f"queue '{name}'", spec, QUEUE_KEYS, path))
        for name, spec in config.get("queues", {}).items()
    }
    topics, dedupe, windows = {}, {}, {}
    for topic, spec in config.get("topics", {}).items():
        _check_keys(f"topic '{topic}'", spec, TOPIC_KEYS, path)
        topics[topic] = [
            _entity(
                f"{topic}/Subscriptions/{sub}",
                _check_keys(f"subscription '{topic}/{sub}'", sub_spec, SUBSCRIPTION_KEYS, path),
            )
            for sub, sub_spec in spec.get("subscriptions", {}).items()
        ]
        dedupe[topic] = bool(spec.get("requiresDuplicateDetection"))
        if "duplicateDetectionWindowSeconds" in spec:
            windows[topic] = float(spec["duplicateDetectionWindowSeconds"])
    return Entities(
        queues, topics, dedupe, float(config.get("duplicateDetectionWindowSeconds", 600)), windows
    )
