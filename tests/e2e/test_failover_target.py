"""The `arm` fixture gives the app what failover needs, and the clients built from settings
alone — as the failover activities build them — reach the failover target."""

from __future__ import annotations

import os

from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from devhost.arm import ArmStandIn


def test_clients_built_from_the_settings_alone_reach_the_failover_target(arm: ArmStandIn) -> None:
    credential = DefaultAzureCredential()  # the managed identity, as in Azure Functions
    endpoint = os.environ["ARM_ENDPOINT"]
    subscription = os.environ["AZURE_SUBSCRIPTION_ID"]
    compute = ComputeManagementClient(credential, subscription, base_url=endpoint)
    network = NetworkManagementClient(credential, subscription, base_url=endpoint)

    for setting in ("RECOVERY_SUBNET_ID", "TEST_FAILOVER_SUBNET_ID"):
        parts = os.environ[setting].split("/")
        assert network.subnets.get(parts[4], parts[8], parts[10]).id == os.environ[setting]
    sizes = {
        s.name
        for s in compute.resource_skus.list(
            filter=f"location eq '{os.environ['RECOVERY_LOCATION']}'"
        )
    }
    assert "Standard_D2s_v5" in sizes
    group = os.environ["RECOVERY_RESOURCE_GROUP"]
    in_group = f"/subscriptions/{subscription}/resourceGroups/{group}/".lower()
    disks = list(compute.disks.list_by_resource_group(group))  # what earlier tests left, if any
    assert all(d.id.lower().startswith(in_group) for d in disks), [d.id for d in disks]
    assert arm.identity.issued, "the token came from devhost's managed-identity endpoint"
