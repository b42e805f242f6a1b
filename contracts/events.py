"""Agent events: the Service Bus message bodies the on-premises agent sends (DESIGN.md).

An event that does not validate is refused with every reason at once; the trigger puts it
in the dead-letter queue with those reasons, so nothing is dropped silently.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from contracts.base import WireModel
from contracts.inventory import InventoryVm, Name, VmmCloudRef


class EventType(StrEnum):
    INVENTORY_SNAPSHOT = "inventory.snapshot"
    PROTECTION_REQUESTED = "protection.requested"
    PROTECTION_DISABLE_REQUESTED = "protection.disable.requested"
    VM_CHANGED = "vm.changed"
    REPLICATION_PROGRESS = "replication.progress"
    REPLICATION_INITIAL_COMPLETED = "replication.initial.completed"
    REPLICATION_DELTA_COMPLETED = "replication.delta.completed"
    REPLICATION_FAILED = "replication.failed"
    AGENT_HEARTBEAT = "agent.heartbeat"
    COMMAND_RESULT = "command.result"


class InventorySnapshot(WireModel):
    """Every VM of one VMM cloud; VMs of that cloud not listed are gone."""

    cloud: VmmCloudRef
    vms: list[InventoryVm] = Field(max_length=10_000)


class ProtectionRequested(WireModel):
    """The VMM "enable protection" checkbox, with the target the admin chose."""

    target_name: str | None = Field(default=None, max_length=64)
    target_size: str | None = Field(default=None, max_length=64)
    provider: Literal["direct", "asr"] | None = None  # None: the tenant's default
    policy: str | None = Field(default=None, max_length=64)


class ProtectionDisableRequested(WireModel):
    """The VMM side took a VM's protection mark away (its `DRProtect` custom property is no
    longer true): the agent asks to disable protection, as `DELETE .../protection` would. Sent
    once per removal, after a `protection.requested` for the same VM; a VM that disappears
    from VMM is reported by the next inventory.snapshot instead, not by this."""

    reason: str | None = Field(default=None, max_length=500)


class VmChanged(WireModel):
    cloud: VmmCloudRef | None = None
    vm: InventoryVm


class DiskProgress(WireModel):
    disk_id: str
    bytes_done: int = Field(ge=0)
    bytes_total: int = Field(ge=0)


class ReplicationProgress(WireModel):
    command_id: str
    bytes_done: int = Field(ge=0)
    bytes_total: int = Field(ge=0)
    throughput_bytes_per_s: float = Field(default=0, ge=0)
    eta_seconds: float | None = Field(default=None, ge=0)
    disks: list[DiskProgress] = Field(default_factory=list)


class DiskResult(WireModel):
    """What the agent wrote for one disk, for the control plane to verify against the blob."""

    disk_id: str
    blob_size: int = Field(ge=0)
    bytes_sent: int = Field(ge=0)
    manifest_digest: str | None = None
    checksums: dict[str, str] = Field(default_factory=dict)
    # How the changes were found: rct (Hyper-V change tracking), hash (block hashes against
    # the last manifest), initial, resume, resync or noop. Optional: older agents never send it.
    mode: str | None = Field(default=None, max_length=16)


class ReplicationCompleted(WireModel):
    command_id: str
    consistency: Literal["crash", "app"] = "crash"
    taken_at: datetime | None = None
    disks: list[DiskResult] = Field(default_factory=list)
    # Why the point is not what was asked for (app consistency without a quiesce hook, or a
    # freeze that failed), or that a thaw failed. Optional: older agents never send it.
    consistency_note: str | None = Field(default=None, max_length=2000)


class ReplicationFailed(WireModel):
    command_id: str
    code: str
    cause: str
    recommendation: str
    change_tracking_lost: bool = False


class AgentHeartbeat(WireModel):
    agent_version: str = Field(default="unknown", max_length=64)
    running_commands: list[str] = Field(default_factory=list)


class CommandResult(WireModel):
    """How a command that is not a replication ended (a shutdown, a bandwidth setting).

    `power_state` is the VM's power state the agent observed last (a shutdown: `Off` when it
    succeeded); `detail` says what was done (`already off`, `shut down by the guest`, `turned
    off after the timeout`). Both optional: older agents never send them."""

    command_id: str
    status: Literal["succeeded", "failed"]
    code: str | None = Field(default=None, max_length=128)
    cause: str | None = Field(default=None, max_length=2000)
    recommendation: str | None = Field(default=None, max_length=2000)
    power_state: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=2000)


DATA_MODELS: dict[EventType, type[WireModel]] = {
    EventType.INVENTORY_SNAPSHOT: InventorySnapshot,
    EventType.PROTECTION_REQUESTED: ProtectionRequested,
    EventType.PROTECTION_DISABLE_REQUESTED: ProtectionDisableRequested,
    EventType.VM_CHANGED: VmChanged,
    EventType.REPLICATION_PROGRESS: ReplicationProgress,
    EventType.REPLICATION_INITIAL_COMPLETED: ReplicationCompleted,
    EventType.REPLICATION_DELTA_COMPLETED: ReplicationCompleted,
    EventType.REPLICATION_FAILED: ReplicationFailed,
    EventType.AGENT_HEARTBEAT: AgentHeartbeat,
    EventType.COMMAND_RESULT: CommandResult,
}

# Events that may name no VM. A command.result answers a site-wide command (bandwidth) too.
SITE_SCOPED = {EventType.INVENTORY_SNAPSHOT, EventType.AGENT_HEARTBEAT, EventType.COMMAND_RESULT}


class AgentEvent(WireModel):
    """The envelope. `data` is checked against the model of its `type`."""

    type: EventType
    tenant: str = Name
    site: str = Name
    vm: str | None = Field(default=None, min_length=1, max_length=128)
    id: str = Field(min_length=1, max_length=128)
    time: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _vm_when_needed(self) -> AgentEvent:
        if self.type not in SITE_SCOPED and not self.vm:
            raise ValueError(f"an event of type {self.type.value} must name its vm")
        return self

    def payload(self) -> WireModel:
        """`data` parsed as its type's model (validated on construction already)."""
        return DATA_MODELS[self.type].model_validate(self.data)

    @classmethod
    def parse(cls, body: bytes | str) -> AgentEvent:
        """Validate envelope and data together; EventRejected lists every problem."""
        try:
            event = cls.model_validate_json(body)
        except ValidationError as error:
            raise EventRejected(_reasons(error)) from error
        try:
            event.payload()
        except ValidationError as error:
            raise EventRejected(_reasons(error, prefix=("data",))) from error
        return event


class EventRejected(ValueError):
    """An agent event that does not validate; `reasons` names each problem."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _reasons(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in (*prefix, *item["loc"])) or "body"
        reasons.append(f"{where}: {item['msg']}")
    return reasons
