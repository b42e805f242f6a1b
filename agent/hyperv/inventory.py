"""What VMM (or a Hyper-V host) says about its VMs, as the control plane's inventory: the wire
shape of contracts/inventory.py's InventoryVm, field for field, and each VM's protection marks.

inventory.ps1 prints the cmdlets' documented properties; this module decides what they mean:

- id, name, generation: VMM ID, Name, Generation (host: VMId, Name, Generation);
- vcpus, memoryMb: CPUCount, Memory in MB (host: ProcessorCount, MemoryStartup in bytes);
- osType, osName, is64Bit: OperatingSystem OSType, Name, Architecture (host: unknown);
- secureBoot: SecureBootEnabled (host: Get-VMFirmware SecureBoot On);
- disks: VirtualDiskDrives → VirtualHardDisk ID, Location, VHDFormatType, MaximumSize, VHDType
  not FixedSize = dynamic, VolumeType Boot/System = OS disk, PassThroughDisk, shared VHDX
  (host: Get-VMHardDiskDrive → Get-VHD DiskIdentifier, Path, VhdFormat, Size, VhdType,
  controller 0 location 0 = OS disk, DiskNumber = pass-through);
- nics: IPv4AddressType Static = static, IPv6 static or a global IPv6 address, an IPv4 address
  in 169.254.0.0/16 = APIPA (host: addressing unknown, so dhcp).

docs/agent.md has the same as a table.

A VM the script reports is hostile input too (its name is a tenant's choice): one that cannot
be a valid InventoryVm is left out of the report with a warning naming why, rather than
making the control plane refuse the whole snapshot.

Protection marks are VMM custom properties (or `Name=value` lines in a Hyper-V VM's Notes):
`DRProtect` true/yes/1 asks for protection with `DRTargetName`, `DRTargetSize`, `DRPolicy` and
`DRProvider` (direct or asr).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("agent.inventory")

MARKS = ("DRProtect", "DRTargetName", "DRTargetSize", "DRPolicy", "DRProvider")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRUE = {"true", "yes", "1", "on"}
OS_VOLUMES = {"bootandsystem", "system", "boot"}


@dataclass(frozen=True)
class Marks:
    """What the VMM side asks for this VM; `protect` False when DRProtect is absent/false."""

    protect: bool = False
    target_name: str | None = None
    target_size: str | None = None
    policy: str | None = None
    provider: str | None = None

    def request(self) -> dict[str, Any]:
        """The data of a protection.requested event."""
        out: dict[str, Any] = {"provider": self.provider or "direct"}
        for key, value in (
            ("targetName", self.target_name),
            ("targetSize", self.target_size),
            ("policy", self.policy),
        ):
            if value:
                out[key] = value
        return out


@dataclass
class Cloud:
    id: str
    name: str
    vms: list[dict[str, Any]] = field(default_factory=list)  # InventoryVm wire dicts
    marks: dict[str, Marks] = field(default_factory=dict)  # vm id → its marks
    power: dict[str, str] = field(default_factory=dict)  # vm id → power state


class Skip(ValueError):
    """This VM cannot be reported; the message says why."""


_warned: set[tuple[str, str]] = set()  # (vm, why) already logged: once, not every cycle


def read_clouds(answer: Any, source: str) -> list[Cloud]:
    """inventory.ps1's answer → clouds with their valid VMs."""
    if not isinstance(answer, dict):
        raise ValueError("inventory.ps1 answered something that is not a JSON object")
    if source == "vmm":
        raw_clouds = answer.get("Clouds") or []
        clouds = [(c.get("ID"), c.get("Name"), c.get("VMs") or []) for c in _dicts(raw_clouds)]
        mapper = vmm_vm
    else:
        host = str(answer.get("ComputerName") or "hyperv-host")
        clouds = [(_cloud_id(host), host, answer.get("VMs") or [])]
        mapper = host_vm
    out: list[Cloud] = []
    for cloud_id, cloud_name, vms in clouds:
        if not isinstance(cloud_id, str) or not NAME.match(cloud_id):
            log.warning("skipping a cloud whose ID %r is not a valid id", str(cloud_id)[:80])
            continue
        cloud = Cloud(cloud_id, _text(cloud_name, 256) or cloud_id)
        for raw in _dicts(vms):
            try:
                vm, marks, power = mapper(raw)
            except Skip as why:
                log.warning(
                    "not reporting VM %r of cloud %s: %s",
                    str(raw.get("Name"))[:80],
                    cloud.name,
                    why,
                )
                continue
            cloud.vms.append(vm)
            cloud.marks[vm["id"]] = marks
            cloud.power[vm["id"]] = power
        out.append(cloud)
    return out


