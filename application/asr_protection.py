"""The `asr` provider's protection: find the VM in Site Recovery, set up its policy and the
cloud's mapping once, enable replication with HyperVReplicaAzure, and read back where it is.

Every function is a reconcile step, as failover's are: it looks at what exists, starts what
is missing (an ASR operation is started, never waited for: `polling=False`), and says where
the goal stands. The replication orchestration calls it again after a durable timer, so no
activity blocks on an ASR job, and a retry or a restart finds what was started.

Where the VM is: the VMM server is a fabric of the vault and the VM's cloud a protection
container of it (same friendly name as the cloud in our inventory); the VM is the container's
protectable item named by its VMM id (or, failing that, with its name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservicessiterecovery import models as asr

from application import asr_mapping as mapping
from azureclients.arm import asr_vault, recovery_target, site_recovery_client
from contracts.errors import ErrorDetail
from domain.errors import DomainError, ErrorInfo
from domain.model import ReplicationPolicy
from readmodels.records import AsrLocation, ReplicatedItem, VmRecord

AZURE_CONTAINER = "Microsoft Azure"
_PERMANENT = {400, 403, 404, 409}


def _not_discovered(record: VmRecord, what: str) -> DomainError:
    return DomainError(
        ErrorInfo(
            code="AsrVmNotDiscovered",
            cause=f"Azure Site Recovery does not know {what} of VM '{record.vm.name}' (cloud "
            f"'{record.cloud.name}').",
            recommendation="Register the VMM server with the Recovery Services vault and "
            "install the ASR provider on it, protect the cloud, and wait for its VMs to be "
            "discovered; or enable protection with provider 'direct'.",
        )
    )


def locate(record: VmRecord) -> AsrLocation:
    """The VM's fabric, container and protectable item; refused when ASR lacks any."""
    vault, client = asr_vault(), site_recovery_client()
    for fabric in client.replication_fabrics.list(vault.resource_group, vault.name):
        containers = client.replication_protection_containers.list_by_replication_fabrics(
            vault.resource_group, vault.name, fabric.name
        )
        for container in containers:
            if (container.properties.friendly_name or "").lower() != record.cloud.name.lower():
                continue
            items = client.replication_protectable_items.list_by_replication_protection_containers(
                vault.resource_group, vault.name, fabric.name, container.name
            )
            for item in items:
                vm = mapping.protectable_vm(item)
                if vm.name.lower() == record.vm.id.lower() or (
                    vm.friendly_name.lower() == record.vm.name.lower()
                ):
                    return AsrLocation(
                        fabric=fabric.name,
                        container=container.name,
                        item=vm.name,
                        protectable_id=vm.id,
                    )
            raise _not_discovered(record, "the VM")
    raise _not_discovered(record, "the cloud")


def place_of(record: VmRecord, item: ReplicatedItem | None = None) -> AsrLocation:
    """The VM's place in the vault: as its replicated item remembers it, else found."""
    if item is not None and item.asr_place is not None:
        return item.asr_place
    return locate(record)


def policy_name(policy: ReplicationPolicy) -> str:
    """One ASR policy per our policy and its settings: a changed policy is a new one."""
    return (
        f"drcp-{policy.name}-{int(policy.interval)}s-{policy.retention_hours}h-"
        f"{policy.app_consistent_frequency_hours}ac"
    )[:64]


def refuse_policy(policy: ReplicationPolicy) -> ErrorDetail | None:
    """ASR keeps recovery points 24 h at most and takes app-consistent ones at most hourly."""
    if policy.retention_hours > 24:
        return ErrorDetail(
            code="AsrPolicyUnsupported",
            cause=f"Policy '{policy.name}' keeps recovery points {policy.retention_hours} h; "
            "Azure Site Recovery (Hyper-V to Azure) keeps them 24 h at most.",
            recommendation="Choose a policy with retention_hours ≤ 24 for provider 'asr', or "
            "use provider 'direct' for longer retention.",
        )
    return None


@dataclass
class Progress:
    """Where enabling stands. `step`: the name of the step under way (our job's)."""

    done: bool = False
    step: str = ""
    errors: list[ErrorDetail] = field(default_factory=list)
    job: str | None = None  # an ASR job to mirror (its name)


