"""Each site's bandwidth setting as the control plane last asked for it, and whether the
site's agent applied it (from the agent's `command.result`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from contracts.commands import BandwidthCommand
from readmodels.tables import ModelTable


class SiteBandwidthRecord(BaseModel):
    tenant: str
    site: str
    setting: BandwidthCommand
    command_id: str
    requested: datetime
    applied: datetime | None = None  # when the agent said the setting is in force
    agent_detail: str | None = None  # what the agent said (in force, or why it refused)
    refused: bool = False


BANDWIDTH = ModelTable("SiteBandwidth", SiteBandwidthRecord)


def get_bandwidth(tenant: str, site: str) -> SiteBandwidthRecord | None:
    row = BANDWIDTH.get(tenant, site)
    return row.model if row else None


def save_bandwidth(record: SiteBandwidthRecord) -> None:
    BANDWIDTH.upsert(record.tenant, record.site, record)
