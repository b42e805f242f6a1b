"""Which agents may speak to this control plane, and for whom: one queue per site.

Service Bus does not tell a receiver who sent a message, and an agent that may send to a queue
may put anything in the body. So the channel says who sent an event: each site's agent sends
to its own queue, `agent-events-<site>`, and only that site's identity has Send rights on it
(infra/modules/agents.bicep). The setting AGENT_SITES names the sites of each tenant,
`{"contoso": ["contoso-hq", "contoso-branch"]}` (infra sets it from the deployment's
`tenantName` and `sites`); the app reads one queue per site, and an event whose body names
another site or tenant than its queue's is dead-lettered (`triggers/agent_events.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from azureclients.deadletter import DEADLETTER_QUEUE, DEADLETTER_QUEUE_SETTING
from azureclients.settings import json_setting, setting
from contracts.events import AgentEvent, events_queue
from contracts.inventory import NAME_PATTERN

SITES_SETTING = "AGENT_SITES"
# How far ahead of ours an agent's clock may be. An event stamped later would hide what the
# time means: a heartbeat "from the future" hides the agent's silence until then.
MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class AgentSite:
    tenant: str
    site: str

    @property
    def queue(self) -> str:
        return events_queue(self.site)

    @property
    def function_name(self) -> str:
        """The trigger's name: letters, digits and underscores, as Functions requires."""
        return "agent_events_" + re.sub(r"[^A-Za-z0-9]", "_", self.site).lower()


class SitesInvalid(ValueError):
    """AGENT_SITES cannot be used; the message names the problem and the fix."""


def agent_sites() -> list[AgentSite]:
    """The sites of AGENT_SITES, each once; SitesInvalid when the setting is wrong.

    Service Bus entity names ignore case, and so must site names: two sites whose names
    differ only in case (or in what a function name cannot hold) would share a queue."""
    value = json_setting(SITES_SETTING, {})
    example = '{"contoso": ["contoso-hq"]}'
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise SitesInvalid(
            f"{SITES_SETTING} must be a JSON object of tenant to its list of sites, e.g. {example}."
        )
    deadletter = setting(DEADLETTER_QUEUE_SETTING, DEADLETTER_QUEUE).lower()
    sites: list[AgentSite] = []
    seen: dict[str, AgentSite] = {}
    for tenant, names in value.items():
        for name in names:
            for what in (tenant, name):
                if not isinstance(what, str) or not re.fullmatch(NAME_PATTERN, what):
                    raise SitesInvalid(
                        f"{SITES_SETTING}: {what!r} is not a valid tenant or site name (letters, "
                        "digits, '.', '_', '-'; starting with a letter or digit)."
                    )
            site = AgentSite(tenant=tenant, site=name)
            if site.queue.lower() == deadletter:
                raise SitesInvalid(
                    f"{SITES_SETTING}: site {site.site!r} would read the dead-letter queue "
                    f"{site.queue!r}; give the site another name."
                )
            if (twin := seen.get(site.function_name)) is not None:
                raise SitesInvalid(
                    f"{SITES_SETTING}: sites {twin.site!r} and {site.site!r} would share one "
                    "queue (Service Bus names ignore case); give each site a distinct name."
                )
            seen[site.function_name] = site
            sites.append(site)
    return sites


def refusal(event: AgentEvent, sender: AgentSite, now: datetime) -> tuple[str, str] | None:
    """Why an event that arrived on `sender`'s queue is refused (dead-letter reason and
    description), or None. An agent speaks only for its own site and tenant."""
    if (event.tenant, event.site) != (sender.tenant, sender.site):
        return (
            "ForeignSiteOrTenant",
            f"The event arrived on queue {sender.queue}, the queue of site {sender.site!r} of "
            f"tenant {sender.tenant!r}, but names site {event.site!r} of tenant "
            f"{event.tenant!r}. An agent speaks only for its own site: check the agent's "
            f"--site/--tenant and that it sends to its own site's queue ({SITES_SETTING}).",
        )
    if event.time > now + MAX_CLOCK_SKEW:
        return (
            "EventTimeInFuture",
            f"The event is stamped {event.time.isoformat()}, more than "
            f"{int(MAX_CLOCK_SKEW.total_seconds())} s after the control plane's clock "
            f"({now.isoformat()}). Synchronize the clock of site {sender.site!r}'s agent host "
            "(NTP); its events are refused until then.",
        )
    return None
