"""ARM's error shape: `{"error": {"code", "message", "target"?, "details"?}}`.

The real SDKs turn this body into `HttpResponseError.error.code` / `.message`, and callers
branch on the code, so every refusal of the stand-in carries the code Azure uses for the same
refusal (docs/devhost.md lists them, and says where the message is Azure's own wording).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class ArmError(Exception):
    """A refusal: raised anywhere in a handler, answered by the server in ARM's shape."""

    status: int
    code: str
    message: str
    target: str | None = None
    details: list[dict] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body()),
            content_type="application/json",
            headers=self.headers,
        )


def bad_request(code: str, message: str, target: str | None = None) -> ArmError:
    return ArmError(400, code, message, target)


def required(name: str) -> ArmError:
    """Compute's answer to a missing required property (its exact wording)."""
    return ArmError(
        400, "InvalidParameter", f"Required parameter '{name}' is missing (null).", name
    )
