"""The `asr` provider's failover: Azure Site Recovery builds the Azure VM, we drive and show it.

Test failover and its cleanup, planned and unplanned failover, commit and change of recovery
point, failback (a planned failover from Azure back on premises), its commit and reverse
replication (reprotect) are each one ASR operation on the replication protected item. Each
is started here without waiting (`polling=False`: the orchestration mirrors its job into ours
on durable timers) and its recovery point is chosen here from ASR's own points, by the same
rules as the direct provider's (`domain.failover.choose_point`): latest, latest
app-consistent, or one point by its name (or ARM id) as the replicated item lists it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservicessiterecovery import models as asr

from application import asr_mapping as mapping
from application.asr_protection import (
    AsrLocation,
    Progress,
    refusal,
    reprotect_input,
    started_job,
)
from azureclients.arm import asr_vault, recovery_target, site_recovery_client
from domain import failover as rules
from domain.failover import DataSync, FailoverType
from domain.replication_state import Operation
from domain.retention import Consistency
from domain.retention import RecoveryPoint as PointRule
from readmodels.records import VmRecord


class AsrAction(StrEnum):
    """ASR's operations on a protected item (the REST action names)."""

    TEST_FAILOVER = "testFailover"
    TEST_FAILOVER_CLEANUP = "testFailoverCleanup"
    PLANNED_FAILOVER = "plannedFailover"
    UNPLANNED_FAILOVER = "unplannedFailover"
    COMMIT = "failoverCommit"
    APPLY_RECOVERY_POINT = "applyRecoveryPoint"
    FAILBACK = "failback"  # REST: plannedFailover, from Azure (RecoveryToPrimary)
    REPROTECT = "reProtect"


FAILOVER_ACTION = {
    FailoverType.TEST: AsrAction.TEST_FAILOVER,
    FailoverType.PLANNED: AsrAction.PLANNED_FAILOVER,
    FailoverType.UNPLANNED: AsrAction.UNPLANNED_FAILOVER,
}
AFTER_FAILOVER_ACTION = {
    Operation.TEST_FAILOVER_CLEANUP: AsrAction.TEST_FAILOVER_CLEANUP,
    Operation.COMMIT: AsrAction.COMMIT,
    Operation.CHANGE_RECOVERY_POINT: AsrAction.APPLY_RECOVERY_POINT,
}
FAILBACK_ACTION = {
    Operation.FAILBACK: AsrAction.FAILBACK,
    Operation.COMMIT_FAILBACK: AsrAction.COMMIT,
    Operation.REPROTECT: AsrAction.REPROTECT,
}
# The actions that start from a recovery point. Planned takes ASR's own: the one its final
# synchronisation makes after shutting the source down.
WITH_POINT = frozenset(
    {AsrAction.TEST_FAILOVER, AsrAction.UNPLANNED_FAILOVER, AsrAction.APPLY_RECOVERY_POINT}
)


def recovery_points(location: AsrLocation) -> list[mapping.RecoveryPoint]:
    """ASR's recovery points of the item, newest first."""
    vault = asr_vault()
    listed = site_recovery_client().recovery_points.list_by_replication_protected_items(
        vault.resource_group, vault.name, location.fabric, location.container, location.item
    )
    points = [mapping.recovery_point(p) for p in listed]
    return sorted(points, key=lambda p: p.time or datetime.min.replace(tzinfo=UTC), reverse=True)


def point_name(choice: str) -> str:
    """A point as the user may name it: its name, or its ARM id (whose last segment it is)."""
    return choice.rsplit("/", 1)[-1] if "/recoveryPoints/" in choice else choice


