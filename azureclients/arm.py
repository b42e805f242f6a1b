"""Azure Resource Manager clients (Compute, Network, Site Recovery) and where failed-over VMs go.

The clients are the real `azure-mgmt-*` ones with the app's one credential (the managed
identity in Azure; locally the identity endpoint devhost serves), against `ARM_ENDPOINT`
(Azure's public endpoint when unset; devhost's ARM stand-in locally). They trust what the
environment trusts, as every Azure SDK client does. Cached per process: they hold pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

from azureclients.clients import credential
from azureclients.settings import setting
from domain.errors import DomainError, ErrorInfo

AZURE_RESOURCE_MANAGER = "https://management.azure.com"


@dataclass(frozen=True)
class RecoveryTarget:
    """Where failover makes VMs: one resource group and location per control plane, the
    recovery subnet for failovers and an isolated one for test failovers, and the storage
    account holding the replicas (Import names it)."""

    subscription: str
    resource_group: str
    location: str
    subnet_id: str
    test_subnet_id: str
    storage_account_id: str


def recovery_target() -> RecoveryTarget:
    """The target from settings; a missing one is a MissingSetting naming it and the fix."""
    return RecoveryTarget(
        subscription=setting("AZURE_SUBSCRIPTION_ID"),
        resource_group=setting("RECOVERY_RESOURCE_GROUP"),
        location=setting("RECOVERY_LOCATION"),
        subnet_id=setting("RECOVERY_SUBNET_ID"),
        test_subnet_id=setting("TEST_FAILOVER_SUBNET_ID"),
        storage_account_id=setting("REPLICA_STORAGE_ACCOUNT_ID"),
    )


def _endpoint() -> str:
    return (setting("ARM_ENDPOINT", "") or AZURE_RESOURCE_MANAGER).rstrip("/")


@cache
def _compute(endpoint: str, subscription: str) -> ComputeManagementClient:
    return ComputeManagementClient(credential(), subscription, base_url=endpoint)


@cache
def _network(endpoint: str, subscription: str) -> NetworkManagementClient:
    return NetworkManagementClient(credential(), subscription, base_url=endpoint)


def compute_client() -> ComputeManagementClient:
    return _compute(_endpoint(), setting("AZURE_SUBSCRIPTION_ID"))


def network_client() -> NetworkManagementClient:
    return _network(_endpoint(), setting("AZURE_SUBSCRIPTION_ID"))


@dataclass(frozen=True)
class AsrVault:
    """The Recovery Services vault the `asr` provider drives (`ASR_VAULT_ID`)."""

    subscription: str
    resource_group: str
    name: str


def asr_vault() -> AsrVault:
    parts = [p for p in setting("ASR_VAULT_ID").split("/") if p]
    if len(parts) != 8 or parts[6].lower() != "vaults":
        raise DomainError(
            ErrorInfo(
                code="InvalidSetting",
                cause=f"ASR_VAULT_ID '{setting('ASR_VAULT_ID')}' is not a Recovery Services "
                "vault id.",
                recommendation="Set ASR_VAULT_ID to /subscriptions/{s}/resourceGroups/{rg}/"
                "providers/Microsoft.RecoveryServices/vaults/{name}.",
            )
        )
    return AsrVault(parts[1], parts[3], parts[7])


@cache
def _site_recovery(endpoint: str, subscription: str) -> SiteRecoveryManagementClient:
    return SiteRecoveryManagementClient(credential(), subscription, base_url=endpoint)


def site_recovery_client() -> SiteRecoveryManagementClient:
    return _site_recovery(_endpoint(), asr_vault().subscription)
