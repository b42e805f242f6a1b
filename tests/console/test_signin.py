"""When the app believes App Service authentication's principal headers, and what a belief lets
a request do: only with CONSOLE_SIGN_IN=entra and the platform's WEBSITE_AUTH_ENABLED=True, only
a whole Entra principal, and only inside the console's dispatch (the context variable) does the
sign-in stand in for a tenant's key, for the tenants of this control plane only."""

from __future__ import annotations

import base64
import hashlib
import json

import azure.functions as func
import pytest

from domain.errors import DomainError
from httpapi.auth import authorize_tenant, is_tenant_key, requester
from httpapi.signin import (
    ConsoleOperator,
    acting_for,
    acting_operator,
    console_tenants,
    signed_in_operator,
)

NAME = "ops@contoso.example"
KEY = "key-of-contoso"


def principal(**over: object) -> str:
    """X-MS-CLIENT-PRINCIPAL as Easy Auth passes it on with Entra ID."""
    body = {
        "auth_typ": "aad",
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [{"typ": "name", "val": NAME}, {"typ": "groups", "val": "group-id"}],
        **over,
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def easy_auth_headers(**over: str) -> dict[str, str]:
    return {
        "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-0000000000aa",
        "X-MS-CLIENT-PRINCIPAL-NAME": NAME,
        "X-MS-CLIENT-PRINCIPAL": principal(),
        **over,
    }


def request(headers: dict[str, str] | None = None, url: str = "http://127.0.0.1/api/console"):
    return func.HttpRequest("GET", url, headers=headers or {}, body=b"")


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_SIGN_IN", "entra")
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSOLE_SIGN_IN", raising=False)
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED", raising=False)
    monkeypatch.setenv("AGENT_SITES", json.dumps({"contoso": ["contoso-hq"]}))
    hashes = {"contoso": [hashlib.sha256(KEY.encode()).hexdigest()]}
    monkeypatch.setenv("TENANT_KEY_HASHES", json.dumps(hashes))


# --- whom the headers are believed from ---------------------------------------------------


def test_the_headers_alone_are_not_believed() -> None:
    assert signed_in_operator(request(easy_auth_headers())) is None


def test_the_setting_without_the_platforms_authentication_is_not_believed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_SIGN_IN", "entra")
    assert signed_in_operator(request(easy_auth_headers())) is None
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "False")
    assert signed_in_operator(request(easy_auth_headers())) is None


def test_the_platforms_authentication_without_the_setting_is_not_believed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")
    assert signed_in_operator(request(easy_auth_headers())) is None
    monkeypatch.setenv("CONSOLE_SIGN_IN", "something-else")
    assert signed_in_operator(request(easy_auth_headers())) is None


def test_both_on_the_operators_name(trusted: None) -> None:
    assert signed_in_operator(request(easy_auth_headers())) == NAME


def test_both_on_no_headers_no_operator(trusted: None) -> None:
    assert signed_in_operator(request()) is None


MALFORMED = ["not base64", "not JSON", "not an object", "not Entra", "no claims", "no principal",
             "no id", "no name", "a long name", "a control character"]  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": "not base64!"}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"not json").decode()}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"[1, 2]").decode()}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": principal(auth_typ="github")}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": principal(claims="none")}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL": ""}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL-ID": ""}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL-NAME": ""}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL-NAME": "x" * 300}),
        easy_auth_headers(**{"X-MS-CLIENT-PRINCIPAL-NAME": "ops\u0007@contoso"}),
    ],
    ids=MALFORMED,
)
def test_a_malformed_principal_is_no_operator(trusted: None, headers: dict[str, str]) -> None:
    assert signed_in_operator(request(headers)) is None


def test_the_tenants_are_those_of_agent_sites(monkeypatch: pytest.MonkeyPatch) -> None:
    assert console_tenants() == ("contoso",)
    monkeypatch.setenv("AGENT_SITES", json.dumps({"contoso": ["a"], "fabrikam": ["b"]}))
    assert console_tenants() == ("contoso", "fabrikam")
    monkeypatch.setenv("AGENT_SITES", "[]")
    assert console_tenants() == ()


# --- what the sign-in stands in for ---------------------------------------------------------

OPERATOR = ConsoleOperator(name=NAME, tenants=frozenset({"contoso"}))


def test_without_the_consoles_dispatch_a_tenant_needs_its_key(trusted: None) -> None:
    signed_in = request(easy_auth_headers())
    with pytest.raises(DomainError) as refused:
        authorize_tenant(signed_in, "contoso")
    assert refused.value.status == 401
    authorize_tenant(request({"x-functions-key": KEY}), "contoso")
    assert requester(request({"x-functions-key": KEY})).startswith("key sha256:")


def test_inside_the_consoles_dispatch_the_sign_in_admits_its_tenants_only() -> None:
    with acting_for(OPERATOR):
        authorize_tenant(request(), "contoso")
        with pytest.raises(DomainError) as refused:
            authorize_tenant(request({"x-functions-key": KEY}), "fabrikam")
        assert refused.value.status == 403
        assert refused.value.errors[0].code == "TenantForbidden"
        assert requester(request({"x-functions-key": KEY})) == f"entra:{NAME}"
    assert acting_operator() is None  # gone when the dispatch ends
    with pytest.raises(DomainError):
        authorize_tenant(request(), "contoso")


def test_a_key_is_a_tenants_only_as_tenant_key_hashes_lists_it() -> None:
    assert is_tenant_key(KEY) and is_tenant_key(KEY, "contoso")
    assert not is_tenant_key(KEY, "fabrikam")
    assert not is_tenant_key("another-key") and not is_tenant_key(None) and not is_tenant_key("")
