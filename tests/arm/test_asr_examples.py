"""Site Recovery's answers as Azure itself shapes them, through the real SDK and our mapping.

The devhost stand-in answers the SDK the way we believe ASR does, so a state ASR really
answers but the stand-in never does would go unnoticed until a customer's failover. These
bodies are shaped from the official REST spec example of each operation the app uses
(Azure/azure-rest-api-specs, specification/recoveryservicessiterecovery/.../SiteRecovery/
stable/2025-08-01/examples): the same envelope and field names, with our own names and values
(VMM server vmm01, cloud Gold, VM web01) and the HyperVReplicaAzure fields of the SDK's models
where the example leaves the provider's details empty. Each body must deserialise through the
model of azure-mgmt-recoveryservicessiterecovery 2.0.0 that the operation returns and map,
through application.asr_mapping (and the app's callers of it), into what the control plane
shows: status, health reasons, RPO, allowed operations, job steps and errors, points.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.recoveryservicessiterecovery import models as asr

from application import asr_failover, asr_protection
from application import asr_mapping as mapping
from application.asr_protection import AZURE_CONTAINER, AsrLocation
from azureclients.arm import AsrVault
from contracts.errors import ErrorDetail
from domain.model import HealthState
from domain.replication_state import ReplicationStatus as S

EXAMPLES = Path(__file__).parent / "asr_examples"
M = TypeVar("M")

SUBSCRIPTION = "5f0e8c9a-3b1d-4c7e-9a2f-6d8b4e1c7a30"
VAULT = AsrVault(SUBSCRIPTION, "rg-dr-weu", "rsv-dr-weu")
FABRIC = "vmm01"
CONTAINER = "cloud_9b6f3c2e-8d41-4a57-b0e3-2f7c1d9a5e84"
WEB01 = "3e7a9c41-5b2d-4f86-a0c3-8d1e6b4f2a97"
DB01 = "a4c8e2f6-1b3d-4957-8e0a-6c2f4b8d1e35"
ITEM_ID = (
    f"/Subscriptions/{SUBSCRIPTION}/resourceGroups/rg-dr-weu/providers/Microsoft.RecoveryServices"
    f"/vaults/rsv-dr-weu/replicationFabrics/{FABRIC}/replicationProtectionContainers/{CONTAINER}"
    f"/replicationProtectedItems/{WEB01}"
)
POINT_CRASH = "7d2b9e14-6a3c-4f58-b1e7-0c9d5a2f8e63"  # 09:55:12, crash-consistent
POINT_APP = "c51f0a8e-2d7b-4e39-9a64-b3e8f1d6c027"  # 09:00:03, app-consistent
POINT_PLANNED = "0b8e4d2a-7c19-4f63-a5d1-e2c7b9f40a86"  # made by a planned failover
JOB_TFO = "e9b3d7a1-4c2f-4856-b0d9-7a1e3c5f8b24"
# ASR's allowedOperations of a protected item, in our names (all four are ours).
ENABLED_OPERATIONS = ("PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover")
LOCATION = AsrLocation(
    fabric=FABRIC,
    container=CONTAINER,
    item=WEB01,
    protectable_id=f"/.../replicationProtectableItems/{WEB01}",
)
PROTECTED_ITEM_EXAMPLES = (
    "ReplicationProtectedItems_Create",
    "ReplicationProtectedItems_Get",
    "ReplicationProtectedItems_TestFailover",
    "ReplicationProtectedItems_TestFailoverCleanup",
    "ReplicationProtectedItems_PlannedFailover",
    "ReplicationProtectedItems_UnplannedFailover",
    "ReplicationProtectedItems_FailoverCommit",
    "ReplicationProtectedItems_ApplyRecoveryPoint",
    "ReplicationProtectedItems_Reprotect",
)


def body(name: str) -> dict[str, Any]:
    """One of our example bodies (tests/arm/asr_examples/<name>.json)."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def one(model: Callable[[dict[str, Any]], M], name: str) -> M:
    """The body as the SDK's model (2.0 models are MutableMappings built from the REST dict)."""
    return model(body(name))


