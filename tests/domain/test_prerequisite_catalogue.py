"""Every rule under both profiles: it fails with its stable code, a cause naming the VM's
value, a fix quoting the profile's own number, and the source of that number."""

from __future__ import annotations

import pytest

from domain.model import GIB, TIB, ProtectionRequest
from domain.prerequisites import ASR_2014, ASR_2026, CATALOGUE, RULES, evaluate, target_size
from domain.prerequisites.profiles import Profile
from tests.domain.factories import data_disk, good_vm, nic, os_disk, request

G2 = dict(generation=2, os_name="Windows Server 2012 R2 Datacenter")  # in both OS lists

# One VM per rule that breaks it (and, as far as a VM can, nothing else) under `profile`.
BREAKERS = {
    "Guest32BitNotSupported": lambda p: good_vm(is_64_bit=False),
    "GenerationNotSupported": lambda p: good_vm(generation=2),
    "Gen2OsDiskNotBasic": lambda p: good_vm(**G2, disks=(os_disk(format="VHD"),)),
    "SecureBootEnabled": lambda p: good_vm(**G2, secure_boot=True),
    "EfiRequiresWindowsServer2012": lambda p: good_vm(
        generation=2, os_name="Windows Server 2008 R2 Standard"
    ),
    "OsDiskNotDesignated": lambda p: good_vm(disks=(data_disk(),)),
    "OsDiskTooLarge": lambda p: good_vm(disks=(os_disk(size_bytes=p.max_os_disk_bytes[1] + GIB),)),
    "TooManyDataDisks": lambda p: good_vm(
        vcpus=32,
        memory_mb=128 * 1024,
        disks=(os_disk(), *(data_disk(i) for i in range(p.max_data_disks + 1))),
    ),
    "DataDiskTooLarge": lambda p: good_vm(
        disks=(os_disk(), data_disk(size_bytes=p.max_data_disk_bytes + GIB))
    ),
    "DiskFormatNotSupported": lambda p: good_vm(disks=(os_disk(), data_disk(format="VMDK"))),
    "DiskShared": lambda p: good_vm(disks=(os_disk(), data_disk(shared=True))),
    "DiskFibreChannel": lambda p: good_vm(disks=(os_disk(), data_disk(kind="fibre-channel"))),
    "DiskPhysical": lambda p: good_vm(disks=(os_disk(), data_disk(kind="passthrough"))),
    "DiskEncrypted": lambda p: good_vm(disks=(os_disk(), data_disk(encrypted=True))),
    "DiskStorageSpaces": lambda p: good_vm(disks=(os_disk(), data_disk(storage_spaces=True))),
    "Disk4KSectorNotSupported": lambda p: good_vm(
        disks=(os_disk(), data_disk(logical_sector_size=4096))
    ),
    "GuestOsTypeNotSet": lambda p: good_vm(os_type=None),
    "NanoServerNotSupported": lambda p: good_vm(os_name="Windows Server 2016 Nano Server"),
    "GuestOsNotSupported": lambda p: good_vm(os_type="linux", os_name="Slackware 15"),
    "NicTeamingNotSupported": lambda p: good_vm(nics=(nic(teamed=True),)),
    "Ipv6NotSupported": lambda p: good_vm(nics=(nic(ipv6=True),)),
    "ApipaNotSupported": lambda p: good_vm(nics=(nic(apipa=True),)),
    "StaticIpNotSupported": lambda p: good_vm(nics=(nic(addressing="static"),)),
    "TargetNameInvalid": lambda p: good_vm(name="web_01"),
    "TargetSizeDoesNotFit": lambda p: good_vm(vcpus=65),
}
REQUESTS = {"DataDiskRequiresManagedDisks": request(use_managed_disks=False)}
BREAKERS["DataDiskRequiresManagedDisks"] = lambda p: good_vm(
    disks=(os_disk(), data_disk(size_bytes=4 * TIB + GIB))
)

