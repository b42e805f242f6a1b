"""The operator console's sign-in in Azure: App Service authentication (authsettingsV2) with
Entra ID on the Function App, admitting only the tenant's operator group, while the runbook
API, health and the platform's webhooks stay reachable with keys alone; and the app told to
trust that sign-in (CONSOLE_SIGN_IN) exactly when it is configured."""

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


def _variable(name: str):
    (node,) = [
        n
        for n in FUNCTION.root.named_children
        if n.type == "variable_declaration" and bicep.text(n.named_children[0]) == name
    ]
    return node.named_children[-1]


def test_the_app_is_told_to_trust_the_sign_in_exactly_when_it_is_configured() -> None:
    # CONSOLE_SIGN_IN=entra only when a registration is named (as the authsettingsV2 resource),
    # on both hosting plans; the app still believes the sign-in only where App Service says
    # its authentication is on (WEBSITE_AUTH_ENABLED, which infra never sets).
    settings = _variable("consoleSettings")
    assert settings.type == "ternary_expression"
    condition, when_empty, when_named = settings.named_children
    assert bicep.text(condition) == "empty(consoleClientId)"
    assert bicep.literal(when_empty) == []
    assert bicep.literal(when_named) == [{"name": "CONSOLE_SIGN_IN", "value": "entra"}]
    (site,) = FUNCTION.resources_of("Microsoft.Web/sites")
    config = bicep.properties(bicep.properties(site.props["properties"])["siteConfig"])
    _, flex, premium = config["appSettings"].named_children
    for plan in (flex, premium):
        assert "consoleSettings" in bicep.text(plan)
    source = (bicep.INFRA / "modules" / "functionapp.bicep").read_text()
    assert "name: 'WEBSITE_AUTH_ENABLED'" not in source


def test_the_consoles_api_door_stays_behind_the_sign_in() -> None:
    # /api/console/api/* is anonymous at the Functions host: the sign-in must stand in front.
    excluded = bicep.literal(signin().props["properties"])["globalValidation"]["excludedPaths"]
    assert not any(path.startswith(("/api/console", "/api/*", "/*")) for path in excluded)
