"""The signed-in console's door to the runbook API, without a host: route templates matched as
the Functions host matches them, a route table that holds every runbook route the app declares
(and nothing else), the app's only anonymous routes being health and the console's two, and
the door itself refusing whatever is not a trusted sign-in from the console page.

The door in a real browser, against devhost, is in tests/e2e/console/test_console_signin.py."""

from __future__ import annotations

import asyncio
import json

import azure.durable_functions as df
import azure.functions as func
import pytest

import function_app
from httpapi.route_templates import RouteTemplate, UnsupportedRoute
from httpapi.runbook_routes import RUNBOOK_API
from tests.console.test_signin import easy_auth_headers
from triggers.console_api import console_api
from triggers.openapi import NOT_IN_DOCUMENT, ROUTES

# --- route templates -----------------------------------------------------------------------


def test_a_template_matches_whole_segments_and_decodes_the_values() -> None:
    template = RouteTemplate.parse("tenants/{tenant}/vms/{vm}/failover")
    assert template.match("tenants/contoso/vms/web-01/failover") == {
        "tenant": "contoso",
        "vm": "web-01",
    }
    assert template.match("/Tenants/contoso/VMS/web-01/failover/") == {
        "tenant": "contoso",
        "vm": "web-01",
    }  # literals compare without case, as the host's routing does
    # A value is matched as sent and decoded afterwards: an encoded slash stays in it.
    assert template.match("tenants/contoso/vms/a%2Fb%20c/failover") == {
        "tenant": "contoso",
        "vm": "a/b c",
    }
    for other in (
        "tenants/contoso/vms/web-01",
        "tenants/contoso/vms/web-01/failover/cleanup",
        "tenants//vms/web-01/failover",
        "tenants/contoso/vms/web-01/failovers",
        "",
    ):
        assert template.match(other) is None, other


def test_a_catch_all_takes_the_rest_of_the_path() -> None:
    template = RouteTemplate.parse("console/api/{*rest}")
    assert template.match("console/api/tenants/contoso/vms") == {"rest": "tenants/contoso/vms"}
    assert template.match("console/api") == {"rest": ""}  # as the host: it may be empty
    assert RouteTemplate.parse("openapi.json").match("openapi.json") == {}


@pytest.mark.parametrize(
    "template", ["tenants/{tenant:int}", "files/{name}.json", "{*rest}/more", "a//b", "{a?}"]
)
def test_a_form_the_matcher_does_not_know_is_refused_when_declared(template: str) -> None:
    with pytest.raises(UnsupportedRoute):
        RouteTemplate.parse(template)


# --- the route table and the app's routes -----------------------------------------------------


def http_functions() -> dict[str, dict]:
    """The app's HTTP functions: name -> trigger, from the blueprints function_app composes."""
    blueprints = [
        v for v in vars(function_app).values() if isinstance(v, df.Blueprint | func.Blueprint)
    ]
    found = {}
    for blueprint in blueprints:
        for builder in blueprint._function_builders:
            function = builder.build()
            trigger = function.get_trigger().get_dict_repr()
            if trigger["type"] == "httpTrigger":
                level = trigger["authLevel"]
                found[function.get_function_name()] = {**trigger, "authLevel": level.value}
    return found


def test_every_runbook_route_is_in_the_table_and_nothing_else() -> None:
    documented = {(r.method, r.path.lstrip("/")) for r in ROUTES}
    in_table = {(r.method, r.template.template) for r in RUNBOOK_API.routes()}
    # The runbook API and its document: all of it but health (no key needed, and no tenant)
    # and the console's page (the page itself is not something the page calls).
    assert in_table == documented - {("GET", "health"), ("GET", "console")}


def test_the_only_anonymous_routes_are_health_and_the_consoles_which_authenticate_in_the_app() -> (
    None
):
    functions = http_functions()
    assert len(functions) == len(ROUTES) + len(NOT_IN_DOCUMENT)
    anonymous = {name for name, t in functions.items() if t["authLevel"] == "anonymous"}
    # health: liveness, no data. console_page: a static page with no tenant data; it answers
    # 401 without a tenant's key or a trusted sign-in. console_api: 401 unless the trusted
    # sign-in, then the runbook handler with the tenant authorized by the sign-in.
    assert anonymous == {"health", "console_page", "console_api"}
    for name, trigger in functions.items():
        if name not in anonymous:
            assert trigger["authLevel"] == "function", name


# --- the door ---------------------------------------------------------------------------------


def call(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""):
    req = func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/console/api/{path}",
        headers=headers or {},
        route_params={"rest": path.split("?", 1)[0]},
        body=body,
    )
    response = asyncio.run(console_api(req, client="{}"))
    return response.status_code, json.loads(response.get_body() or b"null")


CONSOLE = {"x-drcp-console": "1"}


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_SIGN_IN", "entra")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    monkeypatch.setenv("AGENT_SITES", json.dumps({"contoso": ["contoso-hq"]}))


def test_without_a_trusted_sign_in_the_door_answers_401(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSOLE_SIGN_IN", raising=False)
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    status, body = call("GET", "openapi.json", {**easy_auth_headers(), **CONSOLE})
    assert (status, body["code"]) == (401, "SignInRequired")
    assert "sign in" in body["recommendation"]


def test_another_sites_request_is_refused_even_signed_in(trusted: None) -> None:
    status, body = call("POST", "tenants/contoso/vms/x/protection", easy_auth_headers(), b"{}")
    assert (status, body["code"]) == (403, "ConsoleRequestRequired")


def test_signed_in_the_door_runs_the_runbook_routes_handler(trusted: None) -> None:
    status, body = call("GET", "openapi.json", {**easy_auth_headers(), **CONSOLE})
    assert status == 200 and "/api/tenants/{tenant}/vms" in body["paths"]


def test_signed_in_another_tenant_is_refused_before_anything_is_read(trusted: None) -> None:
    status, body = call("GET", "tenants/fabrikam/vms", {**easy_auth_headers(), **CONSOLE})
    assert (status, body["code"]) == (403, "TenantForbidden")
    assert "sign-in does not admit tenant 'fabrikam'" in body["cause"]


def test_a_path_no_runbook_route_serves_is_not_found(trusted: None) -> None:
    headers = {**easy_auth_headers(), **CONSOLE}
    assert call("GET", "tenants/contoso/nothing", headers)[1]["code"] == "RouteNotFound"
    assert call("PATCH", "tenants/contoso/vms", headers)[1]["code"] == "MethodNotServed"
    # The door does not open onto itself, health or the page.
    for path in ("console", "console/api/openapi.json", "health"):
        assert call("GET", path, headers)[0] == 404, path
