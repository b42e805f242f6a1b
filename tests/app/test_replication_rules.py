"""The replication rules of domain/replication.py, as the spec reads them.

The status table, retention and RPO rules it builds on are tested in tests/domain."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.footer import Footer
from domain.errors import DomainError
from domain.replication import (
    consistency_for_cycle,
    cycle_prefix,
    footer_problem,
    is_cycle_command,
    next_cycle_at,
    next_status,
    point_time,
    policy_named,
    replica_blob_size,
    replicates,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def test_the_initial_replication_path_reaches_protected_and_a_delta_keeps_it() -> None:
    status = "NotProtected"
    for event in ("ProtectionEnabled", "InitialReplicationStarted", "InitialReplicationCompleted"):
        status = next_status(status, event)
    assert status == "Protected"
    assert next_status(status, "DeltaSyncCompleted") == "Protected"


def test_lost_change_tracking_goes_through_resync_back_to_protected() -> None:
    status = next_status("Protected", "ChangeTrackingLost")
    assert status == "ResynchronizationRequired"
    status = next_status(status, "ResyncStarted")
    assert status == "ResynchronizationInProgress"
    assert next_status(status, "ResyncCompleted") == "Protected"


def test_built_in_policies_have_the_three_intervals() -> None:
    assert [int(policy_named(n).interval) for n in ("30s", "5min", "15min")] == [30, 300, 900]
    assert policy_named(None).name == "default"


def test_an_unknown_policy_is_refused_with_the_names_that_exist() -> None:
    with pytest.raises(DomainError) as info:
        policy_named("platinum", {"gold": {"interval": 30}})
    assert info.value.code == "UnknownPolicy"
    assert "gold" in info.value.errors[0].recommendation


def test_an_operator_policy_is_used_and_an_invalid_one_is_refused() -> None:
    tight = policy_named("tight", {"tight": {"interval": 30, "rpo_threshold_seconds": 40}})
    assert (int(tight.interval), tight.rpo_threshold_seconds) == (30, 40)
    with pytest.raises(DomainError) as info:
        policy_named("odd", {"odd": {"interval": 45}})
    assert info.value.code == "PolicyInvalid" and "interval" in info.value.errors[0].cause


def test_a_cycle_is_app_consistent_only_when_the_policy_says_one_is_due() -> None:
    policy = policy_named("30s")  # app-consistent hourly
    assert consistency_for_cycle(policy, None, NOW) == "app"
    assert consistency_for_cycle(policy, NOW - timedelta(minutes=59), NOW) == "crash"
    assert consistency_for_cycle(policy, NOW - timedelta(hours=1), NOW) == "app"
    crash_only = policy_named("c", {"c": {"interval": 30, "app_consistent_frequency_hours": 0}})
    assert consistency_for_cycle(crash_only, None, NOW) == "crash"


def test_the_next_cycle_is_one_interval_after_this_one_started_never_a_burst() -> None:
    assert next_cycle_at(NOW, 30, NOW + timedelta(seconds=4)) == NOW + timedelta(seconds=30)
    assert next_cycle_at(NOW, 30, NOW + timedelta(seconds=31)) is None


def test_attempts_of_another_cycle_or_generation_never_share_an_id() -> None:
    ids = [cycle_prefix(g, "sync", c) + "1" for g in ("gen0", "gen1") for c in (6, 7, 70)]
    assert len(set(ids)) == len(ids)


def test_a_loop_command_is_told_by_its_shape_and_no_operation_command_has_it() -> None:
    job = "8208999999999-1a2b3c4d"  # readmodels.jobs.new_job_id's shape; generation = last 8
    assert is_cycle_command(cycle_prefix(job[-8:], "sync", 7) + "1")
    assert is_cycle_command(cycle_prefix(job[-8:], "replicate", 0) + "3")
    for other in (
        f"{job}-final-sync-1",
        f"{job}-shutdown",
        f"{job}-sync-1-1",
        cycle_prefix("1a2b3c4d", "sync", 7) + "1-cancel",
        "1a2b3c4d-cancel-1-1",
        "-sync-1-1",
        "1a2b3c4d-sync-x-1",
        "",
    ):
        assert not is_cycle_command(other), other


def test_the_replica_is_the_virtual_size_rounded_to_a_mib_plus_the_footer() -> None:
    assert replica_blob_size(MIB) == MIB + 512
    assert replica_blob_size(MIB + 1) == 2 * MIB + 512
    with pytest.raises(DomainError) as info:
        replica_blob_size(0)
    assert info.value.code == "DiskSizeInvalid"


def fixed_vhd_footer(size: int) -> bytes:
    """What the agent writes (agent/footer.py): the check must accept it."""
    return Footer.new(size).to_bytes()


def test_the_agents_footer_passes_the_check() -> None:
    assert footer_problem(fixed_vhd_footer(64 * MIB), 64 * MIB) is None


def test_the_check_accepts_a_footer_qemu_img_wrote(tmp_path: Path, qemu_img: str) -> None:
    """Independent evidence: qemu's fixed VHD (vpc, subformat=fixed) footer passes the check,
    and the agent's agrees with it on every field the check reads."""
    image = tmp_path / "fixed.vhd"
    subprocess.run([qemu_img, "create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=on",
                    str(image), str(4 * MIB)], check=True)  # fmt: skip
    theirs = image.read_bytes()[-512:]
    assert footer_problem(theirs, 4 * MIB) is None
    ours = fixed_vhd_footer(4 * MIB)
    assert (ours[48:56], ours[60:64]) == (theirs[48:56], theirs[60:64])  # size, disk type


