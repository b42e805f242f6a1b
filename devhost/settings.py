"""App settings for devhost: local.settings.json `Values`, with real environment variables
winning, exported to the environment the way the Functions host exports app settings."""

from __future__ import annotations

import json
import os
from pathlib import Path


class SettingsError(SystemExit):
    """devhost cannot start: the message names the setting and the fix."""


def load_settings(path: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if path is not None:
        if not path.exists():
            raise SettingsError(
                f"devhost: settings file {path} does not exist. Fix: copy "
                "local.settings.sample.json to local.settings.json (make does this), or pass "
                "--settings PATH."
            )
        try:
            values = {k: str(v) for k, v in json.loads(path.read_text())["Values"].items()}
        except (json.JSONDecodeError, KeyError, AttributeError) as error:
            raise SettingsError(
                f"devhost: {path} is not a settings file with a 'Values' object ({error}). "
                "Fix: start from local.settings.sample.json."
            ) from error
    for key, value in os.environ.items():
        if key in values:
            values[key] = value
    return values


def export(values: dict[str, str]) -> None:
    for key, value in values.items():
        os.environ.setdefault(key, value)
        if os.environ[key] == "" and value:
            os.environ[key] = value


def require(names: list[tuple[str, str]]) -> None:
    """Refuse to start when a needed setting is unset; `names` pairs each with why."""
    missing = [(n, why) for n, why in names if not os.environ.get(n)]
    if missing:
        lines = "\n".join(f"  - {n}: {why}" for n, why in missing)
        raise SettingsError(
            f"devhost: missing settings:\n{lines}\nFix: set them in local.settings.json "
            "(see local.settings.sample.json) or in the environment."
        )
