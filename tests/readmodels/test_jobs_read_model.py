"""The jobs read model on real Azurite: what ASR's jobs page shows, for runbooks: id, type,
target, who started it, state, steps with start and end times, errors with their fix."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from activities.jobs import record_job_end, record_job_step
from contracts.views import JobView
from domain.jobs import Job, fail_job, finish_step, start_step, succeed_job
from httpapi.answers import shown
from readmodels import jobs
from readmodels.processed import already_processed, mark_processed

pytestmark = pytest.mark.usefixtures("read_models")
RULE = {"code": "DiskShared", "cause": "Disk d1 is shared.", "recommendation": "Detach it."}


def answered(job: Job) -> dict:
    """The job as the runbook API answers it."""
    return shown(JobView.of(job))


def tenant() -> str:
    return "t" + secrets.token_hex(4)


def test_a_job_records_who_started_it_its_steps_and_errors() -> None:
    t = tenant()
    job = jobs.create_job(t, "EnableProtection", "vm1", "agent")
    t0 = datetime.now(UTC)
    job = start_step(job, "Prerequisites check", t0)
    job = start_step(job, "Prerequisites check", t0 + timedelta(seconds=1))  # a replay
    job = finish_step(job, "Prerequisites check", t0 + timedelta(seconds=2), [RULE])
    jobs.save_job(fail_job(job, t0 + timedelta(seconds=3), [RULE]))

    stored = jobs.get_job(t, job.id)
    assert stored is not None
    wire = answered(stored)
    assert (wire["type"], wire["target"], wire["startedBy"], wire["state"]) == (
        "EnableProtection", "vm1", "agent", "Failed")  # fmt: skip
    [step] = wire["steps"]  # the replayed start did not add a second step
    assert (step["name"], step["state"], step["errors"]) == (
        "Prerequisites check",
        "Failed",
        [RULE],
    )
    assert step["startTime"] < step["endTime"] <= wire["endTime"]
    assert wire["errors"] == [RULE]


def test_finishing_a_job_closes_its_open_steps_and_a_finished_job_stays_finished() -> None:
    job = jobs.create_job(tenant(), "DisableProtection", "vm1", "api")
    now = datetime.now(UTC)
    job = fail_job(start_step(job, "Stop replication", now), now, [RULE])
    assert (job.state, job.steps[0].state, job.steps[0].end_time) == ("Failed", "Failed", now)
    jobs.save_job(job)
    jobs.save_job(succeed_job(job, now + timedelta(seconds=5)))  # a late success: no change
    stored = jobs.get_job(job.tenant, job.id)
    assert stored == job and answered(stored)["errors"] == [RULE]


def test_only_api_agent_or_alert_start_jobs() -> None:
    with pytest.raises(ValidationError):
        jobs.create_job(tenant(), "EnableProtection", "vm1", "someone")


def test_jobs_list_newest_first() -> None:
    t = tenant()
    ids = []
    for _ in range(3):
        ids.append(jobs.create_job(t, "EnableProtection", "vm1", "api").id)
        time.sleep(0.002)  # ids carry the millisecond
    page, token = jobs.JOBS.page(t, 10, None)
    assert [j.id for j in page] == list(reversed(ids)) and token is None


def test_an_applied_event_is_remembered_per_tenant() -> None:
    t, other = tenant(), tenant()
    mark_processed(t, "event-1", "vm.changed", datetime.now(UTC))
    mark_processed(t, "event-1", "vm.changed", datetime.now(UTC))  # a redelivery: no error
    assert already_processed(t, "event-1")
    assert not already_processed(other, "event-1")


def record(activity, **payload) -> None:
    """Call the activity's own function, as the Functions host would."""
    activity._function.get_user_function()(payload)


def test_the_job_activities_are_safe_to_retry_and_replay() -> None:
    job = jobs.create_job(tenant(), "EnableProtection", "vm1", "api")
    ids = {"tenant": job.tenant, "job_id": job.id}
    record(record_job_step, **ids, step="Prerequisites check")
    record(record_job_step, **ids, step="Prerequisites check")  # a retried start
    record(record_job_step, **ids, step="Prerequisites check", finished=True, errors=[RULE])
    record(record_job_step, **ids, step="Prerequisites check", finished=True)  # a late replay
    record(record_job_step, **ids, step="Enable protection")
    record(record_job_end, **ids, errors=[RULE])
    ended = jobs.get_job(job.tenant, job.id)
    record(record_job_end, **ids)  # a late success does not undo the failure
    record(record_job_step, **ids, step="Start initial replication")  # nor a late step
    stored = jobs.get_job(job.tenant, job.id)
    assert stored == ended
    wire = answered(stored)
    assert (wire["state"], wire["errors"]) == ("Failed", [RULE])
    assert [(s["name"], s["state"], s["errors"]) for s in wire["steps"]] == [
        ("Prerequisites check", "Failed", [RULE]),
        ("Enable protection", "Failed", []),  # the step under way when the job failed
    ]
    assert all(s["endTime"] for s in wire["steps"])


def test_unfinished_jobs_of_a_vm_are_found_by_type_and_a_lost_claims_job_is_deleted() -> None:
    t = tenant()
    waiting = jobs.create_job_with_id(t, "p1-r", "InitialReplication", "vm1", "api")
    running = start_step(jobs.create_job_with_id(t, "p2-r", "InitialReplication", "vm1", "api"),
                         "Initial replication", datetime.now(UTC))  # fmt: skip
    jobs.save_job(running)
    jobs.save_job(fail_job(jobs.create_job_with_id(t, "p3-r", "InitialReplication", "vm1",
                                                   "api"), datetime.now(UTC), [RULE]))  # fmt: skip
    jobs.create_job_with_id(t, "p4", "EnableProtection", "vm1", "api")  # another type
    jobs.create_job_with_id(t, "p5-r", "InitialReplication", "vm2", "api")  # another VM
    found = jobs.unfinished_jobs(t, "vm1", "InitialReplication")
    assert sorted(j.id for j in found) == [waiting.id, running.id]
    jobs.delete_job(t, "p4")
    jobs.delete_job(t, "p4")  # gone already: fine
    assert jobs.get_job(t, "p4") is None
