"""The protection activities as plain functions on real Azurite: status moves through the state
table, the provider interface, idempotent enable, refused disable; and the application's
health re-checks and profile settings they rely on."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest
from azure.storage.blob import BlobServiceClient

from activities import protection as activities
from activities.seams import StepOutcome
from application.prerequisites import recheck_protected_vm, tenant_profile
from application.providers import replica_container
from azureclients.settings import MissingSetting
from contracts.api import EnableProtectionRequest
from contracts.inventory import InventoryVm, VmmCloudRef
from devhost.azurite import Azurite
from readmodels.inventory import upsert_vm
from readmodels.items import get_item, save_item
from readmodels.records import HealthRecord, ReplicatedItem

pytestmark = pytest.mark.usefixtures("read_models")
GB = 1024**3
HEARTBEAT = {"code": "AgentHeartbeatMissing", "cause": "silent", "recommendation": "check"}


def run(activity, **payload) -> StepOutcome:
    """Call an activity's own Python function, as the Durable host would; its answer."""
    return StepOutcome.model_validate(activity._function.get_user_function()(payload))


def codes(outcome: StepOutcome) -> list[str]:
    return [e.code for e in outcome.errors]


def inventory(tenant: str, vm: str, **over) -> None:
    body = dict(id=vm, name=vm, generation=1, os_type="linux", os_name="Ubuntu 22.04", vcpus=2,
                memory_mb=4096, disks=[dict(id="os", path="os.vhdx", format="VHDX",
                                            size_bytes=16 * GB, is_os_disk=True)])  # fmt: skip
    body.update(over)
    upsert_vm(tenant, "site", VmmCloudRef(id="gold", name="Gold"), InventoryVm(**body),
              event_id=secrets.token_hex(4), event_time=datetime.now(UTC))  # fmt: skip


def item(tenant: str, vm: str, status: str = "NotProtected", **fields) -> None:
    save_item(ReplicatedItem(tenant=tenant, vm=vm, vm_name=vm, site="site", status=status,
                             **fields))  # fmt: skip


def check(tenant: str, vm: str, **request) -> dict:
    return {"tenant": tenant, "vm": vm, "request": EnableProtectionRequest(**request).model_dump()}


def test_the_protect_job_moves_the_status_through_the_table() -> None:
    t = "t" + secrets.token_hex(4)
    item(t, "vm1")
    assert (
        codes(
            run(activities.record_protection_event, tenant=t, vm="vm1", event="ProtectionRequested")
        )
        == []
    )
    assert get_item(t, "vm1").status == "ProtectionPending"
    run(activities.record_protection_event, tenant=t, vm="vm1", event="PrerequisitesFailed")
    assert get_item(t, "vm1").status == "NotProtected"
    item(t, "vm2", "UnplannedFailoverInProgress")
    refused = run(
        activities.record_protection_event, tenant=t, vm="vm2", event="ProtectionRequested"
    )
    assert codes(refused) == ["IllegalTransition"]
    assert get_item(t, "vm2").status == "UnplannedFailoverInProgress"


def test_direct_enable_creates_the_container_and_record_and_is_idempotent(azurite: Azurite) -> None:
    t = "t" + secrets.token_hex(4)
    inventory(t, "vm1")
    item(t, "vm1", "ProtectionPending")
    payload = check(t, "vm1", target_name="vm1-dr")
    assert codes(run(activities.enable_protection, **payload)) == []
    assert codes(run(activities.enable_protection, **payload)) == []  # a retried activity
    stored = get_item(t, "vm1")
    assert stored.status == "WaitingForInitialReplication"
    assert (stored.target.target_name, stored.provider) == ("vm1-dr", "direct")
    assert stored.target.target_size is not None  # the smallest catalogue size that fits
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert blobs.get_container_client(replica_container(t, "vm1")).exists()
    assert [d.blob for d in stored.replica_disks] == ["os.vhd"]


def test_the_asr_provider_without_a_vault_refuses_and_writes_nothing(monkeypatch) -> None:
    monkeypatch.delenv("ASR_VAULT_ID", raising=False)
    t = "t" + secrets.token_hex(4)
    inventory(t, "vm1")
    item(t, "vm1", "ProtectionPending")
    refused = run(activities.enable_protection, **check(t, "vm1", provider="asr"))
    assert codes(refused) == ["SettingMissing"]
    assert "ASR_VAULT_ID" in refused.errors[0].cause
    assert get_item(t, "vm1").status == "ProtectionPending" and get_item(t, "vm1").provider is None


def test_disable_is_refused_during_a_failover_and_keeps_the_replica() -> None:
    t = "t" + secrets.token_hex(4)
    item(t, "vm1", "UnplannedFailoverInProgress", provider="direct")
    refused = run(activities.disable_protection, tenant=t, vm="vm1",
                  request={"delete_replica": True})  # fmt: skip
    assert codes(refused) == ["IllegalTransition"]
    assert get_item(t, "vm1").status == "UnplannedFailoverInProgress"


def test_a_recheck_raises_health_and_keeps_other_reasons() -> None:
    t = "t" + secrets.token_hex(4)
    inventory(t, "vm1", nics=[dict(id="n0", teamed=True)])
    item(t, "vm1", "Protected", provider="direct",
         health=HealthRecord(state="Warning", reasons=[HEARTBEAT]))  # fmt: skip
    assert recheck_protected_vm(t, "vm1") == "Warning"
    inventory(t, "vm1", disks=[dict(id="os", path="os.vhdx", format="VHDX", size_bytes=GB,
                                    is_os_disk=True, shared=True)])  # fmt: skip
    assert recheck_protected_vm(t, "vm1") == "Critical"
    stored = get_item(t, "vm1")
    assert [r.code for r in stored.health.reasons] == ["AgentHeartbeatMissing", "DiskShared"]
    assert [f.code for f in stored.prerequisite_failures] == ["DiskShared"]
    inventory(t, "vm1")
    assert recheck_protected_vm(t, "vm1") == "Warning"  # the heartbeat still says so
    assert get_item(t, "vm1").prerequisite_failures == []


def test_a_vm_that_is_not_protected_is_not_rechecked() -> None:
    t = "t" + secrets.token_hex(4)
    inventory(t, "vm1", nics=[dict(id="n0", teamed=True)])
    item(t, "vm1")
    assert recheck_protected_vm(t, "vm1") is None
    assert get_item(t, "vm1").health.state == "Normal"


@pytest.mark.parametrize(
    ("default", "overrides", "named"),
    [("asr-1999", None, "asr-1999"), (None, {"t1": "typo"}, "typo"), (None, ["x"], "JSON object")],
)
def test_a_bad_profile_setting_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, default, overrides, named
) -> None:
    if default:
        monkeypatch.setenv("PREREQUISITE_PROFILE", default)
    if overrides is not None:
        monkeypatch.setenv("TENANT_PREREQUISITE_PROFILES", json.dumps(overrides))
    with pytest.raises(MissingSetting) as raised:
        tenant_profile("t1")
    assert raised.value.code == "SettingInvalid" and named in str(raised.value)
    assert raised.value.status == 500


def test_profile_per_tenant_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREREQUISITE_PROFILE", "asr-2026")
    monkeypatch.setenv("TENANT_PREREQUISITE_PROFILES", json.dumps({"old": "asr-2014"}))
    assert tenant_profile("old") == "asr-2014"
    assert tenant_profile("new") == "asr-2026"