def listed(model: Callable[[dict[str, Any]], M], name: str) -> list[M]:
    """A list answer's `value`, each element as the SDK's model, as its pager yields them."""
    return [model(element) for element in body(name)["value"]]


def item(name: str) -> asr.ReplicationProtectedItem:
    return one(asr.ReplicationProtectedItem, name)


def point_id(name: str) -> str:
    return f"{ITEM_ID}/recoveryPoints/{name}"


def fields(subject: Any, /, **expected: Any) -> None:
    """The named fields of `subject` are the expected ones (one diff showing all of them)."""
    assert {name: getattr(subject, name) for name in expected} == expected


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Answer the app's Site Recovery calls with the example bodies: `vault(client)` makes the
    asr_protection and asr_failover modules use that client on our vault."""

    def use(client: SimpleNamespace) -> None:
        for module in (asr_protection, asr_failover):
            monkeypatch.setattr(module, "asr_vault", lambda: VAULT)
            monkeypatch.setattr(module, "site_recovery_client", lambda: client)

    return use


def on_vault(answer: Callable[..., M]) -> Callable[..., M]:
    """An operation of the fake client: the answer when called on our vault, else a failure."""

    def operation(group: str, name: str, *args: Any, **kwargs: Any) -> M:
        assert (group, name) == (VAULT.resource_group, VAULT.name)
        return answer(*args, **kwargs)

    return operation


# --- every body is ours, and every protected item answer deserialises the same way ---------


def test_the_bodies_are_our_own_not_copies_of_the_spec_examples() -> None:
    spec_values = ("c183865e-6077-46f2", "resourceGroupPS1", "vault1", "6d224fc6", "f8491e4f")
    paths = sorted(EXAMPLES.glob("*.json"))
    assert paths
    for path in paths:
        text = path.read_text()
        assert not [v for v in spec_values if v in text], path.name


@pytest.mark.parametrize("name", PROTECTED_ITEM_EXAMPLES)
def test_a_protected_item_answer_is_typed_by_the_sdk_and_maps_the_same_as_its_dict(
    name: str,
) -> None:
    raw = body(name)
    model = asr.ReplicationProtectedItem(raw)
    props = model.properties
    assert props.protection_state == raw["properties"]["protectionState"]
    assert props.allowed_operations == raw["properties"]["allowedOperations"]
    assert props.current_scenario.job_id.startswith("/Subscriptions/")
    details = props.provider_specific_details
    assert isinstance(details, asr.HyperVReplicaAzureReplicationDetails)
    assert details.recovery_azure_vm_name == "web01-dr"
    assert isinstance(details.last_replicated_time, datetime)
    assert mapping.item_state(model) == mapping.item_state(raw)


# --- where the VM is: fabrics, containers, protectable items ---------------------------------


def test_fabrics_list() -> None:
    # Shaped from ReplicationFabrics_List.json (a VMM server's fabric: customDetails "VMM"
    # where the example's Hyper-V site has "HyperVSite").
    (fabric,) = listed(asr.Fabric, "ReplicationFabrics_List")
    assert fabric.name == FABRIC
    assert fabric.properties.friendly_name == "vmm01.contoso.local"
    assert isinstance(fabric.properties.custom_details, asr.VmmDetails)


def test_containers_list_by_fabric() -> None:
    # Shaped from ReplicationProtectionContainers_ListByReplicationFabrics.json (read at
    # stable/2025-01-01: the 2025-08-01 copy was not available to read; same operation).
    (container,) = listed(
        asr.ProtectionContainer, "ReplicationProtectionContainers_ListByReplicationFabrics"
    )
    assert container.name == CONTAINER
    assert container.properties.friendly_name == "Gold"  # the cloud, by its VMM name
    assert container.properties.fabric_friendly_name == "vmm01.contoso.local"


def test_protectable_items_list_by_container() -> None:
    # Shaped from ReplicationProtectableItems_ListByReplicationProtectionContainers.json (read
    # at stable/2025-01-01: the 2025-08-01 copy was not available to read). Its items are
    # ReplicationGroupDetails; ours are a VMM VM and such a group.
    raw = body("ReplicationProtectableItems_ListByReplicationProtectionContainers")
    assert "$skipToken" in raw["nextLink"].replace("%24", "$")  # paged, as ASR pages it
    web01, group = listed(
        asr.ProtectableItem, "ReplicationProtectableItems_ListByReplicationProtectionContainers"
    )
    vm = mapping.protectable_vm(web01)
    fields(
        vm,
        id=web01.id,
        name=WEB01,
        friendly_name="web01",
        protected=False,
        generation="2",
        os_type="Windows",
    )
    assert [d["vhdName"] for d in vm.disks] == ["web01-os", "web01-data"]
    assert [d["maxSizeMB"] for d in vm.disks] == [40960, 131072]
    # A replication group has no VM details: nothing is made up for it.
    assert isinstance(group.properties.custom_details, asr.ReplicationGroupDetails)
    fields(
        mapping.protectable_vm(group),
        friendly_name="sql-group",
        generation=None,
        os_type=None,
        disks=(),
    )


def test_vmm_vm_custom_details_deserialise_as_the_base_class_and_are_read_as_a_dict() -> None:
    # Shaped from ReplicationProtectableItems_Get.json (customDetails of a VMM VM where the
    # example has ReplicationGroupDetails).
    model = one(asr.ProtectableItem, "ReplicationProtectableItems_Get")
    custom = model.properties.custom_details
    # The SDK knows VmmVirtualMachine only under HyperVVirtualMachine, not under the base
    # class it deserialises customDetails with: no typed attributes to read.
    assert type(custom) is asr.ConfigurationSettings
    assert custom.instance_type == "VmmVirtualMachine"
    assert not hasattr(custom, "generation") and not hasattr(custom, "disk_details")
    vm = mapping.protectable_vm(model)
    fields(
        vm,
        name=DB01,
        friendly_name="db01",
        protected=True,
        generation="1",
        os_type="Linux",
        disks=(
            {
                "maxSizeMB": 30720,
                "vhdType": "OperatingSystem",
                "vhdId": "9e4b2d7f-3c18-4a65-b0f9-e1d6a8c3b752",
                "vhdName": "db01-os",
            },
        ),
    )


def test_locate_finds_the_vm_through_the_fabric_container_and_protectable_answers(
    vault: Callable[..., None],
) -> None:
    # The three list answers above, as the app walks them: the cloud matched by friendly name
    # whatever its case, the VM by its VMM id.
    def containers(fabric: str) -> list[Any]:
        name = "ReplicationProtectionContainers_ListByReplicationFabrics"
        return listed(asr.ProtectionContainer, name) if fabric == FABRIC else []

    def protectables(fabric: str, container: str) -> list[Any]:
        name = "ReplicationProtectableItems_ListByReplicationProtectionContainers"
        return (
            listed(asr.ProtectableItem, name) if (fabric, container) == (FABRIC, CONTAINER) else []
        )

    vault(
        SimpleNamespace(
            replication_fabrics=SimpleNamespace(
                list=on_vault(lambda: listed(asr.Fabric, "ReplicationFabrics_List"))
            ),
            replication_protection_containers=SimpleNamespace(
                list_by_replication_fabrics=on_vault(containers)
            ),
            replication_protectable_items=SimpleNamespace(
                list_by_replication_protection_containers=on_vault(protectables)
            ),
        )
    )
    record = SimpleNamespace(
        vm=SimpleNamespace(id=WEB01.upper(), name="web01"), cloud=SimpleNamespace(name="gold")
    )
    found = asr_protection.locate(record)  # type: ignore[arg-type]
    web01 = body("ReplicationProtectableItems_ListByReplicationProtectionContainers")["value"][0]
    assert found == AsrLocation(
        fabric=FABRIC, container=CONTAINER, item=WEB01, protectable_id=web01["id"]
    )


# --- policy and the cloud's mapping to it ----------------------------------------------------


def test_policy_get() -> None:
    # Shaped from ReplicationPolicies_Get.json (read at stable/2025-01-01: the 2025-08-01 copy
    # was not available to read), with HyperVReplicaAzurePolicyDetails' fields.
    policy = one(asr.Policy, "ReplicationPolicies_Get")
    assert isinstance(
        policy.properties.provider_specific_details, asr.HyperVReplicaAzurePolicyDetails
    )
    assert policy.id.endswith("/replicationPolicies/drcp-gold-300s-24h-4ac")
    assert mapping.policy_settings(policy) == {
        "interval": 300,
        "history_hours": 24,
        "app_consistent_hours": 4,
    }


def test_policy_create() -> None:
    # Shaped from ReplicationPolicies_Create.json (the 200 body), HyperVReplicaAzure details.
    policy = one(asr.Policy, "ReplicationPolicies_Create")
    assert policy.properties.provider_specific_details.replication_interval == 30
    assert mapping.policy_settings(policy) == {
        "interval": 30,
        "history_hours": 12,
        "app_consistent_hours": 1,
    }


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("ReplicationProtectionContainerMappings_Get", "drcp-gold-300s-24h-4ac"),
        ("ReplicationProtectionContainerMappings_Create", "drcp-silver-30s-12h-1ac"),
    ],
)
def test_container_mapping_get_and_create(name: str, policy: str) -> None:
    # Shaped from ReplicationProtectionContainerMappings_Get.json and _Create.json (200 body).
    paired = one(asr.ProtectionContainerMapping, name)
    assert paired.properties.state == "Paired"
    assert paired.properties.policy_id.endswith(f"/replicationPolicies/{policy}")
    # The target the app asks for is the one ASR names: Azure.
    assert paired.properties.target_protection_container_id == AZURE_CONTAINER


# --- the protected item, enabled and replicating ---------------------------------------------


def test_protected_item_create() -> None:
    # Shaped from ReplicationProtectedItems_Create.json (the 200 body: already Protected, no
    # job under way: currentScenario's jobId ends in "None").
    state = mapping.item_state(item("ReplicationProtectedItems_Create"))
    fields(
        state,
        status=S.PROTECTED,
        protection_state="Protected",
        health=HealthState.NORMAL,
        reasons=(),
        progress_percent=100.0,  # initialReplicationProgressPercentage is a string: "100"
        rpo_seconds=214,
        last_replicated=datetime(2025, 3, 14, 9, 58, 41, 209331, tzinfo=UTC),
        allowed_operations=ENABLED_OPERATIONS,
        current_job=None,
        test_failover_state="None",
        failover_point=None,
        recovery_vm_name="web01-dr",
    )


def test_protected_item_get_with_a_health_error() -> None:
    # Shaped from ReplicationProtectedItems_Get.json, with healthErrors (HealthError's fields)
    # and a replication behind its RPO.
    model = item("ReplicationProtectedItems_Get")
    state = mapping.item_state(model)
    fields(state, status=S.PROTECTED, health=HealthState.WARNING, rpo_seconds=1260)
    assert state.reasons == (
        mapping.Reason(
            code="Asr78052",
            cause="Replication of web01 has fallen 21 minutes behind. Possible causes: The "
            "churn on web01's disks exceeds the upload bandwidth from hv-node-02.",
            recommendation="Raise the bandwidth the ASR provider on hv-node-02 may use, or "
            "lower the churn.",
            severity=HealthState.WARNING,
        ),
    )
    # The SDK's HealthError is a mapping of the REST body too: the same reason from it.
    (error,) = model.properties.health_errors
    assert isinstance(error, asr.HealthError) and error.error_code == "78052"
    assert mapping.health_reason(error) == state.reasons[0]


def test_disable_protection_sends_a_body_of_the_delete_examples_schema(
    vault: Callable[..., None],
) -> None:
    # ReplicationProtectedItems_Delete.json (POST .../remove) answers 202/204 with no body: the
    # app starts it without waiting and reads nothing back. Its input's properties are
    # DisableProtectionInputProperties; ours says why (NotSpecified), as the schema allows.
    sent: list[tuple[Any, ...]] = []

    def remove(*args: Any, polling: bool) -> None:
        sent.append((*args, polling))

    vault(
        SimpleNamespace(replication_protected_items=SimpleNamespace(begin_delete=on_vault(remove)))
    )
    asr_protection.disable(LOCATION)
    ((fabric, container, name, request, polling),) = sent
    assert (fabric, container, name, polling) == (FABRIC, CONTAINER, WEB01, False)
    assert request.as_dict() == {"properties": {"disableProtectionReason": "NotSpecified"}}

    def gone(*args: Any, polling: bool) -> None:
        raise ResourceNotFoundError("The replication protected item was not found.")

    vault(SimpleNamespace(replication_protected_items=SimpleNamespace(begin_delete=on_vault(gone))))
    asr_protection.disable(LOCATION)  # already disabled: nothing to do, no error


# --- failover actions: each answers the protected item ---------------------------------------


def test_test_failover() -> None:
    # Shaped from ReplicationProtectedItems_TestFailover.json: still Protected, testFailoverState
    # WaitingForCompletion ("Cleanup test failover pending"), only cleanup allowed.
    state = mapping.item_state(item("ReplicationProtectedItems_TestFailover"))
    fields(
        state,
        status=S.TEST_FAILOVER_SUCCEEDED,
        protection_state="Protected",
        test_failover_state="WaitingForCompletion",
        allowed_operations=("TestFailoverCleanup",),
        failover_point=point_id(POINT_APP),
        recovery_vm_name="web01-dr",
    )
    assert state.current_job is not None and state.current_job.endswith(
        f"/replicationJobs/{JOB_TFO}"
    )


def test_test_failover_cleanup() -> None:
    # Shaped from ReplicationProtectedItems_TestFailoverCleanup.json: Protected again, the test
    # environment MarkedForDeletion, failovers allowed again, no job under way.
    state = mapping.item_state(item("ReplicationProtectedItems_TestFailoverCleanup"))
    fields(
        state,
        status=S.PROTECTED,
        test_failover_state="MarkedForDeletion",
        allowed_operations=ENABLED_OPERATIONS,
        current_job=None,
    )


def test_planned_failover() -> None:
    # Shaped from ReplicationProtectedItems_PlannedFailover.json: PlannedFailoverCommitRequired;
    # CompleteMigration (not ours) is dropped, ChangePit is our ChangeRecoveryPoint.
    state = mapping.item_state(item("ReplicationProtectedItems_PlannedFailover"))
    fields(
        state,
        status=S.FAILED_OVER,
        protection_state="PlannedFailoverCommitRequired",
        allowed_operations=("Commit", "DisableProtection", "ChangeRecoveryPoint"),
        failover_point=point_id(POINT_PLANNED),
        current_job=None,
    )


def test_unplanned_failover() -> None:
    # Shaped from ReplicationProtectedItems_UnplannedFailover.json: ASR says
    # UnplannedFailoverCommitPendingStatesBegin ("Failover completed") until the commit.
    state = mapping.item_state(item("ReplicationProtectedItems_UnplannedFailover"))
    fields(
        state,
        status=S.FAILED_OVER,
        protection_state="UnplannedFailoverCommitPendingStatesBegin",
        allowed_operations=("Commit", "DisableProtection", "ChangeRecoveryPoint"),
        failover_point=point_id(POINT_CRASH),
        recovery_vm_name="web01-dr",
    )


def test_failover_commit() -> None:
    # Shaped from ReplicationProtectedItems_FailoverCommit.json: after the commit
    # DisableProtection and Failback are allowed (CompleteMigration is not ours).
    state = mapping.item_state(item("ReplicationProtectedItems_FailoverCommit"))
    fields(
        state,
        protection_state="PlannedFailoverStatesBegin",
        allowed_operations=("DisableProtection", "Failback"),
        failover_point=point_id(POINT_PLANNED),
        current_job=None,
    )


def test_failover_commit_status_is_failover_committed() -> None:
    # Shaped from ReplicationProtectedItems_FailoverCommit.json.
    state = mapping.item_state(item("ReplicationProtectedItems_FailoverCommit"))
    assert state.status is S.FAILOVER_COMMITTED


def test_apply_recovery_point(vault: Callable[..., None]) -> None:
    # Shaped from ReplicationProtectedItems_ApplyRecoveryPoint.json (read at stable/2025-01-01:
    # the 2025-08-01 copy was not available to read): still failed over, now on the point
    # applied, health Critical.
    state = mapping.item_state(item("ReplicationProtectedItems_ApplyRecoveryPoint"))
    fields(
        state,
        status=S.FAILED_OVER,
        health=HealthState.CRITICAL,
        reasons=(),
        failover_point=point_id(POINT_APP),
        allowed_operations=("Commit", "DisableProtection", "ChangeRecoveryPoint"),
    )
    # The app names the point the VM runs on from this answer and ASR's list of points.
    protected = on_vault(lambda *where: item("ReplicationProtectedItems_ApplyRecoveryPoint"))
    vault(
        SimpleNamespace(
            replication_protected_items=SimpleNamespace(get=protected),
            recovery_points=SimpleNamespace(
                list_by_replication_protected_items=on_vault(
                    lambda *where: listed(
                        asr.RecoveryPoint, "RecoveryPoints_ListByReplicationProtectedItems"
                    )
                )
            ),
        )
    )
    assert asr_failover.failover_point(LOCATION) == mapping.RecoveryPoint(
        id=point_id(POINT_APP),
        name=POINT_APP,
        time=datetime(2025, 3, 14, 9, 0, 3, 112045, tzinfo=UTC),
        consistency="AppConsistent",
    )


def test_reprotect() -> None:
    # Shaped from ReplicationProtectedItems_Reprotect.json (its request: failoverDirection
    # PrimaryToRecovery, providerSpecificDetails HyperVReplicaAzure; its 202 carries
    # Azure-AsyncOperation and Retry-After only): reverse replication after a committed
    # failback leaves the item Protected on the primary site, failovers allowed again, no
    # failover point, replicating with an RPO again.
    state = mapping.item_state(item("ReplicationProtectedItems_Reprotect"))
    fields(
        state,
        status=S.PROTECTED,
        protection_state="Protected",
        health=HealthState.NORMAL,
        allowed_operations=ENABLED_OPERATIONS,
        current_job=None,
        test_failover_state="None",
        failover_point=None,
        rpo_seconds=96,
        last_replicated=datetime(2025, 3, 15, 9, 31, 5, 619084, tzinfo=UTC),
        recovery_vm_name="web01-dr",
    )
    props = item("ReplicationProtectedItems_Reprotect").properties
    assert props.active_location == "Primary"
    assert props.last_successful_failover_time == datetime(
        2025, 3, 15, 8, 42, 17, 330641, tzinfo=UTC
    )


# --- jobs and recovery points ----------------------------------------------------------------


def test_job_get_succeeded() -> None:
    # Shaped from ReplicationJobs_Get.json (a succeeded job with its tasks), as a test failover.
    model = one(asr.Job, "ReplicationJobs_Get")
    assert isinstance(model.properties.custom_details, asr.AsrJobDetails)
    assert model.properties.tasks[0].friendly_name == "Prerequisites check for test failover"
    job = mapping.job_state(model)
    fields(job, name=JOB_TFO, scenario="TestFailover", state="Succeeded", errors=())
    assert job.done and job.succeeded
    assert [(t.name, t.state) for t in job.tasks] == [
        ("Prerequisites check for test failover", "Succeeded"),
        ("Create test virtual machine", "Succeeded"),
        ("Start the virtual machine", "Succeeded"),
    ]
    first = job.tasks[0]  # seven fractional digits, as ASR writes them
    assert first.start == datetime(2025, 3, 14, 10, 5, 37, 990221, tzinfo=UTC)
    assert first.end == datetime(2025, 3, 14, 10, 5, 52, 118330, tzinfo=UTC)
    assert first.errors == ()


def test_job_get_suspended_waits_to_be_resumed_and_has_not_failed() -> None:
    # Shaped from ReplicationJobs_Resume.json (a job Suspended with Cancel and Resume
    # allowed), as a failback waiting for its Complete failover once the data is synchronised.
    model = one(asr.Job, "ReplicationJobs_Get.suspended")
    assert model.properties.allowed_actions == ["Cancel", "Resume"]
    job = mapping.job_state(model)
    fields(job, state="Suspended", description="WaitingForCompleteFailover", errors=())
    assert job.waiting and not job.done and not job.succeeded
    assert [(t.name, t.state) for t in job.tasks] == [
        ("Prerequisites check for planned failover", "Succeeded"),
        ("Synchronize data while the Azure virtual machine runs", "Succeeded"),
        ("Shut down the Azure virtual machine", "NotStarted"),
    ]


def test_job_get_failed() -> None:
    # Shaped from ReplicationJobs_Get.json, as a failed failover: JobErrorDetails with
    # serviceErrorDetails (ServiceError) and providerErrorDetails (ProviderError, whose
    # errorCode is a number) on the job, the provider's alone on the failed task.
    model = one(asr.Job, "ReplicationJobs_Get.failed")
    job = mapping.job_state(model)
    fields(job, scenario="UnplannedFailover", state="Failed")
    assert job.done and not job.succeeded
    service = ErrorDetail(
        code="Asr28031",
        cause="Failover of web01 to Azure failed: the recovery point could not be attached to "
        "the Azure VM. Possible causes: The managed disk web01-os-dr is locked by another "
        "operation in rg-dr-recovery.",
        recommendation="Remove the lock on rg-dr-recovery and retry the failover.",
    )
    assert job.errors == (service,)
    assert [(t.name, t.state) for t in job.tasks] == [
        ("Prerequisites check for failover", "Succeeded"),
        ("Start failover", "Failed"),
    ]
    assert job.tasks[1].errors == (
        ErrorDetail(
            code="Asr559",
            cause="The Azure VM web01-dr could not be created. Possible causes: "
            "Standard_D2s_v5 has no capacity in the recovery region.",
            recommendation="Choose another size for web01-dr and retry the failover.",
        ),
    )
    # The SDK's JobErrorDetails is a mapping of the REST body: the same error from it.
    (error,) = model.properties.errors
    assert error.provider_error_details.error_code == 559
    assert mapping.job_error(error) == service


def test_recovery_points_list(vault: Callable[..., None]) -> None:
    # Shaped from RecoveryPoints_ListByReplicationProtectedItems.json, one point
    # ApplicationConsistent (the recoveryPointType the SDK documents besides CrashConsistent).
    models = listed(asr.RecoveryPoint, "RecoveryPoints_ListByReplicationProtectedItems")
    assert isinstance(models[0].properties.recovery_point_time, datetime)
    points = [mapping.recovery_point(m) for m in models]
    assert [(p.name, p.time, p.consistency) for p in points] == [
        (POINT_CRASH, datetime(2025, 3, 14, 9, 55, 12, 441773, tzinfo=UTC), "CrashConsistent"),
        (POINT_APP, datetime(2025, 3, 14, 9, 0, 3, 112045, tzinfo=UTC), "AppConsistent"),
    ]
    assert points[0].id == point_id(POINT_CRASH)

    # The app's choice of point among them, by the failover rules.
    def answered(*where: str) -> Iterator[Any]:
        assert where == (FABRIC, CONTAINER, WEB01)
        return iter(models)

    points_api = SimpleNamespace(list_by_replication_protected_items=on_vault(answered))
    vault(SimpleNamespace(recovery_points=points_api))
    assert asr_failover.choose_point(LOCATION, "latest").name == POINT_CRASH
    assert asr_failover.choose_point(LOCATION, "latestAppConsistent").name == POINT_APP
    assert asr_failover.choose_point(LOCATION, point_id(POINT_APP)).name == POINT_APP
