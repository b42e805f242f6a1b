"""A site's one bandwidth cap (with its schedule): set by a runbook, sent to the site's agent
as a site-wide `bandwidth` command, shown applied once the agent says so."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from application import commands
from application.errors import NotFound
from contracts.commands import AgentCommand, BandwidthCommand, CommandType
from contracts.events import CommandResult
from domain.errors import ErrorInfo
from readmodels.bandwidth import SiteBandwidthRecord, get_bandwidth, save_bandwidth
from readmodels.sites import last_heartbeat

BANDWIDTH_COMMAND = "bandwidth-"  # the prefix of a bandwidth command's id


def _known_site(tenant: str, site: str) -> None:
    if last_heartbeat(tenant, site) is None:
        raise NotFound(
            ErrorInfo(
                code="SiteNotFound",
                cause=f"No agent of site '{site}' has reported to tenant '{tenant}' yet.",
                recommendation="Start the agent on the site's VMM server (python -m agent run "
                "with --site); its first heartbeat makes the site known.",
            )
        )


def set_bandwidth(tenant: str, site: str, setting: BandwidthCommand) -> SiteBandwidthRecord:
    """Keep the setting and send it to the site's agent, which applies it at once to every
    transfer it runs (one cap for the whole site)."""
    _known_site(tenant, site)
    now = datetime.now(UTC)
    record = SiteBandwidthRecord(
        tenant=tenant,
        site=site,
        setting=setting,
        command_id=f"{BANDWIDTH_COMMAND}{uuid.uuid4().hex}",
        requested=now,
    )
    save_bandwidth(record)
    command = AgentCommand(
        type=CommandType.BANDWIDTH,
        id=record.command_id,
        tenant=tenant,
        site=site,
        time=now,
        data=setting.wire(),
    )
    commands.send(command)
    return record


def bandwidth_of(tenant: str, site: str) -> SiteBandwidthRecord:
    record = get_bandwidth(tenant, site)
    if record is None:
        raise NotFound(
            ErrorInfo(
                code="BandwidthNotSet",
                cause=f"No bandwidth setting was sent to site '{site}'; its agent uses its own "
                "default (AGENT_BANDWIDTH, or no cap).",
                recommendation="Set one with PUT /api/tenants/{tenant}/sites/{site}/bandwidth.",
            )
        )
    return record


def bandwidth_applied(tenant: str, site: str, result: CommandResult) -> None:
    """The agent's answer to the setting it was sent (a later setting's answer wins)."""
    record = get_bandwidth(tenant, site)
    if record is None or record.command_id != result.command_id:
        return
    record.applied = datetime.now(UTC) if result.status == "succeeded" else None
    record.refused = result.status != "succeeded"
    record.agent_detail = (result.detail or result.cause or "")[:500] or None
    save_bandwidth(record)
