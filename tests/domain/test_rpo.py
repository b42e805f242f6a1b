from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.errors import ErrorInfo
from domain.model import HealthState
from domain.rpo import assess_health, is_stalled, reassess, rpo_seconds

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def health(**changes):
    base = dict(
        now=NOW,
        rpo_threshold_seconds=1800,
        last_recovery_point=ago(60),
        last_heartbeat=ago(10),
        heartbeat_timeout_seconds=300,
    )
    return assess_health(**{**base, **changes})


def codes(result) -> list[str]:
    return [r.code for r in result.health.reasons]


def test_rpo_is_the_age_of_the_latest_point():
    assert rpo_seconds(ago(90), NOW) == 90
    assert rpo_seconds(None, NOW) is None
    assert rpo_seconds(NOW + timedelta(seconds=5), NOW) == 0  # clock skew


def test_healthy():
    result = health()
    assert result.health.state == HealthState.NORMAL and result.rpo_seconds == 60
    assert result.to_dict() == {"state": "Normal", "reasons": [], "rpoSeconds": 60.0}


def test_rpo_at_threshold_is_normal_one_second_over_is_critical():
    assert health(last_recovery_point=ago(1800)).health.state == HealthState.NORMAL
    result = health(last_recovery_point=ago(1801))
    assert result.health.state == HealthState.CRITICAL
    assert codes(result) == ["RpoThresholdExceeded"]
    assert "1801 s" in result.health.reasons[0].cause


def test_no_point_yet_has_no_rpo_and_no_breach():
    result = health(last_recovery_point=None)
    assert result.rpo_seconds is None and result.health.state == HealthState.NORMAL


def test_missing_heartbeat_is_a_warning():
    assert health(last_heartbeat=ago(300)).health.state == HealthState.NORMAL
    late = health(last_heartbeat=ago(301))
    assert late.health.state == HealthState.WARNING and codes(late) == ["AgentHeartbeatMissing"]
    never = health(last_heartbeat=None)
    assert "never" in never.health.reasons[0].cause


def test_stalled_upload_is_a_warning_only_while_uploading():
    stalled = dict(last_progress=ago(601), stall_timeout_seconds=600)
    assert health(upload_in_progress=True, **stalled).health.state == HealthState.WARNING
    assert codes(health(upload_in_progress=True, **stalled)) == ["ReplicationStalled"]
    assert health(upload_in_progress=False, **stalled).health.state == HealthState.NORMAL
    at_limit = dict(last_progress=ago(600), stall_timeout_seconds=600)
    assert health(upload_in_progress=True, **at_limit).health.state == HealthState.NORMAL
    assert is_stalled(ago(601), 600, NOW) and not is_stalled(ago(600), 600, NOW)
    assert not is_stalled(None, 600, NOW)


def test_worst_reason_wins_and_every_reason_is_listed():
    failure = ErrorInfo("UploadFailed", "The agent could not write the blob.", "Check the SAS.")
    result = health(
        last_recovery_point=ago(4000),
        last_heartbeat=None,
        other=[(HealthState.WARNING, failure)],
    )
    assert result.health.state == HealthState.CRITICAL
    assert codes(result) == ["RpoThresholdExceeded", "AgentHeartbeatMissing", "UploadFailed"]


def test_the_agents_note_on_the_latest_point_is_a_warning_with_its_words():
    note = "App consistency was asked for but not reached: freeze exited with 3."
    result = health(consistency_note=note)
    assert result.health.state == HealthState.WARNING
    assert codes(result) == ["AppConsistencyProblem"]
    assert note in result.health.reasons[0].cause
    assert "AGENT_QUIESCE_HOOK" in result.health.reasons[0].recommendation
    assert codes(health(consistency_note=None)) == []


def test_a_later_read_judges_rpo_and_heartbeat_again_and_keeps_the_other_findings():
    """The last refresh (at NOW) found everything well but a stall; an hour later nothing has
    refreshed: the read sees the RPO breach and the silent agent, and keeps the stall at the
    weight it had (a Warning)."""
    refreshed = health(upload_in_progress=True, last_progress=ago(700), stall_timeout_seconds=600)
    assert [(s, e.code) for s, e in refreshed.findings] == [("Warning", "ReplicationStalled")]
    later = NOW + timedelta(hours=1)
    read = reassess(
        refreshed.findings,
        now=later,
        rpo_threshold_seconds=1800,
        last_recovery_point=ago(60),
        last_heartbeat=ago(10),
        heartbeat_timeout_seconds=300,
    )
    assert read.health.state == HealthState.CRITICAL and read.rpo_seconds == 3660
    assert codes(read) == ["RpoThresholdExceeded", "AgentHeartbeatMissing", "ReplicationStalled"]
    assert dict((e.code, s) for s, e in read.findings)["ReplicationStalled"] == "Warning"


def test_a_read_drops_age_findings_the_clock_no_longer_supports():
    """A heartbeat or RPO finding of the last refresh is judged again, not kept: once the
    agent is heard from and a point is recent, the read is Normal."""
    stale = health(last_recovery_point=ago(4000), last_heartbeat=None)
    assert codes(stale) == ["RpoThresholdExceeded", "AgentHeartbeatMissing"]
    read = reassess(
        stale.findings,
        now=NOW,
        rpo_threshold_seconds=1800,
        last_recovery_point=ago(5),
        last_heartbeat=ago(5),
        heartbeat_timeout_seconds=300,
    )
    assert (read.health.state, codes(read)) == (HealthState.NORMAL, [])
