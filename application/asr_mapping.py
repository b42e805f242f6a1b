"""What Azure Site Recovery says, in the control plane's terms.

Pure functions from the Site Recovery SDK's models (`azure-mgmt-recoveryservicessiterecovery`)
to ours: a replication protected item becomes a status, progress, RPO and health reasons; an
ASR job becomes steps and errors with code, cause and recommendation. The SDK's models are
mappings of the REST body, so fields the SDK does not type (a VMM VM's custom details, which
deserialise as the base class) are read as the dict they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.errors import ErrorDetail
from domain.model import HealthState
from domain.replication_state import ReplicationStatus as S

# ASR's protectionState (and testFailoverState) -> our status.
_STATUS = {
    "EnablingProtection": S.WAITING_FOR_INITIAL_REPLICATION,
    "InitialReplicationInProgress": S.INITIAL_REPLICATION_IN_PROGRESS,
    "Protected": S.PROTECTED,
    "PlannedFailoverCommitRequired": S.FAILED_OVER,
    "UnplannedFailoverCommitRequired": S.FAILED_OVER,
    # What ASR answers after an unplanned failover or a change of recovery point, until the
    # commit (the REST spec's ReplicationProtectedItems_UnplannedFailover example).
    "UnplannedFailoverCommitPendingStatesBegin": S.FAILED_OVER,
    "FailoverCompleted": S.FAILOVER_COMMITTED,
}
# testFailoverState of a test failover that ended well, its cleanup pending. ASR answers
# WaitingForCompletion ("Cleanup test failover pending": the REST spec's
# ReplicationProtectedItems_TestFailover example).
_TEST_DONE = ("TestFailoverCompleted", "WaitingForCompletion")
_HEALTH = {"Normal": HealthState.NORMAL, "Warning": HealthState.WARNING}
_OPERATIONS = {  # ASR's allowedOperations -> ours (the runbook API's names)
    "TestFailover": "TestFailover",
    "TestFailoverCleanup": "TestFailoverCleanup",
    "PlannedFailover": "PlannedFailover",
    "UnplannedFailover": "UnplannedFailover",
    "Commit": "Commit",
    "ChangePit": "ChangeRecoveryPoint",
    "DisableProtection": "DisableProtection",
    "Failback": "Failback",
    "ReProtect": "ReProtect",
}


def _get(model: Any, *path: str) -> Any:
    """A field by its REST name path, from an SDK model or a dict (None when absent)."""
    current = model
    for name in path:
        if current is None:
            return None
        if isinstance(current, Mapping):
            current = current.get(name)
        else:
            current = getattr(current, name, None)
    return current


def _rest(model: Any) -> dict:
    """The REST body of an SDK model (they are MutableMappings of it), or the dict itself."""
    if model is None:
        return {}
    if hasattr(model, "as_dict"):
        return model.as_dict()
    return dict(model)


@dataclass(frozen=True)
class Reason:
    code: str
    cause: str
    recommendation: str
    severity: HealthState


@dataclass(frozen=True)
class ItemState:
    """One replication protected item, as our replicated item shows it."""

    status: S | None  # None: a state we do not map (the item keeps its status)
    protection_state: str
    health: HealthState
    reasons: tuple[Reason, ...] = ()
    progress_percent: float | None = None
    rpo_seconds: int | None = None
    last_replicated: datetime | None = None
    allowed_operations: tuple[str, ...] = ()
    current_job: str | None = None  # the ASR job under way (its ARM id)
    test_failover_state: str = "None"
    failover_point: str | None = None
    recovery_vm_name: str | None = None


def item_state(item: Any) -> ItemState:
    """A `ReplicationProtectedItem` (or its REST dict) in our terms."""
    rest = _rest(item)
    props = rest.get("properties") or {}
    details = props.get("providerSpecificDetails") or {}
    state = str(props.get("protectionState") or "")
    test = str(props.get("testFailoverState") or "None")
    status = _STATUS.get(state)
    if status is None and "committed" in str(props.get("protectionStateDescription")).lower():
        # ASR's state names can be ranges (the FailoverCommit example answers
        # PlannedFailoverStatesBegin, "Planned failover committed"): its description says which
        status = S.FAILOVER_COMMITTED
    if status is S.FAILED_OVER and props.get("activeLocation") == "Primary":
        status = S.FAILED_BACK  # a failback (a planned failover from Azure) awaits its commit
    elif state == "UnprotectedStatesBegin" and props.get("activeLocation") == "Primary":
        status = S.FAILBACK_COMMITTED  # home again, not replicating until reprotect
    if status is S.PROTECTED and test in ("TestFailoverInProgress",):
        status = S.TEST_FAILOVER_IN_PROGRESS
    elif status is S.PROTECTED and test in _TEST_DONE:
        status = S.TEST_FAILOVER_SUCCEEDED
    elif status is S.PROTECTED and test == "TestFailoverFailed":
        status = S.TEST_FAILOVER_FAILED
    progress = None
    initial = details.get("initialReplicationDetails") or {}
    if initial.get("initialReplicationProgressPercentage") not in (None, ""):
        try:
            progress = float(str(initial["initialReplicationProgressPercentage"]).rstrip("%"))
        except ValueError:
            progress = None
    rpo = details.get("rpoInSeconds")
    last = details.get("lastReplicatedTime")
    job = (props.get("currentScenario") or {}).get("jobId")
    if job and job.rsplit("/", 1)[-1] == "None":
        job = None
    return ItemState(
        status=status,
        protection_state=state,
        health=_HEALTH.get(str(props.get("replicationHealth")), HealthState.CRITICAL)
        if props.get("replicationHealth")
        else HealthState.NORMAL,
        reasons=tuple(health_reason(e) for e in props.get("healthErrors") or []),
        progress_percent=progress,
        rpo_seconds=int(rpo) if rpo is not None else None,
        last_replicated=_time(last),
        allowed_operations=tuple(
            _OPERATIONS[o] for o in props.get("allowedOperations") or [] if o in _OPERATIONS
        ),
        current_job=job,
        test_failover_state=test,
        failover_point=props.get("failoverRecoveryPointId"),
        recovery_vm_name=details.get("recoveryAzureVmName"),
    )


def health_reason(error: Mapping[str, Any]) -> Reason:
    """An ASR health error as one of our health reasons: its code, the message with the
    possible causes, and ASR's recommended action."""
    code = str(error.get("errorCode") or "Unknown")
    message = str(error.get("errorMessage") or error.get("summaryMessage") or "").strip()
    causes = str(error.get("possibleCauses") or "").strip()
    cause = f"{message} Possible causes: {causes}" if causes else message
    level = str(error.get("errorLevel") or "Error")
    return Reason(
        code=f"Asr{code}" if not code.startswith("Asr") else code,
        cause=cause or f"Azure Site Recovery reports health error {code}.",
        recommendation=str(error.get("recommendedAction") or "").strip()
        or "Open the replicated item in the Recovery Services vault for ASR's advice.",
        severity=HealthState.CRITICAL if level == "Error" else HealthState.WARNING,
    )


