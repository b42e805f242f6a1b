"""Every rule both ways: a VM that breaks it fails with its code (and only it), the boundary
value passes. Plus the issue's own cases, profiles and health."""

from __future__ import annotations

import pytest

from domain.model import GIB, MIB, TIB, ProtectionRequest
from domain.prerequisites import (
    ASR_2014,
    ASR_2026,
    CATALOGUE,
    PROFILES,
    RULES,
    UnknownProfile,
    evaluate,
    get_profile,
    health_for,
    profile_for_tenant,
)
from tests.domain.factories import data_disk, good_vm, nic, os_disk, request

A26 = "asr-2026"
A14 = "asr-2014"


def codes(vm, req=None, profile=A26) -> list[str]:
    return [f.code for f in evaluate(vm, req or request(), get_profile(profile))]


def gen2(**changes):
    base = dict(generation=2, os_name="Windows Server 2019 Datacenter")
    return good_vm(**{**base, **changes})


# (id, profile, provider, VM that breaks the rule, VM at the boundary that passes, code)
CASES = [
    (
        "32-bit guest",
        A26,
        "asr",
        good_vm(is_64_bit=False),
        good_vm(is_64_bit=False, os_name="Windows Server 2008 Standard (32-bit)"),
        "Guest32BitNotSupported",
    ),
    (
        "32-bit 2008 R2 is not 2008",
        A26,
        "asr",
        good_vm(is_64_bit=False, os_name="Windows Server 2008 R2 Standard"),
        good_vm(os_name="Windows Server 2008 R2 Standard"),
        "Guest32BitNotSupported",
    ),
    (
        "gen2 under asr-2014",
        A14,
        "asr",
        good_vm(generation=2),
        good_vm(generation=1),
        "GenerationNotSupported",
    ),
    (
        "gen2 OS disk VHD",
        A26,
        "asr",
        gen2(disks=(os_disk(format="VHD"),)),
        gen2(disks=(os_disk(format="VHDX"),)),
        "Gen2OsDiskNotBasic",
    ),
    (
        "gen2 OS disk data volumes",
        A26,
        "asr",
        gen2(disks=(os_disk(data_volumes=3),)),
        gen2(disks=(os_disk(data_volumes=2),)),
        "Gen2OsDiskNotBasic",
    ),
    (
        "gen2 basic OS disk size",
        A26,
        "asr",
        gen2(disks=(os_disk(size_bytes=2 * TIB),)),
        gen2(disks=(os_disk(size_bytes=2 * TIB - MIB),)),
        "Gen2OsDiskNotBasic",
    ),
    (
        "secure boot",
        A26,
        "asr",
        gen2(secure_boot=True),
        gen2(secure_boot=False),
        "SecureBootEnabled",
    ),
    (
        "EFI needs Windows Server 2012",
        A26,
        "asr",
        gen2(os_name="Windows Server 2008 R2 Datacenter"),
        gen2(os_name="Windows Server 2012"),
        "EfiRequiresWindowsServer2012",
    ),
    (
        "no OS disk",
        A26,
        "asr",
        good_vm(disks=(data_disk(),)),
        good_vm(disks=(os_disk(),)),
        "OsDiskNotDesignated",
    ),
    (
        "two OS disks",
        A26,
        "asr",
        good_vm(disks=(os_disk(), os_disk(id="os2"))),
        good_vm(disks=(os_disk(),)),
        "OsDiskNotDesignated",
    ),
    (
        "gen1 OS disk over 2 TiB",
        A26,
        "asr",
        good_vm(disks=(os_disk(size_bytes=2 * TIB + 1),)),
        good_vm(disks=(os_disk(size_bytes=2 * TIB),)),
        "OsDiskTooLarge",
    ),
    # The gen2 basic-disk rule caps ASR at 2 TiB; the 4 TiB gen2 limit shows with `direct`.
    (
        "gen2 OS disk over 4 TiB",
        A26,
        "direct",
        gen2(disks=(os_disk(size_bytes=4 * TIB + 1),)),
        gen2(disks=(os_disk(size_bytes=4 * TIB),)),
        "OsDiskTooLarge",
    ),
    (
        "asr-2014 OS disk over 2048 GB",
        A14,
        "asr",
        good_vm(disks=(os_disk(size_bytes=2048 * GIB + 1),)),
        good_vm(disks=(os_disk(size_bytes=2048 * GIB),)),
        "OsDiskTooLarge",
    ),
    (
        "17 data disks",
        A26,
        "asr",
        good_vm(disks=(os_disk(), *(data_disk(i) for i in range(17)))),
        good_vm(disks=(os_disk(), *(data_disk(i) for i in range(16)))),
        "TooManyDataDisks",
    ),
    (
        "data disk over 32 TiB",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(size_bytes=32 * TIB + 1))),
        good_vm(disks=(os_disk(), data_disk(size_bytes=32 * TIB))),
        "DataDiskTooLarge",
    ),
    (
        "asr-2014 data disk over 4095 GB",
        A14,
        "asr",
        good_vm(disks=(os_disk(), data_disk(size_bytes=4095 * GIB + 1))),
        good_vm(disks=(os_disk(), data_disk(size_bytes=4095 * GIB))),
        "DataDiskTooLarge",
    ),
    (
        "disk format",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(format="VMDK"))),
        good_vm(disks=(os_disk(), data_disk(format="vhd"))),
        "DiskFormatNotSupported",
    ),
    (
        "shared disk",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(shared=True))),
        good_vm(),
        "DiskShared",
    ),
    (
        "fibre channel",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(kind="fibre-channel"))),
        good_vm(),
        "DiskFibreChannel",
    ),
    (
        "pass-through",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(kind="passthrough"))),
        good_vm(),
        "DiskPhysical",
    ),
    (
        "BitLocker",
        A26,
        "asr",
        good_vm(disks=(os_disk(encrypted=True), data_disk())),
        good_vm(),
        "DiskEncrypted",
    ),
    (
        "Storage Spaces",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(storage_spaces=True))),
        good_vm(),
        "DiskStorageSpaces",
    ),
    (
        "4K sectors",
        A26,
        "asr",
        good_vm(disks=(os_disk(), data_disk(logical_sector_size=4096))),
        good_vm(disks=(os_disk(), data_disk(logical_sector_size=512))),
        "Disk4KSectorNotSupported",
    ),
    (
        "guest OS type not set",
        A26,
        "asr",
        good_vm(os_type=None, os_name=None),
        good_vm(),
        "GuestOsTypeNotSet",
    ),
    (
        "Nano Server",
        A26,
        "asr",
        good_vm(os_name="Windows Server 2016 Nano Server"),
        good_vm(os_name="Windows Server 2016 Datacenter"),
        "NanoServerNotSupported",
    ),
    (
        "unsupported Windows",
        A26,
        "asr",
        good_vm(os_name="Windows Server 2003 Enterprise"),
        good_vm(os_name="Windows Server 2008 Enterprise"),
        "GuestOsNotSupported",
    ),
    (
        "unsupported other OS",
        A26,
        "asr",
        good_vm(os_type="other", os_name="FreeBSD 14"),
        good_vm(os_type="other", os_name="Other Linux (64-bit)"),
        "GuestOsNotSupported",
    ),
    (
        "unsupported Linux",
        A26,
        "asr",
        good_vm(os_type="linux", os_name="Slackware 15"),
        good_vm(os_type="linux", os_name="Ubuntu Linux 22.04 (64 bit)"),
        "GuestOsNotSupported",
    ),
    (
        "asr-2014 guest list",
        A14,
        "asr",
        good_vm(os_name="Windows Server 2019 Datacenter"),
        good_vm(os_name="Windows Server 2012 Standard"),
        "GuestOsNotSupported",
    ),
    (
        "NIC teaming",
        A26,
        "asr",
        good_vm(nics=(nic(teamed=True),)),
        good_vm(),
        "NicTeamingNotSupported",
    ),
    ("IPv6", A26, "asr", good_vm(nics=(nic(ipv6=True),)), good_vm(), "Ipv6NotSupported"),
    ("APIPA", A26, "asr", good_vm(nics=(nic(apipa=True),)), good_vm(), "ApipaNotSupported"),
    (
        "static IP under asr-2014",
        A14,
        "asr",
        good_vm(nics=(nic(addressing="static"),)),
        good_vm(nics=(nic(addressing="dhcp"),)),
        "StaticIpNotSupported",
    ),
    (
        "target name 64 chars",
        A26,
        "asr",
        good_vm(name="a" * 64),
        good_vm(name="a" * 63),
        "TargetNameInvalid",
    ),
    (
        "target name underscore",
        A26,
        "asr",
        good_vm(name="web_01"),
        good_vm(name="web-01"),
        "TargetNameInvalid",
    ),
    (
        "target name leading hyphen",
        A26,
        "asr",
        good_vm(name="-web"),
        good_vm(name="w"),
        "TargetNameInvalid",
    ),
    (
        "target name trailing hyphen",
        A26,
        "asr",
        good_vm(name="web-"),
        good_vm(name="0web0"),
        "TargetNameInvalid",
    ),
    (
        "no size fits",
        A26,
        "asr",
        good_vm(vcpus=65),
        good_vm(vcpus=64, memory_mb=256 * 1024),
        "TargetSizeDoesNotFit",
    ),
]


