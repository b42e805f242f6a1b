"""The prerequisite catalogue: one rule per limit, each with a stable code, cause and fix.

`evaluate` runs every rule that applies (profile and provider) and returns every failure at
once, in catalogue order. A rule that breaks on several disks or NICs fails once, naming all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from domain.errors import ErrorInfo
from domain.model import GIB, TIB, Disk, GuestOsType, HealthState, ProtectionRequest, Provider, Vm
from domain.prerequisites.profiles import Profile
from domain.sizes import get_size, smallest_fitting


@dataclass(frozen=True)
class RuleFailure:
    code: str
    cause: str
    recommendation: str
    severity: HealthState = HealthState.CRITICAL
    source: str = ""

    def to_error(self) -> ErrorInfo:
        return ErrorInfo(self.code, self.cause, self.recommendation)

    def to_dict(self) -> dict[str, str]:
        """The team's error shape (code, cause, recommendation)."""
        return self.to_error().to_dict()

    def to_report(self) -> dict[str, str]:
        """The error shape plus where the limit comes from, for preflight reports and jobs:
        an operator can check the number against the support matrix it was taken from."""
        return {**self.to_dict(), "source": self.source}


@dataclass(frozen=True)
class Context:
    vm: Vm
    request: ProtectionRequest
    profile: Profile


Check = Callable[[Context], list[str]]  # the causes; empty when the rule holds
# A fix that quotes a profile's numbers is written against the profile, so it never says
# "16 data disks" under a profile whose limit is another number.
Recommendation = str | Callable[[Profile], str]


@dataclass(frozen=True)
class Rule:
    code: str
    check: Check
    recommendation: Recommendation
    limit: str | None = None  # the profile field the rule reads, for its source
    asr_only: bool = False  # lifted for the `direct` provider
    # Critical: replication itself cannot work; Warning: only failover would fail.
    severity: HealthState = HealthState.CRITICAL

    def fix(self, profile: Profile) -> str:
        """The recommendation with the profile's own numbers."""
        text = self.recommendation
        return text if isinstance(text, str) else text(profile)


def fmt_bytes(n: int) -> str:
    """Binary units, as ASR's matrix means them: 2048 GiB prints as '2 TiB'."""
    if n >= TIB and n % TIB == 0:
        return f"{n // TIB} TiB"
    if n % GIB == 0:
        return f"{n // GIB} GiB"  # 4,095 GiB stays as the matrix writes it
    if n >= TIB:
        return f"{n / TIB:.2f} TiB ({n} bytes)"
    return f"{n / GIB:.2f} GiB ({n} bytes)"


def _normal(text: str | None) -> str:
    return re.sub(r"[\s_\-]+", " ", (text or "").lower()).strip()


_SERVER_YEAR = re.compile(r"windows server (\d{4})")
_OTHER_LINUX_64 = re.compile(r"other linux \(?64 ?bit\)?")


def _server_year(os_name: str | None) -> int | None:
    found = _SERVER_YEAR.search(_normal(os_name))
    return int(found.group(1)) if found else None


def _is_nano(vm: Vm) -> bool:
    return "nano" in _normal(vm.os_name)


def _is_other_linux_64(vm: Vm) -> bool:
    return bool(_OTHER_LINUX_64.search(_normal(vm.os_name)))


def _disks(disks: Iterable[Disk], predicate: Callable[[Disk], bool]) -> list[str]:
    return [d.id for d in disks if predicate(d)]


def _each(ids: list[str], what: str) -> list[str]:
    return [f"Disk {i} {what}." for i in ids]


# --- the checks -------------------------------------------------------------------------


def _guest_32_bit(c: Context) -> list[str]:
    if c.vm.is_64_bit:
        return []
    name = _normal(c.vm.os_name)
    if "windows server 2008" in name and "r2" not in name:
        return []
    return [f"The guest OS '{c.vm.os_name or 'unknown'}' is 32-bit."]