@dataclass(frozen=True)
class TaskState:
    name: str
    state: str  # NotStarted, InProgress, Succeeded, Failed, Skipped, Cancelled
    start: datetime | None
    end: datetime | None
    errors: tuple[ErrorDetail, ...] = ()


_RUNNING = ("NotStarted", "InProgress", "Suspended")


@dataclass(frozen=True)
class JobState:
    """An ASR job: its tasks (our steps) and, once Failed, its errors (ours)."""

    name: str
    scenario: str
    state: str  # InProgress, Suspended, Succeeded, Failed, Cancelled, ...
    tasks: tuple[TaskState, ...] = ()
    errors: tuple[ErrorDetail, ...] = field(default_factory=tuple)
    description: str = ""  # stateDescription: what a suspended job waits for
    allowed_actions: tuple[str, ...] = ()  # Cancel, Resume, Restart

    @property
    def done(self) -> bool:
        return self.state not in _RUNNING

    @property
    def waiting(self) -> bool:
        """Suspended until someone resumes it (ASR's portal: a button on the job, such as a
        failback's Complete failover)."""
        return self.state == "Suspended" and "Resume" in self.allowed_actions

    @property
    def succeeded(self) -> bool:
        return self.state in ("Succeeded", "CompletedWithInformation")


def job_state(job: Any) -> JobState:
    """A `Job` (or its REST dict) in our terms."""
    rest = _rest(job)
    props = rest.get("properties") or {}
    tasks = tuple(
        TaskState(
            name=str(t.get("friendlyName") or t.get("name") or "ASR task"),
            state=str(t.get("state") or "NotStarted"),
            start=_time(t.get("startTime")),
            end=_time(t.get("endTime")),
            errors=tuple(job_error(e) for e in t.get("errors") or []),
        )
        for t in props.get("tasks") or []
    )
    errors = tuple(job_error(e) for e in props.get("errors") or [])
    state = str(props.get("state") or "InProgress")
    if state not in (*_RUNNING, "Succeeded") and not errors:
        errors = tuple(e for t in tasks for e in t.errors) or (
            ErrorDetail(
                code="AsrJobFailed",
                cause=f"Azure Site Recovery job '{props.get('friendlyName')}' ended {state}.",
                recommendation="Open the job in the Recovery Services vault for its details, "
                "then start the operation again.",
            ),
        )
    return JobState(
        name=str(rest.get("name") or ""),
        scenario=str(props.get("scenarioName") or ""),
        state=state,
        tasks=tasks,
        errors=errors,
        description=str(props.get("stateDescription") or ""),
        allowed_actions=tuple(str(a) for a in props.get("allowedActions") or []),
    )


