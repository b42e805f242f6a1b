"""Which site sent an event is the queue's word, not the body's (application.agent_sites)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from application.agent_sites import AgentSite, SitesInvalid, agent_sites, refusal
from contracts.events import AgentEvent

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HQ = AgentSite(tenant="contoso", site="hq")


def heartbeat(**over: object) -> AgentEvent:
    body = {"type": "agent.heartbeat", "tenant": "contoso", "site": "hq", "id": "e1",
            "time": NOW.isoformat(), "data": {}, **over}  # fmt: skip
    return AgentEvent.parse(json.dumps(body))


def test_an_event_of_the_queues_own_site_and_tenant_passes() -> None:
    assert refusal(heartbeat(), HQ, NOW) is None
    assert refusal(heartbeat(time=(NOW + timedelta(minutes=4)).isoformat()), HQ, NOW) is None


@pytest.mark.parametrize("over", [{"site": "branch"}, {"tenant": "fabrikam"}])
def test_an_event_naming_another_site_or_tenant_is_refused(over: dict) -> None:
    reason, description = refusal(heartbeat(**over), HQ, NOW)
    assert reason == "ForeignSiteOrTenant"
    assert "agent-events-hq" in description and next(iter(over.values())) in description


def test_an_event_stamped_ahead_of_our_clock_is_refused() -> None:
    later = NOW + timedelta(days=30)
    reason, description = refusal(heartbeat(time=later.isoformat()), HQ, NOW)
    assert reason == "EventTimeInFuture" and "NTP" in description


def test_the_setting_names_each_tenants_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SITES", '{"contoso": ["hq", "branch.1"], "fabrikam": ["f1"]}')
    sites = agent_sites()
    assert [(s.tenant, s.site, s.queue, s.function_name) for s in sites] == [
        ("contoso", "hq", "agent-events-hq", "agent_events_hq"),
        ("contoso", "branch.1", "agent-events-branch.1", "agent_events_branch_1"),
        ("fabrikam", "f1", "agent-events-f1", "agent_events_f1"),
    ]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('["hq"]', "JSON object"),
        ('{"contoso": ["hq", "HQ"]}', "share one queue"),
        ('{"contoso": ["hq"], "fabrikam": ["hq"]}', "share one queue"),
        ('{"contoso": ["a/b"]}', "not a valid"),
        ('{"contoso": ["deadletter"]}', "dead-letter"),
    ],
)
def test_a_setting_that_would_mix_sites_up_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("AGENT_SITES", value)
    with pytest.raises(SitesInvalid, match=says):
        agent_sites()
