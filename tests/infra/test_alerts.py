"""The alert path: action group secure webhook (common alert schema) -> Event Grid custom topic
with the custom input schema mapping -> the alert function; Health Resources -> same function."""

from __future__ import annotations

from tests.infra import bicep

ALERTS = bicep.load(bicep.INFRA / "modules" / "alerts.bicep")
HEALTH = bicep.load(bicep.INFRA / "modules" / "health.bicep")
FUNCTION = bicep.load(bicep.INFRA / "modules" / "functionapp.bicep")
MAIN = bicep.load(bicep.INFRA / "main.bicep")


def props(file: bicep.BicepFile, type_: str) -> dict:
    (resource,) = file.resources_of(type_)
    return bicep.literal(resource.props["properties"])


def test_custom_topic_maps_the_common_alert_schema() -> None:
    topic = props(ALERTS, "Microsoft.EventGrid/topics")
    assert topic["inputSchema"] == "CustomEventSchema"
    mapping = topic["inputSchemaMapping"]
    assert mapping["inputSchemaMappingType"] == "Json"
    fields = {k: v.get("sourceField") for k, v in mapping["properties"].items()}
    assert fields["id"] == "data.essentials.alertId"
    assert fields["subject"] == "data.essentials.alertRule"
    assert fields["eventType"] == "data.essentials.monitorCondition"
    assert fields["eventTime"] == "data.essentials.firedDateTime"
    assert topic["disableLocalAuth"] is True


def test_action_group_posts_the_common_schema_to_the_topic_with_entra_auth() -> None:
    (receiver,) = props(ALERTS, "Microsoft.Insights/actionGroups")["webhookReceivers"]
    assert receiver["serviceUri"].text == "topic.properties.endpoint"
    assert receiver["useCommonAlertSchema"] is True
    assert receiver["useAadAuth"] is True
    assert receiver["identifierUri"] == "https://eventgrid.azure.net"


def _destination(file: bicep.BicepFile, type_: str) -> dict:
    return props(file, type_)["destination"]


def test_both_subscriptions_deliver_to_the_alert_function() -> None:
    for file, type_ in (
        (ALERTS, "Microsoft.EventGrid/topics/eventSubscriptions"),
        (HEALTH, "Microsoft.EventGrid/systemTopics/eventSubscriptions"),
    ):
        destination = _destination(file, type_)
        assert destination["endpointType"] == "AzureFunction"
        resource_id = destination["properties"]["resourceId"].text
        assert resource_id == "'${functionAppId}/functions/${alertFunctionName}'"
        assert bicep.literal(file.params["alertFunctionName"].default) == "alerts"


def test_main_wires_the_real_function_app_and_one_function_name() -> None:
    assert bicep.literal(MAIN.params["alertFunctionName"].default) == "alerts"
    for symbol in ("alerts", "health"):
        (module,) = [m for m in MAIN.modules if m.symbol == symbol]
        params = bicep.properties(bicep.properties(module.body)["params"])
        assert bicep.text(params["functionAppId"]) == "functionApp.outputs.siteId"
        assert bicep.text(params["alertFunctionName"]) == "alertFunctionName"


def test_health_resources_system_topic_and_its_events() -> None:
    topic = props(HEALTH, "Microsoft.EventGrid/systemTopics")
    assert topic["topicType"] == "Microsoft.ResourceNotifications.HealthResources"
    assert topic["source"].text == "subscription().id"
    types = props(HEALTH, "Microsoft.EventGrid/systemTopics/eventSubscriptions")["filter"]
    assert set(types["includedEventTypes"]) == {
        "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
        "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated",
    }


def test_function_app_is_linux_python_311_with_a_system_identity() -> None:
    (site,) = FUNCTION.resources_of("Microsoft.Web/sites")
    assert bicep.literal(site.props["kind"]) == "functionapp,linux"
    assert bicep.literal(site.props["identity"]) == {"type": "SystemAssigned"}
    site_props = bicep.properties(site.props["properties"])
    assert bicep.literal(site_props["httpsOnly"]) is True
    assert "'Python|3.11'" in bicep.text(
        bicep.properties(site_props["siteConfig"])["linuxFxVersion"]
    )
    assert bicep.literal(FUNCTION.params["hostingPlan"].default) == "FlexConsumption"
    decorators = " ".join(FUNCTION.params["hostingPlan"].decorators)
    assert "'FlexConsumption'" in decorators and "'ElasticPremium'" in decorators


def test_storage_has_no_public_blobs_tls12_and_no_shared_keys() -> None:
    storage = bicep.load(bicep.INFRA / "modules" / "storage.bicep")
    account = props(storage, "Microsoft.Storage/storageAccounts")
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowSharedKeyAccess"] is False
    assert account["supportsHttpsTrafficOnly"] is True


def test_outputs_give_the_base_url_and_the_agents_connection_settings() -> None:
    assert set(MAIN.outputs) >= {"functionBaseUrl", "agentSettings"}
    agent = bicep.text(MAIN.outputs["agentSettings"].value)
    for key in (
        "serviceBusNamespace",
        "eventsQueue",
        "commandsSubscription",
        "clientId",
        "tenantId",
    ):
        assert f"{key}:" in agent


def test_undeliverable_alert_events_are_dead_lettered_with_the_topics_identity() -> None:
    topic = next(r for r in ALERTS.resources_of("Microsoft.EventGrid/topics"))
    assert bicep.literal(topic.props["identity"]) == {"type": "SystemAssigned"}
    subscription = props(ALERTS, "Microsoft.EventGrid/topics/eventSubscriptions")
    dead = subscription["deadLetterWithResourceIdentity"]
    assert dead["identity"] == {"type": "SystemAssigned"}
    destination = dead["deadLetterDestination"]
    assert destination["endpointType"] == "StorageBlob"
    assert destination["properties"]["resourceId"].text == "deadLetterAccount.id"
    (module,) = [m for m in MAIN.modules if m.symbol == "alerts"]
    params = bicep.properties(bicep.properties(module.body)["params"])
    assert bicep.text(params["deadLetterStorageAccountName"]) == "storage.outputs.accountName"
