"""Microsoft.Compute as failover calls it: managed disks (Import, grant access), virtual
machines, and the resource SKUs list.

Shaped from the Compute REST specs' example files (DiskRP 2025-01-02:
`Disk_Create_ByImportingBlobFromTheSameSubscription`, `Disk_Get`, `Disk_Delete`,
`Disk_BeginGetAccess`, `Disk_EndGetAccess`; ComputeRP 2024-11-01:
`VirtualMachine_Create_WithPremiumStorage`, `VirtualMachine_Delete_Force`; Skus 2021-07-01:
`ListAvailableResourceSkusForARegion`) and the status codes the SDK's operations accept; the
instance view's statuses are the `ProvisioningState/…` and `PowerState/…` codes Azure
documents for a VM's lifecycle. Refusals carry the codes Azure answers with. VM sizes come
from `domain/sizes.py`, the catalogue the prerequisite rules use, so the stand-in and the
rules never disagree about which sizes exist.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from aiohttp import web

from devhost.arm.errors import ArmError, required
from devhost.arm.ids import ResourceId
from devhost.arm.lro import now_iso
from devhost.arm.resources import (
    answer,
    body_object,
    existing,
    fail_interrupted,
    page,
    path_id,
    set_state,
)
from devhost.arm.server import GROUP, SUB, Call, Route, StandIn
from devhost.arm.vhd import Source
from domain.sizes import SIZES, AzureSize, get_size

NS = "Microsoft.Compute"
# The api-versions azure-mgmt-compute 39.0.0 sends, per operation group.
DISK_VERSIONS = ("2026-03-02",)
VM_VERSIONS = ("2026-04-01",)
SKU_VERSIONS = ("2021-07-01",)
OPERATION_VERSIONS = (*DISK_VERSIONS, *VM_VERSIONS)
GIB = 1024**3
HYPER_V_GENERATIONS = {"V1": 1, "V2": 2}
OS_TYPES = ("Windows", "Linux")
FAMILIES = {
    "Av2": "standardAv2Family",
    "B": "standardBSFamily",
    "Dsv3": "standardDSv3Family",
    "Dsv5": "standardDSv5Family",
    "Esv5": "standardESv5Family",
    "Fsv2": "standardFSv2Family",
}


def _disk_blob_container(disk: dict) -> str:
    """Each disk's bytes live in their own container (its access policy is the disk's SAS)."""
    return f"md-{disk['properties']['uniqueId']}"


def _power(vm: dict) -> str:
    return vm.get("properties", {}).get("_powerState", "stopped")


def _public(body: dict) -> dict:
    """The body without the stand-in's private bookkeeping (keys starting with '_')."""
    props = {k: v for k, v in body.get("properties", {}).items() if not k.startswith("_")}
    return {**body, "properties": props}


