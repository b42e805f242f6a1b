"""A replicated item's health, when replication refreshes it and when someone reads it.

The replication loop refreshes health at the end of every cycle, when a stall timer fires and
when the status changes: RPO and heartbeat age, a stall, a failure the agent reported, rules
the VM broke, the latest point's consistency note. Between refreshes the clock goes on, so a
read judges RPO and heartbeat age again as of the read (`as_of`), keeping the other reasons
as the last refresh found them: an item never shows `Normal` hours after its agent went quiet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from azureclients.settings import int_setting, json_setting
from contracts.errors import ErrorDetail
from domain import prerequisites
from domain import replication as rules
from domain.errors import DomainError
from domain.model import HealthState, ReplicationPolicy
from domain.rpo import HealthAssessment, assess_health, reassess, rpo_seconds
from readmodels.records import HealthRecord, ReplicatedItem
from readmodels.sites import last_heartbeat

# A heartbeat read this recently is fresh enough for health (its timeout is minutes).
HEARTBEAT_READ_MAX_AGE = 5.0
HEARTBEAT_TIMEOUT_SETTING = "AGENT_HEARTBEAT_TIMEOUT_SECONDS"


class HasPolicy(Protocol):
    @property
    def policy(self) -> str | None: ...


def policy_of(item: HasPolicy) -> ReplicationPolicy:
    """The item's replication policy, built in or defined in REPLICATION_POLICIES."""
    return rules.policy_named(item.policy, json_setting("REPLICATION_POLICIES", {}))


def _heartbeat_timeout() -> int:
    return int_setting(HEARTBEAT_TIMEOUT_SETTING, 180)


def quiet_since(item: ReplicatedItem, command_id: str, sent_at: datetime) -> datetime:
    """When command `command_id`, sent at `sent_at`, last made progress: the item's last
    progress report of it, or its sending."""
    progress = item.progress
    if progress and progress.command_id == command_id and progress.updated:
        return max(progress.updated, sent_at)
    return sent_at


def _record(item: ReplicatedItem, assessment: HealthAssessment, heartbeat: datetime | None) -> None:
    item.health = HealthRecord.of(assessment.findings, assessment.health.state)
    item.rpo_seconds = assessment.rpo_seconds
    item.last_heartbeat = heartbeat


def refresh(
    item: ReplicatedItem,
    now: datetime,
    *,
    stall_seconds: int | None = None,
    last_progress: datetime | None = None,
    failure: ErrorDetail | None = None,
) -> None:
    """Set the item's health, RPO and heartbeat as of `now`: the shared RPO/heartbeat rules,
    plus a stall (when the upload of a command is being watched: no progress for
    `stall_seconds` since `last_progress`) or a failure the agent reported, and the rules the
    VM broke when it last changed."""
    heartbeat = last_heartbeat(item.tenant, item.site, max_age=HEARTBEAT_READ_MAX_AGE)
    other = [] if failure is None else [(HealthState.CRITICAL, failure.info())]
    for broken in item.prerequisite_failures:
        other.append((HealthState(prerequisites.health_for([broken.record()])), broken.info()))
    assessment = assess_health(
        now=now,
        rpo_threshold_seconds=policy_of(item).rpo_threshold_seconds,
        last_recovery_point=item.last_recovery_point,
        last_heartbeat=heartbeat,
        heartbeat_timeout_seconds=_heartbeat_timeout(),
        upload_in_progress=stall_seconds is not None,
        last_progress=last_progress,
        stall_timeout_seconds=stall_seconds,
        consistency_note=item.consistency_note,
        other=other,
    )
    _record(item, assessment, heartbeat)


def as_of(item: ReplicatedItem, now: datetime) -> ReplicatedItem:
    """The item as a read at `now` sees it: its RPO as of `now`; while it replicates, RPO and
    heartbeat age judged again against the policy's threshold and the heartbeat timeout, the
    other reasons as stored. A copy: a read does not change the stored row."""
    seen = item.model_copy(deep=True)
    if item.last_recovery_point is not None:
        seen.rpo_seconds = rpo_seconds(item.last_recovery_point, now)
    if not rules.replicates(item.status):
        return seen  # nothing replicates: the last refresh (or the disable) said all there is
    if item.provider == "asr":
        return seen  # ASR's health, as the replication watch copied it: our agent copies nothing
    try:
        threshold = policy_of(item).rpo_threshold_seconds
    except DomainError:
        return seen  # a policy the settings no longer define: the loop's own errors say so
    heartbeat = last_heartbeat(item.tenant, item.site, max_age=HEARTBEAT_READ_MAX_AGE)
    assessment = reassess(
        item.health.findings(),
        now=now,
        rpo_threshold_seconds=threshold,
        last_recovery_point=item.last_recovery_point,
        last_heartbeat=heartbeat,
        heartbeat_timeout_seconds=_heartbeat_timeout(),
    )
    _record(seen, assessment, heartbeat)
    return seen
