"""Microsoft.Network as failover calls it: virtual networks, their subnets, and network
interfaces whose IP configurations reference an existing subnet.

Shaped from the Network REST spec's `NetworkInterfaceCreate` example (2024-05-01) and the
status codes the SDK's operations accept: PUT answers 201 (new) or 200 with
`Azure-AsyncOperation`, a subnet lives inside its VNet's body (as ARM returns it)
and lists the IP configurations that use it, and a NIC gets the next free private address of
its subnet (Azure keeps the first four and the last one of every subnet).
"""

from __future__ import annotations

import ipaddress
import uuid

from aiohttp import web

from devhost.arm.config import Network
from devhost.arm.errors import ArmError
from devhost.arm.ids import ResourceId
from devhost.arm.resources import answer, body_object, existing, not_found, page, path_id
from devhost.arm.server import GROUP, SUB, Call, Route, StandIn

NS = "Microsoft.Network"
VERSIONS = ("2026-03-01",)  # what azure-mgmt-network 33.1.0 sends
VNETS = f"{NS}/virtualNetworks"
NICS = f"{NS}/networkInterfaces"


def _etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def _subnet_body(vnet_id: str, name: str, prefix: str, ip_configs: list[dict]) -> dict:
    properties: dict = {"addressPrefix": prefix, "provisioningState": "Succeeded"}
    if ip_configs:
        properties["ipConfigurations"] = ip_configs
    return {
        "id": f"{vnet_id}/subnets/{name}",
        "name": name,
        "type": f"{VNETS}/subnets",
        "etag": _etag(),
        "properties": properties,
    }


