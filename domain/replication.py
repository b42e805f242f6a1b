"""Replication rules of the direct provider, as plain functions: the spec in code.

The status table (`domain.replication_state`), retention (`domain.retention`) and RPO/health
(`domain.rpo`) are shared with the rest of the domain; this module adds what only replication
needs on top of them:
- named replication policies (30 s, 5 min, 15 min);
- what a cycle asks the agent for (crash- or app-consistent) and when the next one is due;
- in which statuses the loop replicates at all;
- which agent answers belong to the command being waited for;
- whether an upload is stalled;
- the replica's fixed-VHD footer check and its size.
No I/O and no clock: `now` is always a parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.errors import DomainError, ErrorInfo
from domain.model import ReplicationInterval, ReplicationPolicy
from domain.replication_state import IllegalTransition, ReplicationStatus, is_protected, next_status
from domain.retention import Consistency, app_consistent_due
from domain.rpo import is_stalled

__all__ = [
    "POLICIES",
    "IllegalTransition",
    "app_consistent_due",
    "consistency_for_cycle",
    "cycle_prefix",
    "footer_problem",
    "is_cycle_command",
    "is_stalled",
    "next_cycle_at",
    "next_status",
    "point_time",
    "policy_named",
    "replica_blob_size",
    "replicates",
]

MIB = 1024 * 1024
FOOTER = 512

# --- policies ----------------------------------------------------------------------------

POLICIES: dict[str, ReplicationPolicy] = {
    "default": ReplicationPolicy(name="default"),
    "30s": ReplicationPolicy(
        name="30s",
        interval=ReplicationInterval.SECONDS_30,
        retention_hours=4,
        app_consistent_frequency_hours=1,
        rpo_threshold_seconds=300,
    ),
    "5min": ReplicationPolicy(name="5min"),
    "15min": ReplicationPolicy(
        name="15min",
        interval=ReplicationInterval.MINUTES_15,
        retention_hours=72,
        app_consistent_frequency_hours=4,
        rpo_threshold_seconds=3600,
    ),
}


def policy_named(name: str | None, custom: dict[str, dict] | None = None) -> ReplicationPolicy:
    """The named policy, built in or defined by the operator (`custom`: name -> fields, from
    the REPLICATION_POLICIES setting); an unknown or invalid one is refused with the fix."""
    key = name or "default"
    if custom and key in custom:
        try:
            return ReplicationPolicy.model_validate({**custom[key], "name": key})
        except ValueError as error:
            raise DomainError(
                ErrorInfo(
                    code="PolicyInvalid",
                    cause=f"The replication policy '{key}' is invalid: {error}",
                    recommendation="Fix it in the REPLICATION_POLICIES setting: interval 30, "
                    "300 or 900; rpo_threshold_seconds at least the interval.",
                )
            ) from error
    policy = POLICIES.get(key)
    if policy is None:
        raise DomainError(
            ErrorInfo(
                code="UnknownPolicy",
                cause=f"There is no replication policy '{name}'.",
                recommendation=f"Use one of: {', '.join([*POLICIES, *(custom or {})])}.",
            )
        )
    return policy


# --- cycles ------------------------------------------------------------------------------

# Protected, but the VM runs in Azure (or is on its way there, or back): the loop sends
# nothing, and the age of the latest point says nothing about the health of replication. A
# planned failover's final sync is the one command still sent then.
_FAILING_OVER = frozenset(
    {
        ReplicationStatus.PLANNED_FAILOVER_IN_PROGRESS,
        ReplicationStatus.UNPLANNED_FAILOVER_IN_PROGRESS,
        ReplicationStatus.FAILED_OVER,
        ReplicationStatus.FAILOVER_COMMITTED,
        ReplicationStatus.FAILBACK_IN_PROGRESS,
        ReplicationStatus.FAILED_BACK,
        ReplicationStatus.FAILBACK_COMMITTED,
        ReplicationStatus.REPROTECT_IN_PROGRESS,
    }
)


def replicates(status: str, *, final_sync: bool = False) -> bool:
    """Whether the replication loop of a VM in `status` goes on: protection is enabled and
    the VM has not failed over. (A test failover leaves replication running.) A cycle that
    finds it does not ends the loop; a read judges RPO and heartbeat only while it does.
    `final_sync`: the planned failover's last sync, which runs only while it is under way."""
    if final_sync:
        return ReplicationStatus(status) is ReplicationStatus.PLANNED_FAILOVER_IN_PROGRESS
    return is_protected(status) and ReplicationStatus(status) not in _FAILING_OVER


