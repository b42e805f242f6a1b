"""What the stand-in knows before any request: its subscription, region, resource groups and
the networks failover lands in, plus the local defaults of the app's failover settings.

Azure refuses a resource in a resource group that does not exist, so the stand-in does too;
the groups and networks it starts with come from the app's own settings (the recovery
resource group, `RECOVERY_SUBNET_ID`, `TEST_FAILOVER_SUBNET_ID`), so the app and the stand-in
can never disagree about them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devhost.arm.ids import ResourceId
from devhost.azurite import DEV_ACCOUNT, DEV_KEY

# A fixed, obviously local subscription: ids written to tables survive a devhost restart.
LOCAL_SUBSCRIPTION = "7a3c2e10-4c1a-4d2e-9b0e-10ca1d0e0001"
LOCAL_TENANT = "7a3c2e10-4c1a-4d2e-9b0e-10ca1d0e00aa"
LOCAL_LOCATION = "westeurope"
LOCAL_RECOVERY_GROUP = "rg-recovery"
LOCAL_CONTROL_PLANE_GROUP = "rg-drcp-local"
LOCAL_VAULT = "rsv-drcp-local"
DEFAULT_PORT = 10443
# Azurite on its usual ports (what `UseDevelopmentStorage=true` means): the disks' bytes.
LOCAL_STORAGE = (
    f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
    f"BlobEndpoint=http://127.0.0.1:10000/{DEV_ACCOUNT};"
)


def _subnet(group: str, vnet: str, subnet: str) -> str:
    return str(
        ResourceId.build(
            LOCAL_SUBSCRIPTION,
            group,
            "Microsoft.Network",
            ("virtualNetworks", vnet),
            ("subnets", subnet),
        )
    )


def local_failover_settings(endpoint: str, storage_account: str = "devstoreaccount1") -> dict:
    """The app's failover settings on the embedded default (local.settings.sample.json holds
    the same values; tests and `make up` get them from here)."""
    return {
        "ARM_ENDPOINT": endpoint,
        "AZURE_SUBSCRIPTION_ID": LOCAL_SUBSCRIPTION,
        "RECOVERY_RESOURCE_GROUP": LOCAL_RECOVERY_GROUP,
        "RECOVERY_LOCATION": LOCAL_LOCATION,
        "RECOVERY_SUBNET_ID": _subnet(LOCAL_RECOVERY_GROUP, "vnet-recovery", "default"),
        "TEST_FAILOVER_SUBNET_ID": _subnet(LOCAL_RECOVERY_GROUP, "vnet-test-failover", "isolated"),
        "ASR_VAULT_ID": str(
            ResourceId.build(
                LOCAL_SUBSCRIPTION,
                LOCAL_CONTROL_PLANE_GROUP,
                "Microsoft.RecoveryServices",
                ("vaults", LOCAL_VAULT),
            )
        ),
        "REPLICA_STORAGE_ACCOUNT_ID": str(
            ResourceId.build(
                LOCAL_SUBSCRIPTION,
                LOCAL_CONTROL_PLANE_GROUP,
                "Microsoft.Storage",
                ("storageAccounts", storage_account),
            )
        ),
    }


@dataclass(frozen=True)
class Network:
    """A virtual network the stand-in creates at start, with its subnets' prefixes."""

    vnet_id: str  # /subscriptions/…/virtualNetworks/{name}
    address_prefix: str
    subnets: tuple[tuple[str, str], ...]  # (name, prefix)


@dataclass
class StandInConfig:
    subscription: str = LOCAL_SUBSCRIPTION
    tenant: str = LOCAL_TENANT
    location: str = LOCAL_LOCATION
    resource_groups: list[str] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)
    vaults: list[str] = field(default_factory=list)  # Recovery Services vault ids (ASR)
    # The key of the test-only control endpoint (/_standin/...): registering what VMM's ASR
    # provider would, injecting faults. Empty: the endpoint refuses everything.
    control_key: str = ""
    # Seconds ARM asks pollers to wait (Retry-After). Azure says 10-30; 1 keeps a local
    # failover brisk, tests pass 0 (then the SDK waits its own polling_interval).
    retry_after: int = 1

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], retry_after: int = 1) -> StandInConfig:
        """The stand-in for an app configured with `settings`: the recovery group, the groups
        of its networks and storage account, and one VNet per failover subnet."""
        config = cls(
            subscription=settings.get("AZURE_SUBSCRIPTION_ID") or LOCAL_SUBSCRIPTION,
            location=settings.get("RECOVERY_LOCATION") or LOCAL_LOCATION,
            retry_after=retry_after,
        )
        groups = [settings.get("RECOVERY_RESOURCE_GROUP") or LOCAL_RECOVERY_GROUP]
        if account := settings.get("REPLICA_STORAGE_ACCOUNT_ID"):
            groups.append(ResourceId.parse(account).resource_group)
        if vault := settings.get("ASR_VAULT_ID"):
            groups.append(ResourceId.parse(vault, "ASR_VAULT_ID").resource_group)
            config.vaults.append(vault)
        config.control_key = settings.get("DEVHOST_MASTER_KEY", "")
        for index, name in enumerate(("RECOVERY_SUBNET_ID", "TEST_FAILOVER_SUBNET_ID")):
            if value := settings.get(name):
                subnet = ResourceId.parse(value, name)
                parent = subnet.parent
                if parent is None:
                    continue
                groups.append(subnet.resource_group)
                octet = 10 * (index + 1)  # 10.10.0.0/16 recovery, 10.20.0.0/16 test
                config.networks.append(
                    Network(
                        str(parent),
                        f"10.{octet}.0.0/16",
                        ((subnet.name, f"10.{octet}.0.0/24"),),
                    )
                )
        config.resource_groups = list(dict.fromkeys(groups))
        return config