def _network(prefix: str, target: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(prefix, strict=True)
    except ValueError:
        raise ArmError(
            400,
            "InvalidAddressPrefixFormat",
            f"Address prefix {prefix} of resource {target} is not formatted correctly. It "
            "should follow CIDR notation, for example 10.0.0.0/24.",
        ) from None


def _find_subnet(vnet: dict, name: str) -> dict | None:
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"].lower() == name.lower():
            return subnet
    return None


class NetworkProvider:
    def __init__(self, standin: StandIn) -> None:
        self.s = standin

    # ================================================================== virtual networks

    def _write_vnet(self, rid: ResourceId, body: dict, location: str) -> tuple[dict, bool]:
        props = body.get("properties") or {}
        prefixes = (props.get("addressSpace") or {}).get("addressPrefixes") or []
        if not prefixes:
            raise ArmError(
                400,
                "InvalidAddressSpace",
                f"Virtual network {rid} must have at least one address prefix in addressSpace.",
            )
        spaces = [_network(p, str(rid)) for p in prefixes]
        current = self.s.store.get(rid.key)
        used = {
            s["name"].lower(): s for s in (current or {}).get("properties", {}).get("subnets", [])
        }
        subnets = []
        for given in props.get("subnets") or []:
            name = given.get("name") or ""
            prefix = (given.get("properties") or {}).get("addressPrefix") or ""
            subnets.append(self._checked_subnet(rid, spaces, name, prefix, used.get(name.lower())))
        kept = {s["name"].lower() for s in subnets}
        for name, subnet in used.items():
            configs = subnet["properties"].get("ipConfigurations")
            if name not in kept and configs:
                raise ArmError(
                    400,
                    "InUseSubnetCannotBeDeleted",
                    f"Subnet {subnet['name']} is in use by {configs[0]['id']} and cannot be "
                    "deleted. In order to delete the subnet, delete all the resources within "
                    "the subnet. See aka.ms/deletesubnet.",
                )
        vnet = {
            "id": str(rid),
            "name": rid.name,
            "type": VNETS,
            "location": location,
            "etag": _etag(),
            **({"tags": body["tags"]} if body.get("tags") else {}),
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": (current or {}).get("properties", {}).get("resourceGuid")
                or str(uuid.uuid4()),
                "addressSpace": {"addressPrefixes": prefixes},
                "subnets": subnets,
                "virtualNetworkPeerings": [],
                "enableDdosProtection": False,
            },
        }
        self.s.store.put(rid.key, rid.resource_group, rid.type, vnet)
        return vnet, current is None

    def _checked_subnet(
        self,
        vnet_rid: ResourceId,
        spaces: list[ipaddress.IPv4Network],
        name: str,
        prefix: str,
        current: dict | None,
    ) -> dict:
        if not name or not prefix:
            raise ArmError(
                400, "InvalidRequestFormat", "A subnet needs a name and properties.addressPrefix."
            )
        network = _network(prefix, f"{vnet_rid}/subnets/{name}")
        if not any(network.subnet_of(space) for space in spaces):
            raise ArmError(
                400,
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{name}' is not valid because its IP address range is outside the IP "
                f"address range of virtual network '{vnet_rid.name}'.",
            )
        configs = (current or {}).get("properties", {}).get("ipConfigurations", [])
        if configs and current and current["properties"]["addressPrefix"] != prefix:
            raise ArmError(
                400,
                "InUseSubnetCannotBeUpdated",
                f"Subnet {name} is in use and cannot be updated.",
            )
        return _subnet_body(str(vnet_rid), name, prefix, configs)

    async def put_vnet(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "virtualNetworks")
        body = body_object(call)
        location = self.s.location(body, VNETS)
        vnet, created = self._write_vnet(rid, body, location)
        return self._accepted(call, vnet, 201 if created else 200)

    async def get_vnet(self, call: Call) -> web.Response:
        return answer(_public_refs(existing(self.s, path_id(call, NS, "virtualNetworks"))))

    async def put_subnet(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "virtualNetworks", "subnets")
        parent = rid.parent
        assert parent is not None
        body = body_object(call)
        with self.s.store.transaction():
            vnet = existing(self.s, parent)
            spaces = [
                _network(p, str(parent))
                for p in vnet["properties"]["addressSpace"]["addressPrefixes"]
            ]
            prefix = (body.get("properties") or {}).get("addressPrefix") or ""
            current = _find_subnet(vnet, rid.name)
            subnet = self._checked_subnet(parent, spaces, rid.name, prefix, current)
            others = [s for s in vnet["properties"]["subnets"] if s is not current]
            vnet["properties"]["subnets"] = [*others, subnet]
            self.s.store.put(parent.key, parent.resource_group, parent.type, vnet)
        return self._accepted(call, subnet, 200 if current else 201, vnet["location"])

    async def get_subnet(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "virtualNetworks", "subnets")
        assert rid.parent is not None
        vnet = self.s.store.get(rid.parent.key)
        subnet = _find_subnet(vnet, rid.name) if vnet else None
        if subnet is None:
            raise not_found(rid)
        return answer(_public_refs(subnet))

    # ================================================================== network interfaces

    def _subnet_of(self, ref: dict | None, nic_id: str, location: str) -> tuple[ResourceId, dict]:
        subnet_id = (ref or {}).get("id")
        if not subnet_id:
            raise ArmError(
                400, "InvalidRequestFormat", "Each IP configuration needs properties.subnet.id."
            )
        rid = ResourceId.parse(subnet_id, "ipConfigurations.subnet.id")
        vnet = self.s.store.get(rid.parent.key) if rid.parent else None
        subnet = _find_subnet(vnet, rid.name) if vnet else None
        if subnet is None or vnet is None or vnet["location"] != location:
            missing = str(rid) if vnet is None or subnet is None else vnet["id"]
            raise ArmError(
                400,
                "InvalidResourceReference",
                f"Resource {subnet_id} referenced by resource {nic_id} was not found. Please "
                "make sure that the referenced resource exists, and that both resources are in "
                "the same region.",
                details=[{"code": "NotFound", "message": f"Resource {missing} not found."}],
            )
        return rid, subnet

    def _allocate(self, subnet: dict, taken_by_me: str | None) -> str:
        network = ipaddress.IPv4Network(subnet["properties"]["addressPrefix"])
        used = set()
        for ref in subnet["properties"].get("ipConfigurations", []):
            if ref["id"].lower() == (taken_by_me or "").lower():
                continue
            if ref.get("_privateIPAddress"):
                used.add(ref["_privateIPAddress"])
        hosts = list(network.hosts())  # excludes network and broadcast addresses
        for address in hosts[3:]:  # .1-.3 are Azure's (gateway, DNS)
            if str(address) not in used:
                return str(address)
        raise ArmError(
            400,
            "SubnetIsFull",
            f"Subnet {subnet['name']} with address prefix "
            f"{subnet['properties']['addressPrefix']} does not have enough capacity for 1 IP "
            "addresses.",
        )

    async def put_nic(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "networkInterfaces")
        body = body_object(call)
        location = self.s.location(body, NICS)
        configs = (body.get("properties") or {}).get("ipConfigurations") or []
        if not configs:
            raise ArmError(
                400,
                "InvalidRequestFormat",
                f"Network interface {rid} must have at least one IP configuration.",
            )
        with self.s.store.transaction():
            current = self.s.store.get(rid.key)
            before = {
                c["name"].lower(): c
                for c in (current or {}).get("properties", {}).get("ipConfigurations", [])
            }
            if current:
                release_nic(self.s, current)
            shaped = []
            for index, given in enumerate(configs):
                name = given.get("name") or f"ipconfig{index + 1}"
                props = given.get("properties") or {}
                config_id = f"{rid}/ipConfigurations/{name}"
                subnet_rid, subnet = self._subnet_of(props.get("subnet"), str(rid), location)
                address = self._address(props, subnet, before.get(name.lower()), config_id)
                self._claim(subnet_rid, config_id, address)
                shaped.append(
                    {
                        "name": name,
                        "id": config_id,
                        "etag": _etag(),
                        "type": f"{NICS}/ipConfigurations",
                        "properties": {
                            "provisioningState": "Succeeded",
                            "privateIPAddress": address,
                            "privateIPAllocationMethod": props.get(
                                "privateIPAllocationMethod", "Dynamic"
                            ),
                            "subnet": {"id": str(subnet_rid)},
                            "primary": props.get("primary", index == 0),
                            "privateIPAddressVersion": "IPv4",
                        },
                    }
                )
            nic = {
                "id": str(rid),
                "name": rid.name,
                "type": NICS,
                "location": location,
                "etag": _etag(),
                **({"tags": body["tags"]} if body.get("tags") else {}),
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": (current or {}).get("properties", {}).get("resourceGuid")
                    or str(uuid.uuid4()),
                    "ipConfigurations": shaped,
                    "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                    "enableAcceleratedNetworking": bool(
                        (body.get("properties") or {}).get("enableAcceleratedNetworking", False)
                    ),
                    "enableIPForwarding": False,
                    "nicType": "Standard",
                    **(
                        {"virtualMachine": current["properties"]["virtualMachine"]}
                        if current and current["properties"].get("virtualMachine")
                        else {}
                    ),
                },
            }
            self.s.store.put(rid.key, rid.resource_group, rid.type, nic)
        return self._accepted(call, nic, 200 if current else 201)

    def _address(self, props: dict, subnet: dict, before: dict | None, config_id: str) -> str:
        if props.get("privateIPAllocationMethod") == "Static":
            wanted = props.get("privateIPAddress") or ""
            network = ipaddress.IPv4Network(subnet["properties"]["addressPrefix"])
            try:
                inside = ipaddress.IPv4Address(wanted) in network
            except ValueError:
                inside = False
            if not inside:
                raise ArmError(
                    400,
                    "PrivateIPAddressNotInSubnet",
                    f"IP configuration {config_id} is referencing a subnet with address prefix "
                    f"{network} which does not contain the private IP address {wanted}.",
                )
            for ref in subnet["properties"].get("ipConfigurations", []):
                if (
                    ref.get("_privateIPAddress") == wanted
                    and ref["id"].lower() != config_id.lower()
                ):
                    raise ArmError(
                        400,
                        "PrivateIPAddressInUse",
                        f"IP configuration {config_id} is using the private IP address {wanted} "
                        f"which is already allocated to resource {ref['id']}.",
                    )
            return wanted
        kept = (before or {}).get("properties", {})
        if (
            kept.get("subnet", {}).get("id", "").lower()
            == (props.get("subnet") or {}).get("id", "").lower()
        ):
            return kept["privateIPAddress"]
        return self._allocate(subnet, config_id)

    def _claim(self, subnet_rid: ResourceId, config_id: str, address: str) -> None:
        parent = subnet_rid.parent
        assert parent is not None
        vnet = existing(self.s, parent)
        subnet = _find_subnet(vnet, subnet_rid.name)
        assert subnet is not None
        refs = subnet["properties"].setdefault("ipConfigurations", [])
        refs.append({"id": config_id, "_privateIPAddress": address})
        self.s.store.put(parent.key, parent.resource_group, parent.type, vnet)

    async def get_nic(self, call: Call) -> web.Response:
        return answer(existing(self.s, path_id(call, NS, "networkInterfaces")))

    async def list_nics(self, call: Call) -> web.Response:
        return page(self.s.store.list(call.group, NICS))

    async def delete_nic(self, call: Call) -> web.Response:
        rid = path_id(call, NS, "networkInterfaces")
        nic = self.s.store.get(rid.key)
        if nic is None:
            return web.Response(status=204)
        owner = (nic["properties"].get("virtualMachine") or {}).get("id")
        if owner:
            raise ArmError(
                400,
                "NicInUse",
                f"Network Interface {nic['id']} is used by existing resource {owner}. In order "
                "to delete the network interface, it must be dissociated from the resource. To "
                "learn more, see aka.ms/deletenic.",
            )
        with self.s.store.transaction():
            release_nic(self.s, nic)
            self.s.store.delete(rid.key)
        op = self.s.operations.begin(lambda: None)
        headers = self.s.operations.headers(call.request, op, NS, nic["location"], call.api_version)
        return web.Response(status=202, headers=headers)

    # ================================================================== LRO answers

    def _accepted(
        self, call: Call, body: dict, status: int, location: str | None = None
    ) -> web.Response:
        op = self.s.operations.begin(lambda: None)
        where = location or body.get("location") or self.s.config.location
        headers = self.s.operations.headers(call.request, op, NS, where, call.api_version)
        return answer(_public_refs(body), status, headers)

    async def operation(self, call: Call) -> web.Response:
        return self.s.operations.status_response(call.request, call.params["operation"])


