"""Failback and reverse replication of a Hyper-V VM that ASR failed over to Azure, through the
real `azure-mgmt-recoveryservicessiterecovery` 2.0.0 client against the running stand-in.

As ASR runs them for HyperVReplicaAzure: once a failover is committed the item allows Failback,
a planned failover RecoveryToPrimary with HyperVReplicaAzureFailbackProviderInput (a
PlannedFailover job named "Failback"). With "synchronize data before failover"
(ForSynchronization, the default) the job waits once the Azure VM's changes are copied while
it runs: Suspended, WaitingForCompleteFailover, Cancel and Resume allowed, until the operator's
Complete failover (POST replicationJobs/{job}/resume) lets it shut the Azure VM down and start
the on-premises one, or a cancel (POST .../cancel) leaves the VM in Azure. Its commit leaves
the VM home but unprotected
(UnprotectedStatesBegin) until reverse replication (POST reProtect, whose 202 has
Azure-AsyncOperation and no Location, as the spec's Reprotect example answers) protects it
again, its recovery points starting over. Everything else is refused as Azure refuses it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservicessiterecovery import models as asr

from application import asr_mapping as mapping
from domain.replication_state import ReplicationStatus
from tests.arm.conftest import Lab
from tests.arm.test_siterecovery import Vault, until

FOR_SYNCHRONIZATION_TASKS = [
    "Prerequisites check for planned failover",
    "Synchronize data while the Azure virtual machine runs",
    "Shut down the Azure virtual machine",
    "Synchronize final changes",
    "Start the on-premises virtual machine",
]
FOR_DOWN_TIME_TASKS = [t for t in FOR_SYNCHRONIZATION_TASKS if "while" not in t]
REPROTECT_TASKS = [
    "Prerequisites check for reverse replication",
    "Reverse replicate",
    "Start the replication",
    "Updating the provider states",
]
PROTECTED_OPERATIONS = ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"]
# A ForSynchronization failback waiting for its Complete failover: the data synchronised while
# the Azure VM runs, nothing after that started.
WAITING_TASK_STATES = ["Succeeded", "Succeeded", "NotStarted", "NotStarted", "NotStarted"]


@pytest.fixture
def vault(lab: Lab) -> Vault:
    return Vault(lab)


def protected(vault: Vault) -> asr.ReplicationProtectedItem:
    vault.enable()
    return until(
        lambda: (
            (item := vault.item()).properties.protection_state == "Protected"
            and mapping.item_state(item).last_replicated is not None
            and item
        )
    )


def committed(vault: Vault) -> asr.ReplicationProtectedItem:
    """Protected, failed over to Azure (unplanned) and committed."""
    protected(vault)
    return fail_over_and_commit(vault)


def fail_over_and_commit(vault: Vault) -> asr.ReplicationProtectedItem:
    ops = vault.client.replication_protected_items
    ops.begin_unplanned_failover(
        *vault.args,
        vault.vm,
        asr.UnplannedFailoverInput(
            properties=asr.UnplannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                source_site_operations="NotRequired",
                provider_specific_details=asr.HyperVReplicaAzureUnplannedFailoverInput(),
            )
        ),
    ).result()
    ops.begin_failover_commit(*vault.args, vault.vm).result()
    return vault.item()


def failback_input(
    direction: str = "RecoveryToPrimary", details: Any = None, **options: str
) -> asr.PlannedFailoverInput:
    if details is None:
        details = asr.HyperVReplicaAzureFailbackProviderInput(
            data_sync_option=options.get("sync", "ForSynchronization"),
            recovery_vm_creation_option=options.get("creation", "NoAction"),
        )
    return asr.PlannedFailoverInput(
        properties=asr.PlannedFailoverInputProperties(
            failover_direction=direction, provider_specific_details=details
        )
    )


def reprotect_input(
    direction: str = "PrimaryToRecovery", instance_type: str | None = None
) -> asr.ReverseReplicationInput:
    details = asr.HyperVReplicaAzureReprotectInput()
    if instance_type is not None:
        details = {"instanceType": instance_type}
    return asr.ReverseReplicationInput(
        properties=asr.ReverseReplicationInputProperties(
            failover_direction=direction, provider_specific_details=details
        )
    )


def headers_hook(seen: list[dict[str, str]]) -> Any:
    """A raw_response_hook keeping each response's headers (names lower-cased)."""
    return lambda r: seen.append({k.lower(): v for k, v in r.http_response.headers.items()})