def job_error(error: Mapping[str, Any]) -> ErrorDetail:
    """An ASR job error: `serviceErrorDetails` (or the provider's) as code, cause and fix."""
    service = error.get("serviceErrorDetails") or {}
    provider = error.get("providerErrorDetails") or {}
    code = str(service.get("code") or provider.get("errorCode") or "AsrJobFailed")
    message = str(service.get("message") or provider.get("errorMessage") or "").strip()
    causes = str(service.get("possibleCauses") or provider.get("possibleCauses") or "").strip()
    fix = str(service.get("recommendedAction") or provider.get("recommendedAction") or "").strip()
    return ErrorDetail(
        code=f"Asr{code}" if not code.startswith("Asr") else code,
        cause=(f"{message} Possible causes: {causes}" if causes else message)
        or f"Azure Site Recovery failed with {code}.",
        recommendation=fix or "Open the job in the Recovery Services vault for its details.",
    )


@dataclass(frozen=True)
class ProtectableVm:
    """A VM VMM's ASR provider reported (a protectable item), with its custom details."""

    id: str  # the protectable item's ARM id
    name: str  # its name in ASR (the VM's VMM id)
    friendly_name: str
    protected: bool
    generation: str | None
    os_type: str | None
    disks: tuple[dict, ...]


def protectable_vm(item: Any) -> ProtectableVm:
    """VmmVirtualMachine custom details deserialise as the base class: read them as a dict."""
    rest = _rest(item)
    props = rest.get("properties") or {}
    custom = props.get("customDetails") or {}
    return ProtectableVm(
        id=str(rest.get("id") or ""),
        name=str(rest.get("name") or ""),
        friendly_name=str(props.get("friendlyName") or ""),
        protected=str(props.get("protectionStatus")) == "Protected",
        generation=str(custom["generation"]) if custom.get("generation") else None,
        os_type=(custom.get("osDetails") or {}).get("osType"),
        disks=tuple(custom.get("diskDetails") or ()),
    )


@dataclass(frozen=True)
class RecoveryPoint:
    id: str
    name: str
    time: datetime | None
    consistency: str  # AppConsistent | CrashConsistent


def recovery_point(point: Any) -> RecoveryPoint:
    rest = _rest(point)
    props = rest.get("properties") or {}
    kind = str(props.get("recoveryPointType") or "CrashConsistent")
    return RecoveryPoint(
        id=str(rest.get("id") or ""),
        name=str(rest.get("name") or ""),
        time=_time(props.get("recoveryPointTime")),
        consistency="AppConsistent" if "App" in kind else "CrashConsistent",
    )


def policy_settings(policy: Any) -> dict[str, int]:
    """A HyperVReplicaAzure policy: interval, history and app-consistent frequency."""
    details = _get(_rest(policy), "properties", "providerSpecificDetails") or {}
    return {
        "interval": int(details.get("replicationInterval") or 0),
        "history_hours": int(details.get("recoveryPointHistoryDurationInHours") or 0),
        "app_consistent_hours": int(
            details.get("applicationConsistentSnapshotFrequencyInHours") or 0
        ),
    }


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