def _public_refs(body: dict) -> dict:
    """Drop the stand-in's private address bookkeeping from subnet ipConfiguration refs."""
    if body.get("type") == VNETS:
        return {
            **body,
            "properties": {
                **body["properties"],
                "subnets": [_public_refs(s) for s in body["properties"]["subnets"]],
            },
        }
    refs = body.get("properties", {}).get("ipConfigurations")
    if body.get("type") == f"{VNETS}/subnets" and refs:
        return {
            **body,
            "properties": {
                **body["properties"],
                "ipConfigurations": [{"id": r["id"]} for r in refs],
            },
        }
    return body


def release_nic(standin: StandIn, nic: dict) -> None:
    """Remove a NIC's IP configurations from the subnets that list them (and free their
    addresses). Called inside the caller's transaction."""
    for config in nic["properties"].get("ipConfigurations", []):
        subnet_rid = ResourceId.parse(config["properties"]["subnet"]["id"])
        parent = subnet_rid.parent
        vnet = standin.store.get(parent.key) if parent else None
        subnet = _find_subnet(vnet, subnet_rid.name) if vnet else None
        if subnet is None or parent is None or vnet is None:
            continue
        refs = subnet["properties"].get("ipConfigurations", [])
        remaining = [r for r in refs if r["id"].lower() != config["id"].lower()]
        if remaining:
            subnet["properties"]["ipConfigurations"] = remaining
        else:
            subnet["properties"].pop("ipConfigurations", None)
        standin.store.put(parent.key, parent.resource_group, parent.type, vnet)


