"""Agent commands: what the control plane asks a site's agent to do, over `agent-commands`.

Each command goes to the topic with application property `site`, so a site's subscription
(filtered on it) delivers only its own commands; session id = VM id keeps one VM's commands
in order (session id = the site for the site-wide ones, SITE_SCOPED). The agent answers with
events carrying the same `commandId`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from contracts.base import WireModel
from contracts.inventory import Name


class CommandType(StrEnum):
    REPLICATE = "replicate"
    SYNC = "sync"
    CANCEL = "cancel"
    SHUTDOWN = "shutdown"
    BANDWIDTH = "bandwidth"


# Commands for the whole site rather than one VM: sent with session id = the site id, no `vm`.
SITE_SCOPED = {CommandType.BANDWIDTH}


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


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
BytesPerSecond = Annotated[int, Field(ge=1, le=10**12)]


class BandwidthWindow(WireModel):
    """A cap for some hours of some days, in the site's time zone; `end` is exclusive and may be
    24:00. A window that crosses midnight is two windows."""

    days: list[Day] = Field(min_length=1, max_length=7)
    start: Clock
    end: Clock
    bytes_per_second: BytesPerSecond | None = None  # None: no cap in this window

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> BandwidthWindow:
        if not self.start < self.end:
            raise ValueError("a window must end after it starts (split one that crosses midnight)")
        return self


class BandwidthCommand(WireModel):
    """The site's one upload cap, shared by all of its agent's transfers at once, with an
    optional schedule. Where windows overlap the lowest cap applies; outside every window,
    `bytes_per_second` (None: no cap). The agent applies it at once, keeps it across restarts,
    and refuses one sent before the setting in force (`BandwidthSuperseded`)."""

    bytes_per_second: BytesPerSecond | None = None
    time_zone: str = Field(
        default="UTC", max_length=64, pattern=r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+){0,3}$"
    )
    schedule: list[BandwidthWindow] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _known_zone(self) -> BandwidthCommand:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        return self


class AgentCommand(WireModel):
    type: CommandType
    id: str = Field(min_length=1, max_length=128)
    tenant: str = Name
    site: str = Name
    vm: str | None = Field(default=None, min_length=1, max_length=128)
    time: datetime
    data: dict[str, Any]

    @model_validator(mode="after")
    def _vm_when_needed(self) -> AgentCommand:
        if self.type not in SITE_SCOPED and not self.vm:
            raise ValueError(f"a command of type {self.type.value} must name its vm")
        return self


COMMAND_MODELS: dict[CommandType, type[WireModel]] = {
    CommandType.REPLICATE: ReplicateCommand,
    CommandType.SYNC: SyncCommand,
    CommandType.CANCEL: CancelCommand,
    CommandType.SHUTDOWN: ShutdownCommand,
    CommandType.BANDWIDTH: BandwidthCommand,
}
