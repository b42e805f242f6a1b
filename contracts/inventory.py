"""What the on-premises agent reports about a VM, as VMM sees it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.base import WireModel

# Ids and names that become table keys, container and blob names: no '/', '\\', '#', '?',
# control characters or leading dot (a disk id `../other-vm/os` must not name another blob).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# What a table key may hold, no more: for values that are only ever looked up (an event's `vm`
# names a VM of the inventory or none; an agent echoes a command's, even a hostile one's).
KEY_PATTERN = r"^[^/\\#?\x00-\x1f\x7f-\x9f]+$"
Name = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)


class InventoryDisk(WireModel):
    id: str = Name
    path: str = Field(min_length=1, max_length=1024)
    format: Literal["VHD", "VHDX"] | str
    size_bytes: int = Field(ge=0)
    is_os_disk: bool = False
    shared: bool = False
    kind: Literal["virtual", "passthrough", "fibre-channel"] = "virtual"
    logical_sector_size: Literal[512, 4096] = 512
    encrypted: bool = False
    storage_spaces: bool = False
    data_volumes: int = Field(default=1, ge=0)
    dynamic: bool = True


class InventoryNic(WireModel):
    id: str = Field(min_length=1, max_length=128)
    addressing: Literal["dhcp", "static"] = "dhcp"
    ipv6: bool = False
    teamed: bool = False
    apipa: bool = False


class InventoryVm(WireModel):
    id: str = Name
    name: str = Field(min_length=1, max_length=256)
    generation: Literal[1, 2]
    os_type: Literal["windows", "linux", "other"] | None = None
    os_name: str | None = Field(default=None, max_length=256)
    is_64_bit: bool = True
    vcpus: int = Field(ge=1, le=1024)
    memory_mb: int = Field(ge=1)
    secure_boot: bool = False
    nics: list[InventoryNic] = Field(default_factory=list, max_length=64)
    disks: list[InventoryDisk] = Field(default_factory=list, max_length=256)


class VmmCloudRef(WireModel):
    id: str = Name
    name: str = Field(min_length=1, max_length=256)