def job_name(url: str, marker: str) -> str:
    return url.split(marker, 1)[1].split("?")[0].split("/")[0]


def start_failback(vault: Vault, **options: Any) -> tuple[Any, str]:
    """A failback started (options: sync, creation; polling, as the SDK takes it): its poller
    and the name of its job (from the 202's Location)."""
    seen: list[dict[str, str]] = []
    polling = options.pop("polling", True)
    poller = vault.client.replication_protected_items.begin_planned_failover(
        *vault.args,
        vault.vm,
        failback_input(**options),
        raw_response_hook=headers_hook(seen),
        polling=polling,
    )
    return poller, job_name(seen[0]["location"], "/operationresults/")


def job_in(vault: Vault, name: str, state: str) -> asr.Job:
    return until(lambda: (job := vault.job(name)).properties.state == state and job)


def waiting(vault: Vault, name: str) -> asr.Job:
    """The failback's job once it waits for its Complete failover, as ASR shows it."""
    job = job_in(vault, name, "Suspended")
    props = job.properties
    assert props.state_description == "WaitingForCompleteFailover"
    assert props.allowed_actions == ["Cancel", "Resume"]
    assert [t.state for t in props.tasks] == WAITING_TASK_STATES
    assert props.end_time is None
    return job


def resume(vault: Vault, name: str, seen: list[dict[str, str]] | None = None) -> None:
    """The operator's Complete failover; not waited for."""
    params = asr.ResumeJobParams(
        properties=asr.ResumeJobParamsProperties(comments="Complete failover")
    )
    extra = {} if seen is None else {"raw_response_hook": headers_hook(seen)}
    vault.client.replication_jobs.begin_resume(
        vault.group, vault.name, name, params, polling=False, **extra
    )


def cancel(vault: Vault, name: str, seen: list[dict[str, str]] | None = None) -> None:
    extra = {} if seen is None else {"raw_response_hook": headers_hook(seen)}
    vault.client.replication_jobs.begin_cancel(
        vault.group, vault.name, name, polling=False, **extra
    )


