"""The Service Bus in Azure behaves like the local broker the tests run against
(devhost/servicebus/entities.json) and carries the names the code uses."""

from __future__ import annotations

import json
import re

from contracts.events import EVENTS_QUEUE_PREFIX
from tests.infra import bicep

ROOT = bicep.ROOT
LOCAL = json.loads((ROOT / "devhost" / "servicebus" / "entities.json").read_text())
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
MODULE = bicep.load(bicep.INFRA / "modules" / "servicebus.bicep")
MAIN = bicep.load(bicep.INFRA / "main.bicep")
QUEUE = "Microsoft.ServiceBus/namespaces/queues"
DEADLETTER = SAMPLE["AGENT_EVENTS_DEADLETTER_QUEUE"]


def loop(resource: bicep.Resource) -> str:
    return " ".join(resource.loop.split())


def entity(type_: str, name: str) -> dict:
    """The properties of the entity named `name`; a site's events queue (`agent-events-<site>`)
    is the one looped over the sites."""
    if type_ == QUEUE and name.startswith(EVENTS_QUEUE_PREFIX) and name != DEADLETTER:
        return bicep.literal(site_queues().props["properties"])
    for resource in MODULE.resources_of(type_):
        if bicep.literal(resource.props["name"]) == name:
            return bicep.literal(resource.props["properties"])
    raise AssertionError(f"no {type_} named {name}")


def site_queues() -> bicep.Resource:
    (queues,) = [r for r in MODULE.resources_of(QUEUE) if r.loop and "siteNames" in r.loop]
    return queues


def default(param: str):
    return bicep.literal(MODULE.params[param].default)


def iso_seconds(duration: str) -> int:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", duration)
    assert m, duration
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def test_queues_match_the_local_broker() -> None:
    for name, spec in LOCAL["queues"].items():
        azure = entity("Microsoft.ServiceBus/namespaces/queues", name)
        assert azure["requiresSession"] == bool(spec.get("requiresSession")), name
        assert azure["requiresDuplicateDetection"] or not spec.get("requiresDuplicateDetection")
        assert azure["maxDeliveryCount"].text == "maxDeliveryCount"
        assert default("maxDeliveryCount") == spec["maxDeliveryCount"]


def test_each_site_has_its_own_events_queue_with_sessions_and_duplicate_detection() -> None:
    queues = site_queues()
    assert loop(queues).startswith("[ for site in siteNames")
    assert bicep.text(queues.props["name"]) == "'${eventsQueuePrefix}${site}'"
    assert f"var eventsQueuePrefix = '{EVENTS_QUEUE_PREFIX}'" in MODULE.path.read_text()
    events = entity(QUEUE, f"{EVENTS_QUEUE_PREFIX}site-local")
    local = LOCAL["queues"][f"{EVENTS_QUEUE_PREFIX}site-local"]
    assert events["requiresSession"] is True
    assert events["requiresDuplicateDetection"] is True
    assert events["deadLetteringOnMessageExpiration"] is True
    assert iso_seconds(events["lockDuration"]) == local["lockDurationSeconds"]
    window = default("duplicateDetectionWindow")
    assert iso_seconds(window) == LOCAL["duplicateDetectionWindowSeconds"]


def test_there_is_no_shared_events_queue_any_site_could_send_to() -> None:
    names = [bicep.literal(r.props["name"]) for r in MODULE.resources_of(QUEUE) if not r.loop]
    assert names == ["agent-events-deadletter"]


def test_an_agent_may_send_to_its_own_sites_queue_only() -> None:
    agents = bicep.load(bicep.INFRA / "modules" / "agents.bicep")
    (send,) = [r for r in agents.resources if r.symbol == "sendEvents"]
    (queues,) = [r for r in agents.resources if r.symbol == "siteQueues"]
    assert bicep.text(send.props["scope"]) == "siteQueues[i]"
    assert "for (site, i) in sites" in send.loop and "for name in eventsQueueNames" in queues.loop
    calls = {m.symbol: bicep.properties(bicep.properties(m.body)["params"]) for m in MAIN.modules}
    assert bicep.text(calls["agents"]["eventsQueueNames"]) == "serviceBus.outputs.eventsQueueNames"
    # the queue names are in the order of the sites, as the module outputs them
    out = bicep.text(MODULE.outputs["eventsQueueNames"].value)
    assert out == "[for (site, i) in siteNames: siteEventQueues[i].name]"


