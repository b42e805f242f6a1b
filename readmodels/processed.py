"""Which agent events were already applied, so a redelivered duplicate changes nothing.

Service Bus detects duplicates by message id only within its window and delivers at least
once; this table makes applying an event idempotent beyond that window.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from readmodels.tables import ModelTable


class ProcessedEvent(BaseModel):
    id: str
    type: str
    time: datetime


PROCESSED = ModelTable("ProcessedEvents", ProcessedEvent)


def already_processed(tenant: str, event_id: str) -> bool:
    return PROCESSED.get(tenant, event_id) is not None


def mark_processed(tenant: str, event_id: str, event_type: str, time: datetime) -> None:
    PROCESSED.insert(tenant, event_id, ProcessedEvent(id=event_id, type=event_type, time=time))