class Compute:
    def __init__(self, standin: StandIn) -> None:
        self.s = standin

    # ================================================================== disks

    async def put_disk(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "disks")
        body = body_object(call)
        location = self.s.location(body, "Microsoft.Compute/disks")
        props = body.get("properties") or {}
        creation = props.get("creationData")
        if not isinstance(creation, dict):
            raise required("creationData")
        option = creation.get("createOption")
        if not option:
            raise required("createOption")
        if option != "Import":
            raise ArmError(
                400,
                "InvalidParameter",
                f"createOption '{option}' is not modelled by the ARM stand-in: failover "
                "creates disks with Import.",
                "createOption",
            )
        uri, account = creation.get("sourceUri"), creation.get("storageAccountId")
        if not uri:
            raise required("sourceUri")
        if not account:
            raise required("storageAccountId")
        generation = props.get("hyperVGeneration")
        if generation is not None and generation not in HYPER_V_GENERATIONS:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value '{generation}' of parameter 'hyperVGeneration' is invalid. "
                "Allowed values are 'V1', 'V2'.",
                "hyperVGeneration",
            )
        os_type = props.get("osType")
        if os_type is not None and os_type not in OS_TYPES:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value '{os_type}' of parameter 'osType' is "
                "invalid. Allowed values are 'Windows', 'Linux'.",
                "osType",
            )
        current = self.s.store.get(rid.key)
        if current is not None and current["properties"]["provisioningState"] != "Failed":
            return self._update_disk(rid, current, body, creation)
        source: Source = await self.s.blocking(self.s.disks.inspect, uri, rid.name, account)
        unique = str(uuid.uuid4())
        disk = {
            "id": str(rid),
            "name": rid.name,
            "type": "Microsoft.Compute/disks",
            "location": location,
            **({"tags": body["tags"]} if body.get("tags") else {}),
            "sku": {
                "name": (body.get("sku") or {}).get("name", "Standard_LRS"),
                "tier": "Standard",
            },
            "properties": {
                **({"osType": os_type} if os_type else {}),
                **({"hyperVGeneration": generation} if generation else {}),
                "creationData": {
                    "createOption": "Import",
                    "sourceUri": uri,
                    "storageAccountId": account,
                },
                "diskSizeGB": math.ceil(source.virtual_size / GIB),
                "diskSizeBytes": source.virtual_size,
                "uniqueId": unique,
                "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
                "networkAccessPolicy": "AllowAll",
                "publicNetworkAccess": "Enabled",
                "timeCreated": now_iso(),
                "provisioningState": "Updating",
                "diskState": "Unattached",
            },
        }
        self.s.store.put(rid.key, rid.resource_group, rid.type, disk)

        def work() -> None:
            self.s.disks.copy_in(source, _disk_blob_container(disk))
            set_state(self.s, rid, "Succeeded")

        op = self.s.operations.begin(work, lambda _e: set_state(self.s, rid, "Failed"))
        headers = self.s.operations.headers(call.request, op, NS, location, call.api_version)
        return answer(_public(disk), 202, headers)

    def _update_disk(
        self, rid: ResourceId, current: dict, body: dict, creation: dict
    ) -> web.Response:
        was = current["properties"]["creationData"]
        for key in ("sourceUri", "storageAccountId", "createOption"):
            if creation.get(key) != was.get(key):
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Changing property '{key}' is not allowed for existing disk '{rid.name}'.",
                )
        if "tags" in body:
            current["tags"] = body["tags"]
        self.s.store.put(rid.key, rid.resource_group, rid.type, current)
        return answer(_public(current), 200)

    async def get_disk(self, call: Call) -> web.Response:
        return answer(_public(existing(self.s, path_id(call, NS, "disks"))))

    async def list_disks(self, call: Call) -> web.Response:
        return page([_public(d) for d in self.s.store.list(call.group, f"{NS}/disks")])

    async def delete_disk(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "disks")
        disk = self.s.store.get(rid.key)
        if disk is None:
            return web.Response(status=204)
        if disk.get("managedBy"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk {rid.name} is attached to VM {disk['managedBy']}.",
            )
        self.s.store.delete(rid.key)
        container = _disk_blob_container(disk)
        op = self.s.operations.begin(lambda: self.s.disks.delete(container))
        headers = self.s.operations.headers(
            call.request, op, NS, disk["location"], call.api_version
        )
        return web.Response(status=202, headers=headers)

    async def grant_access(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "disks")
        disk = existing(self.s, rid)
        data = body_object(call)
        access, seconds = data.get("access"), data.get("durationInSeconds")
        if not access:
            raise required("access")
        if not isinstance(seconds, int) or seconds <= 0:
            raise required("durationInSeconds")
        if access != "Read":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Access '{access}' can be granted only to a disk created for upload; disk "
                f"'{rid.name}' was imported. Ask for 'Read'.",
            )
        if disk["properties"]["provisioningState"] != "Succeeded":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk '{rid.name}' is not ready: it is {disk['properties']['provisioningState']}.",
            )
        vm_id = disk.get("managedBy")
        if vm_id and _power(self.s.store.get(vm_id.lower()) or {}) == "running":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk '{rid.name}' is attached to running VM {vm_id}: stop or deallocate the "
                "VM before granting access to its disk.",
            )
        container = _disk_blob_container(disk)

        def work() -> dict:
            url = self.s.disks.read_sas(container, seconds)
            set_state(self.s, rid, "Succeeded", diskState="ActiveSAS")
            return {"accessSAS": url}

        op = self.s.operations.begin(work)
        headers = self.s.operations.headers(
            call.request, op, NS, disk["location"], call.api_version
        )
        return web.Response(status=202, headers=headers)

    async def revoke_access(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "disks")
        disk = existing(self.s, rid)
        container = _disk_blob_container(disk)

        def work() -> None:
            self.s.disks.revoke(container)
            state = "Attached" if disk.get("managedBy") else "Unattached"
            set_state(self.s, rid, "Succeeded", diskState=state)

        op = self.s.operations.begin(work)
        headers = self.s.operations.headers(
            call.request, op, NS, disk["location"], call.api_version
        )
        return web.Response(status=202, headers=headers)

    # ================================================================== virtual machines

    def _size(self, props: dict) -> AzureSize:
        name = (props.get("hardwareProfile") or {}).get("vmSize")
        if not name:
            raise required("vmSize")
        size = get_size(name)
        if size is None:
            raise ArmError(
                400,
                "InvalidParameter",
                f"The value {name} provided for the VM size is not valid. The valid sizes in "
                f"the current region are: {', '.join(SIZES)}.",
                "vmSize",
            )
        return size

    def _disk_for(self, ref: dict | None, where: str, vm_id: str) -> dict:
        disk_id = (ref or {}).get("id")
        if not disk_id:
            raise required(f"{where}.managedDisk.id")
        disk = self.s.store.get(ResourceId.parse(disk_id, f"{where}.managedDisk.id").key)
        if disk is None:
            raise ArmError(
                404, "NotFound", f"Disk {disk_id} was not found.", f"{where}.managedDisk.id"
            )
        owner = disk.get("managedBy")
        if owner and owner.lower() != vm_id.lower():
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk '{disk['name']}' is already attached to VM '{owner}'.",
            )
        if disk["properties"]["provisioningState"] != "Succeeded":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk '{disk['name']}' is not ready: it is "
                f"{disk['properties']['provisioningState']}.",
            )
        return disk

    def _nic_for(self, ref: dict, vm_id: str) -> dict:
        nic_id = ref.get("id")
        if not nic_id:
            raise required("networkProfile.networkInterfaces.id")
        nic = self.s.store.get(ResourceId.parse(nic_id, "networkInterfaces.id").key)
        if nic is None:
            raise ArmError(
                404, "NotFound", f"Resource {nic_id} not found.", "networkProfile.networkInterfaces"
            )
        owner = (nic["properties"].get("virtualMachine") or {}).get("id")
        if owner and owner.lower() != vm_id.lower():
            raise ArmError(
                400,
                "NicInUse",
                f"Network Interface {nic['id']} is used by existing resource {owner}.",
            )
        return nic

    async def put_vm(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "virtualMachines")
        body = body_object(call)
        location = self.s.location(body, "Microsoft.Compute/virtualMachines")
        props = body.get("properties") or {}
        size = self._size(props)
        storage = props.get("storageProfile") or {}
        os_disk = storage.get("osDisk")
        if not isinstance(os_disk, dict):
            raise required("osDisk")
        if os_disk.get("createOption") != "Attach":
            raise ArmError(
                400,
                "InvalidParameter",
                f"osDisk.createOption '{os_disk.get('createOption')}' is not modelled by the ARM "
                "stand-in: failover attaches an imported disk (Attach).",
                "osDisk.createOption",
            )
        vm_id = str(rid)
        os_managed = self._disk_for(os_disk.get("managedDisk"), "osDisk", vm_id)
        os_type = os_disk.get("osType") or os_managed["properties"].get("osType")
        if not os_type:
            raise required("osDisk.osType")
        generation = HYPER_V_GENERATIONS[os_managed["properties"].get("hyperVGeneration", "V1")]
        if generation not in size.generations:
            raise ArmError(
                400,
                "BadRequest",
                f"The selected VM size '{size.name}' cannot boot Hypervisor Generation "
                f"'{generation}'. If this was a Create operation please check that the "
                "Hypervisor Generation of the Image matches the Hypervisor Generation of the "
                "selected VM Size. If this was an Update operation please select a Hypervisor "
                f"Generation '{generation}' VM Size.",
            )
        data_disks = storage.get("dataDisks") or []
        if len(data_disks) > size.max_data_disks:
            raise ArmError(
                409,
                "OperationNotAllowed",
                "The maximum number of data disks allowed to be attached to a VM of this size "
                f"is {size.max_data_disks}.",
                "dataDisks",
            )
        luns: set[int] = set()
        attached_data = []
        for index, entry in enumerate(data_disks):
            if entry.get("lun") is None:
                raise required(f"dataDisks[{index}].lun")
            if entry["lun"] in luns:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Data disks with duplicate LUN {entry['lun']} are not allowed.",
                    f"dataDisks[{index}].lun",
                )
            luns.add(entry["lun"])
            if entry.get("createOption") != "Attach":
                raise ArmError(
                    400,
                    "InvalidParameter",
                    "dataDisks createOption other than 'Attach' is "
                    "not modelled by the ARM stand-in.",
                    f"dataDisks[{index}].createOption",
                )
            attached_data.append(
                (entry, self._disk_for(entry.get("managedDisk"), f"dataDisks[{index}]", vm_id))
            )
        nic_refs = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        if not nic_refs:
            raise required("networkProfile")
        nics = [(ref, self._nic_for(ref, vm_id)) for ref in nic_refs]

        current = self.s.store.get(rid.key)
        if current is not None:
            self._no_disk_swap(current, os_managed, attached_data)
        vm = {
            "id": vm_id,
            "name": rid.name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": location,
            **({"tags": body["tags"]} if body.get("tags") else {}),
            "properties": {
                "vmId": current["properties"]["vmId"] if current else str(uuid.uuid4()),
                "hardwareProfile": {"vmSize": size.name},
                "storageProfile": {
                    "osDisk": self._disk_entry(os_disk, os_managed, os_type=os_type),
                    "dataDisks": [self._disk_entry(e, d) for e, d in attached_data],
                },
                "networkProfile": {
                    "networkInterfaces": [
                        {
                            "id": nic["id"],
                            "properties": {
                                "primary": (ref.get("properties") or {}).get(
                                    "primary", len(nics) == 1 or i == 0
                                ),
                                "deleteOption": (ref.get("properties") or {}).get(
                                    "deleteOption", "Detach"
                                ),
                            },
                        }
                        for i, (ref, nic) in enumerate(nics)
                    ]
                },
                "timeCreated": current["properties"]["timeCreated"] if current else now_iso(),
                "provisioningState": "Updating" if current else "Creating",
                "_powerState": _power(current) if current else "starting",
            },
        }
        with self.s.store.transaction():
            if current is not None:
                self._detach_dropped(current, vm)
            for disk in [os_managed, *(d for _, d in attached_data)]:
                disk["managedBy"] = vm_id
                disk["properties"]["diskState"] = "Attached"
                self.s.store.put(disk["id"].lower(), rid.resource_group, f"{NS}/disks", disk)
            for _, nic in nics:
                nic["properties"]["virtualMachine"] = {"id": vm_id}
                nic_rid = ResourceId.parse(nic["id"])
                self.s.store.put(nic_rid.key, nic_rid.resource_group, nic_rid.type, nic)
            self.s.store.put(rid.key, rid.resource_group, rid.type, vm)

        def work() -> None:
            power = "running" if _power(vm) == "starting" else _power(vm)
            set_state(self.s, rid, "Succeeded", _powerState=power)

        op = self.s.operations.begin(work, lambda _e: set_state(self.s, rid, "Failed"))
        headers = self.s.operations.headers(call.request, op, NS, location, call.api_version)
        return answer(_public(vm), 200 if current else 201, headers)

    def _detach_dropped(self, current: dict, vm: dict) -> None:
        """An update that no longer lists a data disk or NIC detaches it, as in Azure."""

        def refs(body: dict) -> tuple[set[str], set[str]]:
            props = body["properties"]
            disks = {d["managedDisk"]["id"].lower() for d in props["storageProfile"]["dataDisks"]}
            nics = {n["id"].lower() for n in props["networkProfile"]["networkInterfaces"]}
            return disks, nics

        (old_disks, old_nics), (new_disks, new_nics) = refs(current), refs(vm)
        for key in old_disks - new_disks:
            if disk := self.s.store.get(key):
                disk.pop("managedBy", None)
                disk["properties"]["diskState"] = "Unattached"
                self.s.store.put(key, disk["id"].split("/")[4], f"{NS}/disks", disk)
        for key in old_nics - new_nics:
            if nic := self.s.store.get(key):
                nic["properties"].pop("virtualMachine", None)
                nic_rid = ResourceId.parse(nic["id"])
                self.s.store.put(key, nic_rid.resource_group, nic_rid.type, nic)

    @staticmethod
    def _no_disk_swap(current: dict, os_managed: dict, data: list[tuple[dict, dict]]) -> None:
        was = current["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        if was.lower() != os_managed["id"].lower():
            raise ArmError(
                409,
                "PropertyChangeNotAllowed",
                "Changing property 'osDisk.managedDisk.id' is not allowed.",
                "osDisk.managedDisk.id",
            )

    @staticmethod
    def _disk_entry(entry: dict, disk: dict, os_type: str | None = None) -> dict:
        shaped: dict[str, Any] = {}
        if os_type:
            shaped["osType"] = os_type
        else:
            shaped["lun"] = entry["lun"]
        shaped.update(
            {
                "name": disk["name"],
                "createOption": "Attach",
                "caching": entry.get("caching", "ReadWrite" if os_type else "None"),
                "managedDisk": {"id": disk["id"], "storageAccountType": disk["sku"]["name"]},
                "deleteOption": entry.get("deleteOption", "Detach"),
                "diskSizeGB": disk["properties"]["diskSizeGB"],
            }
        )
        if not os_type:
            shaped["toBeDetached"] = False
        return shaped

    async def get_vm(self, call: Call) -> web.Response:
        vm = existing(self.s, path_id(call, NS, "virtualMachines"))
        shaped = _public(vm)
        if call.request.query.get("$expand", "").lower() == "instanceview":
            shaped["properties"]["instanceView"] = self._instance_view(vm)
        return answer(shaped)

    async def list_vms(self, call: Call) -> web.Response:
        return page([_public(v) for v in self.s.store.list(call.group, f"{NS}/virtualMachines")])

    def _instance_view(self, vm: dict) -> dict:
        props = vm["properties"]
        state = props["provisioningState"]
        power = _power(vm)
        stamp = now_iso()
        os_disk = props["storageProfile"]["osDisk"]
        disk_names = [os_disk["name"], *(d["name"] for d in props["storageProfile"]["dataDisks"])]
        generation = "V1"
        os_record = self.s.store.get(os_disk["managedDisk"]["id"].lower())
        if os_record:
            generation = os_record["properties"].get("hyperVGeneration", "V1")
        return {
            "hyperVGeneration": generation,
            "disks": [
                {
                    "name": name,
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                            "time": stamp,
                        }
                    ],
                }
                for name in disk_names
            ],
            "statuses": [
                {
                    "code": f"ProvisioningState/{state.lower()}",
                    "level": "Error" if state == "Failed" else "Info",
                    "displayStatus": f"Provisioning {state.lower()}",
                    "time": stamp,
                },
                {
                    "code": f"PowerState/{power}",
                    "level": "Info",
                    "displayStatus": f"VM {power}",
                },
            ],
        }

    async def instance_view(self, call: Call) -> web.Response:
        vm = existing(self.s, path_id(call, NS, "virtualMachines"))
        return answer(self._instance_view(vm))

    async def power_off(self, call: Call) -> web.Response:
        return self._power_action(call, "stopped")

    async def start_vm(self, call: Call) -> web.Response:
        return self._power_action(call, "running")

    def _power_action(self, call: Call, target: str) -> web.Response:
        rid = path_id(call, NS, "virtualMachines")
        vm = existing(self.s, rid)
        if vm["properties"]["provisioningState"] == "Deleting":
            raise ArmError(409, "OperationNotAllowed", f"VM '{rid.name}' is being deleted.")
        set_state(
            self.s,
            rid,
            vm["properties"]["provisioningState"],
            _powerState="stopping" if target == "stopped" else "starting",
        )

        def work() -> None:
            set_state(self.s, rid, "Succeeded", _powerState=target)

        op = self.s.operations.begin(work)
        headers = self.s.operations.headers(call.request, op, NS, vm["location"], call.api_version)
        return web.Response(status=202, headers=headers)

    async def delete_vm(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "virtualMachines")
        vm = self.s.store.get(rid.key)
        if vm is None:
            return web.Response(status=204)
        set_state(self.s, rid, "Deleting")

        def work() -> None:
            props = vm["properties"]
            storage = props["storageProfile"]
            with self.s.store.transaction():
                for entry in [storage["osDisk"], *storage["dataDisks"]]:
                    key = entry["managedDisk"]["id"].lower()
                    disk = self.s.store.get(key)
                    if disk is None:
                        continue
                    disk.pop("managedBy", None)
                    disk["properties"]["diskState"] = "Unattached"
                    if entry.get("deleteOption") == "Delete":
                        self.s.store.delete(key)
                        self.s.disks.delete(_disk_blob_container(disk))
                    else:
                        self.s.store.put(key, rid.resource_group, f"{NS}/disks", disk)
                for ref in props["networkProfile"]["networkInterfaces"]:
                    nic_rid = ResourceId.parse(ref["id"])
                    nic = self.s.store.get(nic_rid.key)
                    if nic is None:
                        continue
                    nic["properties"].pop("virtualMachine", None)
                    if ref["properties"].get("deleteOption") == "Delete":
                        from devhost.arm.network import release_nic

                        release_nic(self.s, nic)
                        self.s.store.delete(nic_rid.key)
                    else:
                        self.s.store.put(nic_rid.key, nic_rid.resource_group, nic_rid.type, nic)
                self.s.store.delete(rid.key)

        op = self.s.operations.begin(work, lambda _e: set_state(self.s, rid, "Failed"))
        headers = self.s.operations.headers(call.request, op, NS, vm["location"], call.api_version)
        return web.Response(status=202, headers=headers)

    # ================================================================== resource SKUs

    async def list_skus(self, call: Call) -> web.Response:
        wanted = call.request.query.get("$filter", "")
        location = self.s.config.location
        if wanted and f"'{location}'" not in wanted.replace(" ", "").lower().replace('"', "'"):
            return page([])
        return page([self._sku(size, location) for size in SIZES.values()])

    @staticmethod
    def _sku(size: AzureSize, location: str) -> dict:
        generations = ",".join(f"V{g}" for g in sorted(size.generations))
        capabilities = {
            "vCPUs": size.vcpus,
            "vCPUsAvailable": size.vcpus,
            "MemoryGB": f"{size.memory_gib:g}",
            "MaxDataDiskCount": size.max_data_disks,
            "HyperVGenerations": generations,
            "PremiumIO": "False" if size.family == "Av2" else "True",
        }
        return {
            "resourceType": "virtualMachines",
            "name": size.name,
            "tier": "Standard",
            "size": size.name.removeprefix("Standard_"),
            "family": FAMILIES.get(size.family, f"standard{size.family}Family"),
            "locations": [location],
            "locationInfo": [{"location": location, "zones": [], "zoneDetails": []}],
            "capabilities": [{"name": k, "value": str(v)} for k, v in capabilities.items()],
            "restrictions": [],
        }

    # ================================================================== operations

    async def operation(self, call: Call) -> web.Response:
        return self.s.operations.status_response(call.request, call.params["operation"])


