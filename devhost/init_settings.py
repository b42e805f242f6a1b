"""`python -m devhost.init_settings`: create local.settings.json from the sample, with fresh keys.

Keys are random per machine and never committed (local.settings.json is git-ignored). The
tenant `contoso` gets a key, registered by its SHA-256 hash, so the runbook API works at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from pathlib import Path

# The replication watchdog's timer (NCRONTAB): every minute, as local.settings.sample.json.
WATCHDOG_SCHEDULE = "0 */1 * * * *"


def key_settings(tenant_keys: dict[str, str], master_key: str | None = None) -> dict[str, str]:
    """devhost's keys and the app's TENANT_KEY_HASHES for these tenants' keys.

    One place builds them, so the demo, the benchmarks, the tests and `make up` cannot drift
    apart; only the SHA-256 of a tenant key is ever stored in the app's settings."""
    return {
        "DEVHOST_MASTER_KEY": master_key or secrets.token_urlsafe(32),
        "DEVHOST_HOST_KEYS": ",".join(f"{tenant}={key}" for tenant, key in tenant_keys.items()),
        "TENANT_KEY_HASHES": json.dumps(
            {
                tenant: [hashlib.sha256(key.encode()).hexdigest()]
                for tenant, key in tenant_keys.items()
            }
        ),
    }


def embedded_settings(
    storage: str,
    servicebus: str,
    tenant_keys: dict[str, str],
    master_key: str | None = None,
    arm_endpoint: str | None = None,
    sites: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """Everything the app needs to run on the embedded default: every storage connection on
    one Azurite, Service Bus on the local broker, the keys, the agents' sites of each tenant
    (`sites`; default: the first tenant's agent on site-local, whose queue the broker's
    default entities have), and with `arm_endpoint` (the local ARM stand-in) the failover
    target: subscription, recovery group, region, networks and the replicas' account id."""
    sites = sites if sites is not None else {next(iter(tenant_keys)): ["site-local"]}
    from devhost.arm.config import local_failover_settings

    return {
        "ReadModelStorage": storage,
        "ReplicaStorage": storage,
        "AzureWebJobsStorage": storage,
        "ServiceBusConnection": servicebus,
        "REPLICATION_WATCHDOG_SCHEDULE": WATCHDOG_SCHEDULE,
        "AGENT_SITES": json.dumps(sites),
        **key_settings(tenant_keys, master_key),
        **(local_failover_settings(arm_endpoint) if arm_endpoint else {}),
    }


def create(sample: Path, target: Path, tenant: str = "contoso") -> str | None:
    """Write `target` unless it exists; return the tenant key when one was made."""
    if target.exists():
        return None
    settings = json.loads(sample.read_text())
    key = secrets.token_urlsafe(32)
    settings["Values"].update(key_settings({tenant: key}))
    # It holds the master and tenant keys: readable by its owner only, from its first byte.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps(settings, indent=2) + "\n")
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
