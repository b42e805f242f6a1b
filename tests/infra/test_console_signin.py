"""The operator console's sign-in in Azure: App Service authentication (authsettingsV2) with
Entra ID on the Function App, admitting only the tenant's operator group, while the runbook
API, health and the platform's webhooks stay reachable with keys alone."""

from __future__ import annotations

from tests.infra import bicep

FUNCTION = bicep.load(bicep.INFRA / "modules" / "functionapp.bicep")
MAIN = bicep.load(bicep.INFRA / "main.bicep")


def signin() -> bicep.Resource:
    (config,) = FUNCTION.resources_of("Microsoft.Web/sites/config")
    return config


def test_authsettings_v2_is_the_sites_config_and_only_when_a_registration_is_named() -> None:
    config = signin()
    assert bicep.literal(config.props["name"]) == "authsettingsV2"
    assert bicep.text(config.props["parent"]) == "site"
    assert config.condition is not None and "consoleClientId" in config.condition


def test_sign_in_is_required_for_the_console_and_redirects_to_entra() -> None:
    settings = bicep.literal(signin().props["properties"])
    assert settings["platform"] == {"enabled": True}
    validation = settings["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "RedirectToLoginPage"
    assert validation["redirectToProvider"] == "azureactivedirectory"
    assert settings["httpSettings"] == {"requireHttps": True}


def test_runbook_routes_health_and_webhooks_stay_key_only_but_the_console_does_not() -> None:
    excluded = bicep.literal(signin().props["properties"])["globalValidation"]["excludedPaths"]
    assert set(excluded) == {
        "/api/health",
        "/api/openapi.json",
        "/api/tenants/*",
        "/runtime/webhooks/*",
    }
    assert not any(path.startswith("/api/console") for path in excluded)


def test_only_the_tenants_operator_group_is_admitted_and_no_secret_is_involved() -> None:
    aad = bicep.literal(signin().props["properties"])["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["registration"]["clientId"] == bicep.Expr("consoleClientId")
    issuer = aad["registration"]["openIdIssuer"]
    assert isinstance(issuer, bicep.Expr) and "tenant().tenantId" in issuer.text
    assert "clientSecretSettingName" not in aad["registration"]
    groups = aad["validation"]["defaultAuthorizationPolicy"]["allowedPrincipals"]["groups"]
    assert groups == [bicep.Expr("consoleOperatorGroupObjectId")]


def test_main_passes_the_registration_and_the_group_to_the_function_app() -> None:
    (module,) = [m for m in MAIN.modules if m.path == "modules/functionapp.bicep"]
    params = bicep.properties(bicep.properties(module.body)["params"])
    assert bicep.text(params["consoleClientId"]) == "consoleClientId"
    assert bicep.text(params["consoleOperatorGroupObjectId"]) == "consoleOperatorGroupObjectId"
    for name in ("consoleClientId", "consoleOperatorGroupObjectId"):
        assert bicep.literal(MAIN.params[name].default) == ""