def _generation(c: Context) -> list[str]:
    if c.vm.generation in c.profile.allowed_generations:
        return []
    allowed = ", ".join(str(g) for g in sorted(c.profile.allowed_generations))
    return [
        f"The VM is generation {c.vm.generation}; profile {c.profile.name} "
        f"allows generation {allowed}."
    ]


def _gen2_os_disk_basic(c: Context) -> list[str]:
    p = c.profile
    if c.vm.generation != 2 or p.gen2_os_disk_format is None:
        return []
    causes = []
    for d in c.vm.os_disks:
        if d.format.upper() != p.gen2_os_disk_format:
            causes.append(f"OS disk {d.id} of a generation 2 VM is {d.format}, not VHDX.")
        if p.gen2_os_disk_max_data_volumes is not None and (
            d.data_volumes > p.gen2_os_disk_max_data_volumes
        ):
            causes.append(
                f"OS disk {d.id} has {d.data_volumes} data volumes; a generation 2 OS disk "
                f"may have at most {p.gen2_os_disk_max_data_volumes}."
            )
        if p.gen2_os_disk_below_bytes is not None and d.size_bytes >= p.gen2_os_disk_below_bytes:
            causes.append(
                f"OS disk {d.id} of a generation 2 VM is {fmt_bytes(d.size_bytes)}; the "
                f"basic OS disk must be under {fmt_bytes(p.gen2_os_disk_below_bytes)}."
            )
        if d.storage_spaces or d.kind != "virtual":
            causes.append(f"OS disk {d.id} of a generation 2 VM is not a basic virtual disk.")
    return causes


def _secure_boot(c: Context) -> list[str]:
    if c.vm.generation == 2 and c.vm.secure_boot:
        return ["Secure Boot is on for this generation 2 VM."]
    return []


def _gen2_windows_version(c: Context) -> list[str]:
    minimum = c.profile.gen2_min_windows_server
    if c.vm.generation != 2 or minimum is None or c.vm.os_type != GuestOsType.WINDOWS:
        return []
    year = _server_year(c.vm.os_name)
    if year is not None and year < minimum:
        return [f"'{c.vm.os_name}' cannot boot with EFI in Azure (generation 2)."]
    return []


def _os_disk_count(c: Context) -> list[str]:
    os_disks = c.vm.os_disks
    if len(os_disks) == 1:
        return []
    if not os_disks:
        return ["No disk of the VM is designated as the OS disk."]
    ids = ", ".join(d.id for d in os_disks)
    return [f"{len(os_disks)} disks are designated as the OS disk: {ids}."]


def _os_disk_size(c: Context) -> list[str]:
    limit = c.profile.max_os_disk_bytes.get(c.vm.generation)
    if limit is None:  # the generation itself is refused by GenerationNotSupported
        return []
    return [
        f"OS disk {d.id} is {fmt_bytes(d.size_bytes)}; a generation {c.vm.generation} OS "
        f"disk may be at most {fmt_bytes(limit)}."
        for d in c.vm.os_disks
        if d.size_bytes > limit
    ]


def _data_disk_count(c: Context) -> list[str]:
    count = len(c.vm.data_disks)
    if count <= c.profile.max_data_disks:
        return []
    return [f"The VM has {count} data disks; at most {c.profile.max_data_disks} are supported."]


def _data_disk_size(c: Context) -> list[str]:
    limit = c.profile.max_data_disk_bytes
    return [
        f"Data disk {d.id} is {fmt_bytes(d.size_bytes)}; at most {fmt_bytes(limit)}."
        for d in c.vm.data_disks
        if d.size_bytes > limit
    ]


def _data_disk_needs_managed(c: Context) -> list[str]:
    limit = c.profile.max_unmanaged_data_disk_bytes
    if limit is None or c.request.target.use_managed_disks:
        return []
    return [
        f"Data disk {d.id} is {fmt_bytes(d.size_bytes)}; over {fmt_bytes(limit)} replicates "
        "only to managed disks."
        for d in c.vm.data_disks
        if limit < d.size_bytes <= c.profile.max_data_disk_bytes
    ]