def refused(call: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as caught:
        call()
    assert caught.value.status_code == 400
    return caught.value


def test_failback_commit_and_reverse_replication_protect_the_vm_again(vault: Vault) -> None:
    ops = vault.client.replication_protected_items
    item = committed(vault)
    props = item.properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverStatesBegin",
        "Recovery",
    )
    assert props.allowed_operations == ["DisableProtection", "Failback"]

    # Failback: a planned failover from Azure, run as a PlannedFailover job named "Failback";
    # it waits for its Complete failover (the operation with it), then brings the VM home.
    poller, name = start_failback(vault)
    waiting(vault, name)
    assert not poller.done()
    resume(vault, name)
    poller.result()
    job = vault.job(name)
    assert (job.properties.scenario_name, job.properties.friendly_name) == (
        "PlannedFailover",
        "Failback",
    )
    state = mapping.job_state(job)
    assert state.succeeded
    assert [t.name for t in state.tasks] == FOR_SYNCHRONIZATION_TASKS
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverCommitRequired",
        "Primary",
    )
    assert props.protection_state_description == "Failback finished, commit pending"
    assert props.allowed_operations == ["Commit", "DisableProtection"]
    assert props.last_successful_failover_time == job.properties.end_time
    assert mapping.item_state(vault.item()).status is ReplicationStatus.FAILED_BACK
    # The on-premises VM runs: no recovery point of Azure's to change to.
    error = refused(
        lambda: ops.begin_apply_recovery_point(
            *vault.args,
            vault.vm,
            asr.ApplyRecoveryPointInput(
                properties=asr.ApplyRecoveryPointInputProperties(
                    provider_specific_details=asr.HyperVReplicaAzureApplyRecoveryPointInput()
                )
            ),
        ).result()
    )
    assert error.error.code == "OperationNotAllowedInCurrentState"

    # Its commit: home, nothing replicating until reverse replication.
    ops.begin_failover_commit(*vault.args, vault.vm).result()
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == ("UnprotectedStatesBegin", "Primary")
    assert props.protection_state_description == "Failback committed, reverse replication pending"
    assert props.allowed_operations == ["ReProtect", "DisableProtection"]
    home = mapping.item_state(vault.item())
    assert home.status is ReplicationStatus.FAILBACK_COMMITTED
    assert home.allowed_operations == ("ReProtect", "DisableProtection")

    # Reverse replication: the 202 names the operation's status only (no Location).
    seen: list[dict[str, str]] = []
    poller = ops.begin_reprotect(
        *vault.args, vault.vm, reprotect_input(), raw_response_hook=headers_hook(seen)
    )
    first = seen[0]
    assert "azure-asyncoperation" in first and "retry-after" in first
    assert "location" not in first
    poller.result()  # the operation's status document: the app reads the item itself
    name = job_name(first["azure-asyncoperation"], "/replicationOperationStatus/")
    job = vault.job(name)
    assert (job.properties.scenario_name, job.properties.friendly_name) == (
        "Reprotect",
        "Reverse replicate",
    )
    state = mapping.job_state(job)
    assert state.succeeded and [t.name for t in state.tasks] == REPROTECT_TASKS
    item = vault.item()
    props = item.properties
    assert (props.protection_state, props.active_location) == ("Protected", "Primary")
    assert props.protection_state_description == "Protected"
    assert props.failover_recovery_point_id is None and props.test_failover_state == "None"
    assert props.allowed_operations == PROTECTED_OPERATIONS
    mapped = mapping.item_state(item)
    assert mapped.status is ReplicationStatus.PROTECTED and mapped.rpo_seconds is not None

    # Points start over from the job's end: none from before the failover are left.
    ended: datetime = job.properties.end_time
    points = list(vault.client.recovery_points.list_by_replication_protected_items(
        *vault.args, vault.vm))  # fmt: skip
    assert points and all(p.properties.recovery_point_time >= ended for p in points)
    # As the stand-in's clock moves, new points come (one per the policy's 30 s interval).
    vault.lab.arm.site_recovery_control("age", {"item": item.id, "seconds": 95})
    points = list(vault.client.recovery_points.list_by_replication_protected_items(
        *vault.args, vault.vm))  # fmt: skip
    assert len(points) == 4
    assert mapping.item_state(vault.item()).last_replicated is not None


