"""Virtual networks, subnets and NICs through the real azure-mgmt-network client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.arm.conftest import Lab, unique


def test_the_failover_networks_the_settings_name_exist_at_start(lab: Lab) -> None:
    network = lab.network()
    for setting in ("RECOVERY_SUBNET_ID", "TEST_FAILOVER_SUBNET_ID"):
        subnet_id = lab.settings[setting]
        parts = subnet_id.split("/")
        subnet = network.subnets.get(parts[4], parts[8], parts[10])
        assert subnet.id == subnet_id and subnet.provisioning_state == "Succeeded"
    recovery = lab.settings["RECOVERY_SUBNET_ID"].split("/")[8]
    test = lab.settings["TEST_FAILOVER_SUBNET_ID"].split("/")[8]
    spaces = {
        name: network.virtual_networks.get(lab.group, name).address_space.address_prefixes
        for name in (recovery, test)
    }
    assert spaces[recovery] != spaces[test]  # the test network is a network of its own


def test_vnet_subnet_and_nic_with_an_address_of_the_subnet(lab: Lab) -> None:
    network = lab.network()
    vnet_name = unique("vnet")
    vnet = network.virtual_networks.begin_create_or_update(
        lab.group,
        vnet_name,
        {
            "location": lab.location,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]},
                "subnets": [{"name": "front", "properties": {"addressPrefix": "10.50.1.0/24"}}],
            },
        },
    ).result()
    assert vnet.provisioning_state == "Succeeded" and [s.name for s in vnet.subnets] == ["front"]
    subnet = network.subnets.begin_create_or_update(
        lab.group, vnet_name, "back", {"properties": {"addressPrefix": "10.50.2.0/24"}}
    ).result()
    assert subnet.id == f"{vnet.id}/subnets/back"

    nics = []
    for _ in range(2):
        nics.append(
            network.network_interfaces.begin_create_or_update(
                lab.group,
                unique("nic"),
                {
                    "location": lab.location,
                    "tags": {"drcp": "test"},
                    "properties": {
                        "ipConfigurations": [
                            {"name": "ipconfig1", "properties": {"subnet": {"id": subnet.id}}}
                        ]
                    },
                },
            ).result()
        )
    addresses = [n.ip_configurations[0].private_ip_address for n in nics]
    assert addresses == ["10.50.2.4", "10.50.2.5"]  # Azure keeps .0-.3 of every subnet
    assert nics[0].ip_configurations[0].subnet.id == subnet.id
    using = network.subnets.get(lab.group, vnet_name, "back").ip_configurations
    assert {c.id for c in using} == {n.ip_configurations[0].id for n in nics}

    listed = {n.name: n.tags for n in network.network_interfaces.list(lab.group)}
    assert listed[nics[0].name] == {"drcp": "test"}
    network.network_interfaces.begin_delete(lab.group, nics[0].name).result()
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(lab.group, nics[0].name)
    using = network.subnets.get(lab.group, vnet_name, "back").ip_configurations
    assert [c.id for c in using] == [nics[1].ip_configurations[0].id]


def test_a_put_of_the_same_nic_keeps_its_address(lab: Lab) -> None:
    network = lab.network()
    name = unique("nic")
    body = {
        "location": lab.location,
        "properties": {
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "properties": {"subnet": {"id": lab.settings["TEST_FAILOVER_SUBNET_ID"]}},
                }
            ]
        },
    }
    first = network.network_interfaces.begin_create_or_update(lab.group, name, body).result()
    again = network.network_interfaces.begin_create_or_update(lab.group, name, body).result()
    assert again.id == first.id and again.resource_guid == first.resource_guid
    assert (
        again.ip_configurations[0].private_ip_address
        == first.ip_configurations[0].private_ip_address
    )


def test_a_nic_on_a_subnet_that_does_not_exist_is_refused(lab: Lab) -> None:
    missing = lab.settings["RECOVERY_SUBNET_ID"].replace("/subnets/default", "/subnets/nope")
    with pytest.raises(HttpResponseError) as refused:
        lab.network().network_interfaces.begin_create_or_update(
            lab.group,
            unique("nic"),
            {
                "location": lab.location,
                "properties": {
                    "ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": missing}}}]
                },
            },
        ).result()
    assert refused.value.status_code == 400
    assert refused.value.error.code == "InvalidResourceReference"
    assert f"Resource {missing} referenced by resource" in refused.value.error.message


def test_a_subnet_outside_its_vnet_is_refused(lab: Lab) -> None:
    vnet = lab.settings["RECOVERY_SUBNET_ID"].split("/")[8]
    with pytest.raises(HttpResponseError) as refused:
        lab.network().subnets.begin_create_or_update(
            lab.group, vnet, "stray", {"properties": {"addressPrefix": "192.168.0.0/24"}}
        ).result()
    assert refused.value.error.code == "NetcfgSubnetRangeOutsideVnet"


def test_a_missing_subnet_or_vnet_is_not_found(lab: Lab) -> None:
    network = lab.network()
    with pytest.raises(ResourceNotFoundError) as subnet:
        network.subnets.get(lab.group, lab.settings["RECOVERY_SUBNET_ID"].split("/")[8], "nope")
    assert subnet.value.error.code == "NotFound"
    with pytest.raises(ResourceNotFoundError) as vnet:
        network.virtual_networks.get(lab.group, "no-such-vnet")
    assert vnet.value.error.code == "ResourceNotFound"
