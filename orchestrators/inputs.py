"""Inputs of orchestrations that other code starts, kept apart so starters need not import
the orchestrators (and their activities) to build one."""

from __future__ import annotations

from pydantic import BaseModel


class ReplicationInput(BaseModel):
    tenant: str
    vm: str
    generation: str  # unique per protection: command ids never repeat across re-protects
    job_id: str | None = None  # the initial-replication job, while it runs
    phase: str = "initial"  # initial | delta
    cycle: int = 0
    interval_seconds: int = 300
    stall_seconds: int = 300
    max_attempts: int = 3  # sends of one command (a stall resends) before the cycle fails
    resync: bool = False  # the next cycle is a full compare (the agent lost change tracking)