def test_failback_and_reprotect_are_refused_where_azure_refuses_them(vault: Vault) -> None:
    ops = vault.client.replication_protected_items
    protected(vault)
    # No failback of a VM that never failed over; no reverse replication of a protected one.
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, failback_input()).result())  # fmt: skip
    assert error.error.code == "OperationNotAllowedInCurrentState"
    error = refused(lambda: ops.begin_reprotect(
        *vault.args, vault.vm, reprotect_input()).result())  # fmt: skip
    assert error.error.code == "OperationNotAllowedInCurrentState"

    fail_over_and_commit(vault)
    # Committed in Azure: a planned failover to Azure again is refused, as is one with no
    # direction (a forward one).
    forward = asr.PlannedFailoverInput(
        properties=asr.PlannedFailoverInputProperties(
            failover_direction="PrimaryToRecovery",
            provider_specific_details=asr.HyperVReplicaAzurePlannedFailoverProviderInput(),
        )
    )
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, forward).result())  # fmt: skip
    assert error.error.code == "OperationNotAllowedInCurrentState"
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, {"properties": {}}).result())  # fmt: skip
    assert error.error.code == "OperationNotAllowedInCurrentState"
    # A failback's input: its own instanceType, and the options ASR knows.
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, failback_input(sync="Sometimes")).result())  # fmt: skip
    assert error.error.code == "InvalidParameter"
    assert "dataSyncOption" in error.error.message and "Sometimes" in error.error.message
    assert "ForDownTime" in error.error.message and "ForSynchronization" in error.error.message
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, failback_input(creation="Always")).result())  # fmt: skip
    assert error.error.code == "InvalidParameter"
    assert "recoveryVmCreationOption" in error.error.message
    assert "CreateVmIfNotFound" in error.error.message and "NoAction" in error.error.message
    planned = asr.HyperVReplicaAzurePlannedFailoverProviderInput()
    error = refused(lambda: ops.begin_planned_failover(
        *vault.args, vault.vm, failback_input(details=planned)).result())  # fmt: skip
    assert error.error.code == "InvalidParameter"
    assert "instanceType" in error.error.message
    assert "HyperVReplicaAzureFailback" in error.error.message
    # Content that is not the documented object is refused, not a server error.
    for content in ([], {"properties": "RecoveryToPrimary"}):
        error = refused(lambda sent=content: ops.begin_planned_failover(
            *vault.args, vault.vm, sent).result())  # fmt: skip
        assert error.error.code == "InvalidRequestContent"
    # Still committed in Azure, failback allowed: nothing was started.
    props = vault.item().properties
    assert props.protection_state == "PlannedFailoverStatesBegin"
    assert props.allowed_operations == ["DisableProtection", "Failback"]

    # Failed back and committed: reverse replication takes PrimaryToRecovery, HyperVReplicaAzure.
    ops.begin_planned_failover(
        *vault.args, vault.vm, failback_input(sync="ForDownTime", creation="CreateVmIfNotFound")
    ).result()
    ops.begin_failover_commit(*vault.args, vault.vm).result()
    error = refused(lambda: ops.begin_reprotect(
        *vault.args, vault.vm, reprotect_input(direction="RecoveryToPrimary")).result())  # fmt: skip
    assert error.error.code == "InvalidParameter" and "failoverDirection" in error.error.message
    error = refused(lambda: ops.begin_reprotect(
        *vault.args, vault.vm, reprotect_input(instance_type="A2A")).result())  # fmt: skip
    assert error.error.code == "InvalidParameter" and "instanceType" in error.error.message
    assert vault.item().properties.protection_state == "UnprotectedStatesBegin"


def test_a_failed_failback_leaves_the_item_committed_in_azure(vault: Vault) -> None:
    ops = vault.client.replication_protected_items
    committed(vault)
    # A failure before the wait (the synchronisation while the Azure VM runs) fails the job
    # at once: it never waits.
    vault.lab.arm.site_recovery_control(
        "settings", {"failNext": {"PlannedFailover": {"task": 1, "code": "70168"}}}
    )
    poller, name = start_failback(vault)
    with pytest.raises(HttpResponseError) as failed:
        poller.result()
    assert "70168" in str(failed.value)
    job = mapping.job_state(vault.job(name))
    assert job.state == "Failed"
    assert [t.state for t in job.tasks] == ["Succeeded", "Failed", "Skipped", "Skipped", "Skipped"]
    assert vault.item().properties.allowed_operations == ["DisableProtection", "Failback"]

    # A failure after the wait (shutting the Azure VM down) comes once it is resumed.
    vault.lab.arm.site_recovery_control(
        "settings",
        {
            "failNext": {
                "PlannedFailover": {
                    "task": 2,
                    "code": "70169",
                    "message": "The Azure virtual machine could not be shut down.",
                    "recommendedAction": "Shut down web01-dr in Azure and retry the failback.",
                }
            }
        },
    )
    poller, name = start_failback(vault)
    waiting(vault, name)
    resume(vault, name)
    with pytest.raises(HttpResponseError) as failed:
        poller.result()
    assert "70169" in str(failed.value)
    job = mapping.job_state(vault.job(name))
    assert job.state == "Failed"
    assert [t.state for t in job.tasks] == [
        "Succeeded",
        "Succeeded",
        "Failed",
        "Skipped",
        "Skipped",
    ]
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverStatesBegin",
        "Recovery",
    )
    assert props.allowed_operations == ["DisableProtection", "Failback"]

    # Failed back (ForDownTime: no synchronisation while the Azure VM runs) and committed; a
    # failed reverse replication leaves it unprotected, ReProtect allowed again.
    poller, name = start_failback(vault, sync="ForDownTime")
    poller.result()
    job = mapping.job_state(vault.job(name))
    assert job.succeeded and [t.name for t in job.tasks] == FOR_DOWN_TIME_TASKS
    ops.begin_failover_commit(*vault.args, vault.vm).result()
    vault.lab.arm.site_recovery_control(
        "settings", {"failNext": {"Reprotect": {"task": 1, "code": "70170"}}}
    )
    with pytest.raises(HttpResponseError) as failed:
        ops.begin_reprotect(*vault.args, vault.vm, reprotect_input()).result()
    assert "70170" in str(failed.value)
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == ("UnprotectedStatesBegin", "Primary")
    assert props.allowed_operations == ["ReProtect", "DisableProtection"]