@pytest.mark.parametrize(
    ("profile", "provider", "bad", "boundary", "code"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_rule_fails_alone_and_boundary_passes(profile, provider, bad, boundary, code):
    assert codes(bad, request(provider), profile) == [code]
    assert codes(boundary, request(provider), profile) == []


def test_every_rule_of_the_catalogue_is_exercised():
    exercised = {c[-1] for c in CASES} | {"DataDiskRequiresManagedDisks"}
    assert exercised == set(RULES)


def test_a_failure_names_its_disk_cause_and_fix():
    vm = good_vm(disks=(os_disk(), data_disk(1, shared=True), data_disk(2, shared=True)))
    [failure] = evaluate(vm, request(), ASR_2026)
    assert failure.code == "DiskShared"
    assert "data1" in failure.cause and "data2" in failure.cause
    assert failure.recommendation
    assert failure.to_dict() == {
        "code": "DiskShared",
        "cause": failure.cause,
        "recommendation": failure.recommendation,
    }


def test_over_4_tib_data_disk_needs_managed_disks():
    big = good_vm(disks=(os_disk(), data_disk(size_bytes=4 * TIB + 1)))
    at_limit = good_vm(disks=(os_disk(), data_disk(size_bytes=4 * TIB)))
    unmanaged = request(use_managed_disks=False)
    assert codes(big, unmanaged) == ["DataDiskRequiresManagedDisks"]
    assert codes(at_limit, unmanaged) == []
    assert codes(big, request(use_managed_disks=True)) == []


def test_static_ip_is_fine_under_asr_2026():
    assert codes(good_vm(nics=(nic(addressing="static"),))) == []


def test_other_linux_64_bit_is_accepted_as_people_set_it_for_freebsd():
    for os_type in ("other", "linux"):
        for name in ("Other Linux (64 bit)", "Other Linux (64-bit)"):
            vm = good_vm(os_type=os_type, os_name=name)
            assert codes(vm, profile=A26) == [] and codes(vm, profile=A14) == []


def test_gen1_vm_is_not_subject_to_generation_2_rules():
    vm = good_vm(
        secure_boot=True,
        os_name="Windows Server 2008 R2",
        disks=(os_disk(format="VHD", data_volumes=5),),
    )
    assert codes(vm) == []


@pytest.mark.parametrize(
    ("profile", "vm", "lifted"),
    [
        (A14, good_vm(generation=2), "GenerationNotSupported"),
        (A26, gen2(secure_boot=True), "SecureBootEnabled"),
        (A26, gen2(os_name="Windows Server 2008 R2"), "EfiRequiresWindowsServer2012"),
        (
            A26,
            gen2(disks=(os_disk(format="VHD", data_volumes=4, size_bytes=3 * TIB),)),
            "Gen2OsDiskNotBasic",
        ),
        (A26, good_vm(disks=(os_disk(logical_sector_size=4096),)), "Disk4KSectorNotSupported"),
        (A26, good_vm(os_type="other", os_name="FreeBSD 14"), "GuestOsNotSupported"),
    ],
)
def test_direct_provider_lifts_asr_only_rules(profile, vm, lifted):
    assert codes(vm, request("asr"), profile) == [lifted]
    assert codes(vm, request("direct"), profile) == []


def test_direct_provider_keeps_rules_that_azure_itself_needs():
    vm = good_vm(os_type=None, disks=(os_disk(shared=True, size_bytes=5 * TIB),))
    assert codes(vm, request("direct")) == ["OsDiskTooLarge", "DiskShared", "GuestOsTypeNotSet"]


# --- the issue's own cases ---------------------------------------------------------------


def test_shared_vhdx_and_5_tb_os_disk_fail_both_rules_with_their_fixes():
    vm = good_vm(disks=(os_disk(size_bytes=5 * TIB), data_disk(shared=True)))
    failures = evaluate(vm, request(), ASR_2026)
    assert [f.code for f in failures] == ["OsDiskTooLarge", "DiskShared"]
    assert all(f.cause and f.recommendation for f in failures)
    assert "5 TiB" in failures[0].cause and "2 TiB" in failures[0].cause


def test_gen2_windows_with_1_tb_vhdx_os_disk_passes_2026_and_fails_2014():
    vm = gen2(disks=(os_disk(size_bytes=1 * TIB, format="VHDX"),))
    assert codes(vm, profile=A26) == []
    assert "GenerationNotSupported" in codes(vm, profile=A14)
    # Same VM with a 2014-era guest: the generation alone refuses it.
    assert codes(vm.model_copy(update={"os_name": "Windows Server 2012 R2"}), profile=A14) == [
        "GenerationNotSupported"
    ]


def test_every_failing_rule_is_reported_at_once():
    vm = good_vm(
        name="bad_name",
        is_64_bit=False,
        os_name="Windows Server 2019",
        nics=(nic(teamed=True, ipv6=True, apipa=True),),
        disks=(
            os_disk(size_bytes=3 * TIB, encrypted=True),
            data_disk(1, shared=True, logical_sector_size=4096, format="VMDK"),
            data_disk(2, kind="passthrough"),
            data_disk(3, kind="fibre-channel"),
            data_disk(4, storage_spaces=True),
        ),
    )
    assert codes(vm) == [
        "Guest32BitNotSupported",
        "OsDiskTooLarge",
        "DiskFormatNotSupported",
        "DiskShared",
        "DiskFibreChannel",
        "DiskPhysical",
        "DiskEncrypted",
        "DiskStorageSpaces",
        "Disk4KSectorNotSupported",
        "NicTeamingNotSupported",
        "Ipv6NotSupported",
        "ApipaNotSupported",
        "TargetNameInvalid",
    ]


# --- target name and size ------------------------------------------------------------------


def test_explicit_target_name_replaces_the_vm_name():
    vm = good_vm(name="SQL_PROD_01")
    assert codes(vm, request(vm_name="sql-prod-01")) == []
    assert codes(good_vm(), request(vm_name="bad name")) == ["TargetNameInvalid"]


def test_target_size_must_fit_vcpus_memory_data_disks_and_generation():
    vm = good_vm(vcpus=2, memory_mb=4096)
    assert codes(vm, request(size="Standard_B2s")) == []  # 2 vCPU, 4 GiB: exactly enough
    assert codes(vm, request(size="standard_b2s")) == []  # Azure size names ignore case
    assert codes(vm, request(size="Standard_B1s")) == ["TargetSizeDoesNotFit"]
    assert codes(vm, request(size="Standard_Z99")) == ["TargetSizeDoesNotFit"]
    many = good_vm(disks=(os_disk(), *(data_disk(i) for i in range(5))))
    [failure] = evaluate(many, request(size="Standard_B2s"), ASR_2026)
    assert "data disks" in failure.cause
    [failure] = evaluate(gen2(), request(size="Standard_A2_v2"), ASR_2026)
    assert "generation 2" in failure.cause


# --- profiles ------------------------------------------------------------------------------


def test_terabytes_are_binary():
    assert TIB == 1024**4 and GIB == 1024**3
    assert ASR_2026.max_os_disk_bytes[1] == 2048 * GIB == ASR_2014.max_os_disk_bytes[1]
    assert ASR_2014.max_data_disk_bytes == 4 * TIB - GIB


def test_profiles_name_the_source_of_each_limit():
    for profile in PROFILES.values():
        assert profile.source
        for rule in CATALOGUE:
            if rule.limit:
                assert profile.source_of(rule.limit)
    assert "hyper-v-azure-support-matrix" in ASR_2026.source
    assert ASR_2026.to_dict()["name"] == "asr-2026"


def test_default_and_unknown_profile():
    assert get_profile().name == "asr-2026"
    assert get_profile(None) is ASR_2026
    with pytest.raises(UnknownProfile) as raised:
        get_profile("asr-1999")
    assert raised.value.code == "UnknownPrerequisiteProfile"
    assert "asr-2026" in raised.value.errors[0].recommendation


def test_profile_per_tenant_is_a_pure_mapping():
    mapping = {"fabrikam": "asr-2014"}
    assert profile_for_tenant("fabrikam", mapping) == "asr-2014"
    assert profile_for_tenant("contoso", mapping) == "asr-2026"
    assert profile_for_tenant("contoso", None, default="asr-2014") == "asr-2014"
    with pytest.raises(UnknownProfile):
        profile_for_tenant("fabrikam", {"fabrikam": "typo"})


def test_health_for_failures():
    assert health_for([]) == "Normal"
    assert health_for([{"code": "TargetNameInvalid"}]) == "Warning"
    vm = good_vm(nics=(nic(teamed=True),), disks=(os_disk(), data_disk(shared=True)))
    assert health_for(evaluate(vm, ProtectionRequest(provider="asr"), ASR_2026)) == "Critical"
    assert health_for([{"code": "SomethingNew"}]) == "Critical"
