"""Agent events: the Service Bus message bodies the on-premises agent sends.

An event that does not validate is refused with every reason at once; the trigger puts it
in the dead-letter queue with those reasons, so nothing is dropped silently.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, model_validator

from contracts.base import WireModel
from contracts.inventory import KEY_PATTERN, InventoryVm, Name, VmmCloudRef
from domain.redaction import redact

# Everything an agent sends is untrusted. Ids become table keys and blob names, so
# they are names (no '/', '\\', '#', '?', control characters); texts are bounded, since each
# ends in a table row whose properties hold 32K characters, and an agent's text never carries
# a SAS signature or key into a job, an item or an answer (redacted as it is read).
Id = Name
CommandId = Annotated[str, Id]
ErrorCode = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9._-]*$")
]


def agent_text(max_length: int = 2000) -> Any:
    """A text an agent wrote (a cause, a note): at most `max_length` characters, secrets
    redacted."""
    return Annotated[str, Field(max_length=max_length), AfterValidator(redact)]


Text = agent_text()
TIB = 1024**4
# A replica is a page blob, at most 8 TiB. Checksums make the control plane read the blob:
# a bounded sample of ranges, each at most one Put Page (4 MiB), inside the blob.
MAX_BLOB_SIZE = 8 * TIB
MAX_CHECKSUMS = 32
MAX_CHECKSUM_RANGE = 4 * 1024**2
_SPAN = re.compile(r"^(\d{1,16})\+(\d{1,8})$")
_MD5 = re.compile(r"^[A-Za-z0-9+/]{22}==$")


EVENTS_QUEUE_PREFIX = "agent-events-"


def events_queue(site: str) -> str:
    """The queue a site's agent sends its events to; only that site may send to it."""
    return f"{EVENTS_QUEUE_PREFIX}{site}"


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
    disk_id: str = Id
    bytes_done: int = Field(ge=0)
    bytes_total: int = Field(ge=0)


class ReplicationProgress(WireModel):
    command_id: CommandId
    bytes_done: int = Field(ge=0)
    bytes_total: int = Field(ge=0)
    throughput_bytes_per_s: float = Field(default=0, ge=0)
    eta_seconds: float | None = Field(default=None, ge=0)
    disks: list[DiskProgress] = Field(default_factory=list, max_length=256)


class DiskResult(WireModel):
    """What the agent wrote for one disk, for the control plane to verify against the blob.

    `checksums` ("offset+length" -> base64 MD5) is what verification downloads: at most
    MAX_CHECKSUMS ranges of at most MAX_CHECKSUM_RANGE bytes each, inside the blob."""

    disk_id: str = Id
    blob_size: int = Field(ge=0, le=MAX_BLOB_SIZE)
    bytes_sent: int = Field(ge=0)
    manifest_digest: str | None = Field(default=None, max_length=128)
    checksums: dict[str, str] = Field(default_factory=dict, max_length=MAX_CHECKSUMS)
    # How the changes were found: rct (Hyper-V change tracking), hash (block hashes against
    # the last manifest), initial, resume, resync or noop. Optional: older agents never send it.
    mode: str | None = Field(default=None, max_length=16)

    @model_validator(mode="after")
    def _ranges_inside_the_blob(self) -> DiskResult:
        for span, digest in self.checksums.items():
            match = _SPAN.fullmatch(span)
            if match is None:
                raise ValueError(f"checksum range {span[:40]!r} is not 'offset+length'")
            offset, length = int(match[1]), int(match[2])
            if not 0 < length <= MAX_CHECKSUM_RANGE:
                raise ValueError(
                    f"checksum range {span} is {length} bytes; each may be 1 to "
                    f"{MAX_CHECKSUM_RANGE} bytes"
                )
            if offset + length > self.blob_size:
                raise ValueError(
                    f"checksum range {span} ends past the blob ({self.blob_size} bytes)"
                )
            if _MD5.fullmatch(digest) is None:
                raise ValueError(f"checksum of {span} is not a base64 MD5")
        return self


class ReplicationCompleted(WireModel):
    command_id: CommandId
    consistency: Literal["crash", "app"] = "crash"
    taken_at: AwareDatetime | None = None
    disks: list[DiskResult] = Field(default_factory=list, max_length=256)
    # Why the point is not what was asked for (app consistency without a quiesce hook, or a
    # freeze that failed), or that a thaw failed. Optional: older agents never send it.
    consistency_note: Text | None = None


class ReplicationFailed(WireModel):
    command_id: CommandId
    code: ErrorCode
    cause: Text
    recommendation: Text
    change_tracking_lost: bool = False


class AgentHeartbeat(WireModel):
    agent_version: str = Field(default="unknown", max_length=64)
    running_commands: list[CommandId] = Field(default_factory=list, max_length=256)


class CommandResult(WireModel):
    """How a command that is not a replication ended (a shutdown, a bandwidth setting).

    `power_state` is the VM's power state the agent observed last (a shutdown: `Off` when it
    succeeded); `detail` says what was done (`already off`, `shut down by the guest`, `turned
    off after the timeout`). Both optional: older agents never send them."""

    command_id: CommandId
    status: Literal["succeeded", "failed"]
    code: ErrorCode | None = None
    cause: Text | None = None
    recommendation: Text | None = None
    power_state: str | None = Field(default=None, max_length=64)
    detail: Text | None = None


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
    vm: str | None = Field(default=None, min_length=1, max_length=128, pattern=KEY_PATTERN)
    id: str = Id
    time: AwareDatetime
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
