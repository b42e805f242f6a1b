"""The orchestrations other code starts or asks about: their names, inputs and instance ids.

Starters (the runbook API, agent events, the start_replication activity) build an input here
and start the orchestration by name, so none of them imports the orchestrators. The names are
the orchestrator functions' own (tests/app/test_seams.py checks that each one is registered).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum

import azure.durable_functions as df
from pydantic import BaseModel

from application.health import policy_of
from azureclients.settings import int_setting
from contracts.api import DisableProtectionRequest, EnableProtectionRequest
from domain.failover import DataSync, FailoverType
from domain.jobs import StartedBy
from domain.replication_state import Operation
from readmodels.items import require_item_row
from readmodels.records import ReplicatedItem

PROTECT = "protect_vm"
UNPROTECT = "unprotect_vm"
REPLICATE = "replicate_vm"
WATCH_ASR = (
    "watch_asr_replication"  # the asr provider's replication (orchestrators/asr_replication.py)
)
FAIL_OVER = "fail_over_vm"
CLEAN_UP_TEST_FAILOVER = "clean_up_test_failover"
COMMIT_FAILOVER = "commit_failover"
CANCEL_FAILOVER = "cancel_failover"
CHANGE_RECOVERY_POINT = "change_recovery_point"
# The asr provider's failover operations: Site Recovery's, its jobs mirrored into ours
# (orchestrators/asr_failover.py).
FAIL_OVER_THROUGH_ASR = "fail_over_through_asr"
AFTER_FAILOVER_THROUGH_ASR = "after_failover_through_asr"
# Failback, its commit and reverse replication: the asr provider's (orchestrators/asr_failback.py).
FAIL_BACK_THROUGH_ASR = "fail_back_through_asr"
DECIDE_AUTO_FAILOVER = "decide_auto_failover"
STARTED = (
    PROTECT,
    UNPROTECT,
    REPLICATE,
    FAIL_OVER,
    CLEAN_UP_TEST_FAILOVER,
    COMMIT_FAILOVER,
    CANCEL_FAILOVER,
    CHANGE_RECOVERY_POINT,
    FAIL_OVER_THROUGH_ASR,
    AFTER_FAILOVER_THROUGH_ASR,
    FAIL_BACK_THROUGH_ASR,
    DECIDE_AUTO_FAILOVER,
)

# Which orchestration runs a failover operation, by the VM's provider. ASR offers no cancel,
# the direct provider no failback (domain.replication_state.NOT_OFFERED_BY refuses them
# before this is asked).
_FAILOVER_ORCHESTRATIONS: dict[str, dict[Operation, str]] = {
    "direct": {
        Operation.TEST_FAILOVER: FAIL_OVER,
        Operation.PLANNED_FAILOVER: FAIL_OVER,
        Operation.UNPLANNED_FAILOVER: FAIL_OVER,
        Operation.TEST_FAILOVER_CLEANUP: CLEAN_UP_TEST_FAILOVER,
        Operation.COMMIT: COMMIT_FAILOVER,
        Operation.CANCEL_FAILOVER: CANCEL_FAILOVER,
        Operation.CHANGE_RECOVERY_POINT: CHANGE_RECOVERY_POINT,
    },
    "asr": {
        Operation.TEST_FAILOVER: FAIL_OVER_THROUGH_ASR,
        Operation.PLANNED_FAILOVER: FAIL_OVER_THROUGH_ASR,
        Operation.UNPLANNED_FAILOVER: FAIL_OVER_THROUGH_ASR,
        Operation.TEST_FAILOVER_CLEANUP: AFTER_FAILOVER_THROUGH_ASR,
        Operation.COMMIT: AFTER_FAILOVER_THROUGH_ASR,
        Operation.CHANGE_RECOVERY_POINT: AFTER_FAILOVER_THROUGH_ASR,
        Operation.FAILBACK: FAIL_BACK_THROUGH_ASR,
        Operation.COMMIT_FAILBACK: FAIL_BACK_THROUGH_ASR,
        Operation.REPROTECT: FAIL_BACK_THROUGH_ASR,
    },
}


def failover_orchestration(provider: str, operation: Operation) -> str:
    """The orchestration that runs `operation` on a VM replicated by `provider`."""
    return _FAILOVER_ORCHESTRATIONS[provider][operation]


class ProtectInput(BaseModel):
    tenant: str
    vm: str
    job_id: str
    request: EnableProtectionRequest
    started_by: StartedBy = StartedBy.API


class UnprotectInput(BaseModel):
    tenant: str
    vm: str
    job_id: str
    request: DisableProtectionRequest


class FailoverInput(BaseModel):
    """A failover of one VM; the job id is the instance id and tags what it makes."""

    tenant: str
    vm: str
    job_id: str
    type: FailoverType
    recovery_point: str = "latest"  # latest | latestAppConsistent | a point id
    shutdown_timeout_seconds: int = 300  # planned: how long the guest may take
    stall_seconds: int = 300  # planned: the final sync's stall watch, as replication's
    started_by: StartedBy = StartedBy.API


class AfterFailoverInput(BaseModel):
    """An operation on a VM's failover (cleanup, commit, cancel, change of point): its own
    job, and the failover job whose resources it acts on."""

    tenant: str
    vm: str
    job_id: str
    failover_job_id: str
    type: FailoverType
    recovery_point: str = "latest"  # a change of recovery point: the new one
    operation: Operation | None = None  # which one (the asr provider's single orchestration)


class FailbackInput(BaseModel):
    """Failback, its commit, or reverse replication of a VM that ASR replicates: one ASR
    action each, its job mirrored into ours (the job id is the instance id)."""

    tenant: str
    vm: str
    job_id: str
    operation: Operation
    data_sync: DataSync = DataSync.WHILE_RUNNING  # a failback's
    complete_on_approval: bool = False  # a failback's: contracts.api.FailbackRequest
    # The committed failover the way home ends (its commit forgets the record).
    failover_job_id: str | None = None
    failover_type: FailoverType = FailoverType.UNPLANNED


class AsrWatchInput(BaseModel):
    """The asr provider's replication watch (orchestrators/asr_replication.py)."""

    tenant: str
    vm: str
    job_id: str | None = None  # the InitialReplication job, while it runs
    asr_job: str | None = None  # the ASR job being mirrored
    poll_seconds: int = 2  # while enabling and replicating initially
    watch_seconds: int = 60  # once protected

    @classmethod
    def from_settings(cls, tenant: str, vm: str, job_id: str | None = None) -> AsrWatchInput:
        return cls(
            tenant=tenant,
            vm=vm,
            job_id=job_id,
            poll_seconds=int_setting("ASR_POLL_SECONDS", 10),
            watch_seconds=int_setting("ASR_WATCH_SECONDS", 60),
        )


