"""Bearer tokens as ARM checks them, minus the signature.

ARM accepts a JWT whose audience is the management endpoint and which has not expired; the
stand-in checks the same things and, like Azurite's OAuth mode, not the signature (nothing
here can sign as Microsoft Entra). A refusal is a 401 with ARM's code and message and the
`WWW-Authenticate` challenge ARM adds, so the SDK raises the same ClientAuthenticationError it
raises against Azure.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import UTC, datetime

from devhost.arm.errors import ArmError

# The audiences ARM accepts, in the order its own refusal lists them.
AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)


def _refuse(code: str, message: str) -> ArmError:
    challenge = (
        'Bearer authorization_uri="https://login.microsoftonline.com/common", '
        f'error="invalid_token", error_description="{message}"'
    )
    return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})


def _segment(value: str) -> dict:
    padded = value + "=" * (-len(value) % 4)
    decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(decoded, dict):
        raise ValueError("not a JSON object")
    return decoded


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m/%d/%Y %H:%M:%S")


def check_bearer(authorization: str | None, now: float | None = None) -> dict:
    """The token's claims, or the ArmError ARM answers for this Authorization header."""
    if not authorization:
        raise _refuse(
            "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        )
    parts = token.strip().split(".")
    try:
        if len(parts) != 3:
            raise ValueError("a JWT has three parts")
        _segment(parts[0])
        claims = _segment(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _refuse("InvalidAuthenticationToken", "The access token is invalid.") from None
    audience = claims.get("aud")
    if audience not in AUDIENCES:
        allowed = ",".join(f"'{a}'" for a in AUDIENCES)
        raise _refuse(
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{audience}'. "
            f"It should exactly match with one of the allowed audiences {allowed}.",
        )
    current = time.time() if now is None else now
    expires = claims.get("exp")
    if not isinstance(expires, int | float):
        raise _refuse("InvalidAuthenticationToken", "The access token is invalid.")
    if expires <= current:
        raise _refuse(
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{_utc(expires)}' is earlier than current UTC "
            f"time '{_utc(current)}'.",
        )
    return claims
