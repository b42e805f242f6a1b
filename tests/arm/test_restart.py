"""A devhost restart loses nothing: disks (with their bytes in Azurite), NICs, VMs and their
power state are answered the same by a new stand-in on the same data."""

from __future__ import annotations

import hashlib

from azure.storage.blob import BlobClient

from tests.arm.conftest import Lab, Vhd, import_body, unique


def test_everything_survives_a_restart_of_the_stand_in(lab: Lab, vhd: Vhd) -> None:
    compute, network = lab.compute(), lab.network()
    disk = compute.disks.begin_create_or_update(
        lab.group, unique("kept"), import_body(lab, vhd.url, osType="Windows")
    ).result()
    nic = network.network_interfaces.begin_create_or_update(
        lab.group,
        unique("kept"),
        {
            "location": lab.location,
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "properties": {"subnet": {"id": lab.settings["RECOVERY_SUBNET_ID"]}},
                    }
                ]
            },
        },
    ).result()
    name = unique("kept")
    vm = compute.virtual_machines.begin_create_or_update(
        lab.group,
        name,
        {
            "location": lab.location,
            "tags": {"drcp-item": "kept"},
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {
                    "osDisk": {"createOption": "Attach", "managedDisk": {"id": disk.id}}
                },
                "networkProfile": {"networkInterfaces": [{"id": nic.id}]},
            },
        },
    ).result()
    compute.virtual_machines.begin_power_off(lab.group, name).result()

    lab.restart()
    compute, network = lab.compute(), lab.network()

    again = compute.virtual_machines.get(lab.group, name)
    assert (again.vm_id, again.tags) == (vm.vm_id, {"drcp-item": "kept"})
    assert again.storage_profile.os_disk.os_type == "Windows"  # taken from the imported disk
    view = compute.virtual_machines.instance_view(lab.group, name)
    assert view.statuses[-1].code == "PowerState/stopped"
    kept_disk = compute.disks.get(lab.group, disk.name)
    assert (kept_disk.unique_id, kept_disk.managed_by) == (disk.unique_id, vm.id)
    kept_nic = network.network_interfaces.get(lab.group, nic.name)
    assert (
        kept_nic.ip_configurations[0].private_ip_address
        == nic.ip_configurations[0].private_ip_address
    )

    # The disk's bytes are still the source's once the VM is gone.
    compute.virtual_machines.begin_delete(lab.group, name).result()
    access = compute.disks.begin_grant_access(
        lab.group, disk.name, {"access": "Read", "durationInSeconds": 300}
    ).result()
    data = BlobClient.from_blob_url(access.access_sas).download_blob().readall()
    assert hashlib.sha256(data).hexdigest() == vhd.sha256


def test_an_operation_a_restart_interrupted_is_failed_not_left_running(lab: Lab, vhd: Vhd) -> None:
    """As if the stand-in died mid-import: the operation is still InProgress in its store and
    the disk Updating. After the restart both say Failed, and a PUT again makes the disk."""
    from devhost.arm.ids import ResourceId
    from devhost.arm.lro import now_iso
    from devhost.arm.state import Operation

    compute = lab.compute()
    name = unique("cut")
    disk = compute.disks.begin_create_or_update(lab.group, name, import_body(lab, vhd.url)).result()
    store = lab.arm.standin.store
    rid = ResourceId.parse(disk.id)
    body = store.get(rid.key)
    body["properties"]["provisioningState"] = "Updating"
    store.put(rid.key, rid.resource_group, rid.type, body)
    store.put_operation(Operation("cut-" + name, "InProgress", now_iso()))

    lab.restart()
    compute = lab.compute()
    assert compute.disks.get(lab.group, name).provisioning_state == "Failed"
    operation = lab.arm.standin.store.operation("cut-" + name)
    assert operation.status == "Failed" and operation.error["code"] == "InternalExecutionError"
    again = compute.disks.begin_create_or_update(
        lab.group, name, import_body(lab, vhd.url)
    ).result()
    assert again.provisioning_state == "Succeeded"
