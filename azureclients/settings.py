"""App settings, read from the environment the Functions host (or devhost) fills.

Every setting the app reads is listed in `local.settings.sample.json`; the infra tests check
that the Bicep Function App module sets each of them, so a new setting is added in both.
"""

from __future__ import annotations

import json
import os
from typing import Any

from domain.errors import DomainError, ErrorInfo


class MissingSetting(DomainError):
    """A setting the operation needs is not configured (or not valid): the operator's to fix,
    not the caller's, so the API answers 500 with the setting's name."""

    status = 500


def setting(name: str, default: str | None = None) -> str:
    """The value of a setting, or a clear error naming it and the fix."""
    value = os.environ.get(name)
    if value in (None, ""):
        if default is not None:
            return default
        raise MissingSetting(
            ErrorInfo(
                code="SettingMissing",
                cause=f"The app setting {name} is not set.",
                recommendation=(
                    f"Set {name} in the Function App's settings (locally in "
                    "local.settings.json; see local.settings.sample.json)."
                ),
            )
        )
    return value


def int_setting(name: str, default: int) -> int:
    raw = setting(name, str(default))
    try:
        return int(raw)
    except ValueError as error:
        raise MissingSetting(
            ErrorInfo(
                code="SettingInvalid",
                cause=f"The app setting {name} is {raw!r}, not a whole number.",
                recommendation=f"Set {name} to a whole number (default {default}).",
            )
        ) from error


def json_setting(name: str, default: Any) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise MissingSetting(
            ErrorInfo(
                code="SettingInvalid",
                cause=f"The app setting {name} is not valid JSON: {error.msg}.",
                recommendation=f"Set {name} to a JSON value like {json.dumps(default)}.",
            )
        ) from error