def test_the_app_reads_every_sites_queue_and_learns_the_sites_from_a_setting() -> None:
    access = bicep.load(bicep.INFRA / "modules" / "access.bicep")
    (receive,) = [r for r in access.resources if r.symbol == "receiveEvents"]
    assert bicep.text(receive.props["scope"]) == "eventsQueues[i]"
    calls = {m.symbol: bicep.properties(bicep.properties(m.body)["params"]) for m in MAIN.modules}
    assert bicep.text(calls["functionApp"]["agentSites"]) == (
        "string({ '${tenantName}': [for site in sites: site.name] })"
    )
    assert "name: 'AGENT_SITES'" in (bicep.INFRA / "modules" / "functionapp.bicep").read_text()


def test_the_configured_names_are_deployed() -> None:
    trigger = (ROOT / "triggers" / "agent_events.py").read_text()
    assert "queue_name=site.queue" in trigger  # events_queue(site): the prefix checked above
    entity(QUEUE, SAMPLE["AGENT_EVENTS_DEADLETTER_QUEUE"])
    entity("Microsoft.ServiceBus/namespaces/topics", SAMPLE["AGENT_COMMANDS_TOPIC"])


def test_commands_topic_deduplicates_like_the_local_broker() -> None:
    for topic, spec in LOCAL["topics"].items():
        azure = entity("Microsoft.ServiceBus/namespaces/topics", topic)
        assert azure["requiresDuplicateDetection"] == spec["requiresDuplicateDetection"]


def test_each_site_subscription_is_filtered_on_the_site_property_only() -> None:
    # Locally a subscription's filter is {"site": <site>}; the commands carry `site`.
    local_keys = {
        k
        for t in LOCAL["topics"].values()
        for s in t["subscriptions"].values()
        for k in s["filter"]
    }
    assert local_keys == {"site"}
    assert '"site": command.site' in (ROOT / "application" / "commands.py").read_text()
    (rules,) = MODULE.resources_of("Microsoft.ServiceBus/namespaces/topics/subscriptions/rules")
    assert bicep.literal(rules.props["name"]) == "$Default", "the match-all default must go"
    props = bicep.literal(rules.props["properties"])
    assert props["filterType"] == "CorrelationFilter"
    assert {k: v.text for k, v in props["correlationFilter"]["properties"].items()} == {
        "site": "site"
    }
    assert loop(rules).startswith("[ for (site, i) in siteNames")
    (subs,) = MODULE.resources_of("Microsoft.ServiceBus/namespaces/topics/subscriptions")
    assert loop(subs).startswith("[ for site in siteNames")
    assert bicep.literal(subs.props["name"]).text == "site"


def test_subscription_sessions_match_the_local_broker() -> None:
    # The agent receives commands the way it does against the local broker; a session-enabled
    # subscription in Azure would refuse its plain receiver.
    local = {
        bool(s.get("requiresSession"))
        for t in LOCAL["topics"].values()
        for s in t["subscriptions"].values()
    }
    (subs,) = MODULE.resources_of("Microsoft.ServiceBus/namespaces/topics/subscriptions")
    assert {bicep.literal(subs.props["properties"])["requiresSession"]} == local


def test_namespace_accepts_entra_identities_only() -> None:
    (namespace,) = MODULE.resources_of("Microsoft.ServiceBus/namespaces")
    props = bicep.literal(namespace.props["properties"])
    assert props["disableLocalAuth"] is True
    assert props["minimumTlsVersion"] == "1.2"


def test_every_site_gets_a_subscription_and_an_agent() -> None:
    calls = {m.symbol: bicep.properties(bicep.properties(m.body)["params"]) for m in MAIN.modules}
    assert bicep.text(calls["serviceBus"]["siteNames"]) == "[for site in sites: site.name]"
    assert bicep.text(calls["agents"]["sites"]) == "sites"
