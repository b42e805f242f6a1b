"""The control plane's nouns as pydantic v2 models that serialize to JSON.

Sizes are bytes; `TIB`/`GIB` are binary units because ASR's support matrix means binary TB/GB
(2 TB OS disk = 2,048 GB = 2 * 1024**4 bytes).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import ErrorInfo
from domain.replication_state import ReplicationStatus

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GuestOsType(StrEnum):
    WINDOWS = "windows"
    LINUX = "linux"
    OTHER = "other"


class Provider(StrEnum):
    DIRECT = "direct"
    ASR = "asr"


class Tenant(_Model):
    id: str = Field(min_length=1)
    name: str = ""
    prerequisite_profile: str | None = None  # None: the deployment's default profile


class Site(_Model):
    """A VMM server with the on-premises agent."""

    id: str = Field(min_length=1)
    tenant: str
    name: str = ""  # the VMM server's FQDN


class VmmCloud(_Model):
    id: str = Field(min_length=1)
    tenant: str
    site: str
    name: str = ""
    protected: bool = False  # a protected cloud starts nothing; protection is per VM


class Nic(_Model):
    id: str = Field(min_length=1)
    addressing: Literal["dhcp", "static"] = "dhcp"
    ipv4: bool = True
    ipv6: bool = False
    teamed: bool = False
    apipa: bool = False


class Disk(_Model):
    id: str = Field(min_length=1)
    path: str = ""
    format: str = "VHDX"  # "VHD" or "VHDX"; anything else is a rule failure, not a parse error
    size_bytes: int = Field(ge=0)
    is_os_disk: bool = False
    shared: bool = False
    kind: Literal["virtual", "passthrough", "fibre-channel"] = "virtual"
    logical_sector_size: int = 512
    encrypted: bool = False  # BitLocker or any other volume encryption
    storage_spaces: bool = False
    data_volumes: int = Field(default=1, ge=0)  # on the OS disk: volumes besides the system one
    dynamic: bool = True


class Vm(_Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    tenant: str = ""
    site: str = ""
    cloud: str = ""
    generation: Literal[1, 2] = 1
    os_type: GuestOsType | None = None
    os_name: str | None = None
    is_64_bit: bool = True
    vcpus: int = Field(default=1, ge=1)
    memory_mb: int = Field(default=1024, ge=1)
    secure_boot: bool = False
    nics: tuple[Nic, ...] = ()
    disks: tuple[Disk, ...] = ()

    @property
    def os_disks(self) -> tuple[Disk, ...]:
        return tuple(d for d in self.disks if d.is_os_disk)

    @property
    def data_disks(self) -> tuple[Disk, ...]:
        return tuple(d for d in self.disks if not d.is_os_disk)


class ProtectionTarget(_Model):
    """What the VM becomes in Azure on failover."""

    vm_name: str | None = None  # None: the VM's own name
    size: str | None = None  # None: the smallest catalogue size that fits
    resource_group: str | None = None
    network: str | None = None
    use_managed_disks: bool = True


class ProtectionRequest(_Model):
    """An enable-protection (or preflight) request, as the rules see it."""

    provider: Provider = Provider.DIRECT
    policy: str | None = None
    target: ProtectionTarget = Field(default_factory=ProtectionTarget)


class ReplicationInterval(IntEnum):
    """Copy frequency, in seconds: what Hyper-V Replica and ASR offer."""

    SECONDS_30 = 30
    MINUTES_5 = 300
    MINUTES_15 = 900


class ReplicationPolicy(_Model):
    """ASR-like defaults: 5-minute copy, 24 h of recovery points, app-consistent every 4 h,
    RPO threshold 30 min.

    ASR's Hyper-V-to-Azure policy offers copy every 30 s or 5 min (Hyper-V Replica also 15 min),
    keeps recovery points for at most 24 h, and takes app-consistent snapshots at most hourly
    (New-AzRecoveryServicesAsrPolicy -HyperVToAzure; Microsoft Press, "Azure Site Recovery:
    replication policy"). Retention is allowed beyond 24 h here because the `direct` provider
    keeps blob snapshots as long as asked; an `asr` activity must refuse more than 24 h.
    """

    name: str = "default"
    interval: ReplicationInterval = ReplicationInterval.MINUTES_5
    retention_hours: int = Field(default=24, ge=0, le=720)  # 0: only the latest point
    app_consistent_frequency_hours: int = Field(default=4, ge=0)  # 0: crash-consistent only
    rpo_threshold_seconds: int = Field(default=1800, ge=1)

    @model_validator(mode="after")
    def _app_within_retention(self) -> ReplicationPolicy:
        if self.app_consistent_frequency_hours > max(self.retention_hours, 1):
            raise ValueError(
                "app_consistent_frequency_hours must not exceed retention_hours "
                "(an app-consistent point would never be kept)"
            )
        if self.rpo_threshold_seconds < int(self.interval):
            raise ValueError("rpo_threshold_seconds must be at least the replication interval")
        return self


class HealthState(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"
    CRITICAL = "Critical"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {HealthState.NORMAL: 0, HealthState.WARNING: 1, HealthState.CRITICAL: 2}


class Health(_Model):
    state: HealthState = HealthState.NORMAL
    reasons: tuple[ErrorInfo, ...] = ()

    @classmethod
    def of(cls, findings: list[tuple[HealthState, ErrorInfo]]) -> Health:
        """The worst finding sets the state; every finding is a reason."""
        state = max((s for s, _ in findings), key=lambda s: s.severity, default=HealthState.NORMAL)
        return cls(state=state, reasons=tuple(e for _, e in findings))


class ProtectionRecord(_Model):
    tenant: str
    vm: str
    provider: Provider
    policy: ReplicationPolicy = Field(default_factory=ReplicationPolicy)
    target: ProtectionTarget = Field(default_factory=ProtectionTarget)
    status: ReplicationStatus = ReplicationStatus.WAITING_FOR_INITIAL_REPLICATION
    health: Health = Field(default_factory=Health)
