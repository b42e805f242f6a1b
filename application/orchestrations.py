"""The orchestrations other code starts or asks about: their names, inputs and instance ids.

Starters (the runbook API, agent events, the start_replication activity) build an input here
and start the orchestration by name, so none of them imports the orchestrators. The names are
the orchestrator functions' own (tests/app/test_seams.py checks that each one is registered).
"""

from __future__ import annotations

from enum import StrEnum

import azure.durable_functions as df
from pydantic import BaseModel

from contracts.api import DisableProtectionRequest, EnableProtectionRequest
from domain.failover import FailoverType
from domain.jobs import StartedBy

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
STARTED = (
    PROTECT,
    UNPROTECT,
    REPLICATE,
    FAIL_OVER,
    CLEAN_UP_TEST_FAILOVER,
    COMMIT_FAILOVER,
    CANCEL_FAILOVER,
    CHANGE_RECOVERY_POINT,
)


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


def replication_instance(tenant: str, vm: str) -> str:
    """The one replication orchestration of a VM; agent events are raised to it."""
    return f"replication-{tenant}-{vm}"


_RUNNING = (df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending)


def is_running(status: df.DurableOrchestrationStatus | None) -> bool:
    """Whether an instance with this status (None: no such instance) still runs."""
    return status is not None and status.runtime_status in _RUNNING