def ensure(standin: StandIn, network: Network) -> None:
    """Create a configured VNet and its subnets unless they exist (devhost starts with the
    networks the app's failover settings name)."""
    rid = ResourceId.parse(network.vnet_id)
    standin.store.put_group(rid.resource_group, standin.config.location)
    provider = NetworkProvider(standin)
    current = standin.store.get(rid.key)
    subnets = list((current or {}).get("properties", {}).get("subnets", []))
    names = {s["name"].lower() for s in subnets}
    missing = [(n, p) for n, p in network.subnets if n.lower() not in names]
    if current is not None and not missing:
        return
    prefixes = (current or {}).get("properties", {}).get("addressSpace", {}).get(
        "addressPrefixes"
    ) or [network.address_prefix]
    body = {
        "location": standin.config.location,
        "properties": {
            "addressSpace": {"addressPrefixes": prefixes},
            "subnets": [
                *(
                    {
                        "name": s["name"],
                        "properties": {"addressPrefix": s["properties"]["addressPrefix"]},
                    }
                    for s in subnets
                ),
                *({"name": n, "properties": {"addressPrefix": p}} for n, p in missing),
            ],
        },
    }
    provider._write_vnet(rid, body, standin.config.location)


def routes(standin: StandIn) -> list[Route]:
    n = NetworkProvider(standin)
    vnet = GROUP + r"/providers/Microsoft\.Network/virtualNetworks/(?P<name>[^/]+)"
    subnet = vnet + r"/subnets/(?P<child>[^/]+)"
    nic = GROUP + r"/providers/Microsoft\.Network/networkInterfaces/(?P<name>[^/]+)"
    return [
        Route.of("PUT", vnet, n.put_vnet, VERSIONS, "virtualNetworks"),
        Route.of("GET", vnet, n.get_vnet, VERSIONS, "virtualNetworks"),
        Route.of("PUT", subnet, n.put_subnet, VERSIONS, "virtualNetworks/subnets"),
        Route.of("GET", subnet, n.get_subnet, VERSIONS, "virtualNetworks/subnets"),
        Route.of("PUT", nic, n.put_nic, VERSIONS, "networkInterfaces"),
        Route.of("GET", nic, n.get_nic, VERSIONS, "networkInterfaces"),
        Route.of("DELETE", nic, n.delete_nic, VERSIONS, "networkInterfaces"),
        Route.of(
            "GET",
            GROUP + r"/providers/Microsoft\.Network/networkInterfaces",
            n.list_nics,
            VERSIONS,
            "networkInterfaces",
        ),
        Route.of(
            "GET",
            SUB + r"/providers/Microsoft\.Network/locations/[^/]+/operations/"
            r"(?P<operation>[^/]+)",
            n.operation,
            VERSIONS,
            "locations/operations",
            needs_group=False,
        ),
    ]
