"""`python -m devhost.init_settings`: create local.settings.json from the sample, with fresh keys.

Keys are random per machine and never committed (local.settings.json is git-ignored). The
tenant `contoso` gets a key, registered by its SHA-256 hash, so the runbook API works at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from pathlib import Path


def create(sample: Path, target: Path, tenant: str = "contoso") -> str | None:
    """Write `target` unless it exists; return the tenant key when one was made."""
    if target.exists():
        return None
    settings = json.loads(sample.read_text())
    key = secrets.token_urlsafe(32)
    values = settings["Values"]
    values["DEVHOST_MASTER_KEY"] = secrets.token_urlsafe(32)
    values["DEVHOST_HOST_KEYS"] = f"{tenant}={key}"
    values["TENANT_KEY_HASHES"] = json.dumps({tenant: [hashlib.sha256(key.encode()).hexdigest()]})
    target.write_text(json.dumps(settings, indent=2) + "\n")
    return key


def main() -> int:
    key = create(Path("local.settings.sample.json"), Path("local.settings.json"))
    if key is None:
        print("local.settings.json exists; left as it is.")
    else:
        print("Created local.settings.json with fresh keys.")
        print(f"Tenant 'contoso' key (send as x-functions-key): {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
