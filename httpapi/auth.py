"""Tenant isolation for the runbook API.

The Functions host checks that a request carries a valid key (auth level `function`); that alone
would let any tenant's key read every tenant. So each tenant's key is also registered, as a
SHA-256 hash (never the key itself), in the setting TENANT_KEY_HASHES:
`{"contoso": ["<sha256 hex>", ...]}`. A request for /tenants/{tenant}/... passes only with a key
whose hash is listed for that tenant. Keys are compared by hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

import azure.functions as func

from azureclients.settings import json_setting
from domain.errors import DomainError, ErrorInfo

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


def authorize_tenant(req: func.HttpRequest, tenant: str) -> None:
    """Raise unless the request's key belongs to `tenant`."""
    key = presented_key(req)
    if not key:
        raise Unauthorized(
            ErrorInfo(
                code="KeyMissing",
                cause="The request carries no key.",
                recommendation="Send the tenant's key in the x-functions-key header.",
            )
        )
    hashes = json_setting(KEY_HASHES_SETTING, {})
    allowed = hashes.get(tenant, []) if isinstance(hashes, dict) else []
    presented = key_hash(key)
    if not any(hmac.compare_digest(presented, h) for h in allowed):
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
