"""Versioned limits of ASR's Hyper-V-to-Azure support matrix, as data with their sources.

Units: ASR's matrix states disk limits in GB/TB meaning binary units (2 TB = 2,048 GB,
4,095 GB is 1 GB under 4 TB), so every limit here is bytes computed with GIB = 1024**3 and
TIB = 1024**4. Limits are inclusive ("up to") except `gen2_os_disk_below_bytes`: the matrix
says a generation 2 basic OS disk must be "less than" (elsewhere: "under") the size.

Where the numbers come from: `asr-2026` carries the May 2026 support matrix as the product's
requirements state it. The 2026 page itself was not in our reference corpus; its 2018 revision
(MicrosoftDocs/azure-docs, articles/site-recovery/hyper-v-azure-support-matrix.md, ms.date
08/01/2018) was read and agrees on the kinds of limit (64-bit, one OS disk, 16 data disks,
shared VHD / FC / BitLocker refused, Nano Server refused, no NIC teaming or IPv6 in the guest,
VM name rules, generation 2 basic OS disk with one or two data volumes) and on the older
numbers `asr-2014` keeps (OS disk 2,048 GB on generation 1, data disks 4,095 GB).
Known inconsistency, kept as stated: asr-2026 allows a 4 TB generation 2 OS disk but
requires the generation 2 basic OS disk to be under 2 TB, so under ASR the 2 TB cap binds;
the 4 TB limit matters for the `direct` provider, which lifts the generation 2 rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import DomainError, ErrorInfo
from domain.model import GIB, TIB

MATRIX = "https://learn.microsoft.com/azure/site-recovery/hyper-v-azure-support-matrix"
MATRIX_2026 = f"{MATRIX} (May 2026)"
MATRIX_2014 = (
    "ASR Hyper-V (VMM) to Azure prerequisites of 2014 (VMM 2012 R2 era); the OS and data "
    "disk numbers are also in the matrix's 2018 revision (MicrosoftDocs/azure-docs "
    "articles/site-recovery/hyper-v-azure-support-matrix.md, ms.date 08/01/2018)"
)
SIZES_DOCS = "https://learn.microsoft.com/azure/virtual-machines/sizes/overview"

# Guest OS names as VMM reports them, matched case-insensitively on words (see rules._normal).
_WINDOWS_2026 = (
    "windows server 2008",  # SP2 (32/64-bit) and R2 SP1
    "windows server 2012",
    "windows server 2016",
    "windows server 2019",
    "windows server 2022",
    "windows server 2025",
    "windows 10",
    "windows 11",
)
_LINUX_2026 = (
    "ubuntu",
    "debian",
    "red hat enterprise linux",
    "rhel",
    "centos",
    "suse linux enterprise",
    "sles",
    "oracle linux",
    "almalinux",
    "rocky linux",
)
_WINDOWS_2014 = ("windows server 2008 r2", "windows server 2012")
_LINUX_2014 = ("centos", "ubuntu", "suse linux enterprise", "opensuse", "oracle linux")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    source: str
    allowed_generations: frozenset[int]
    max_os_disk_bytes: Mapping[int, int]  # per generation
    gen2_os_disk_format: str | None  # the basic OS disk of a generation 2 VM
    gen2_os_disk_below_bytes: int | None  # exclusive
    gen2_os_disk_max_data_volumes: int | None
    gen2_min_windows_server: int | None  # EFI boot needs at least this Windows Server
    max_data_disks: int
    max_data_disk_bytes: int
    max_unmanaged_data_disk_bytes: int | None  # over this, only managed disks
    disk_formats: frozenset[str]
    static_ip_allowed: bool
    supported_windows: tuple[str, ...]
    supported_linux: tuple[str, ...]
    target_name_max: int = 63
    sources: Mapping[str, str] = field(default_factory=dict)  # field name -> where it comes from

    def source_of(self, limit: str) -> str:
        return self.sources.get(limit, self.source)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "allowedGenerations": sorted(self.allowed_generations),
            "maxOsDiskBytes": {str(g): b for g, b in self.max_os_disk_bytes.items()},
            "maxDataDisks": self.max_data_disks,
            "maxDataDiskBytes": self.max_data_disk_bytes,
            "maxUnmanagedDataDiskBytes": self.max_unmanaged_data_disk_bytes,
            "staticIpAllowed": self.static_ip_allowed,
            "sources": dict(self.sources),
        }


ASR_2026 = Profile(
    name="asr-2026",
    title="ASR Hyper-V to Azure, support matrix of May 2026",
    source=MATRIX_2026,
    allowed_generations=frozenset({1, 2}),
    max_os_disk_bytes={1: 2 * TIB, 2: 4 * TIB},
    gen2_os_disk_format="VHDX",
    gen2_os_disk_below_bytes=2 * TIB,
    gen2_os_disk_max_data_volumes=2,
    gen2_min_windows_server=2012,
    max_data_disks=16,
    max_data_disk_bytes=32 * TIB,
    max_unmanaged_data_disk_bytes=4 * TIB,
    disk_formats=frozenset({"VHD", "VHDX"}),
    static_ip_allowed=True,
    supported_windows=_WINDOWS_2026,
    supported_linux=_LINUX_2026,
    sources={
        "allowed_generations": f"{MATRIX_2026}: Azure VM requirements, generation",
        "max_os_disk_bytes": f"{MATRIX_2026}: operating system disk size "
        "(2,048 GB generation 1, 4,096 GB generation 2)",
        "gen2_os_disk_format": f"{MATRIX_2026}: generation 2 OS disk (basic, VHDX)",
        "gen2_os_disk_below_bytes": f"{MATRIX_2026}: generation 2 basic OS disk under 2 TB",
        "gen2_os_disk_max_data_volumes": f"{MATRIX_2026}: generation 2 OS disk, "
        "at most two data volumes",
        "gen2_min_windows_server": f"{MATRIX_2026}: generation 2 (EFI) needs Windows Server 2012+",
        "max_data_disks": f"{MATRIX_2026}: data disk count (16 or fewer)",
        "max_data_disk_bytes": f"{MATRIX_2026}: data disk size (up to 32 TB to managed disks)",
        "max_unmanaged_data_disk_bytes": f"{MATRIX_2026}: data disk size "
        "(up to 4 TB to storage accounts)",
        "static_ip_allowed": f"{MATRIX_2026}: network, static IP (Windows/Linux) supported",
        "supported_windows": f"{MATRIX_2026}: supported guest operating systems",
        "supported_linux": f"{MATRIX_2026}: supported guest operating systems",
        "target_name_max": f"{MATRIX_2026}: Azure VM name, 1-63 characters",
        "disk_formats": f"{MATRIX_2026}: VHD and VHDX (generation 1 and 2)",
    },
)

ASR_2014 = Profile(
    name="asr-2014",
    title="ASR Hyper-V (VMM) to Azure, limits of 2014",
    source=MATRIX_2014,
    allowed_generations=frozenset({1}),
    max_os_disk_bytes={1: 2048 * GIB},
    gen2_os_disk_format=None,
    gen2_os_disk_below_bytes=None,
    gen2_os_disk_max_data_volumes=None,
    gen2_min_windows_server=None,
    # Not named by the 2014 limits we carry; kept at the matrix's count (Azure sizes then
    # allowed at most 16 data disks).
    max_data_disks=16,
    max_data_disk_bytes=4095 * GIB,
    max_unmanaged_data_disk_bytes=None,
    disk_formats=frozenset({"VHD", "VHDX"}),
    static_ip_allowed=False,
    supported_windows=_WINDOWS_2014,
    supported_linux=_LINUX_2014,
    sources={
        "allowed_generations": f"{MATRIX_2014}: generation 1 VMs only",
        "max_os_disk_bytes": f"{MATRIX_2014}: OS disk up to 2,048 GB",
        "max_data_disk_bytes": f"{MATRIX_2014}: data disks up to 4,095 GB",
        "max_data_disks": f"{MATRIX}: data disk count (16 or fewer); not stated for 2014, so "
        "the count of the matrix is kept",
        "static_ip_allowed": f"{MATRIX_2014}: NICs on DHCP; static addresses not supported",
        "supported_windows": f"{MATRIX_2014}: guest OSes Azure supported then",
        "supported_linux": f"{MATRIX_2014}: guest OSes Azure supported then",
        "disk_formats": f"{MATRIX_2014}: VHD and VHDX",
        "target_name_max": f"{MATRIX_2014}: Azure VM name, 1-63 characters",
    },
)

PROFILES: dict[str, Profile] = {p.name: p for p in (ASR_2026, ASR_2014)}
DEFAULT_PROFILE = ASR_2026.name


class UnknownProfile(DomainError):
    status = 400


def get_profile(name: str | None = None) -> Profile:
    """The profile called `name` (the default when None); UnknownProfile otherwise."""
    profile = PROFILES.get(name or DEFAULT_PROFILE)
    if profile is None:
        raise UnknownProfile(
            ErrorInfo(
                code="UnknownPrerequisiteProfile",
                cause=f"There is no prerequisite profile '{name}'.",
                recommendation=f"Set the tenant's profile to one of: {', '.join(PROFILES)}.",
            )
        )
    return profile


def profile_for_tenant(
    tenant: str, overrides: Mapping[str, str] | None = None, default: str = DEFAULT_PROFILE
) -> str:
    """The profile name of `tenant`: its override if any, else `default`. Both are checked, so
    a typo in settings fails loudly instead of silently applying other limits."""
    name = (overrides or {}).get(tenant) or default
    return get_profile(name).name
