"""RPO and replication health, from times the control plane observed (`now` is a parameter).

- RPO is the age of the latest recovery point; None before the first one (initial replication).
  A point stamped after `now` (clock skew) counts as RPO 0.
- RPO over the policy's threshold: Critical (RpoThresholdExceeded).
- No agent heartbeat within the timeout (or never): Warning (AgentHeartbeatMissing).
- An upload in progress with no progress within the stall timeout: Warning (ReplicationStalled).
- The latest recovery point carries the agent's note on its consistency (the app-consistent
  point the policy asked for was not reached, or the quiesce did not end cleanly): Warning
  (AppConsistencyProblem), until a point comes without one.
Limits are exclusive: exactly at the threshold or timeout is still healthy.

RPO and heartbeat age change with the clock alone, the other findings only with a cycle or an
event; `reassess` judges the first two again at any moment (a read) and keeps the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.errors import ErrorInfo
from domain.model import Health, HealthState

RPO_EXCEEDED = "RpoThresholdExceeded"
HEARTBEAT_MISSING = "AgentHeartbeatMissing"
AGED = frozenset({RPO_EXCEEDED, HEARTBEAT_MISSING})  # findings the clock alone changes
Finding = tuple[HealthState, ErrorInfo]  # a reason, and the state it brings


def rpo_seconds(last_recovery_point: datetime | None, now: datetime) -> float | None:
    if last_recovery_point is None:
        return None
    return max(0.0, (now - last_recovery_point).total_seconds())


@dataclass(frozen=True)
class HealthAssessment:
    health: Health
    rpo_seconds: float | None
    findings: tuple[Finding, ...] = ()  # the reasons of `health`, each with its state

    def to_dict(self) -> dict:
        return {
            "state": self.health.state.value,
            "reasons": [r.to_dict() for r in self.health.reasons],
            "rpoSeconds": self.rpo_seconds,
        }


def assess_health(
    *,
    now: datetime,
    rpo_threshold_seconds: int,
    last_recovery_point: datetime | None,
    last_heartbeat: datetime | None,
    heartbeat_timeout_seconds: int,
    upload_in_progress: bool = False,
    last_progress: datetime | None = None,
    stall_timeout_seconds: int | None = None,
    consistency_note: str | None = None,
    other: Iterable[Finding] = (),
) -> HealthAssessment:
    """Health with every reason; the worst one sets the state. `other` adds findings from
    elsewhere (a failed upload, a rule the VM now breaks)."""
    findings: list[Finding] = []
    rpo = rpo_seconds(last_recovery_point, now)
    if rpo is not None and rpo > rpo_threshold_seconds:
        findings.append(
            (
                HealthState.CRITICAL,
                ErrorInfo(
                    code=RPO_EXCEEDED,
                    cause=f"The latest recovery point is {int(rpo)} s old; the policy's RPO "
                    f"threshold is {rpo_threshold_seconds} s.",
                    recommendation="Check the agent's events, its bandwidth cap and the "
                    "link to Azure; the next completed cycle brings the RPO back.",
                ),
            )
        )
    heartbeat_age = None if last_heartbeat is None else (now - last_heartbeat).total_seconds()
    if heartbeat_age is None or heartbeat_age > heartbeat_timeout_seconds:
        seen = "never" if heartbeat_age is None else f"{int(heartbeat_age)} s ago"
        findings.append(
            (
                HealthState.WARNING,
                ErrorInfo(
                    code=HEARTBEAT_MISSING,
                    cause=f"The site's agent was last heard from {seen} (timeout "
                    f"{heartbeat_timeout_seconds} s).",
                    recommendation="Check that the agent service runs on the VMM server and "
                    "can reach Service Bus.",
                ),
            )
        )
    if upload_in_progress and stall_timeout_seconds is not None and last_progress is not None:
        quiet = (now - last_progress).total_seconds()
        if quiet > stall_timeout_seconds:
            findings.append(
                (
                    HealthState.WARNING,
                    ErrorInfo(
                        code="ReplicationStalled",
                        cause=f"No upload progress for {int(quiet)} s (stall timeout "
                        f"{stall_timeout_seconds} s).",
                        recommendation="Check the agent's connectivity to Azure Storage; the "
                        "replication command is sent again.",
                    ),
                )
            )
    if consistency_note:
        findings.append(
            (
                HealthState.WARNING,
                ErrorInfo(
                    code="AppConsistencyProblem",
                    cause=f"The agent says of the latest recovery point: {consistency_note}",
                    recommendation="Check the agent's quiesce hook (AGENT_QUIESCE_HOOK, see "
                    "docs/agent.md) and its log on the VMM server; until it works the points "
                    "are crash-consistent. A policy whose app-consistent frequency is 0 asks "
                    "for none.",
                ),
            )
        )
    findings.extend(other)
    return HealthAssessment(health=Health.of(findings), rpo_seconds=rpo, findings=tuple(findings))


def reassess(
    previous: Iterable[Finding],
    *,
    now: datetime,
    rpo_threshold_seconds: int,
    last_recovery_point: datetime | None,
    last_heartbeat: datetime | None,
    heartbeat_timeout_seconds: int,
) -> HealthAssessment:
    """Health as of `now`: RPO and heartbeat age judged again against their limits; every
    other finding of the last assessment (a failure, a stall, a broken rule, a consistency
    note) kept as it was, since only the next cycle or event changes those."""
    return assess_health(
        now=now,
        rpo_threshold_seconds=rpo_threshold_seconds,
        last_recovery_point=last_recovery_point,
        last_heartbeat=last_heartbeat,
        heartbeat_timeout_seconds=heartbeat_timeout_seconds,
        other=[(state, error) for state, error in previous if error.code not in AGED],
    )


def is_stalled(last_progress: datetime | None, stall_timeout_seconds: int, now: datetime) -> bool:
    """Whether an upload that last progressed at `last_progress` counts as stalled."""
    return last_progress is not None and (now - last_progress).total_seconds() > (
        stall_timeout_seconds
    )