def _disk_format(c: Context) -> list[str]:
    allowed = c.profile.disk_formats
    return [
        f"Disk {d.id} is in format '{d.format}'."
        for d in c.vm.disks
        if d.kind == "virtual" and d.format.upper() not in allowed
    ]


def _shared(c: Context) -> list[str]:
    return _each(_disks(c.vm.disks, lambda d: d.shared), "is a shared virtual disk")


def _fibre_channel(c: Context) -> list[str]:
    return _each(
        _disks(c.vm.disks, lambda d: d.kind == "fibre-channel"), "is a virtual Fibre Channel disk"
    )


def _passthrough(c: Context) -> list[str]:
    return _each(
        _disks(c.vm.disks, lambda d: d.kind == "passthrough"), "is a physical (pass-through) disk"
    )


def _encrypted(c: Context) -> list[str]:
    return _each(_disks(c.vm.disks, lambda d: d.encrypted), "is encrypted (BitLocker or other)")


def _storage_spaces(c: Context) -> list[str]:
    return _each(_disks(c.vm.disks, lambda d: d.storage_spaces), "is part of Storage Spaces")


def _sector_4k(c: Context) -> list[str]:
    return [
        f"Disk {d.id} has {d.logical_sector_size}-byte logical sectors."
        for d in c.vm.disks
        if d.logical_sector_size != 512
    ]


def _os_type_set(c: Context) -> list[str]:
    if c.vm.os_type is None:
        return ["The VM's guest operating system type is not set in VMM."]
    return []


def _nano(c: Context) -> list[str]:
    return [f"The guest OS is '{c.vm.os_name}'."] if _is_nano(c.vm) else []


def _os_supported(c: Context) -> list[str]:
    vm = c.vm
    if vm.os_type is None or _is_nano(vm):
        return []  # reported by GuestOsTypeNotSet / NanoServerNotSupported
    if _is_other_linux_64(vm):
        return []  # "Other Linux (64-bit)": what people set for FreeBSD and the like
    name = _normal(vm.os_name)
    if vm.os_type == GuestOsType.WINDOWS:
        known = c.profile.supported_windows
    elif vm.os_type == GuestOsType.LINUX:
        known = c.profile.supported_linux
    else:
        known = ()
    if name and any(k in name for k in known):
        return []
    return [
        f"The guest OS '{vm.os_name or 'unnamed'}' ({vm.os_type}) is not in the support list "
        f"of profile {c.profile.name}."
    ]


def _nic_teaming(c: Context) -> list[str]:
    return [f"NIC {n.id} is teamed." for n in c.vm.nics if n.teamed]


def _ipv6(c: Context) -> list[str]:
    return [f"NIC {n.id} uses IPv6." for n in c.vm.nics if n.ipv6]


def _apipa(c: Context) -> list[str]:
    return [f"NIC {n.id} has an APIPA (169.254.x.x) address." for n in c.vm.nics if n.apipa]


def _static_ip(c: Context) -> list[str]:
    if c.profile.static_ip_allowed:
        return []
    return [f"NIC {n.id} has a static address." for n in c.vm.nics if n.addressing == "static"]


_TARGET_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def target_name(vm: Vm, request: ProtectionRequest) -> str:
    return request.target.vm_name or vm.name


def target_size(vm: Vm, request: ProtectionRequest) -> str | None:
    """The Azure size the VM fails over as: the one asked for (catalogue spelling), else the
    smallest catalogue size that fits; None when nothing fits (TargetSizeDoesNotFit says why)."""
    if request.target.size is not None:
        size = get_size(request.target.size)
        return size.name if size is not None and size.fits(vm) else None
    fitting = smallest_fitting(vm)
    return fitting.name if fitting else None