def vmm_vm(raw: dict[str, Any]) -> tuple[dict[str, Any], Marks, str]:
    os_ = raw.get("OperatingSystem") if isinstance(raw.get("OperatingSystem"), dict) else {}
    os_name = _text(os_.get("Name"), 256)
    disks = []
    for drive in _dicts(raw.get("VirtualDiskDrives")):
        vhd = (
            drive.get("VirtualHardDisk") if isinstance(drive.get("VirtualHardDisk"), dict) else None
        )
        passthrough = bool(drive.get("PassThroughDisk"))
        if vhd is None and not passthrough:
            continue  # an empty drive
        vhd = vhd or {}
        disk_id = _text(vhd.get("ID") or drive.get("ID"), 128)
        path = _text(vhd.get("Location") or f"passthrough:{drive.get('PassThroughDisk')}", 1024)
        disks.append(
            _disk(
                disk_id,
                path,
                vhd.get("VHDFormatType"),
                vhd.get("MaximumSize", 0),
                is_os=str(drive.get("VolumeType") or "").lower() in OS_VOLUMES,
                shared=bool(drive.get("IsSharedVirtualHardDisk")),
                kind="passthrough" if passthrough else "virtual",
                sector=drive.get("LogicalSectorSize"),
                dynamic=str(vhd.get("VHDType") or "").lower() != "fixedsize",
            )
        )
    nics = []
    for nic in _dicts(raw.get("VirtualNetworkAdapters")):
        v4 = [a for a in (nic.get("IPv4Addresses") or []) if isinstance(a, str)]
        v6 = [a for a in (nic.get("IPv6Addresses") or []) if isinstance(a, str)]
        nics.append(
            _nic(
                nic.get("ID"),
                static=str(nic.get("IPv4AddressType") or "").lower() == "static",
                ipv6=str(nic.get("IPv6AddressType") or "").lower() == "static" or _global_v6(v6),
                apipa=_apipa(v4),
            )
        )
    vm = _vm(
        raw.get("ID"),
        raw.get("Name"),
        raw.get("Generation"),
        raw.get("CPUCount"),
        raw.get("Memory"),
        disks,
        nics,
        os_type=_os_type(os_.get("OSType"), os_name),
        os_name=os_name,
        is_64_bit=_is_64(os_.get("Architecture"), os_name),
        secure_boot=bool(raw.get("SecureBootEnabled")),
    )
    props = raw.get("CustomProperties") if isinstance(raw.get("CustomProperties"), dict) else {}
    return vm, marks_from(props, vm["name"]), _text(raw.get("VirtualMachineState"), 64) or ""


def host_vm(raw: dict[str, Any]) -> tuple[dict[str, Any], Marks, str]:
    disks = []
    for drive in _dicts(raw.get("HardDrives")):
        vhd = drive.get("Vhd") if isinstance(drive.get("Vhd"), dict) else None
        passthrough = drive.get("DiskNumber") not in (None, "")
        if vhd is None and not passthrough:
            continue
        vhd = vhd or {}
        where = (
            f"{drive.get('ControllerType')}-{drive.get('ControllerNumber')}-"
            f"{drive.get('ControllerLocation')}"
        )
        disk_id = vhd.get("DiskIdentifier") or f"{raw.get('VMId')}-{where}"
        path = drive.get("Path") or f"passthrough:{drive.get('DiskNumber')}"
        disks.append(
            _disk(
                _text(disk_id, 128),
                _text(path, 1024),
                vhd.get("VhdFormat"),
                vhd.get("Size", 0),
                is_os=drive.get("ControllerNumber") == 0 and drive.get("ControllerLocation") == 0,
                shared=bool(drive.get("SupportPersistentReservations")),
                kind="passthrough" if passthrough else "virtual",
                sector=vhd.get("LogicalSectorSize"),
                dynamic=str(vhd.get("VhdType") or "").lower() != "fixed",
            )
        )
    nics = []
    for nic in _dicts(raw.get("NetworkAdapters")):
        addresses = [a for a in (nic.get("IPAddresses") or []) if isinstance(a, str)]
        nics.append(
            _nic(
                nic.get("Id"),
                static=False,
                ipv6=_global_v6([a for a in addresses if ":" in a]),
                apipa=_apipa([a for a in addresses if "." in a]),
            )
        )
    memory = raw.get("MemoryStartup")
    memory_mb = memory // (1024 * 1024) if isinstance(memory, int) else None
    vm = _vm(
        raw.get("VMId"),
        raw.get("Name"),
        raw.get("Generation"),
        raw.get("ProcessorCount"),
        memory_mb,
        disks,
        nics,
        os_type=None,
        os_name=None,
        is_64_bit=True,
        secure_boot=str(raw.get("SecureBoot") or "").lower() == "on",
    )
    return vm, marks_from(_notes(raw.get("Notes")), vm["name"]), _text(raw.get("State"), 64) or ""


