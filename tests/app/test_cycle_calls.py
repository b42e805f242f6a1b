"""What a replication cycle's routing, stall watch and the site's heartbeats read and write,
against Azurite behind the benchmark's counting proxy: an answer of the loop is routed with no
read, a stall is judged from the time the orchestration says it sent the command (the item
does not record it), and a heartbeat is one write.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from activities.health import StallSeen, check_stall
from application.agent_events import HANDLERS, waiting_instance
from application.orchestrations import replication_instance
from bench.meters import StorageMeter
from contracts.events import AgentEvent
from readmodels.items import get_item, save_item
from readmodels.records import ProgressRecord, ReplicatedItem
from readmodels.sites import last_heartbeat
from triggers.agent_events import UNRECORDED

TENANT = "calls"


def calls(meter: StorageMeter) -> Counter[str]:
    return Counter({k.split("|", 1)[1]: v for k, v in meter.counts().items()})


def an_item(**fields: object) -> ReplicatedItem:
    vm = "vm-" + uuid.uuid4().hex[:8]
    item = ReplicatedItem(
        tenant=TENANT,
        vm=vm,
        vm_name=vm,
        site="site",
        status="Protected",
        provider="direct",
        policy="30s",
        **fields,
    )
    save_item(item)
    return item


def test_the_answer_to_a_loop_command_is_routed_without_reading_the_item(
    storage_calls: StorageMeter,
) -> None:
    item = an_item(active_job_id="8208999999999-1a2b3c4d")  # an operation holds the VM
    before = calls(storage_calls)
    assert waiting_instance(TENANT, item.vm, "1a2b3c4d-sync-7-1") == replication_instance(
        TENANT, item.vm
    )
    assert calls(storage_calls) == before
    # An operation's own command goes to it while it holds the VM (that one reads the item).
    job_command = "8208999999999-1a2b3c4d-final-sync-1"
    assert waiting_instance(TENANT, item.vm, job_command) == "8208999999999-1a2b3c4d"
    assert waiting_instance(TENANT, "other-vm", job_command) == replication_instance(
        TENANT, "other-vm"
    )


def stall(item: ReplicatedItem, command_id: str, sent_at: datetime) -> StallSeen:
    check = {
        "tenant": TENANT,
        "vm": item.vm,
        "command_id": command_id,
        "sent_at": sent_at.isoformat(),
        "stall_seconds": 60,
    }
    return StallSeen.model_validate(check_stall(check))


@pytest.mark.usefixtures("read_models")
def test_a_command_quiet_since_it_was_sent_is_stalled_and_health_says_so() -> None:
    now = datetime.now(UTC)
    # Progress of an older command says nothing about this one.
    old = ProgressRecord(command_id="g-sync-1-1", percent=50, updated=now)
    item = an_item(progress=old)
    seen = stall(item, "g-sync-2-1", now - timedelta(seconds=90))
    assert seen.stalled and 89 <= seen.quiet_seconds < 120
    stored = get_item(TENANT, item.vm)
    assert stored is not None and "ReplicationStalled" in {r.code for r in stored.health.reasons}


@pytest.mark.usefixtures("read_models")
def test_a_command_that_made_progress_lately_is_not_stalled() -> None:
    now = datetime.now(UTC)
    recent = ProgressRecord(
        command_id="g-sync-2-1", percent=50, updated=now - timedelta(seconds=10)
    )
    item = an_item(progress=recent)
    seen = stall(item, "g-sync-2-1", now - timedelta(seconds=90))
    assert not seen.stalled and 9 <= seen.quiet_seconds < 40


def test_the_stall_watch_reads_and_writes_the_item_once(storage_calls: StorageMeter) -> None:
    item = an_item()
    before = Counter(storage_calls.by_resource())
    stall(item, "g-sync-2-1", datetime.now(UTC))
    spent = Counter(storage_calls.by_resource()) - before
    items = {k.split("|")[2]: v for k, v in spent.items() if k.endswith("|ReplicatedItems")}
    assert items == {"QueryEntity": 1, "UpdateEntity": 1}, spent


def heartbeat(site: str, at: datetime) -> None:
    """The agent event as the Service Bus trigger applies it: a heartbeat is not recorded in
    ProcessedEvents (no read, no write there), its handler writes the site's row."""
    body = {
        "type": "agent.heartbeat",
        "tenant": TENANT,
        "site": site,
        "id": uuid.uuid4().hex,
        "time": at.isoformat(),
        "data": {"agentVersion": "test"},
    }
    event = AgentEvent.parse(json.dumps(body).encode())
    assert event.type in UNRECORDED
    asyncio.run(HANDLERS[event.type](event, None))  # type: ignore[arg-type]


def test_a_heartbeat_is_one_write_and_a_later_one_moves_it_on(storage_calls: StorageMeter) -> None:
    site = "site-" + uuid.uuid4().hex[:6]
    first = datetime.now(UTC) - timedelta(seconds=60)
    heartbeat(site, first)  # the first one also creates the table
    before = calls(storage_calls)
    heartbeat(site, first + timedelta(seconds=60))
    assert calls(storage_calls) - before == Counter({"table|InsertOrReplaceEntity": 1})
    assert last_heartbeat(TENANT, site) == first + timedelta(seconds=60)
