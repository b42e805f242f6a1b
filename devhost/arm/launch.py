"""How devhost gives the app its ARM: one call that `python -m devhost --with-arm`, the e2e
fixture and the demo share, so they cannot drift apart.

It starts the stand-in for the app's own settings (its groups and networks come from them),
then fills the process environment the way Azure Functions would: the app settings for
failover that are still unset get their local values, `ARM_ENDPOINT` points at the running
stand-in, and the managed-identity variables and the CA bundle are set. The app itself reads
nothing new: it builds its clients as it does in Azure.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from devhost.arm.config import LOCAL_STORAGE, StandInConfig, local_failover_settings
from devhost.arm.errors import ArmError
from devhost.arm.server import ArmStandIn

# The app's replica connection: the stand-in imports disks from the account it names.
REPLICAS = "ReplicaStorage"


def replica_storage(environ: MutableMapping[str, str] = os.environ) -> str:
    """The Azurite connection string behind the app's replica storage setting."""
    value = environ.get(REPLICAS)
    if not value or value == "UseDevelopmentStorage=true":
        return LOCAL_STORAGE
    return value


def start_for_app(
    data_dir: Path,
    storage_connection: str,
    environ: MutableMapping[str, str] = os.environ,
    port: int = 0,
    retry_after: int = 1,
) -> ArmStandIn:
    """A started stand-in for the app whose settings are in `environ`, which it updates.
    The caller stops it (`stop()` or `with`)."""
    settings = {**local_failover_settings(""), **{k: v for k, v in environ.items() if v}}
    try:
        config = StandInConfig.from_settings(settings, retry_after=retry_after)
    except ArmError as error:
        raise ValueError(
            f"{error.target}: {error.message} Fix: set it to an ARM id in local.settings.json, "
            "or remove it for the local default."
        ) from None
    arm = ArmStandIn(data_dir, storage_connection, config, port=port).start()
    for name, value in local_failover_settings(arm.endpoint).items():
        if name == "ARM_ENDPOINT" or not environ.get(name):
            environ[name] = value
    environ.update(arm.app_environment())
    return arm
