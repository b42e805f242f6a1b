"""Virtual machines through the real azure-mgmt-compute client: an imported disk attached as
the OS disk, a NIC on the recovery subnet, the VM's life (instance view, power off, delete)
and the refusals Azure answers with."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from domain.sizes import SIZES
from tests.arm.conftest import Lab, Vhd, import_body, unique


@dataclass
class Parts:
    disk_id: str
    nic_id: str


def _disk(lab: Lab, vhd: Vhd, generation: str = "V1") -> str:
    body = import_body(lab, vhd.url, osType="Linux", hyperVGeneration=generation)
    return lab.compute().disks.begin_create_or_update(lab.group, unique("os"), body).result().id


def _nic(lab: Lab) -> str:
    body = {
        "location": lab.location,
        "properties": {
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "properties": {"subnet": {"id": lab.settings["RECOVERY_SUBNET_ID"]}},
                }
            ]
        },
    }
    return (
        lab.network()
        .network_interfaces.begin_create_or_update(lab.group, unique("nic"), body)
        .result()
        .id
    )


@pytest.fixture
def parts(lab: Lab, vhd: Vhd) -> Parts:
    return Parts(_disk(lab, vhd), _nic(lab))


def vm_body(
    lab: Lab,
    parts: Parts,
    size: str = "Standard_D2s_v5",
    tags: dict | None = None,
    data_disks: list[dict] | None = None,
) -> dict:
    return {
        "location": lab.location,
        **({"tags": tags} if tags else {}),
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "osDisk": {
                    "createOption": "Attach",
                    "osType": "Linux",
                    "managedDisk": {"id": parts.disk_id},
                },
                "dataDisks": data_disks or [],
            },
            "networkProfile": {
                "networkInterfaces": [{"id": parts.nic_id, "properties": {"primary": True}}]
            },
        },
    }


def _power(lab: Lab, name: str) -> str:
    view = lab.compute().virtual_machines.instance_view(lab.group, name)
    return next(s.code for s in view.statuses if s.code.startswith("PowerState/"))


def test_a_vm_from_an_imported_disk_runs_stops_and_is_deleted(lab: Lab, parts: Parts) -> None:
    compute = lab.compute()
    name = unique("vm")
    vm = compute.virtual_machines.begin_create_or_update(
        lab.group, name, vm_body(lab, parts, tags={"drcp-item": "web01"})
    ).result()
    assert vm.provisioning_state == "Succeeded" and vm.vm_id
    assert vm.hardware_profile.vm_size == "Standard_D2s_v5"
    assert vm.storage_profile.os_disk.managed_disk.id == parts.disk_id
    assert vm.storage_profile.os_disk.create_option == "Attach"
    assert vm.network_profile.network_interfaces[0].id == parts.nic_id
    assert compute.virtual_machines.get(lab.group, name).tags == {"drcp-item": "web01"}
    disk = compute.disks.get(lab.group, parts.disk_id.rsplit("/", 1)[1])
    assert disk.managed_by == vm.id and disk.disk_state == "Attached"
    nic = lab.network().network_interfaces.get(lab.group, parts.nic_id.rsplit("/", 1)[1])
    assert nic.virtual_machine.id == vm.id

    view = compute.virtual_machines.instance_view(lab.group, name)
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    expanded = compute.virtual_machines.get(lab.group, name, expand="instanceView")
    assert expanded.instance_view.statuses[1].code == "PowerState/running"

    # An attached disk cannot be deleted, nor read while its VM runs.
    with pytest.raises(HttpResponseError) as attached:
        compute.disks.begin_delete(lab.group, disk.name).result()
    assert (attached.value.status_code, attached.value.error.code) == (409, "OperationNotAllowed")
    with pytest.raises(HttpResponseError) as running:
        compute.disks.begin_grant_access(
            lab.group, disk.name, {"access": "Read", "durationInSeconds": 60}
        ).result()
    assert running.value.error.code == "OperationNotAllowed"

    compute.virtual_machines.begin_power_off(lab.group, name).result()
    assert _power(lab, name) == "PowerState/stopped"

    compute.virtual_machines.begin_delete(lab.group, name).result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(lab.group, name)
    disk = compute.disks.get(lab.group, disk.name)
    assert disk.managed_by is None and disk.disk_state == "Unattached"  # deleteOption Detach
    assert lab.network().network_interfaces.get(lab.group, nic.name).virtual_machine is None


def test_list_by_group_returns_the_vms_with_their_tags(lab: Lab, vhd: Vhd) -> None:
    compute = lab.compute()
    made = {}
    for item in ("app01", "db01"):
        name = unique("vm")
        compute.virtual_machines.begin_create_or_update(
            lab.group,
            name,
            vm_body(lab, Parts(_disk(lab, vhd), _nic(lab)), tags={"drcp-item": item}),
        ).result()
        made[name] = {"drcp-item": item}
    listed = {vm.name: vm.tags for vm in compute.virtual_machines.list(lab.group)}
    assert {name: listed.get(name) for name in made} == made


def test_a_put_of_the_same_vm_again_is_an_update_of_the_same_vm(lab: Lab, parts: Parts) -> None:
    compute = lab.compute()
    name = unique("vm")
    first = compute.virtual_machines.begin_create_or_update(
        lab.group, name, vm_body(lab, parts)
    ).result()
    again = compute.virtual_machines.begin_create_or_update(
        lab.group, name, vm_body(lab, parts, tags={"second": "put"})
    ).result()
    assert again.vm_id == first.vm_id and again.tags == {"second": "put"}
    assert _power(lab, name) == "PowerState/running"


def test_data_disks_attach_by_lun(lab: Lab, parts: Parts, vhd: Vhd) -> None:
    data = _disk(lab, vhd)
    vm = (
        lab.compute()
        .virtual_machines.begin_create_or_update(
            lab.group,
            unique("vm"),
            vm_body(
                lab,
                parts,
                data_disks=[{"lun": 0, "createOption": "Attach", "managedDisk": {"id": data}}],
            ),
        )
        .result()
    )
    (attached,) = vm.storage_profile.data_disks
    assert (attached.lun, attached.managed_disk.id) == (0, data)
    data_name = data.rsplit("/", 1)[1]
    assert lab.compute().disks.get(lab.group, data_name).managed_by == vm.id

    # A PUT that no longer lists the data disk detaches it.
    lab.compute().virtual_machines.begin_create_or_update(
        lab.group, vm.name, vm_body(lab, parts)
    ).result()
    detached = lab.compute().disks.get(lab.group, data_name)
    assert detached.managed_by is None and detached.disk_state == "Unattached"


# ---------------------------------------------------------------- what Azure refuses


def _refused(lab: Lab, body: dict) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as refused:
        lab.compute().virtual_machines.begin_create_or_update(
            lab.group, unique("vm"), body
        ).result()
    return refused.value


def test_an_unknown_size_is_refused_with_the_sizes_of_the_region(lab: Lab, parts: Parts) -> None:
    refused = _refused(lab, vm_body(lab, parts, size="Standard_Imaginary_v9"))
    assert (refused.status_code, refused.error.code) == (400, "InvalidParameter")
    assert refused.error.target == "vmSize"
    assert "Standard_Imaginary_v9" in refused.error.message
    assert all(size in refused.error.message for size in SIZES)


def test_a_generation_2_disk_on_a_generation_1_size_is_refused(lab: Lab, vhd: Vhd) -> None:
    parts = Parts(_disk(lab, vhd, generation="V2"), _nic(lab))
    refused = _refused(lab, vm_body(lab, parts, size="Standard_A2_v2"))
    assert refused.error.code == "BadRequest"
    assert "cannot boot Hypervisor Generation '2'" in refused.error.message


def test_a_missing_disk_or_nic_is_refused(lab: Lab, parts: Parts) -> None:
    no_disk = Parts(parts.disk_id + "-missing", parts.nic_id)
    refused = _refused(lab, vm_body(lab, no_disk))
    assert (refused.status_code, refused.error.code) == (404, "NotFound")
    no_nic = Parts(parts.disk_id, parts.nic_id + "-missing")
    refused = _refused(lab, vm_body(lab, no_nic))
    assert (refused.status_code, refused.error.code) == (404, "NotFound")
    assert parts.nic_id + "-missing" in refused.error.message


def test_a_disk_attached_to_another_vm_is_refused(lab: Lab, parts: Parts) -> None:
    lab.compute().virtual_machines.begin_create_or_update(
        lab.group, unique("vm"), vm_body(lab, parts)
    ).result()
    refused = _refused(lab, vm_body(lab, Parts(parts.disk_id, _nic(lab))))
    assert (refused.status_code, refused.error.code) == (409, "OperationNotAllowed")


def test_more_data_disks_than_the_size_takes_are_refused(lab: Lab, parts: Parts, vhd: Vhd) -> None:
    size = SIZES["Standard_B1s"]
    disks = [
        {"lun": lun, "createOption": "Attach", "managedDisk": {"id": _disk(lab, vhd)}}
        for lun in range(size.max_data_disks + 1)
    ]
    refused = _refused(lab, vm_body(lab, parts, size=size.name, data_disks=disks))
    assert refused.error.code == "OperationNotAllowed"
    assert refused.error.message.endswith(f"is {size.max_data_disks}.")
