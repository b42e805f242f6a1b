"""Replication rules for the direct provider, as plain functions: the spec in code.

- the status state machine (a transition table that rejects illegal moves);
- named replication policies (copy interval, retention, app-consistent frequency, RPO);
- which recovery points retention keeps;
- health from RPO, agent heartbeat, stalls and failures;
- the replica's VHD footer check.
No I/O and no clock: `now` is always a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.errors import DomainError, ErrorInfo

# --- the state machine -------------------------------------------------------------------

# status -> {event: next status}. An event absent for a status is an illegal move; an event
# that leads to the status it starts from is listed, so replaying it changes nothing.
TRANSITIONS: dict[str, dict[str, str]] = {
    "NotProtected": {
        "ProtectionRequested": "ProtectionPending",
        "ProtectionEnabled": "WaitingForInitialReplication",
        "ProtectionDisabled": "NotProtected",
    },
    "ProtectionPending": {
        "ProtectionEnabled": "WaitingForInitialReplication",
        "PrerequisitesFailed": "NotProtected",
        "ProtectionDisabled": "NotProtected",
    },
    "WaitingForInitialReplication": {
        "ProtectionEnabled": "WaitingForInitialReplication",
        "InitialReplicationStarted": "InitialReplicationInProgress",
        "ProtectionDisabled": "NotProtected",
    },
    "InitialReplicationInProgress": {
        "InitialReplicationStarted": "InitialReplicationInProgress",
        "InitialReplicationCompleted": "Protected",
        "InitialReplicationFailed": "WaitingForInitialReplication",
        "ProtectionDisabled": "NotProtected",
    },
    "Protected": {
        "InitialReplicationCompleted": "Protected",
        "ResyncCompleted": "Protected",
        "ChangeTrackingLost": "ResynchronizationRequired",
        "FailoverStarted": "FailoverInProgress",
        "ProtectionDisabled": "NotProtected",
    },
    "ResynchronizationRequired": {
        "ChangeTrackingLost": "ResynchronizationRequired",
        "ResyncStarted": "ResynchronizationInProgress",
        "ProtectionDisabled": "NotProtected",
    },
    "ResynchronizationInProgress": {
        "ResyncStarted": "ResynchronizationInProgress",
        "ResyncCompleted": "Protected",
        "ChangeTrackingLost": "ResynchronizationRequired",
        "ProtectionDisabled": "NotProtected",
    },
    "FailoverInProgress": {
        "FailoverCompleted": "FailedOver",
        "FailoverFailed": "Protected",
    },
    "FailedOver": {
        "FailoverCommitted": "FailoverCommitted",
        "FailoverCompleted": "FailedOver",
    },
    "FailoverCommitted": {
        "ProtectionDisabled": "NotProtected",
    },
}
STATUSES = tuple(TRANSITIONS)


class IllegalTransition(DomainError):
    status = 409


def next_status(status: str, event: str) -> str:
    """The status after `event`, or IllegalTransition naming both and what to do."""
    moves = TRANSITIONS.get(status)
    if moves is None:
        raise IllegalTransition(
            ErrorInfo(
                code="UnknownStatus",
                cause=f"'{status}' is not a replication status.",
                recommendation=f"Use one of: {', '.join(STATUSES)}.",
            )
        )
    if event not in moves:
        allowed = ", ".join(sorted(moves)) or "none"
        raise IllegalTransition(
            ErrorInfo(
                code="IllegalTransition",
                cause=f"Cannot apply {event} while the VM is {status}.",
                recommendation=f"From {status} only these can happen: {allowed}.",
            )
        )
    return moves[event]


# --- policies ----------------------------------------------------------------------------

INTERVALS = (30, 300, 900)  # what Hyper-V replica and ASR offer: 30 s, 5 min, 15 min


@dataclass(frozen=True)
class Policy:
    name: str
    interval_seconds: int = 300
    retention_hours: int = 24
    app_consistent_hours: int = 4  # 0: crash-consistent points only
    rpo_threshold_seconds: int = 1800

    def __post_init__(self) -> None:
        if self.interval_seconds not in INTERVALS:
            raise DomainError(
                ErrorInfo(
                    code="InvalidReplicationInterval",
                    cause=f"Policy {self.name}: interval {self.interval_seconds}s is not "
                    "supported.",
                    recommendation="Use 30, 300 or 900 seconds.",
                )
            )

    @property
    def app_consistent_every_cycles(self) -> int:
        if not self.app_consistent_hours:
            return 0
        return max(1, self.app_consistent_hours * 3600 // self.interval_seconds)


POLICIES: dict[str, Policy] = {
    "default": Policy("default"),
    "30s": Policy("30s", interval_seconds=30, retention_hours=4, rpo_threshold_seconds=300),
    "5min": Policy("5min"),
    "15min": Policy("15min", interval_seconds=900, retention_hours=72, rpo_threshold_seconds=3600),
}


def policy_named(name: str | None) -> Policy:
    policy = POLICIES.get(name or "default")
    if policy is None:
        raise DomainError(
            ErrorInfo(
                code="UnknownPolicy",
                cause=f"There is no replication policy '{name}'.",
                recommendation=f"Use one of: {', '.join(POLICIES)}.",
            )
        )
    return policy


# --- retention ---------------------------------------------------------------------------


class PointLike(Protocol):
    id: str
    time: datetime
    consistency: str


def points_to_prune(points: Sequence[PointLike], policy: Policy, now: datetime) -> list[PointLike]:
    """Points older than the retention window. Two always survive, so failover always has
    a choice: the newest point, and the newest app-consistent one ("latest app-consistent"
    must stay a valid failover choice even when app snapshots are rarer than the window)."""
    if not points:
        return []
    ordered = sorted(points, key=lambda p: p.time, reverse=True)
    window_start = now - timedelta(hours=policy.retention_hours)
    keep = {ordered[0].id}
    keep.update(p.id for p in ordered if p.time >= window_start)
    newest_app = next((p for p in ordered if p.consistency == "app"), None)
    if newest_app is not None:
        keep.add(newest_app.id)
    return [p for p in ordered if p.id not in keep]


# --- health ------------------------------------------------------------------------------

SEVERITY = {"Normal": 0, "Warning": 1, "Critical": 2}


def assess(
    *,
    now: datetime,
    last_point: datetime | None,
    protected_since: datetime | None,
    policy: Policy,
    last_heartbeat: datetime | None,
    heartbeat_timeout_s: int,
    stalled_seconds: float | None = None,
    failure: dict | None = None,
) -> tuple[str, list[dict], float | None]:
    """(health state, reasons, RPO seconds). The worst reason sets the state."""
    reasons: list[tuple[str, ErrorInfo]] = []
    rpo = (now - last_point).total_seconds() if last_point else None
    if rpo is not None and rpo > policy.rpo_threshold_seconds:
        reasons.append(
            (
                "Critical",
                ErrorInfo(
                    code="RpoThresholdExceeded",
                    cause=f"The latest recovery point is {int(rpo)} s old; the policy's "
                    f"RPO threshold is {policy.rpo_threshold_seconds} s.",
                    recommendation="Check the agent's events and bandwidth; a cycle that "
                    "completes brings the RPO back.",
                ),
            )
        )
    if last_heartbeat is None or (now - last_heartbeat).total_seconds() > heartbeat_timeout_s:
        age = (
            "never"
            if last_heartbeat is None
            else f"{int((now - last_heartbeat).total_seconds())} s ago"
        )
        reasons.append(
            (
                "Warning",
                ErrorInfo(
                    code="AgentHeartbeatMissing",
                    cause=f"The site's agent was last heard from {age} "
                    f"(timeout {heartbeat_timeout_s} s).",
                    recommendation="Check that the agent service runs on the VMM server and "
                    "can reach Service Bus.",
                ),
            )
        )
    if stalled_seconds:
        reasons.append(
            (
                "Warning",
                ErrorInfo(
                    code="ReplicationStalled",
                    cause=f"No progress for {int(stalled_seconds)} s; the command was sent again.",
                    recommendation="Check the agent's connectivity to Azure Storage.",
                ),
            )
        )
    if failure:
        reasons.append(("Critical", ErrorInfo(**failure)))
    state = max((s for s, _ in reasons), key=SEVERITY.__getitem__, default="Normal")
    return state, [r.to_dict() for _, r in reasons], rpo


# --- the replica's footer ----------------------------------------------------------------

VHD_COOKIE = b"conectix"
FIXED_DISK = 2


def footer_problem(footer: bytes, virtual_size: int) -> str | None:
    """Why `footer` is not a valid fixed-VHD footer for `virtual_size`, or None."""
    if len(footer) != 512:
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