def test_complete_failover_resumes_the_waiting_failback_and_brings_the_vm_home(
    vault: Vault,
) -> None:
    ops = vault.client.replication_protected_items
    committed(vault)
    _, name = start_failback(vault, polling=False)
    job = waiting(vault, name)
    assert (job.properties.scenario_name, job.properties.friendly_name) == (
        "PlannedFailover",
        "Failback",
    )
    # While it waits the item is busy with it: nothing else may start.
    props = vault.item().properties
    assert props.current_scenario.job_id.lower() == job.id.lower()
    assert props.current_scenario.scenario_name == "PlannedFailover"
    assert props.allowed_operations == []
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverStatesBegin",
        "Recovery",
    )
    error = refused(lambda: ops.begin_failover_commit(*vault.args, vault.vm).result())
    assert error.error.code == "JobAlreadyInProgress"

    # Complete failover: a 202 naming the job's status, as the spec's Resume example answers.
    seen: list[dict[str, str]] = []
    before = datetime.now(UTC)
    resume(vault, name, seen)
    assert "azure-asyncoperation" in seen[0] and "retry-after" in seen[0]
    assert "location" not in seen[0]
    assert job_name(seen[0]["azure-asyncoperation"], "/replicationOperationStatus/") == name
    # It runs again, no longer to be cancelled or resumed, the rest of its tasks from then on.
    running = vault.job(name).properties
    assert running.state in ("InProgress", "Succeeded")
    assert running.allowed_actions == []
    job = job_in(vault, name, "Succeeded")
    tasks = job.properties.tasks
    assert [t.state for t in tasks] == ["Succeeded"] * 5
    assert tasks[1].end_time <= before <= tasks[2].start_time
    assert job.properties.state_description == "Completed"
    assert job.properties.end_time == tasks[-1].end_time

    # Home, as a failback ends: commit pending, the on-premises VM running.
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverCommitRequired",
        "Primary",
    )
    assert props.allowed_operations == ["Commit", "DisableProtection"]
    assert props.current_scenario.scenario_name == "None"
    assert props.last_successful_failover_time == job.properties.end_time
    assert mapping.item_state(vault.item()).status is ReplicationStatus.FAILED_BACK


def test_cancelling_the_waiting_failback_leaves_the_vm_in_azure(vault: Vault) -> None:
    committed(vault)
    poller, name = start_failback(vault)
    waiting(vault, name)
    seen: list[dict[str, str]] = []
    cancel(vault, name, seen)
    assert "azure-asyncoperation" in seen[0] and "retry-after" in seen[0]
    assert "location" not in seen[0]
    # The failback's operation ends Canceled: its poller raises.
    with pytest.raises(HttpResponseError):
        poller.result()
    job = vault.job(name).properties
    assert (job.state, job.state_description, job.allowed_actions) == (
        "Cancelled",
        "Cancelled",
        [],
    )
    assert job.end_time is not None and job.errors == []
    assert [t.state for t in job.tasks] == [
        "Succeeded",
        "Succeeded",
        "Cancelled",
        "Cancelled",
        "Cancelled",
    ]
    assert mapping.job_state(vault.job(name)).done

    # Nothing of the failback applied: committed in Azure, free, Failback allowed again.
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverStatesBegin",
        "Recovery",
    )
    assert props.allowed_operations == ["DisableProtection", "Failback"]
    assert props.current_scenario.scenario_name == "None"
    # Cancelled is an end: no second cancel, no resume.
    for call in (cancel, resume):
        error = refused(lambda act=call: act(vault, name))
        assert error.error.code == "OperationNotAllowedInCurrentState"
        assert "'Cancelled'" in error.error.message

    # And a failback again brings it home.
    again, name = start_failback(vault, sync="ForDownTime")
    again.result()
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverCommitRequired",
        "Primary",
    )


