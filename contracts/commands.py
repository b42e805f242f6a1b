"""Agent commands: what the control plane asks a site's agent to do, over `agent-commands`.

Each command goes to the topic with application property `site`, so a site's subscription
(filtered on it) delivers only its own commands; session id = VM id keeps one VM's commands
in order. The agent answers with events carrying the same `commandId`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from contracts.base import WireModel
from contracts.inventory import Name


class CommandType(StrEnum):
    REPLICATE = "replicate"
    SYNC = "sync"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"


class DiskTarget(WireModel):
    """One disk and the write-only SAS of the page blob it goes to."""

    disk_id: str
    path: str
    sas_url: str
    blob_size: int = Field(ge=512)


class ReplicateCommand(WireModel):
    """Copy every allocated byte of each disk (initial replication or full resync)."""

    disks: list[DiskTarget]
    resync: bool = False
    concurrency: int = Field(default=8, ge=1, le=64)
    bandwidth_bytes_per_s: int | None = Field(default=None, ge=1)


class SyncCommand(WireModel):
    """Send what changed since the last cycle; app-consistent when asked and possible."""

    disks: list[DiskTarget]
    consistency: Literal["crash", "app"] = "crash"
    cycle: int = Field(ge=0)


class CancelCommand(WireModel):
    command_id: str


class ShutdownCommand(WireModel):
    """Shut the source VM down for a planned failover and confirm it is powered off.

    The agent answers with `command.result` (same `commandId`): succeeded once the VM is off
    (at once when it already was), failed with code, cause and recommendation otherwise. A
    guest that ignores the request is turned off only when `force_after_timeout` says so: a hard
    power-off can lose what the guest had not written, which a planned failover must not do
    unless the operator chose it. `vm_name` and `disk_paths` are handed to an operator's
    shutdown hook (the agent prefers what its own inventory says)."""

    timeout_seconds: int = Field(default=300, ge=5, le=3600)
    force_after_timeout: bool = False
    vm_name: str | None = Field(default=None, min_length=1, max_length=256)
    disk_paths: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=256
    )


class AgentCommand(WireModel):
    type: CommandType
    id: str = Field(min_length=1, max_length=128)
    tenant: str = Name
    site: str = Name
    vm: str = Field(min_length=1, max_length=128)
    time: datetime
    data: dict[str, Any]


COMMAND_MODELS: dict[CommandType, type[WireModel]] = {
    CommandType.REPLICATE: ReplicateCommand,
    CommandType.SYNC: SyncCommand,
    CommandType.CANCEL: CancelCommand,
    CommandType.SHUTDOWN: ShutdownCommand,
}
