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
from domain.jobs import StartedBy

PROTECT = "protect_vm"
UNPROTECT = "unprotect_vm"
REPLICATE = "replicate_vm"
STARTED = (PROTECT, UNPROTECT, REPLICATE)


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
