"""Tenant isolation for the runbook API.

The Functions host checks that a request carries a valid key (auth level `function`); that alone
would let any tenant's key read every tenant. So each tenant's key is also registered, as a
SHA-256 hash (never the key itself), in the setting TENANT_KEY_HASHES:
`{"contoso": ["<sha256 hex>", ...]}`. A request for /tenants/{tenant}/... passes only with a key
whose hash is listed for that tenant. Keys are compared by hash in constant time.

The one other way in is the operator console's Entra sign-in in Azure: its route runs the
same handlers with the operator set in a context variable (httpapi/signin.py), and then the
sign-in, not a key, decides, for the tenants it admits only.
"""

from __future__ import annotations

import hashlib
import hmac

import azure.functions as func

from azureclients.settings import json_setting
from domain.errors import DomainError, ErrorInfo
from httpapi.signin import acting_operator

KEY_HASHES_SETTING = "TENANT_KEY_HASHES"


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(req: func.HttpRequest) -> str | None:
    return req.headers.get("x-functions-key") or req.params.get("code")


def key_fingerprint(req: func.HttpRequest) -> str | None:
    """Who asked, as a job records it: the first 12 hex digits of the key's SHA-256, the
    prefix of its hash in TENANT_KEY_HASHES (so an operator knows which key), never the key."""
    key = presented_key(req)
    return f"key sha256:{key_hash(key)[:12]}" if key else None


def requester(req: func.HttpRequest) -> str | None:
    """Who asked, as a job records it: `entra:<name>` for the operator signed in to the
    console, else the fingerprint of the key."""
    operator = acting_operator()
    return operator.requested_by if operator is not None else key_fingerprint(req)


def _tenant_hashes() -> dict[str, list[str]]:
    hashes = json_setting(KEY_HASHES_SETTING, {})
    if not isinstance(hashes, dict):
        return {}
    return {t: h for t, h in hashes.items() if isinstance(h, list)}


def is_tenant_key(key: str | None, tenant: str | None = None) -> bool:
    """Whether `key` is a key of `tenant` (of any tenant when None) in TENANT_KEY_HASHES."""
    if not key:
        return False
    presented = key_hash(key)
    hashes = _tenant_hashes()
    lists = [hashes.get(tenant, [])] if tenant is not None else list(hashes.values())
    return any(hmac.compare_digest(presented, str(h)) for allowed in lists for h in allowed)


def authorize_tenant(req: func.HttpRequest, tenant: str) -> None:
    """Raise unless the request's key belongs to `tenant`, or the request is the console's,
    signed in for `tenant`."""
    operator = acting_operator()
    if operator is not None:
        if tenant in operator.tenants:
            return
        raise Forbidden(
            ErrorInfo(
                code="TenantForbidden",
                cause=f"The console's sign-in does not admit tenant '{tenant}'.",
                recommendation="Open the console of this tenant's own control plane.",
            )
        )
    key = presented_key(req)
    if not key:
        raise Unauthorized(
            ErrorInfo(
                code="KeyMissing",
                cause="The request carries no key.",
                recommendation="Send the tenant's key in the x-functions-key header.",
            )
        )
    if not is_tenant_key(key, tenant):
        # The same answer whether the tenant exists or not: no tenant enumeration.
        raise Forbidden(
            ErrorInfo(
                code="TenantForbidden",
                cause=f"This key is not a key of tenant '{tenant}'.",
                recommendation=(
                    "Use the key issued for this tenant; an operator registers its SHA-256 "
                    f"hash under the tenant in {KEY_HASHES_SETTING}."
                ),
            )
        )
