"""Health is true when read: the runbook API judges RPO and the agent's heartbeat as of the
request, not as of the replication loop's last refresh.

The rows are written as the loop leaves them, with timestamps in the past (never a sleep):
a last recovery point two hours old, a heartbeat two hours old. Then the list, the single
item and the VMs list are read through devhost, each answer checked against the OpenAPI
document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.inventory import InventoryVm, VmmCloudRef
from readmodels.inventory import upsert_vm
from readmodels.items import save_item
from readmodels.records import HealthRecord, Reason, ReplicatedItem
from readmodels.sites import record_heartbeat
from tests.e2e.conftest import CheckedApi

TENANT = "fabrikam"
HOURS_AGO = datetime.now(UTC) - timedelta(hours=2)
STALLED = Reason(
    code="ReplicationStalled", cause="No upload progress for 400 s.", recommendation="Check.",
    severity="Warning",
)  # fmt: skip
SILENT = Reason(
    code="AgentHeartbeatMissing", cause="Last heard from 900 s ago.", recommendation="Check.",
    severity="Warning",
)  # fmt: skip


def stored(*, last_point: datetime, heartbeat: datetime, health: HealthRecord) -> str:
    """A protected VM (policy 30s: RPO threshold 300 s) as the loop's last refresh left it,
    on a site of its own whose agent was last heard from at `heartbeat`."""
    vm, site = f"read-{uuid.uuid4().hex[:6]}", f"site-{uuid.uuid4().hex[:6]}"
    record_heartbeat(TENANT, site, heartbeat)
    upsert_vm(TENANT, site, VmmCloudRef(id="gold", name="Gold"),
              InventoryVm(id=vm, name=vm, generation=1, vcpus=2, memory_mb=2048),
              event_id=uuid.uuid4().hex, event_time=datetime.now(UTC))  # fmt: skip
    save_item(ReplicatedItem(
        tenant=TENANT, vm=vm, vm_name=vm, site=site, status="Protected", provider="direct",
        policy="30s", last_recovery_point=last_point, last_sync=last_point, rpo_seconds=1.0,
        recovery_points=1, health=health,
    ))  # fmt: skip
    return vm


def read(api: CheckedApi, vm: str) -> tuple[list[float], list[dict]]:
    """The VM's RPO (items list, single item) and health (those two and the VMs list)."""
    items = api.call("GET", f"tenants/{TENANT}/replicated-items", TENANT,
                     params={"top": 1000}).json()["value"]  # fmt: skip
    single = api.call("GET", f"tenants/{TENANT}/replicated-items/{vm}", TENANT).json()
    vms = api.call("GET", f"tenants/{TENANT}/vms", TENANT, params={"top": 1000}).json()["value"]
    listed = next(i for i in items if i["vm"] == vm)
    in_vms = next(v for v in vms if v["vm"]["id"] == vm)
    return [listed["rpoSeconds"], single["rpoSeconds"]], [
        listed["health"],
        single["health"],
        in_vms["health"],
    ]


def codes(health: dict) -> list[str]:
    return [r["code"] for r in health["reasons"]]


def test_a_stored_normal_item_reads_critical_once_its_rpo_is_past_the_threshold(
    api: CheckedApi,
) -> None:
    vm = stored(last_point=HOURS_AGO, heartbeat=datetime.now(UTC), health=HealthRecord())
    rpos, healths = read(api, vm)
    assert all(rpo > 7000 for rpo in rpos), rpos
    for health in healths:
        assert health["state"] == "Critical", health
        assert codes(health) == ["RpoThresholdExceeded"]
        assert "threshold is 300 s" in health["reasons"][0]["cause"]


def test_a_silent_agent_shows_and_other_reasons_keep_their_weight(api: CheckedApi) -> None:
    """The agent went quiet after the last refresh: the heartbeat reason is added, the stall
    the refresh found is kept (a Warning, not raised to Critical)."""
    vm = stored(last_point=datetime.now(UTC), heartbeat=HOURS_AGO,
                health=HealthRecord(state="Warning", reasons=[STALLED]))  # fmt: skip
    rpos, healths = read(api, vm)
    assert all(rpo < 300 for rpo in rpos), rpos
    for health in healths:
        assert health["state"] == "Warning", health
        assert codes(health) == ["AgentHeartbeatMissing", "ReplicationStalled"]


def test_an_agent_heard_again_clears_the_stored_heartbeat_reason(api: CheckedApi) -> None:
    vm = stored(last_point=datetime.now(UTC), heartbeat=datetime.now(UTC),
                health=HealthRecord(state="Warning", reasons=[SILENT]))  # fmt: skip
    for health in read(api, vm)[1]:
        assert (health["state"], codes(health)) == ("Normal", [])
