"""The stand-in's Site Recovery subset under the real `azure-mgmt-recoveryservicessiterecovery`
2.0.0 client over HTTPS: every answer of an operation the app uses deserialises through the
SDK and maps into our model (application.asr_mapping), the simulated lifecycle runs on the
clock, faults a test injects (health errors, a failed job, 429) show as ASR shows them, and a
restart keeps it all."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as asr

from application import asr_mapping as mapping
from devhost.arm.ids import ResourceId
from domain.model import HealthState
from domain.replication_state import ReplicationStatus
from tests.arm.conftest import Lab


class Vault:
    """The vault of the app's settings, a registered VMM cloud and a client for it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        vault = ResourceId.parse(lab.settings["ASR_VAULT_ID"])
        self.group, self.name = vault.resource_group, vault.name
        self.client = SiteRecoveryManagementClient(
            DefaultAzureCredential(),
            lab.settings["AZURE_SUBSCRIPTION_ID"],
            base_url=lab.settings["ARM_ENDPOINT"],
            polling_interval=0,
        )
        self.fabric = f"fabric-{uuid.uuid4().hex[:8]}"
        self.cloud = f"cloud_{uuid.uuid4()}"
        self.vm = str(uuid.uuid4())
        lab.arm.site_recovery_control(
            "settings", {"taskSeconds": 0.05, "initialReplicationSeconds": 0.6}
        )
        lab.arm.site_recovery_control("discover",
            {
                "vault": lab.settings["ASR_VAULT_ID"],
                "fabric": {"name": self.fabric, "friendlyName": "vmm01.contoso.local"},
                "cloud": {"name": self.cloud, "friendlyName": "Gold"},
                "vms": [
                    {
                        "name": self.vm,
                        "friendlyName": "web01",
                        "generation": 2,
                        "osType": "Windows",
                        "disks": [{"vhdId": str(uuid.uuid4()), "vhdName": "web01-os",
                                   "maxSizeMB": 40960, "vhdType": "OperatingSystem"}],
                    }
                ],
            },
        )  # fmt: skip

    @property
    def args(self) -> tuple[str, str, str, str]:
        return self.group, self.name, self.fabric, self.cloud

    def policy(self, interval: int = 30) -> asr.Policy:
        name = f"policy-{interval}"
        body = asr.CreatePolicyInput(
            properties=asr.CreatePolicyInputProperties(
                provider_specific_input=asr.HyperVReplicaAzurePolicyInput(
                    recovery_point_history_duration=24,
                    application_consistent_snapshot_frequency_in_hours=1,
                    replication_interval=interval,
                )
            )
        )
        ops = self.client.replication_policies
        return ops.begin_create(self.group, self.name, name, body).result()

    def enable(self, **extra: Any) -> asr.ReplicationProtectedItem:
        policy = self.policy()
        self.client.replication_protection_container_mappings.begin_create(
            *self.args,
            "mapping-gold",
            asr.CreateProtectionContainerMappingInput(
                properties=asr.CreateProtectionContainerMappingInputProperties(
                    target_protection_container_id="Microsoft Azure",
                    policy_id=policy.id,
                    provider_specific_input={"instanceType": "HyperVReplicaAzure"},
                )
            ),
        ).result()
        protectable = self.client.replication_protectable_items.get(*self.args, self.vm)
        body = asr.EnableProtectionInput(
            properties=asr.EnableProtectionInputProperties(
                policy_id=policy.id,
                protectable_item_id=protectable.id,
                provider_specific_details=asr.HyperVReplicaAzureEnableProtectionInput(
                    hv_host_vm_id=self.vm,
                    vm_name="web01",
                    target_azure_vm_name="web01-dr",
                    target_vm_size="Standard_D2s_v5",
                    target_azure_network_id=self.lab.settings["RECOVERY_SUBNET_ID"].rsplit(
                        "/subnets/", 1
                    )[0],
                    use_managed_disks="true",
                ),
            )
        )
        return self.client.replication_protected_items.begin_create(
            *self.args, self.vm, body, **extra
        ).result()

    def item(self) -> asr.ReplicationProtectedItem:
        return self.client.replication_protected_items.get(*self.args, self.vm)

    def job(self, job_id: str) -> asr.Job:
        return self.client.replication_jobs.get(self.group, self.name, job_id.rsplit("/", 1)[-1])


