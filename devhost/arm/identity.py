"""A local managed-identity endpoint with App Service's protocol, for the app's credential.

Azure Functions gives the app `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`; azure-identity's
ManagedIdentityCredential (and so DefaultAzureCredential) then asks
`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<audience>` with the header
`X-IDENTITY-HEADER: {IDENTITY_HEADER}` and expects `access_token`, `expires_on` (epoch
seconds, a string), `resource` and `token_type`. devhost serves that on plain HTTP on
loopback, as App Service does, and sets the two variables for the app process: the app keeps
the credential code it runs in Azure. The token is an unsigned JWT for the asked resource,
which the stand-in and Azurite's OAuth mode accept.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

API_VERSION = "2019-08-01"
LIFETIME_SECONDS = 3600


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@dataclass
class LocalIdentity:
    """The one system-assigned identity of the local Function App."""

    tenant_id: str
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    header: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    issued: list[str] = field(default_factory=list)  # resources asked for, oldest first

    def token(self, resource: str, now: float | None = None) -> tuple[str, int]:
        issued_at = int(time.time() if now is None else now)
        expires = issued_at + LIFETIME_SECONDS
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": issued_at,
            "nbf": issued_at - 60,
            "exp": expires,
            "oid": self.object_id,
            "sub": self.object_id,
            "tid": self.tenant_id,
            "appid": self.client_id,
            "idtyp": "app",
        }
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.", expires

    async def handle(self, request: web.Request) -> web.Response:
        if not secrets.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), self.header):
            return web.json_response(
                {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is wrong"},
                status=401,
            )
        resource = request.query.get("resource", "")
        if request.query.get("api-version") != API_VERSION or not resource:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": f"api-version={API_VERSION} and resource are required",
                },
                status=400,
            )
        token, expires = self.token(resource)
        self.issued.append(resource)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": self.client_id,
            }
        )