# Rules a profile has no limit for, so no VM can break them under it.
NOT_IN = {
    "asr-2026": {"StaticIpNotSupported", "GenerationNotSupported"},
    "asr-2014": {
        "Gen2OsDiskNotBasic",  # generation 2 is refused whole (GenerationNotSupported)
        "EfiRequiresWindowsServer2012",
        "DataDiskRequiresManagedDisks",  # 2014: data disks end at 4,095 GB anyway
    },
}
# What else a breaker breaks under a profile, by necessity: a generation 2 VM breaks the
# generation rule of a generation-1-only profile; a 4 TiB data disk is over 2014's 4,095 GB.
ALSO = {
    ("asr-2014", "Gen2OsDiskNotBasic"): {"GenerationNotSupported"},
    ("asr-2014", "EfiRequiresWindowsServer2012"): {"GenerationNotSupported"},
    ("asr-2014", "SecureBootEnabled"): {"GenerationNotSupported"},
    ("asr-2014", "DataDiskRequiresManagedDisks"): {"DataDiskTooLarge"},
}


def test_every_rule_has_a_breaker() -> None:
    assert set(BREAKERS) == set(RULES)


@pytest.mark.parametrize("profile", [ASR_2026, ASR_2014], ids=lambda p: p.name)
@pytest.mark.parametrize("rule", CATALOGUE, ids=lambda r: r.code)
def test_rule_under_profile(rule, profile: Profile) -> None:
    vm = BREAKERS[rule.code](profile)
    failures = evaluate(vm, REQUESTS.get(rule.code, request()), profile)
    found = {f.code: f for f in failures}
    also = ALSO.get((profile.name, rule.code), set())
    if rule.code in NOT_IN[profile.name]:
        assert set(found) == also, failures
        return
    assert set(found) == {rule.code} | also, failures
    failure = found[rule.code]
    assert failure.cause and failure.recommendation
    assert failure.source == (profile.source_of(rule.limit) if rule.limit else profile.source)
    assert "hyper-v-azure-support-matrix" in failure.source
    assert failure.to_report() == {**failure.to_dict(), "source": failure.source}
    # The good VM the breaker was built from passes: the rule, not the base, failed.
    assert evaluate(good_vm(), request(), profile) == []


@pytest.mark.parametrize(
    ("code", "quotes"),
    [
        ("TooManyDataDisks", {"asr-2026": "16 data disks"}),
        ("DataDiskTooLarge", {"asr-2026": "32 TiB", "asr-2014": "4095 GiB"}),
        ("DataDiskRequiresManagedDisks", {"asr-2026": "4 TiB"}),
        ("Gen2OsDiskNotBasic", {"asr-2026": "2 TiB"}),
        ("TargetNameInvalid", {"asr-2026": "1-63"}),
    ],
)
def test_fixes_quote_the_profiles_own_numbers(code: str, quotes: dict[str, str]) -> None:
    for profile in (ASR_2026, ASR_2014):
        if profile.name in quotes:
            assert quotes[profile.name] in RULES[code].fix(profile)


def test_direct_provider_lifts_only_the_asr_rules() -> None:
    direct = ProtectionRequest(provider="direct")
    lifted = {r.code for r in CATALOGUE if r.asr_only}
    assert lifted == {
        "GenerationNotSupported",
        "Gen2OsDiskNotBasic",
        "SecureBootEnabled",
        "EfiRequiresWindowsServer2012",
        "Disk4KSectorNotSupported",
        "GuestOsNotSupported",
    }
    for code in lifted:
        for profile in (ASR_2026, ASR_2014):
            codes = {f.code for f in evaluate(BREAKERS[code](profile), direct, profile)}
            assert code not in codes


def test_target_size_is_the_asked_one_or_the_smallest_that_fits() -> None:
    vm = good_vm(vcpus=4, memory_mb=16 * 1024)
    assert target_size(vm, request()) == "Standard_B4ms"  # 4 vCPU, 16 GiB, the cheapest fit
    assert target_size(vm, request(size="standard_d4s_v5")) == "Standard_D4s_v5"
    assert target_size(vm, request(size="Standard_D2s_v5")) is None  # 2 vCPUs: does not fit
    assert target_size(good_vm(generation=2, **{"os_name": G2["os_name"]}), request()) != (
        "Standard_A1_v2"  # Av2 runs generation 1 only
    )