def marks_from(props: dict[str, Any], vm_name: str) -> Marks:
    """The marks in a VM's custom properties; a malformed value is ignored with a warning."""
    protect = str(props.get("DRProtect") or "").strip().lower() in TRUE
    values: dict[str, str | None] = {}
    for key in ("DRTargetName", "DRTargetSize", "DRPolicy"):
        value = props.get(key)
        text = str(value).strip() if value not in (None, "") else None
        if text is not None and (len(text) > 64 or not text.isprintable()):
            log.warning("VM %s: ignoring %s (more than 64 characters or unprintable)", vm_name, key)
            text = None
        values[key] = text
    provider = str(props.get("DRProvider") or "").strip().lower() or None
    if provider not in (None, "direct", "asr"):
        log.warning("VM %s: ignoring DRProvider %r (direct or asr)", vm_name, provider[:20])
        provider = None
    return Marks(
        protect, values["DRTargetName"], values["DRTargetSize"], values["DRPolicy"], provider
    )


def _vm(
    vm_id: Any,
    name: Any,
    generation: Any,
    vcpus: Any,
    memory_mb: Any,
    disks: list,
    nics: list,
    *,
    os_type: str | None,
    os_name: str | None,
    is_64_bit: bool,
    secure_boot: bool,
) -> dict[str, Any]:
    if not isinstance(vm_id, str) or not NAME.match(vm_id):
        raise Skip(f"its id {str(vm_id)[:80]!r} is not a valid id")
    text = _text(name, 256)
    if not text:
        raise Skip("it has no printable name of 1 to 256 characters")
    if generation not in (1, 2):
        raise Skip(f"generation {generation!r} is not 1 or 2")
    if not _int_in(vcpus, 1, 1024):
        raise Skip(f"{vcpus!r} virtual processors is out of range")
    if not _int_in(memory_mb, 1, 2**40):
        raise Skip(f"memory {memory_mb!r} MB is out of range")
    if len(disks) > 256 or len(nics) > 64:
        raise Skip("it has more than 256 disks or 64 network adapters")
    vm: dict[str, Any] = {
        "id": vm_id,
        "name": text,
        "generation": generation,
        "is64Bit": is_64_bit,
        "vcpus": vcpus,
        "memoryMb": memory_mb,
        "secureBoot": secure_boot,
        "nics": nics,
        "disks": disks,
    }
    if os_type:
        vm["osType"] = os_type
    if os_name:
        vm["osName"] = os_name
    return vm


def _disk(
    disk_id: str | None,
    path: str | None,
    fmt: Any,
    size: Any,
    *,
    is_os: bool,
    shared: bool,
    kind: str,
    sector: Any,
    dynamic: bool,
) -> dict[str, Any]:
    if not disk_id or not path:
        raise Skip("a disk has no id or path the agent can report")
    if not _int_in(size, 0, 2**50):
        raise Skip(f"disk {disk_id} has a size {size!r} out of range")
    fmt_text = (_text(fmt, 16) or "").upper() or (
        "VHDX" if path.lower().endswith(".vhdx") else "VHD"
    )
    return {
        "id": disk_id,
        "path": path,
        "format": fmt_text,
        "sizeBytes": size,
        "isOsDisk": is_os,
        "shared": shared,
        "kind": kind,
        "logicalSectorSize": sector if sector in (512, 4096) else 512,
        "dynamic": dynamic,
    }


def _nic(nic_id: Any, *, static: bool, ipv6: bool, apipa: bool) -> dict[str, Any]:
    text = _text(nic_id, 128)
    if not text:
        raise Skip("a network adapter has no id")
    return {"id": text, "addressing": "static" if static else "dhcp", "ipv6": ipv6, "apipa": apipa}


def _os_type(os_type: Any, os_name: str | None) -> str | None:
    word = str(os_type or "").lower()
    if word in ("windows", "linux"):
        return word
    name = (os_name or "").lower()
    if "windows" in name:
        return "windows"
    if any(w in name for w in ("linux", "ubuntu", "centos", "red hat", "debian", "suse")):
        return "linux"
    return "other" if word or name else None


def _is_64(architecture: Any, os_name: str | None) -> bool:
    arch = str(architecture or "").lower()
    if arch in ("x86", "i386"):
        return False
    if arch in ("amd64", "x64", "x86_64", "arm64"):
        return True
    return "32-bit" not in (os_name or "").lower()


def _apipa(addresses: list[str]) -> bool:
    return any(_ip(a) in ipaddress.ip_network("169.254.0.0/16") for a in addresses if _ip(a))


def _global_v6(addresses: list[str]) -> bool:
    return any(
        (ip := _ip(a)) is not None and ip.version == 6 and not ip.is_link_local for a in addresses
    )


def _ip(text: str) -> Any:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def _notes(notes: Any) -> dict[str, str]:
    """`DRProtect=true` style lines of a Hyper-V VM's Notes (a host has no custom properties)."""
    out: dict[str, str] = {}
    for line in str(notes or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in MARKS:
            out[key.strip()] = value.strip()
    return out


def _cloud_id(host: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", host)[:120] or "host"
    return safe if safe[0].isalnum() else f"h{safe}"


def _dicts(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, dict):  # PowerShell prints a one-element array as the element
        items = [items]
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= limit and value.isprintable() else None


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