def _target_name(c: Context) -> list[str]:
    name = target_name(c.vm, c.request)
    given = "" if c.request.target.vm_name else " (taken from the VM's name)"
    if len(name) > c.profile.target_name_max:
        return [f"Target name '{name}'{given} is {len(name)} characters long."]
    if not _TARGET_NAME.match(name):
        return [
            f"Target name '{name}'{given} has characters other than letters, digits and "
            "hyphens, or does not start and end with a letter or digit."
        ]
    return []


def _target_size(c: Context) -> list[str]:
    wanted = c.request.target.size
    if wanted is None:
        if smallest_fitting(c.vm) is None:
            return [
                f"No Azure size in the catalogue has {c.vm.vcpus} vCPUs, {c.vm.memory_mb} MB "
                f"and {len(c.vm.data_disks)} data disks for generation {c.vm.generation}."
            ]
        return []
    size = get_size(wanted)
    if size is None:
        return [f"Target size '{wanted}' is not in the catalogue of Azure sizes."]
    return [f"Target size {size.name}: {why}." for why in size.shortfalls(c.vm)]


CATALOGUE: tuple[Rule, ...] = (
    Rule(
        "Guest32BitNotSupported",
        _guest_32_bit,
        "Protect a 64-bit guest; 32-bit guests are supported only for Windows Server 2008.",
    ),
    Rule(
        "GenerationNotSupported",
        _generation,
        "Protect a generation 1 VM under this profile, or use a profile (or the direct "
        "provider) that allows generation 2.",
        limit="allowed_generations",
        asr_only=True,
    ),
    Rule(
        "Gen2OsDiskNotBasic",
        _gen2_os_disk_basic,
        lambda p: (
            "Give the generation 2 VM a basic VHDX OS disk with at most "
            f"{p.gen2_os_disk_max_data_volumes} data volumes, under "
            f"{fmt_bytes(p.gen2_os_disk_below_bytes or 0)}; move other volumes to data disks."
        ),
        limit="gen2_os_disk_below_bytes",
        asr_only=True,
    ),
    Rule(
        "SecureBootEnabled",
        _secure_boot,
        "Turn Secure Boot off in the VM's firmware settings before enabling protection.",
        asr_only=True,
    ),
    Rule(
        "EfiRequiresWindowsServer2012",
        _gen2_windows_version,
        "Upgrade the guest to Windows Server 2012 or later, or run it as generation 1.",
        limit="gen2_min_windows_server",
        asr_only=True,
    ),
    Rule(
        "OsDiskNotDesignated",
        _os_disk_count,
        "Designate exactly one of the VM's disks as its OS disk in VMM.",
    ),
    Rule(
        "OsDiskTooLarge",
        _os_disk_size,
        "Shrink the OS disk below the limit (move data to a data disk), or exclude the VM.",
        limit="max_os_disk_bytes",
    ),
    Rule(
        "TooManyDataDisks",
        _data_disk_count,
        lambda p: f"Consolidate data onto at most {p.max_data_disks} data disks.",
        limit="max_data_disks",
    ),
    Rule(
        "DataDiskTooLarge",
        _data_disk_size,
        lambda p: f"Split the data disk into disks of at most {fmt_bytes(p.max_data_disk_bytes)}.",
        limit="max_data_disk_bytes",
    ),
    Rule(
        "DataDiskRequiresManagedDisks",
        _data_disk_needs_managed,
        lambda p: (
            "Replicate to managed disks (useManagedDisks: true), or keep data disks within "
            f"{fmt_bytes(p.max_unmanaged_data_disk_bytes or 0)}."
        ),
        limit="max_unmanaged_data_disk_bytes",
    ),
    Rule(
        "DiskFormatNotSupported",
        _disk_format,
        "Convert the disk to VHD or VHDX (Convert-VHD).",
        limit="disk_formats",
    ),
    Rule(
        "DiskShared",
        _shared,
        "Shared VHDX/VHD sets cannot be replicated; detach the shared disk or protect the "
        "cluster another way.",
    ),
    Rule(
        "DiskFibreChannel",
        _fibre_channel,
        "Move the data from the virtual Fibre Channel disk to a VHDX.",
    ),
    Rule(
        "DiskPhysical", _passthrough, "Replace the pass-through disk with a VHDX holding its data."
    ),
    Rule(
        "DiskEncrypted",
        _encrypted,
        "Turn off BitLocker (or other guest encryption) on the disk before protecting the VM.",
    ),
    Rule(
        "DiskStorageSpaces",
        _storage_spaces,
        "Move the data off Storage Spaces in the guest to plain volumes.",
    ),
    Rule(
        "Disk4KSectorNotSupported",
        _sector_4k,
        "Recreate the disk with 512-byte logical sectors, or use the direct provider.",
        asr_only=True,
    ),
    Rule(
        "GuestOsTypeNotSet",
        _os_type_set,
        "Set the VM's operating system in VMM (hardware profile), e.g. 'Other Linux (64-bit)' "
        "for FreeBSD.",
    ),
    Rule("NanoServerNotSupported", _nano, "Nano Server cannot be protected; use another guest."),
    Rule(
        "GuestOsNotSupported",
        _os_supported,
        "Run a supported guest OS, set the exact OS in VMM, or use the direct provider.",
        limit="supported_windows",
        asr_only=True,
    ),
    Rule(
        "NicTeamingNotSupported",
        _nic_teaming,
        "Remove NIC teaming in the guest.",
        severity=HealthState.WARNING,
    ),
    Rule(
        "Ipv6NotSupported",
        _ipv6,
        "Use IPv4 on the VM's NICs; IPv6 with VMM is not supported.",
        severity=HealthState.WARNING,
    ),
    Rule(
        "ApipaNotSupported",
        _apipa,
        "Give the NIC a DHCP or static IPv4 address instead of APIPA.",
        severity=HealthState.WARNING,
    ),
    Rule(
        "StaticIpNotSupported",
        _static_ip,
        "Switch the NIC to DHCP, or use a profile that allows static addresses.",
        limit="static_ip_allowed",
        severity=HealthState.WARNING,
    ),
    Rule(
        "TargetNameInvalid",
        _target_name,
        lambda p: (
            f"Set a target VM name of 1-{p.target_name_max} letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        ),
        limit="target_name_max",
        severity=HealthState.WARNING,
    ),
    Rule(
        "TargetSizeDoesNotFit",
        _target_size,
        "Choose a size from the catalogue with at least the VM's vCPUs, memory and data disks "
        "that runs its generation, or leave the size unset to pick the smallest that fits.",
        severity=HealthState.WARNING,
    ),
)

RULES: Mapping[str, Rule] = {r.code: r for r in CATALOGUE}


def applies(rule: Rule, request: ProtectionRequest) -> bool:
    return not (rule.asr_only and request.provider == Provider.DIRECT)


def evaluate(vm: Vm, request: ProtectionRequest, profile: Profile) -> list[RuleFailure]:
    """Every failing rule at once, in catalogue order; empty when the VM may be protected."""
    context = Context(vm, request, profile)
    failures = []
    for rule in CATALOGUE:
        if not applies(rule, request):
            continue
        causes = rule.check(context)
        if causes:
            failures.append(
                RuleFailure(
                    code=rule.code,
                    cause=" ".join(causes),
                    recommendation=rule.fix(profile),
                    severity=rule.severity,
                    source=profile.source_of(rule.limit) if rule.limit else profile.source,
                )
            )
    return failures


def health_for(failures: Iterable[RuleFailure | Mapping[str, str]]) -> str:
    """The health a protected VM gets when it now breaks these rules: Critical when one breaks
    replication itself, Warning when only failover would fail, Normal when none."""
    state = HealthState.NORMAL
    for failure in failures:
        code = failure.code if isinstance(failure, RuleFailure) else failure.get("code", "")
        rule = RULES.get(code)
        severity = rule.severity if rule else HealthState.CRITICAL
        if severity.severity > state.severity:
            state = severity
    return state.value