def refusal(
    error: HttpResponseError,
    doing: str,
    fix: str = "Fix what ASR names in the Recovery Services vault, then enable protection again.",
) -> ErrorDetail | None:
    """ASR's refusal as our error (None: not a refusal, a retry may do)."""
    if error.status_code not in _PERMANENT:
        return None
    code = getattr(error.error, "code", None) or f"Http{error.status_code}"
    message = (getattr(error.error, "message", None) or str(error)).splitlines()[0]
    return ErrorDetail(
        code=f"Asr{code}" if not code.startswith("Asr") else code,
        cause=f"Azure Site Recovery refused to {doing}: {message}",
        recommendation=fix,
    )


def started_job(start: Any) -> str | None:
    """Start an ASR operation without waiting; the job's name from the answer's Location
    (…/replicationJobs/{job}/operationresults/{job}) or, where ASR sends only that (its
    reprotect does), Azure-AsyncOperation (…/replicationOperationStatus/{job})."""
    seen: list[str] = []

    def hook(response: Any) -> None:
        headers = response.http_response.headers
        location = headers.get("Location") or ""
        status = headers.get("Azure-AsyncOperation") or ""
        if "/operationresults/" in location:
            seen.append(location.split("/operationresults/")[1].split("?")[0])
        elif "/replicationOperationStatus/" in status:
            seen.append(status.split("/replicationOperationStatus/")[1].split("?")[0])

    start(hook)
    return seen[0] if seen else None


def ensure_configured(location: AsrLocation, policy: ReplicationPolicy) -> Progress:
    """The policy, then the cloud's mapping to it, created once (idempotent)."""
    if refused := refuse_policy(policy):
        return Progress(errors=[refused])
    vault, client = asr_vault(), site_recovery_client()
    name = policy_name(policy)
    try:
        found = client.replication_policies.get(vault.resource_group, vault.name, name)
    except ResourceNotFoundError:
        found = None
    if found is None:
        body = asr.CreatePolicyInput(
            properties=asr.CreatePolicyInputProperties(
                provider_specific_input=asr.HyperVReplicaAzurePolicyInput(
                    recovery_point_history_duration=policy.retention_hours,
                    application_consistent_snapshot_frequency_in_hours=(
                        policy.app_consistent_frequency_hours
                    ),
                    replication_interval=int(policy.interval),
                    storage_accounts=[recovery_target().storage_account_id],
                )
            )
        )
        try:
            job = started_job(
                lambda hook: client.replication_policies.begin_create(
                    vault.resource_group, vault.name, name, body, polling=False,
                    raw_response_hook=hook,
                )
            )  # fmt: skip
        except HttpResponseError as error:
            if refused := refusal(error, f"create replication policy {name}"):
                return Progress(errors=[refused])
            raise
        return Progress(step="Create replication policy", job=job)
    mapping_name = f"{name}-{location.container}"[:64]
    args = (vault.resource_group, vault.name, location.fabric, location.container)
    try:
        client.replication_protection_container_mappings.get(*args, mapping_name)
        return Progress(done=True)
    except ResourceNotFoundError:
        pass
    body = asr.CreateProtectionContainerMappingInput(
        properties=asr.CreateProtectionContainerMappingInputProperties(
            target_protection_container_id=AZURE_CONTAINER,
            policy_id=found.id,
            provider_specific_input={"instanceType": "HyperVReplicaAzure"},
        )
    )
    try:
        job = started_job(
            lambda hook: client.replication_protection_container_mappings.begin_create(
                *args, mapping_name, body, polling=False, raw_response_hook=hook
            )
        )
    except HttpResponseError as error:
        if refused := refusal(error, "associate the policy with the cloud"):
            return Progress(errors=[refused])
        raise
    return Progress(step="Associate replication policy with the cloud", job=job)


