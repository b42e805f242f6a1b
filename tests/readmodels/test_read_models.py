"""Read models on real Azurite: single-flight operations, inventory projection, paging."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from contracts.inventory import InventoryVm, VmmCloudRef
from domain.jobs import JobType, succeed_job
from readmodels import jobs
from readmodels.inventory import VMS, apply_snapshot, get_vm
from readmodels.items import busy_with, claim_operation, get_item, release_operation
from readmodels.sites import last_heartbeat, record_heartbeat

pytestmark = pytest.mark.usefixtures("read_models")
CLOUD = VmmCloudRef(id="gold", name="Gold")


def tenant() -> str:
    return "t" + secrets.token_hex(4)


ENABLE = JobType.ENABLE_PROTECTION


def vm(vm_id: str, name: str | None = None) -> InventoryVm:
    return InventoryVm(id=vm_id, name=name or vm_id, generation=1, vcpus=2, memory_mb=2048)


def test_concurrent_claims_on_one_vm_yield_one_job() -> None:
    t = tenant()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: claim_operation(t, "vm1", "vm1", "site", ENABLE, "api"), range(8))
        )
    job_ids = {job.id for job, _ in results}
    assert len(job_ids) == 1
    assert sum(created for _, created in results) == 1
    assert get_item(t, "vm1").active_job_id in job_ids


def test_a_finished_job_frees_the_vm_for_the_next_operation() -> None:
    t = tenant()
    first, created = claim_operation(t, "vm1", "vm1", "site", ENABLE, "api")
    assert created
    jobs.save_job(succeed_job(first, datetime.now(UTC)))
    release_operation(t, "vm1", first.id)
    second, created = claim_operation(t, "vm1", "vm1", "site", JobType.DISABLE_PROTECTION, "api")
    assert created and second.id != first.id


def test_a_vm_whose_job_has_ended_is_not_busy_before_its_lock_is_released() -> None:
    # An operation saves its job's end, then releases the lock: a request in between may go on.
    t = tenant()
    first, _ = claim_operation(t, "vm1", "vm1", "site", ENABLE, "api")
    assert busy_with(get_item(t, "vm1")) == first.id
    jobs.save_job(succeed_job(first, datetime.now(UTC)))
    held = get_item(t, "vm1")
    assert held.active_job_id == first.id and busy_with(held) is None
    second, created = claim_operation(t, "vm1", "vm1", "site", JobType.DISABLE_PROTECTION, "api")
    assert created and busy_with(get_item(t, "vm1")) == second.id


def test_snapshot_upserts_and_marks_missing_vms_gone() -> None:
    t, now = tenant(), datetime.now(UTC)
    apply_snapshot(t, "s1", CLOUD, [vm("a"), vm("b")], event_id="e1", event_time=now)
    outcome = apply_snapshot(
        t, "s1", CLOUD, [vm("a")], event_id="e2", event_time=now + timedelta(seconds=1)
    )
    assert outcome.gone == ["b"]
    assert get_vm(t, "a").present and not get_vm(t, "b").present


def test_a_late_older_snapshot_does_not_overwrite_newer_facts() -> None:
    t, now = tenant(), datetime.now(UTC)
    apply_snapshot(t, "s1", CLOUD, [vm("a", "new-name")], event_id="e2", event_time=now)
    outcome = apply_snapshot(
        t, "s1", CLOUD, [vm("a", "old-name")], event_id="e1", event_time=now - timedelta(minutes=1)
    )
    assert outcome.stale == ["a"]
    assert get_vm(t, "a").vm.name == "new-name"


def test_other_clouds_vms_are_untouched_by_a_snapshot() -> None:
    t, now = tenant(), datetime.now(UTC)
    apply_snapshot(t, "s1", CLOUD, [vm("a")], event_id="e1", event_time=now)
    other = VmmCloudRef(id="silver", name="Silver")
    apply_snapshot(t, "s1", other, [], event_id="e2", event_time=now + timedelta(seconds=1))
    assert get_vm(t, "a").present


def test_pages_cover_every_row_once_and_stay_in_the_tenant() -> None:
    t, other, now = tenant(), tenant(), datetime.now(UTC)
    apply_snapshot(
        t, "s1", CLOUD, [vm(f"vm{i:02d}") for i in range(7)], event_id="e", event_time=now
    )
    apply_snapshot(other, "s1", CLOUD, [vm("foreign")], event_id="e", event_time=now)
    seen, token = [], None
    while True:
        page, token = VMS.page(t, 3, token)
        seen += [r.vm.id for r in page]
        if not token:
            break
    assert seen == [f"vm{i:02d}" for i in range(7)]


def test_a_snapshot_larger_than_one_batch_is_applied_whole() -> None:
    t, now = tenant(), datetime.now(UTC)
    many = [vm(f"vm{i:03d}") for i in range(250)]  # three entity-group transactions
    outcome = apply_snapshot(t, "site", CLOUD, many, event_id="e1", event_time=now)
    assert len(outcome.upserted) == 250 and outcome.gone == []
    later = now + timedelta(minutes=1)
    outcome = apply_snapshot(t, "site", CLOUD, many[:10], event_id="e2", event_time=later)
    assert sorted(outcome.gone) == [v.id for v in many[10:]]
    rows = list(VMS.all(t))
    assert len(rows) == 250
    assert sum(r.present for r in rows) == 10
    assert all(r.last_event_id == "e2" for r in rows)


def test_a_heartbeat_read_may_be_reused_for_max_age_then_is_read_again() -> None:
    t, site = "t" + secrets.token_hex(4), "site-1"
    first = datetime.now(UTC) - timedelta(minutes=1)
    record_heartbeat(t, site, first)
    assert last_heartbeat(t, site, max_age=60) == first
    later = first + timedelta(seconds=30)
    record_heartbeat(t, site, later)
    assert last_heartbeat(t, site, max_age=60) == first  # this process read it just now
    assert last_heartbeat(t, site) == later  # no max_age: always the stored value
    assert last_heartbeat(t, site, max_age=60) == later  # and that read refreshed it