class DecisionInput(BaseModel):
    """An auto-failover decision of one rule; the job id is the instance id. Signals reach it
    as the event `signal` (a nudge: it reads them from the rule's signal log), a person's
    answer as the event `approval` (ApprovalAnswer)."""

    tenant: str
    rule: str
    job_id: str


SIGNAL_EVENT = "signal"
APPROVAL_EVENT = "approval"


class ApprovalAnswer(BaseModel):
    """The body of the `approval` event raised to a job's instance (POST .../approve, /reject)."""

    approved: bool
    by: str  # the approver's key fingerprint, or "api"


class ReplicationPhase(StrEnum):
    INITIAL = "initial"  # the first full copy, with its InitialReplication job
    DELTA = "delta"  # a cycle every interval, forever


class ReplicationInput(BaseModel):
    tenant: str
    vm: str
    generation: str  # unique per protection: command ids never repeat across re-protects
    job_id: str | None = None  # the initial-replication job, while it runs
    phase: ReplicationPhase = ReplicationPhase.INITIAL
    cycle: int = 0
    interval_seconds: int = 300
    stall_seconds: int = 300
    max_attempts: int = 3  # sends of one command (a stall resends) before the cycle fails
    resync: bool = False  # the next cycle is a full compare (the agent lost change tracking)
    command_id: str | None = None  # the last command sent (the loop's status names it)
    # The next cycle's command, sent at the end of this one for Service Bus to enqueue when
    # the cycle is due: the loop wakes once per cycle (the agent's answer), not twice.
    scheduled: ScheduledCommand | None = None
    # False for an execution an older version started (it waits on a timer between cycles):
    # set before each continue_as_new, so that history replays as it was written.
    schedule_ahead: bool = False


class ScheduledCommand(BaseModel):
    command_id: str
    cycle: int
    sent_at: datetime  # when Service Bus enqueues it: the cycle's start, and its stall watch's
    sequence_number: int | None = None  # while Service Bus holds it (None: sent at once)


class LoopStatus(BaseModel):
    """The replication loop's custom status: the command the agent was last sent (and the
    sequence number Service Bus holds it under until it is due), so that stopping the loop
    can cancel it (the item does not record it: that would be a write per cycle)."""

    command_id: str | None = None
    sequence_number: int | None = None

    @classmethod
    def of(cls, status: df.DurableOrchestrationStatus | None) -> LoopStatus:
        custom = status.custom_status if status is not None else None
        return cls.model_validate(custom) if isinstance(custom, dict) else cls()


def replication_instance(tenant: str, vm: str) -> str:
    """The one replication orchestration of a VM; agent events are raised to it."""
    return f"replication-{tenant}-{vm}"


_RUNNING = (df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending)


def is_running(status: df.DurableOrchestrationStatus | None) -> bool:
    """Whether an instance with this status (None: no such instance) still runs."""
    return status is not None and status.runtime_status in _RUNNING


def runtime_status(status: df.DurableOrchestrationStatus | None) -> str | None:
    """The instance's runtime status by name (`Running`, `Terminated`, ...); None when the
    task hub has no such instance (the client answers an empty status for a 404)."""
    if status is None or status.runtime_status is None:
        return None
    return status.runtime_status.value


async def resume_replication_loop(
    client: df.DurableOrchestrationClient,
    tenant: str,
    vm: str,
    *,
    generation: str,
    resync: bool = False,
    item: ReplicatedItem | None = None,
) -> bool:
    """Start the VM's delta loop again (after a failover that did not happen, or when the
    watchdog finds it dead): the next cycle syncs what changed since the last point, no full
    copy; `resync` makes it a full compare instead (the VM was resynchronizing). `generation`
    must be new: the agent dedupes commands by id, so none may repeat an old one. A VM that
    Site Recovery replicates gets its watch back instead (after reverse replication too).

    Idempotent: a running instance is kept (False). True when this call started it. `item`:
    the VM's item as just read, if the caller has it (its policy sets the interval)."""
    instance = replication_instance(tenant, vm)
    if is_running(await client.get_status(instance)):
        return False
    if item is None:
        item = (await asyncio.to_thread(require_item_row, tenant, vm)).model
    if item.provider == "asr":
        watch = AsrWatchInput.from_settings(tenant, vm)
        await client.start_new(WATCH_ASR, instance, watch.model_dump(mode="json"))
        return True
    replication = ReplicationInput(
        tenant=tenant,
        vm=vm,
        generation=generation,
        phase=ReplicationPhase.DELTA,
        interval_seconds=int(policy_of(item).interval),
        stall_seconds=int_setting("REPLICATION_STALL_SECONDS", 300),
        resync=resync,
    )
    await client.start_new(REPLICATE, instance, replication.model_dump(mode="json"))
    return True
