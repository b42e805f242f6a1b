"""The runbook API's views: camelCase, every documented field (null included), and nothing
a stored row keeps for the control plane's own work."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.views import JobView, ReplicatedItemView, VmView
from domain.errors import ErrorInfo
from domain.jobs import JobType, fail_job, new_job, start_step
from httpapi.answers import shown
from readmodels.records import (
    HealthRecord,
    ProgressRecord,
    Reason,
    ReplicatedItem,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ERR = ErrorInfo("DiskShared", "Disk data1 is a shared virtual disk.", "Detach it.")
RULE = {**ERR.to_dict(), "source": "the support matrix"}


def test_a_job_is_answered_in_camel_case_with_every_field() -> None:
    job = new_job(id="j1", type=JobType.ENABLE_PROTECTION, tenant="contoso", target="vm-1",
                  started_by="api", now=T0)  # fmt: skip
    failed = fail_job(start_step(job, "Prerequisites check", T0), T0, [ERR, RULE])
    wire = shown(JobView.of(failed))
    assert list(wire) == [
        "id", "tenant", "type", "target", "startedBy", "requestedBy", "state", "startTime",
        "endTime", "steps", "errors", "evidence",
    ]  # fmt: skip
    assert wire["evidence"] is None  # only an auto-failover decision has evidence
    assert list(wire["steps"][0]) == ["name", "state", "startTime", "endTime", "errors"]
    assert (wire["state"], wire["startedBy"], wire["type"]) == ("Failed", "api", "EnableProtection")
    assert wire["errors"] == [ERR.to_dict(), RULE], "source only where an error has one"
    assert wire["steps"][0]["startTime"].startswith("2026-11-25T12:00:00")
    assert shown(JobView.of(job))["endTime"] is None, "a documented field is never left out"


def test_an_item_leaves_what_the_control_plane_keeps_for_itself_behind() -> None:
    item = ReplicatedItem(
        tenant="contoso", vm="vm-1", vm_name="web", site="vmm01", status="Protected",
        progress=ProgressRecord(command_id="gen-sync-7-1", percent=40.0),
        prerequisite_failures=[RULE],
        health=HealthRecord(state="Warning", reasons=[Reason(severity="Warning", **RULE)]),
    )  # fmt: skip
    wire = shown(ReplicatedItemView.of(item))
    assert not {"commandId", "commandSent", "prerequisiteFailures"} & set(wire)
    assert wire["progress"] == {
        "percent": 40.0, "bytesDone": 0, "bytesTotal": 0, "throughputBytesPerS": 0.0,
        "etaSeconds": None, "updated": None,
    }  # fmt: skip
    assert wire["health"] == {"state": "Warning", "reasons": [RULE]}, "no storage-only severity"
    assert (wire["activeJobId"], wire["rpoSeconds"]) == (None, None)


def test_the_openapi_schemas_refuse_fields_a_view_does_not_declare() -> None:
    for view in (JobView, ReplicatedItemView, VmView):
        schema = view.model_json_schema(by_alias=True, mode="serialization")
        assert schema["additionalProperties"] is False, view.__name__