def recover(standin: StandIn) -> None:
    """After a restart: disks and VMs an interrupted operation left mid-way are Failed."""
    fail_interrupted(standin, (f"{NS}/disks", f"{NS}/virtualMachines"))


def routes(standin: StandIn) -> list[Route]:
    c = Compute(standin)
    disk = GROUP + r"/providers/Microsoft\.Compute/disks/(?P<name>[^/]+)"
    vm = GROUP + r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)"
    d, v = DISK_VERSIONS, VM_VERSIONS
    return [
        Route.of("PUT", disk, c.put_disk, d, "disks"),
        Route.of("GET", disk, c.get_disk, d, "disks"),
        Route.of("DELETE", disk, c.delete_disk, d, "disks"),
        Route.of("POST", disk + "/beginGetAccess", c.grant_access, d, "disks"),
        Route.of("POST", disk + "/endGetAccess", c.revoke_access, d, "disks"),
        Route.of("GET", GROUP + r"/providers/Microsoft\.Compute/disks", c.list_disks, d, "disks"),
        Route.of("PUT", vm, c.put_vm, v, "virtualMachines"),
        Route.of("GET", vm, c.get_vm, v, "virtualMachines"),
        Route.of("DELETE", vm, c.delete_vm, v, "virtualMachines"),
        Route.of("GET", vm + "/instanceView", c.instance_view, v, "virtualMachines"),
        Route.of("POST", vm + "/powerOff", c.power_off, v, "virtualMachines"),
        Route.of("POST", vm + "/start", c.start_vm, v, "virtualMachines"),
        Route.of(
            "GET",
            GROUP + r"/providers/Microsoft\.Compute/virtualMachines",
            c.list_vms,
            v,
            "virtualMachines",
        ),
        Route.of(
            "GET",
            SUB + r"/providers/Microsoft\.Compute/skus",
            c.list_skus,
            SKU_VERSIONS,
            "skus",
            needs_group=False,
        ),
        Route.of(
            "GET",
            SUB + r"/providers/Microsoft\.Compute/locations/[^/]+/operations/"
            r"(?P<operation>[^/]+)",
            c.operation,
            OPERATION_VERSIONS,
            "locations/operations",
            needs_group=False,
        ),
    ]