def consistency_for_cycle(
    policy: ReplicationPolicy, last_app_consistent: datetime | None, now: datetime
) -> Consistency:
    """App-consistent when the policy's app-consistent frequency says one is due."""
    return (
        Consistency.APP
        if app_consistent_due(last_app_consistent, policy, now)
        else (Consistency.CRASH)
    )


def next_cycle_at(started: datetime, interval_seconds: int, now: datetime) -> datetime | None:
    """When the next cycle starts: one interval after this one started; None when that is
    already past (a slow cycle is followed at once, never by a burst of catch-up cycles)."""
    due = started + timedelta(seconds=interval_seconds)
    return due if due > now else None


# How far an agent's clock may be behind ours when it stamps a point.
CLOCK_SKEW = timedelta(minutes=5)


def point_time(taken_at: datetime | None, *, sent: datetime | None, now: datetime) -> datetime:
    """When a recovery point holds the VM: the agent's `takenAt`, but never after `now` (a
    point from the future would hide RPO breaches and stay "latest" whatever came after) nor
    before its command was `sent`, less the clock skew allowed (a point from long ago would be
    pruned at once, and would claim data older than the command that asked for it). An
    agent that sends none: `now`."""
    if taken_at is None:
        return now
    earliest = sent - CLOCK_SKEW if sent is not None else taken_at
    return max(min(taken_at, now), min(earliest, now))


CYCLE_KINDS = ("replicate", "sync")  # the commands a replication cycle sends


def is_cycle_command(command_id: str) -> bool:
    """Whether `command_id` has the shape of a replication loop's command: generation (no
    dash), kind, cycle, attempt. An operation's commands start with its job id, which has a
    dash, so none has it: an answer with this shape is the loop's, whoever holds the VM."""
    parts = command_id.split("-")
    return (
        len(parts) == 4
        and parts[0] != ""
        and parts[1] in CYCLE_KINDS
        and parts[2].isdigit()
        and parts[3].isdigit()
    )


def cycle_prefix(generation: str, kind: str, cycle: int) -> str:
    """What every attempt of one cycle's command starts with (attempt n: prefix + n); the
    generation and cycle keep an answer to an older cycle from matching this one's."""
    return f"{generation}-{kind}-{cycle}-"


# --- the replica -------------------------------------------------------------------------


def replica_blob_size(virtual_size: int) -> int:
    """The Azure-ready fixed VHD: virtual size rounded up to 1 MiB, plus the 512-byte footer."""
    if virtual_size <= 0:
        raise DomainError(
            ErrorInfo(
                code="DiskSizeInvalid",
                cause=f"A disk of {virtual_size} bytes cannot be replicated.",
                recommendation="Report the disk's virtual size in bytes in the inventory.",
            )
        )
    return -(-virtual_size // MIB) * MIB + FOOTER


VHD_COOKIE = b"conectix"
FIXED_DISK = 2


def footer_problem(footer: bytes, virtual_size: int) -> str | None:
    """Why `footer` is not a valid fixed-VHD footer for `virtual_size`, or None."""
    if len(footer) != FOOTER:
        return f"the footer is {len(footer)} bytes, not 512"
    if footer[:8] != VHD_COOKIE:
        return "the last 512 bytes are not a VHD footer (cookie 'conectix' missing)"
    stored = int.from_bytes(footer[64:68], "big")
    computed = ~sum(footer[:64] + b"\0\0\0\0" + footer[68:]) & 0xFFFFFFFF
    if stored != computed:
        return f"the footer checksum is {stored:#x}, expected {computed:#x}"
    if int.from_bytes(footer[60:64], "big") != FIXED_DISK:
        return "the footer does not describe a fixed disk"
    current_size = int.from_bytes(footer[48:56], "big")
    if current_size != virtual_size:
        return f"the footer says {current_size} bytes, the blob holds {virtual_size}"
    return None