def until(check: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def vault(lab: Lab) -> Vault:
    return Vault(lab)


def test_discovered_fabric_cloud_and_vm_map_into_our_model(vault: Vault) -> None:
    client = vault.client
    fabrics = list(client.replication_fabrics.list(vault.group, vault.name))
    fabric = next(f for f in fabrics if f.name == vault.fabric)
    assert fabric.properties.friendly_name == "vmm01.contoso.local"
    containers = list(
        client.replication_protection_containers.list_by_replication_fabrics(
            vault.group, vault.name, vault.fabric
        )
    )
    assert [c.properties.friendly_name for c in containers] == ["Gold"]
    items = list(
        client.replication_protectable_items.list_by_replication_protection_containers(*vault.args)
    )
    vm = mapping.protectable_vm(items[0])
    assert (vm.name, vm.friendly_name, vm.generation, vm.protected) == (
        vault.vm,
        "web01",
        "2",
        False,
    )
    assert vm.os_type == "Windows" and vm.disks[0]["vhdName"] == "web01-os"


def test_policy_maps_its_interval_history_and_app_consistent_frequency(vault: Vault) -> None:
    policy = vault.policy(interval=300)
    again = vault.client.replication_policies.get(vault.group, vault.name, policy.name)
    assert mapping.policy_settings(again) == {
        "interval": 300,
        "history_hours": 24,
        "app_consistent_hours": 1,
    }
    with pytest.raises(HttpResponseError) as refused:
        vault.policy(interval=60)
    assert refused.value.error.code == "InvalidReplicationFrequency"


def test_enable_runs_a_job_then_initial_replication_then_protected_with_rpo(
    vault: Vault,
) -> None:
    headers: list[dict] = []
    item = vault.enable(raw_response_hook=lambda r: headers.append(dict(r.http_response.headers)))
    first = headers[0]
    assert "Azure-AsyncOperation" in first and "Retry-After" in first
    job_name = first["Location"].split("/operationresults/")[1].split("?")[0]
    job = mapping.job_state(vault.job(job_name))
    assert job.succeeded and job.scenario == "EnableDr"
    assert job.tasks[0].name == "Prerequisites check for enabling protection"
    assert all(t.state == "Succeeded" and t.end for t in job.tasks)

    state = mapping.item_state(item)
    assert state.status in (
        ReplicationStatus.INITIAL_REPLICATION_IN_PROGRESS,
        ReplicationStatus.PROTECTED,
    )
    seen_progress = until(
        lambda: (
            mapping.item_state(vault.item()).progress_percent is not None
            and mapping.item_state(vault.item())
        )
    )
    assert 0 <= seen_progress.progress_percent <= 100
    protected = until(
        lambda: (s := mapping.item_state(vault.item())).status is ReplicationStatus.PROTECTED and s
    )
    assert protected.rpo_seconds is not None and protected.last_replicated is not None
    assert "TestFailover" in protected.allowed_operations
    assert protected.health is HealthState.NORMAL
    points = list(vault.client.recovery_points.list_by_replication_protected_items(
        *vault.args, vault.vm))  # fmt: skip
    mapped = [mapping.recovery_point(p) for p in points]
    assert mapped[-1].consistency == "AppConsistent"  # the first point is app-consistent
    one = vault.client.recovery_points.get(*vault.args, vault.vm, points[0].name)
    assert mapping.recovery_point(one).time == mapped[0].time


def test_an_injected_health_error_maps_to_a_reason_with_cause_and_fix(vault: Vault) -> None:
    item = vault.enable()
    vault.lab.arm.site_recovery_control(
        "health-errors",
        {
            "item": item.id,
            "errors": [
                {
                    "errorCode": "78069",
                    "errorMessage": "Replication is paused for the virtual machine.",
                    "possibleCauses": "The Hyper-V host lost its connection to Azure.",
                    "recommendedAction": "Check the host's outbound HTTPS to Azure.",
                }
            ],
        },
    )
    state = mapping.item_state(vault.item())
    assert state.health is HealthState.CRITICAL
    (reason,) = state.reasons
    assert reason.code == "Asr78069"
    assert "lost its connection" in reason.cause
    assert reason.recommendation == "Check the host's outbound HTTPS to Azure."
    vault.lab.arm.site_recovery_control("health-errors", {"item": item.id, "errors": []})
    assert mapping.item_state(vault.item()).health is HealthState.NORMAL


def test_a_failed_job_carries_service_error_details(vault: Vault) -> None:
    vault.lab.arm.site_recovery_control(
        "settings",
        {
            "failNext": {
                "EnableDr": {
                    "task": 1,
                    "code": "70094",
                    "message": "Enable protection failed for the virtual machine.",
                    "possibleCauses": "The VM's disk is a pass-through disk.",
                    "recommendedAction": "Remove the pass-through disk and try again.",
                }
            }
        },
    )
    headers: list[dict] = []
    with pytest.raises(HttpResponseError) as failed:
        vault.enable(raw_response_hook=lambda r: headers.append(dict(r.http_response.headers)))
    assert "70094" in str(failed.value)
    job_name = headers[0]["Location"].split("/operationresults/")[1].split("?")[0]
    job = mapping.job_state(vault.job(job_name))
    assert job.state == "Failed"
    assert [t.state for t in job.tasks][:3] == ["Succeeded", "Failed", "Skipped"]
    (error,) = job.errors
    assert error.code == "Asr70094"
    assert "pass-through" in error.cause
    assert error.recommendation == "Remove the pass-through disk and try again."


def test_throttling_is_429_with_retry_after_and_the_sdk_gets_through(vault: Vault) -> None:
    vault.lab.arm.site_recovery_control("settings", {"throttle": 1, "retryAfter": 1})
    started = time.monotonic()
    fabric = vault.client.replication_fabrics.get(vault.group, vault.name, vault.fabric)
    assert fabric.name == vault.fabric
    assert time.monotonic() - started >= 0.9  # it waited the Retry-After


def test_failover_operations_follow_asr_states(vault: Vault) -> None:
    vault.enable()
    until(lambda: mapping.item_state(vault.item()).status is ReplicationStatus.PROTECTED)
    ops = vault.client.replication_protected_items
    tested = ops.begin_test_failover(
        *vault.args,
        vault.vm,
        asr.TestFailoverInput(
            properties=asr.TestFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                network_type="VmNetworkAsInput",
                network_id=vault.lab.settings["TEST_FAILOVER_SUBNET_ID"],
                provider_specific_details=asr.HyperVReplicaAzureTestFailoverInput(),
            )
        ),
    ).result()
    state = mapping.item_state(tested)
    assert state.status is ReplicationStatus.TEST_FAILOVER_SUCCEEDED
    assert state.allowed_operations == ("TestFailoverCleanup",)
    cleaned = ops.begin_test_failover_cleanup(
        *vault.args,
        vault.vm,
        asr.TestFailoverCleanupInput(
            properties=asr.TestFailoverCleanupInputProperties(comments="drill ok")
        ),
    ).result()
    assert mapping.item_state(cleaned).status is ReplicationStatus.PROTECTED

    points = list(vault.client.recovery_points.list_by_replication_protected_items(
        *vault.args, vault.vm))  # fmt: skip
    chosen = points[-1]  # the oldest
    failed_over = ops.begin_unplanned_failover(
        *vault.args,
        vault.vm,
        asr.UnplannedFailoverInput(
            properties=asr.UnplannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                source_site_operations="NotRequired",
                provider_specific_details=asr.HyperVReplicaAzureUnplannedFailoverInput(
                    recovery_point_id=chosen.id
                ),
            )
        ),
    ).result()
    state = mapping.item_state(failed_over)
    assert state.status is ReplicationStatus.FAILED_OVER
    assert state.failover_point == chosen.id and state.recovery_vm_name == "web01-dr"
    assert set(state.allowed_operations) >= {"Commit", "ChangeRecoveryPoint"}

    with pytest.raises(HttpResponseError) as refused:
        ops.begin_test_failover(*vault.args, vault.vm, {"properties": {}}).result()
    assert refused.value.error.code == "OperationNotAllowedInCurrentState"

    changed = ops.begin_apply_recovery_point(
        *vault.args,
        vault.vm,
        asr.ApplyRecoveryPointInput(
            properties=asr.ApplyRecoveryPointInputProperties(
                recovery_point_id=points[0].id,
                provider_specific_details=asr.HyperVReplicaAzureApplyRecoveryPointInput(),
            )
        ),
    ).result()
    assert mapping.item_state(changed).failover_point == points[0].id
    committed = ops.begin_failover_commit(*vault.args, vault.vm).result()
    assert mapping.item_state(committed).status is ReplicationStatus.FAILOVER_COMMITTED

    ops.begin_delete(
        *vault.args,
        vault.vm,
        asr.DisableProtectionInput(
            properties=asr.DisableProtectionInputProperties(
                disable_protection_reason="NotSpecified"
            )
        ),
    ).result()
    with pytest.raises(HttpResponseError) as gone:
        vault.item()
    assert gone.value.status_code == 404
    listed = vault.client.replication_protectable_items.get(*vault.args, vault.vm)
    assert mapping.protectable_vm(listed).protected is False


def test_items_and_jobs_survive_a_restart(vault: Vault) -> None:
    vault.enable()
    until(lambda: mapping.item_state(vault.item()).status is ReplicationStatus.PROTECTED)
    before = mapping.item_state(vault.item())
    jobs_before = {j.name for j in vault.client.replication_jobs.list(vault.group, vault.name)}
    vault.lab.restart()
    vault.client = SiteRecoveryManagementClient(
        DefaultAzureCredential(),
        vault.lab.settings["AZURE_SUBSCRIPTION_ID"],
        base_url=vault.lab.settings["ARM_ENDPOINT"],
        polling_interval=0,
    )
    after = mapping.item_state(vault.item())
    assert after.status is ReplicationStatus.PROTECTED
    assert after.recovery_vm_name == before.recovery_vm_name
    jobs_after = {j.name for j in vault.client.replication_jobs.list(vault.group, vault.name)}
    assert jobs_before <= jobs_after