def _broken(at: int) -> bytes:
    footer = bytearray(fixed_vhd_footer(MIB))
    footer[at] ^= 0xFF
    return bytes(footer)


@pytest.mark.parametrize(
    ("footer", "size", "words"),
    [
        (b"\0" * 512, MIB, "cookie"),
        (fixed_vhd_footer(MIB)[:511], MIB, "511 bytes"),
        (fixed_vhd_footer(MIB), 2 * MIB, "says"),
        (_broken(100), MIB, "checksum"),
    ],
)
def test_the_footer_check_names_what_is_wrong(footer: bytes, size: int, words: str) -> None:
    assert words in (footer_problem(footer, size) or "")


def test_a_dynamic_disk_footer_is_refused() -> None:
    footer = bytearray(fixed_vhd_footer(MIB))
    footer[60:64] = (3).to_bytes(4, "big")
    footer[64:68] = b"\0\0\0\0"
    footer[64:68] = (~sum(footer) & 0xFFFFFFFF).to_bytes(4, "big")
    assert "fixed" in (footer_problem(bytes(footer), MIB) or "")


@pytest.mark.parametrize(
    ("status", "goes_on"),
    [
        ("NotProtected", False),
        ("ProtectionPending", False),
        ("WaitingForInitialReplication", True),
        ("InitialReplicationInProgress", True),
        ("Protected", True),
        ("ResynchronizationRequired", True),
        ("TestFailoverInProgress", True),  # a test failover leaves replication running
        ("TestFailoverSucceeded", True),
        ("TestFailoverFailed", True),
        ("DisablingProtection", False),
        ("PlannedFailoverInProgress", False),
        ("UnplannedFailoverInProgress", False),
        ("FailedOver", False),
        ("FailoverCommitted", False),
    ],
)
def test_the_loop_replicates_while_protection_is_on_and_the_vm_has_not_failed_over(
    status: str, goes_on: bool
) -> None:
    assert replicates(status) is goes_on
    # A planned failover's final sync is the one command sent while it is under way.
    assert replicates(status, final_sync=True) is (status == "PlannedFailoverInProgress")


def test_a_points_time_is_the_agents_between_its_command_and_now() -> None:
    sent = NOW - timedelta(minutes=2)
    taken = NOW - timedelta(minutes=1)
    assert point_time(taken, sent=sent, now=NOW) == taken
    assert point_time(None, sent=sent, now=NOW) == NOW
    # from the future: now, or it hides RPO breaches and stays "latest" for good
    assert point_time(NOW + timedelta(days=400), sent=sent, now=NOW) == NOW
    # from long ago: no earlier than the command (less the skew), or retention prunes it
    assert point_time(NOW - timedelta(days=30), sent=sent, now=NOW) == sent - timedelta(minutes=5)
    assert point_time(NOW - timedelta(days=30), sent=None, now=NOW) == NOW - timedelta(days=30)
