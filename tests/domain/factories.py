"""Builders of domain objects for the tests: a VM that passes every rule, changed per test."""

from __future__ import annotations

from domain.model import GIB, Disk, Nic, ProtectionRequest, ProtectionTarget, Vm


def os_disk(**changes) -> Disk:
    base = dict(
        id="os", path=r"C:\vms\web-01\os.vhdx", format="VHDX", size_bytes=127 * GIB, is_os_disk=True
    )
    return Disk(**{**base, **changes})


def data_disk(i: int = 1, **changes) -> Disk:
    base = dict(
        id=f"data{i}", path=rf"C:\vms\web-01\data{i}.vhdx", format="VHDX", size_bytes=100 * GIB
    )
    return Disk(**{**base, **changes})


def nic(**changes) -> Nic:
    return Nic(**{"id": "nic0", **changes})


def good_vm(**changes) -> Vm:
    """Generation 1 Windows Server 2012 R2 (supported by both profiles), DHCP, two disks."""
    base = dict(
        id="vm-1",
        name="web-01",
        tenant="contoso",
        site="vmm01",
        cloud="gold",
        generation=1,
        os_type="windows",
        os_name="Windows Server 2012 R2 Datacenter",
        is_64_bit=True,
        vcpus=2,
        memory_mb=4096,
        secure_boot=False,
        nics=(nic(),),
        disks=(os_disk(), data_disk()),
    )
    return Vm(**{**base, **changes})


def request(provider: str = "asr", **target) -> ProtectionRequest:
    return ProtectionRequest(provider=provider, target=ProtectionTarget(**target))