def choose_point(location: AsrLocation, choice: str) -> mapping.RecoveryPoint:
    """The point `choice` names among ASR's; RecoveryPointNotAvailable (409) when none."""
    points = [p for p in recovery_points(location) if p.time is not None]
    rules_view = [
        PointRule(
            id=p.name,
            time=p.time,
            consistency=Consistency.APP if p.consistency == "AppConsistent" else Consistency.CRASH,
        )
        for p in points
    ]
    chosen = rules.choose_point(rules_view, point_name(choice))
    return next(p for p in points if p.name == chosen.id)


def start(
    location: AsrLocation,
    action: AsrAction,
    point: mapping.RecoveryPoint | None = None,
    *,
    data_sync: DataSync = DataSync.WHILE_RUNNING,
    record: VmRecord | None = None,
) -> Progress:
    """Start `action` on the item (not waited for): the ASR job's name, or ASR's refusal.
    `data_sync`: a failback's; `record`: the VM, whose host id and disks reprotect names.

    Already under way (a retry after ASR took the request): the item's current job, when it
    is this action's, is the one to follow."""
    vault, client = asr_vault(), site_recovery_client()
    args = (vault.resource_group, vault.name, location.fabric, location.container, location.item)
    if action is AsrAction.REPROTECT:
        assert record is not None, "reverse replication names the VM's host id and disks"
        body = reprotect_input(record)
    else:
        body = _body(action, point, data_sync)

    def begin(hook: Any) -> Any:
        operation = getattr(client.replication_protected_items, _METHOD[action])
        extra = (body,) if body is not None else ()
        return operation(*args, *extra, polling=False, raw_response_hook=hook)

    try:
        return Progress(step=action.value, job=started_job(begin))
    except HttpResponseError as error:
        running = _running_job(location, action)
        if running is not None:
            return Progress(step=action.value, job=running)
        fix = (
            "Look at the VM's replicated item (allowedOperations) and its jobs, fix what "
            "ASR names, then ask again."
        )
        if refused := refusal(error, f"{_TEXT[action]} VM '{location.item}'", fix):
            return Progress(errors=[refused])
        raise


def recovery_vm_name(location: AsrLocation, action: AsrAction) -> str:
    """The Azure VM ASR makes: the item's recovery VM name (`-test` for a test failover)."""
    name = _item_state(location).recovery_vm_name or location.item
    return rules.vm_name(name, FailoverType.TEST) if action is AsrAction.TEST_FAILOVER else name


def failover_point(location: AsrLocation) -> mapping.RecoveryPoint | None:
    """The point ASR failed the VM over to (None before a failover, or for a test one)."""
    chosen = _item_state(location).failover_point
    if not chosen:
        return None
    found = [p for p in recovery_points(location) if p.name == point_name(chosen)]
    return found[0] if found else mapping.RecoveryPoint(chosen, point_name(chosen), None, "")


_METHOD = {
    AsrAction.TEST_FAILOVER: "begin_test_failover",
    AsrAction.TEST_FAILOVER_CLEANUP: "begin_test_failover_cleanup",
    AsrAction.PLANNED_FAILOVER: "begin_planned_failover",
    AsrAction.UNPLANNED_FAILOVER: "begin_unplanned_failover",
    AsrAction.COMMIT: "begin_failover_commit",
    AsrAction.APPLY_RECOVERY_POINT: "begin_apply_recovery_point",
    AsrAction.FAILBACK: "begin_planned_failover",
    AsrAction.REPROTECT: "begin_reprotect",
}
_TEXT = {
    AsrAction.TEST_FAILOVER: "start a test failover of",
    AsrAction.TEST_FAILOVER_CLEANUP: "clean up the test failover of",
    AsrAction.PLANNED_FAILOVER: "start a planned failover of",
    AsrAction.UNPLANNED_FAILOVER: "start a failover of",
    AsrAction.COMMIT: "commit the failover of",
    AsrAction.APPLY_RECOVERY_POINT: "change the recovery point of",
    AsrAction.FAILBACK: "fail back",
    AsrAction.REPROTECT: "start reverse replication of",
}
# ASR's scenario names of each action's job (a running job is adopted only when it is ours).
_SCENARIO = {
    AsrAction.TEST_FAILOVER: "TestFailover",
    AsrAction.TEST_FAILOVER_CLEANUP: "TestFailoverCleanup",
    AsrAction.PLANNED_FAILOVER: "PlannedFailover",
    AsrAction.UNPLANNED_FAILOVER: "UnplannedFailover",
    AsrAction.COMMIT: "CommitFailover",
    AsrAction.APPLY_RECOVERY_POINT: "ChangePit",
    AsrAction.FAILBACK: "PlannedFailover",  # ASR runs a failback as a planned failover
    AsrAction.REPROTECT: "Reprotect",
}
_DATA_SYNC_OPTION = {  # ours -> ASR's dataSyncOption
    DataSync.WHILE_RUNNING: "ForSynchronization",
    DataSync.DURING_DOWNTIME: "ForDownTime",
}