def enable_input(
    record: VmRecord, location: AsrLocation, policy: ReplicationPolicy, target: Any
) -> asr.EnableProtectionInput:
    """HyperVReplicaAzure input from the VM record and its target name and size: managed
    disks in the recovery resource group, attached to the recovery network."""
    vault, where = asr_vault(), recovery_target()
    subnet = (target.target_network if target else None) or where.subnet_id
    network = subnet.split("/subnets/")[0]
    group = (target.target_resource_group if target else None) or where.resource_group
    policy_id = (
        f"/subscriptions/{vault.subscription}/resourceGroups/{vault.resource_group}/providers/"
        f"Microsoft.RecoveryServices/vaults/{vault.name}/replicationPolicies/{policy_name(policy)}"
    )
    os_disk = next((d for d in record.vm.disks if d.is_os_disk), None)
    return asr.EnableProtectionInput(
        properties=asr.EnableProtectionInputProperties(
            policy_id=policy_id,
            protectable_item_id=location.protectable_id,
            provider_specific_details=asr.HyperVReplicaAzureEnableProtectionInput(
                hv_host_vm_id=record.vm.id,
                vm_name=record.vm.name,
                os_type="Windows" if record.vm.os_type == "windows" else "Linux",
                vhd_id=os_disk.id if os_disk else None,
                target_azure_vm_name=(target.target_name if target else None) or record.vm.name,
                target_vm_size=target.target_size if target else None,
                target_azure_network_id=network,
                target_azure_subnet_id=subnet.rsplit("/", 1)[-1] if "/subnets/" in subnet else None,
                target_azure_v2_resource_group_id=(
                    f"/subscriptions/{where.subscription}/resourceGroups/{group}"
                ),
                target_storage_account_id=where.storage_account_id,
                use_managed_disks="true",
            ),
        )
    )


def reprotect_input(record: VmRecord) -> asr.ReverseReplicationInput:
    """Reverse replication (reprotect) after a failback: the on-premises VM replicates to
    Azure again, into the storage it was enabled with."""
    where = recovery_target()
    os_disk = next((d for d in record.vm.disks if d.is_os_disk), None)
    return asr.ReverseReplicationInput(
        properties=asr.ReverseReplicationInputProperties(
            failover_direction="PrimaryToRecovery",
            provider_specific_details=asr.HyperVReplicaAzureReprotectInput(
                hv_host_vm_id=record.vm.id,
                vm_name=record.vm.name,
                os_type="Windows" if record.vm.os_type == "windows" else "Linux",
                v_hd_id=os_disk.id if os_disk else None,
                storage_account_id=where.storage_account_id,
                log_storage_account_id=where.storage_account_id,
            ),
        )
    )


def ensure_enabled(location: AsrLocation, body: asr.EnableProtectionInput) -> Progress:
    """The protected item exists (PUT once); the enable job's name when it was just started."""
    vault, client = asr_vault(), site_recovery_client()
    args = (vault.resource_group, vault.name, location.fabric, location.container, location.item)
    try:
        client.replication_protected_items.get(*args)
        return Progress(done=True)
    except ResourceNotFoundError:
        pass
    try:
        job = started_job(
            lambda hook: client.replication_protected_items.begin_create(
                *args, body, polling=False, raw_response_hook=hook
            )
        )
    except HttpResponseError as error:
        if refused := refusal(error, "enable replication"):
            return Progress(errors=[refused])
        raise
    return Progress(step="Enable replication", job=job)


def protected_item(location: AsrLocation) -> asr.ReplicationProtectedItem | None:
    vault, client = asr_vault(), site_recovery_client()
    try:
        return client.replication_protected_items.get(
            vault.resource_group, vault.name, location.fabric, location.container, location.item
        )
    except ResourceNotFoundError:
        return None


def job(name: str) -> mapping.JobState:
    vault = asr_vault()
    found = site_recovery_client().replication_jobs.get(vault.resource_group, vault.name, name)
    return mapping.job_state(found)


def disable(location: AsrLocation) -> None:
    """Disable replication (POST remove); not waited for. Gone already: nothing to do."""
    vault, client = asr_vault(), site_recovery_client()
    body = asr.DisableProtectionInput(
        properties=asr.DisableProtectionInputProperties(disable_protection_reason="NotSpecified")
    )
    try:
        client.replication_protected_items.begin_delete(
            vault.resource_group, vault.name, location.fabric, location.container,
            location.item, body, polling=False,
        )  # fmt: skip
    except ResourceNotFoundError:
        return
