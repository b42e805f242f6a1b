"""Sites (VMM servers with an agent): when each agent was last heard from."""

from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel

from readmodels.tables import ModelTable


class SiteRecord(BaseModel):
    tenant: str
    site: str
    last_heartbeat: datetime


SITES = ModelTable("Sites", SiteRecord)
_seen: dict[tuple[str, str], tuple[float, datetime | None]] = {}  # -> (read at, heartbeat)


def record_heartbeat(tenant: str, site: str, time: datetime) -> None:
    """One write, no read: a site's events share one session (its id is the site's), so
    Service Bus hands them over in order and the last heartbeat written is the newest; a
    redelivered one writes its own time again."""
    SITES.upsert(tenant, site, SiteRecord(tenant=tenant, site=site, last_heartbeat=time))


def last_heartbeat(tenant: str, site: str, *, max_age: float = 0.0) -> datetime | None:
    """When the site's agent was last heard from. `max_age` > 0 accepts a value this process
    read up to that many seconds ago: every VM of a site asks each cycle, hundreds of times a
    minute, for a fact that matters on the scale of the heartbeat timeout (minutes)."""
    key = (tenant, site)
    if max_age > 0 and (seen := _seen.get(key)) and time.monotonic() - seen[0] < max_age:
        return seen[1]
    row = SITES.get(tenant, site)
    heartbeat = row.model.last_heartbeat if row else None
    _seen[key] = (time.monotonic(), heartbeat)
    return heartbeat