def _body(action: AsrAction, point: mapping.RecoveryPoint | None, data_sync: DataSync) -> Any:
    point_id = point.id if point else None
    if action is AsrAction.FAILBACK:
        # Home to the VM it came from (NoAction: ASR makes no new VM on premises).
        return asr.PlannedFailoverInput(
            properties=asr.PlannedFailoverInputProperties(
                failover_direction="RecoveryToPrimary",
                provider_specific_details=asr.HyperVReplicaAzureFailbackProviderInput(
                    data_sync_option=_DATA_SYNC_OPTION[data_sync],
                    recovery_vm_creation_option="NoAction",
                ),
            )
        )
    if action is AsrAction.TEST_FAILOVER:
        return asr.TestFailoverInput(
            properties=asr.TestFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                network_type="VmNetworkAsInput",
                network_id=recovery_target().test_subnet_id,
                provider_specific_details=asr.HyperVReplicaAzureTestFailoverInput(
                    recovery_point_id=point_id
                ),
            )
        )
    if action is AsrAction.TEST_FAILOVER_CLEANUP:
        return asr.TestFailoverCleanupInput(
            properties=asr.TestFailoverCleanupInputProperties(
                comments="Cleaned up by the DR control plane."
            )
        )
    if action is AsrAction.PLANNED_FAILOVER:
        return asr.PlannedFailoverInput(
            properties=asr.PlannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                provider_specific_details=asr.HyperVReplicaAzurePlannedFailoverProviderInput(),
            )
        )
    if action is AsrAction.UNPLANNED_FAILOVER:
        return asr.UnplannedFailoverInput(
            properties=asr.UnplannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                source_site_operations="NotRequired",
                provider_specific_details=asr.HyperVReplicaAzureUnplannedFailoverInput(
                    recovery_point_id=point_id
                ),
            )
        )
    if action is AsrAction.APPLY_RECOVERY_POINT:
        return asr.ApplyRecoveryPointInput(
            properties=asr.ApplyRecoveryPointInputProperties(
                recovery_point_id=point_id,
                provider_specific_details=asr.HyperVReplicaAzureApplyRecoveryPointInput(),
            )
        )
    return None  # commit takes no body


def _running_job(location: AsrLocation, action: AsrAction) -> str | None:
    """The item's job under way when it is `action`'s (its name), else None."""
    running = _item_state(location).current_job
    if running is None:
        return None
    name = running.rsplit("/", 1)[-1]
    vault = asr_vault()
    job = site_recovery_client().replication_jobs.get(vault.resource_group, vault.name, name)
    state = mapping.job_state(job)
    return name if state.scenario == _SCENARIO[action] and not state.done else None


def _item_state(location: AsrLocation) -> mapping.ItemState:
    """The protected item as ASR shows it now (it must exist: a 404 raises)."""
    vault = asr_vault()
    item = site_recovery_client().replication_protected_items.get(
        vault.resource_group, vault.name, location.fabric, location.container, location.item
    )
    return mapping.item_state(item)
