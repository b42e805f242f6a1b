"""Sites (VMM servers with an agent): when each agent was last heard from."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from readmodels.tables import ModelTable


class SiteRecord(BaseModel):
    tenant: str
    site: str
    last_heartbeat: datetime


SITES = ModelTable("Sites", SiteRecord)


def record_heartbeat(tenant: str, site: str, time: datetime) -> None:
    current = SITES.get(tenant, site)
    if current is None or current.model.last_heartbeat < time:
        SITES.upsert(tenant, site, SiteRecord(tenant=tenant, site=site, last_heartbeat=time))


def last_heartbeat(tenant: str, site: str) -> datetime | None:
    row = SITES.get(tenant, site)
    return row.model.last_heartbeat if row else None
