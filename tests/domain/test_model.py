from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.adapters import to_domain_vm, to_protection_request
from domain.errors import DomainError, ErrorInfo
from domain.model import (
    Health,
    HealthState,
    ProtectionRecord,
    ReplicationInterval,
    ReplicationPolicy,
)
from domain.sizes import SIZES, fitting_sizes, get_size, smallest_fitting
from tests.domain.factories import good_vm


def test_error_info_and_domain_error():
    info = ErrorInfo("X", "cause.", "fix.")
    assert info.to_dict() == {"code": "X", "cause": "cause.", "recommendation": "fix."}
    error = DomainError(info, ErrorInfo("Y", "c", "r"))
    assert error.code == "X" and len(error.to_dicts()) == 2 and "X: cause. fix." in str(error)
    with pytest.raises(TypeError):
        DomainError()


def test_policy_defaults_like_asr():
    policy = ReplicationPolicy()
    assert policy.interval == ReplicationInterval.MINUTES_5 == 300
    assert (policy.retention_hours, policy.app_consistent_frequency_hours) == (24, 4)
    assert ReplicationPolicy(interval=30, rpo_threshold_seconds=300).interval == 30


@pytest.mark.parametrize(
    "bad",
    [
        {"interval": 60},
        {"retention_hours": 2, "app_consistent_frequency_hours": 4},
        {"interval": 900, "rpo_threshold_seconds": 600},
    ],
)
def test_policy_rejects_nonsense(bad):
    with pytest.raises(ValidationError):
        ReplicationPolicy(**bad)


def test_models_round_trip_json():
    record = ProtectionRecord(
        tenant="contoso",
        vm="vm-1",
        provider="asr",
        health=Health.of([(HealthState.WARNING, ErrorInfo("A", "b", "c"))]),
    )
    assert ProtectionRecord.model_validate_json(record.model_dump_json()) == record
    vm = good_vm()
    assert type(vm).model_validate_json(vm.model_dump_json()) == vm
    assert [d.id for d in vm.os_disks] == ["os"] and [d.id for d in vm.data_disks] == ["data1"]


def test_health_worst_state_wins():
    assert Health.of([]).state == HealthState.NORMAL
    findings = [
        (HealthState.WARNING, ErrorInfo("a", "b", "c")),
        (HealthState.CRITICAL, ErrorInfo("d", "e", "f")),
    ]
    assert Health.of(findings).state == HealthState.CRITICAL


def test_size_catalogue():
    assert get_size("Standard_D2s_v5").vcpus == 2
    assert get_size("nope") is None
    assert smallest_fitting(good_vm(vcpus=2, memory_mb=4096)).vcpus == 2
    assert smallest_fitting(good_vm(vcpus=500)) is None
    gen2 = good_vm(generation=2)
    assert all(2 in s.generations for s in fitting_sizes(gen2))
    assert all(s.max_data_disks >= 1 and s.memory_gib > 0 for s in SIZES.values())


def test_adapters_read_duck_typed_records():
    class Record:
        tenant = "contoso"
        site = "vmm01"

        class cloud:  # mimics a nested model
            id = "gold"

        vm = {
            "id": "vm-1",
            "name": "web-01",
            "generation": 2,
            "os_type": "windows",
            "os_name": "Windows Server 2022",
            "is_64_bit": True,
            "vcpus": 2,
            "memory_mb": 4096,
            "secure_boot": False,
            "nics": [
                {"id": "n", "addressing": "static", "ipv6": False, "teamed": False, "apipa": False}
            ],
            "disks": [
                {
                    "id": "os",
                    "path": "p",
                    "format": "VHDX",
                    "size_bytes": 1,
                    "is_os_disk": True,
                    "shared": False,
                    "kind": "virtual",
                    "logical_sector_size": 512,
                    "encrypted": False,
                    "storage_spaces": False,
                    "data_volumes": 1,
                    "dynamic": True,
                }
            ],
        }

    vm = to_domain_vm(Record())
    assert (vm.tenant, vm.site, vm.cloud, vm.generation) == ("contoso", "vmm01", "gold", 2)
    assert vm.nics[0].addressing == "static" and vm.disks[0].is_os_disk
    req = to_protection_request(
        Record(),
        {
            "provider": "asr",
            "target_name": "x",
            "target_size": "Standard_B2s",
            "use_managed_disks": False,
        },
    )
    assert req.provider == "asr" and req.target.size == "Standard_B2s"
    assert req.target.vm_name == "x" and not req.target.use_managed_disks
