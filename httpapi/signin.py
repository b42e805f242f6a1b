"""Who signed in to the operator console in Azure, and for which tenants.

In Azure, App Service authentication (Easy Auth, infra/modules/functionapp.bicep) signs the
operator in with Entra ID before a console request reaches the app, admits only the members
of the tenant's operator group, and tells the app who signed in with the headers
X-MS-CLIENT-PRINCIPAL-ID, X-MS-CLIENT-PRINCIPAL-NAME and X-MS-CLIENT-PRINCIPAL (base64 JSON);
it removes those headers from whatever a client sends. Anywhere else (devhost, an app without
the sign-in) anyone can send them, so they are believed only when both hold:

- CONSOLE_SIGN_IN is `entra`: infra sets it exactly when it configures the sign-in;
- WEBSITE_AUTH_ENABLED is `True`: App Service sets it itself when authentication is on.

A signed-in operator acts for the tenants this control plane serves: those of AGENT_SITES,
which infra builds from the deployment's one `tenantName` (one deployment, one tenant, one
operator group). The console's own route sets `acting_operator` for the request it
dispatches (triggers/console_api.py); nothing else sets it, and nothing a request carries
does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import azure.functions as func

from azureclients.settings import json_setting, setting

SIGN_IN_SETTING = "CONSOLE_SIGN_IN"
ENTRA = "entra"
# Set by App Service, never by this app or its infra: "True" when authentication is on.
AUTH_ENABLED_SETTING = "WEBSITE_AUTH_ENABLED"
SITES_SETTING = "AGENT_SITES"  # the tenants and their sites (application/agent_sites.py)

PRINCIPAL_ID = "x-ms-client-principal-id"
PRINCIPAL_NAME = "x-ms-client-principal-name"
PRINCIPAL = "x-ms-client-principal"
# Easy Auth names its Entra ID provider "aad" in the principal it passes on.
ENTRA_AUTH_TYPE = "aad"
MAX_NAME_LENGTH = 256


def sign_in_trusted() -> bool:
    """Whether Easy Auth's principal headers come from the platform here (see above)."""
    configured = setting(SIGN_IN_SETTING, "").strip().lower() == ENTRA
    return configured and setting(AUTH_ENABLED_SETTING, "").strip().lower() == "true"


def signed_in_operator(req: func.HttpRequest) -> str | None:
    """The name of the operator Easy Auth signed in, or None: no trusted sign-in, or headers
    that are not the whole principal Easy Auth passes on with Entra ID."""
    if not sign_in_trusted():
        return None
    principal_id = (req.headers.get(PRINCIPAL_ID) or "").strip()
    name = (req.headers.get(PRINCIPAL_NAME) or "").strip()
    if not principal_id or not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        return None
    try:
        principal = json.loads(base64.b64decode(req.headers.get(PRINCIPAL) or "", validate=True))
    except (binascii.Error, ValueError, RecursionError):
        return None
    if (
        not isinstance(principal, dict)
        or principal.get("auth_typ") != ENTRA_AUTH_TYPE
        or not isinstance(principal.get("claims"), list)
    ):
        return None
    return name


def console_tenants() -> tuple[str, ...]:
    """The tenants this control plane serves (AGENT_SITES): in Azure, the deployment's one."""
    sites = json_setting(SITES_SETTING, {})
    return tuple(t for t in sites if isinstance(t, str)) if isinstance(sites, dict) else ()


@dataclass(frozen=True)
class ConsoleOperator:
    """The signed-in operator a console request acts as, and the tenants the sign-in admits."""

    name: str
    tenants: frozenset[str]

    @property
    def requested_by(self) -> str:
        """Who asked, as a job records it."""
        return f"entra:{self.name}"


_acting: ContextVar[ConsoleOperator | None] = ContextVar("console_operator", default=None)


@contextmanager
def acting_for(operator: ConsoleOperator) -> Iterator[None]:
    """Run the console's dispatched handler as `operator` (for triggers/console_api.py only)."""
    token = _acting.set(operator)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_operator() -> ConsoleOperator | None:
    """The signed-in operator this request acts as; None on every route but the console's."""
    return _acting.get()