def test_resume_and_cancel_are_refused_for_a_job_that_does_not_wait_or_has_ended(
    vault: Vault,
) -> None:
    committed(vault)
    failover = next(
        j for j in vault.client.replication_jobs.list(vault.group, vault.name)
        if j.properties.scenario_name == "UnplannedFailover"
        and j.properties.target_object_id == vault.vm
    )  # fmt: skip
    # A job that has ended (the failover's) is neither resumed nor cancelled.
    for call in (resume, cancel):
        error = refused(lambda act=call, job=failover.name: act(vault, job))
        assert error.error.code == "OperationNotAllowedInCurrentState"
        assert "'Succeeded'" in error.error.message

    # A failback still synchronising (slow tasks) runs: no resume until it waits; a cancel is
    # taken (the Azure VM still runs) and ends it.
    vault.lab.arm.site_recovery_control("settings", {"taskSeconds": 30})
    _, name = start_failback(vault, polling=False)
    vault.lab.arm.site_recovery_control("settings", {"taskSeconds": 0.05})
    job = vault.job(name).properties
    assert (job.state, job.allowed_actions) == ("InProgress", ["Cancel"])
    error = refused(lambda: resume(vault, name))
    assert error.error.code == "OperationNotAllowedInCurrentState"
    assert "'InProgress'" in error.error.message and "Cancel" in error.error.message
    cancel(vault, name)
    job = vault.job(name).properties
    assert job.state == "Cancelled"
    assert [t.state for t in job.tasks] == ["Cancelled"] * 5
    assert vault.item().properties.allowed_operations == ["DisableProtection", "Failback"]

    # Resumed once, a failback runs on: a second resume (or a cancel) is refused, then it ends.
    _, name = start_failback(vault, polling=False)
    waiting(vault, name)
    resume(vault, name)
    for call in (resume, cancel):
        error = refused(lambda act=call: act(vault, name))
        assert error.error.code == "OperationNotAllowedInCurrentState"
        assert "in state '" in error.error.message
    job_in(vault, name, "Succeeded")
    for call in (resume, cancel):
        error = refused(lambda act=call: act(vault, name))
        assert "'Succeeded'" in error.error.message
    assert vault.item().properties.active_location == "Primary"


def test_a_failback_for_down_time_does_not_wait(vault: Vault) -> None:
    committed(vault)
    poller, name = start_failback(vault, sync="ForDownTime")
    poller.result()  # no Complete failover needed
    job = vault.job(name).properties
    assert (job.state, job.state_description, job.allowed_actions) == (
        "Succeeded",
        "Completed",
        [],
    )
    assert [t.friendly_name for t in job.tasks] == FOR_DOWN_TIME_TASKS
    assert [t.state for t in job.tasks] == ["Succeeded"] * 4
    props = vault.item().properties
    assert (props.protection_state, props.active_location) == (
        "PlannedFailoverCommitRequired",
        "Primary",
    )


def test_with_no_task_time_a_resumed_failback_ends_at_once(vault: Vault) -> None:
    committed(vault)
    vault.lab.arm.site_recovery_control("settings", {"taskSeconds": 0})
    try:
        _, name = start_failback(vault, polling=False)
        waiting(vault, name)  # at once: its first two tasks take no time
        resume(vault, name)
        # Ended by the resume itself, its effect applied: no clock to wait on.
        assert vault.job(name).properties.state == "Succeeded"
        props = vault.item().properties
        assert (props.protection_state, props.active_location) == (
            "PlannedFailoverCommitRequired",
            "Primary",
        )
    finally:
        vault.lab.arm.site_recovery_control("settings", {"taskSeconds": 0.05})
