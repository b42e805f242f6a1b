"""The pure parts of `python -m bench cost`: how a storage request is named and priced, how a
request stream is split, and the monthly arithmetic. No timing, no services."""

from __future__ import annotations

import pytest

from bench import cost
from bench.meters import (
    RequestParser,
    broker_side,
    classify,
    kind,
    parse_invocation,
    resource,
    side,
)

ACCOUNT = "/devstoreaccount1"
SIGNED = {"Authorization": "SharedKey devstoreaccount1:abc", "x-ms-version": "2026-10-06"}


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("PUT", "/c/b.vhd?comp=page", {"x-ms-page-write": "update"}, "PutPage"),
        ("PUT", "/c/b.vhd?comp=page", {"x-ms-page-write": "clear"}, "ClearPage"),
        ("PUT", "/c/b.vhd", {"x-ms-blob-type": "PageBlob"}, "PutBlob"),
        ("PUT", "/c/b.vhd?comp=snapshot", {}, "SnapshotBlob"),
        ("GET", "/c/b.vhd", {"x-ms-range": "bytes=0-511"}, "GetBlob"),
        ("HEAD", "/c/b.vhd", {}, "GetBlobProperties"),
        ("GET", "/c/b.vhd?comp=pagelist", {}, "GetPageRanges"),
        ("DELETE", "/c/b.vhd?snapshot=2026-01-01T00%3A00%3A00.0000000Z", {}, "DeleteSnapshot"),
        ("DELETE", "/c/b.vhd", {}, "DeleteBlob"),
        ("GET", "/c?restype=container&comp=list&prefix=b.vhd&include=snapshots", {}, "ListBlobs"),
        ("PUT", "/c?restype=container", {}, "CreateContainer"),
        ("DELETE", "/c?restype=container", {}, "DeleteContainer"),
        ("GET", "/?comp=list", {}, "ListContainers"),
        ("POST", "/?restype=service&comp=userdelegationkey", {}, "GetUserDelegationKey"),
        ("PUT", "/c/b.vhd?comp=metadata", {}, "SetBlobMetadata"),
    ],
)
def test_blob_requests_are_named_as_storage_logs_name_them(method, target, headers, expected):
    assert classify("blob", method, ACCOUNT + target, headers) == expected


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("POST", "/Tables", {}, "CreateTable"),
        ("GET", "/Tables('Items')", {}, "QueryTables"),
        ("GET", "/Items(PartitionKey='t',RowKey='vm1')", {}, "QueryEntity"),
        ("GET", "/Items()?$filter=PartitionKey%20eq%20't'", {}, "QueryEntities"),
        ("GET", "/Items?$filter=x", {}, "QueryEntities"),
        ("POST", "/Items", {}, "InsertEntity"),
        ("PUT", "/Items(PartitionKey='t',RowKey='vm1')", {"If-Match": 'W/"x"'}, "UpdateEntity"),
        ("PUT", "/Items(PartitionKey='t',RowKey='vm1')", {}, "InsertOrReplaceEntity"),
        ("MERGE", "/Items(PartitionKey='t',RowKey='vm1')", {"If-Match": "*"}, "MergeEntity"),
        ("PATCH", "/Items(PartitionKey='t',RowKey='vm1')", {}, "InsertOrMergeEntity"),
        ("DELETE", "/Items(PartitionKey='t',RowKey='vm1')", {"If-Match": "*"}, "DeleteEntity"),
        ("POST", "/$batch", {}, "EntityGroupTransaction"),
    ],
)
def test_table_requests_are_named_by_operation(method, target, headers, expected):
    assert classify("table", method, ACCOUNT + target, headers) == expected


def test_queue_requests_are_named_by_operation():
    assert classify("queue", "POST", ACCOUNT + "/q/messages", {}) == "PutMessage"
    assert classify("queue", "GET", ACCOUNT + "/q/messages?numofmessages=32", {}) == "GetMessages"
    assert classify("queue", "DELETE", ACCOUNT + "/q/messages/id?popreceipt=p", {}) == (
        "DeleteMessage"
    )


def test_signed_requests_are_the_control_planes_and_sas_requests_the_agents():
    assert side(ACCOUNT + "/c/b.vhd?comp=page", SIGNED) == "control_plane"
    assert side(ACCOUNT + "/c/b.vhd?comp=page&sv=2025&sr=b&sp=w&sig=abc%3D", {}) == "agent"
    assert side(ACCOUNT + "/c/b.vhd", {}) == "anonymous"


def test_snapshots_are_their_own_kind_and_resources_are_coarse():
    assert kind("blob", "SnapshotBlob") == "snapshot"
    assert kind("blob", "DeleteSnapshot") == "snapshot"
    assert kind("blob", "GetBlob") == "blob"
    assert kind("table", "QueryEntity") == "table"
    assert resource("table", ACCOUNT + "/ReplicatedItems(PartitionKey='t',RowKey='v')") == (
        "ReplicatedItems"
    )
    assert resource("blob", ACCOUNT + "/replica-bench-vm0001/vm0001-d0.vhd") == "replica"


def test_the_parser_splits_pipelined_requests_however_the_bytes_arrive():
    first = b"PUT /a/c/b?comp=page HTTP/1.1\r\nContent-Length: 5\r\nx-ms-page-write: update\r\n\r\nhello"
    second = b"GET /a/c/b HTTP/1.1\r\nHost: x\r\n\r\n"
    stream = first + second
    parser = RequestParser("blob")
    seen = []
    for i in range(0, len(stream), 7):  # arbitrary cuts, through heads and bodies
        seen += parser.feed(stream[i : i + 7])
    assert [(r.method, r.target, r.body_bytes) for r in seen] == [
        ("PUT", "/a/c/b?comp=page", 5),
        ("GET", "/a/c/b", 0),
    ]


def test_the_parser_follows_chunked_bodies():
    body = b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n"
    stream = b"POST /a/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    stream += b"GET /a/T() HTTP/1.1\r\n\r\n"
    parser = RequestParser("table")
    seen = parser.feed(stream[:30]) + parser.feed(stream[30:])
    assert [(r.method, r.body_bytes) for r in seen] == [("POST", 7), ("GET", 0)]


def test_prices_follow_the_operation_type():
    assert cost.price_of_request("blob", "PutPage") == "blob_write_operation"
    assert cost.price_of_request("snapshot", "SnapshotBlob") == "blob_other_operation"
    assert cost.price_of_request("snapshot", "DeleteSnapshot") is None  # deletes are free
    assert cost.price_of_request("blob", "GetBlobProperties") == "blob_other_operation"
    assert cost.price_of_request("table", "UpdateEntity") == "table_transaction"
    assert all(p.source and p.usd > 0 for p in cost.PRICES.values())


def test_the_instance_memory_is_the_one_the_infra_deploys():
    assert cost.instance_memory_gb() == 2.0  # infra/modules/functionapp.bicep: 2048 MB


def test_cycles_and_points_per_month():
    assert cost.cycles_per_month(300) == 730 * 12
    assert cost.cycles_per_month(30) == 730 * 120
    assert cost.retained_points(300, 24) == 289  # a point every 5 min for 24 h, and the latest
    assert cost.retained_points(30, 4) == 481
    assert cost.retained_points(900, 72) == 289


def test_flex_bills_each_activity_period_at_least_a_second_then_by_100_ms():
    assert cost.flex_billed_seconds([(0.0, 0.05)]) == pytest.approx(1.0)
    assert cost.flex_billed_seconds([(0.0, 1.23)]) == pytest.approx(1.3)
    # executions within a period's first second share it; a later one opens a new period
    assert cost.flex_billed_seconds([(0.0, 0.1), (0.5, 0.1), (5.0, 0.1)]) == pytest.approx(2.0)
    assert cost.flex_billed_seconds([(0.0, 0.1), (0.9, 0.5)]) == pytest.approx(1.4)
    assert cost.flex_billed_seconds([]) == 0.0
    # without the minimum: the union of execution time
    assert cost.flex_billed_seconds([(0.0, 0.2), (0.1, 0.2), (1.0, 0.1)], 0.0, 0.0) == (
        pytest.approx(0.4)
    )


def test_a_lone_vm_pays_a_second_per_burst_and_a_crowd_shares_the_instance():
    template = cost.CycleTemplate(command=((0.0, 0.05), (0.06, 0.02)), completion=((0.0, 0.1),))
    lone = cost.simulate_flex([template], interval=300, vms=1, agent_seconds=10)
    assert lone == pytest.approx(2.0)  # the command burst and the completion burst
    crowd = cost.simulate_flex([template], interval=30, vms=600, agent_seconds=10)
    assert crowd <= 30 / 600  # one instance busy all the time, shared by every VM
    exact = cost.simulate_flex([template], 300, 1, 10, minimum=0.0, step=0.0)
    assert exact == pytest.approx(0.17)


def test_monthly_cost_is_cycles_per_month_times_the_cycle_plus_snapshot_capacity():
    cycle = cost.PerCycle(
        storage={
            "control_plane|blob|GetBlob": 2,
            "control_plane|snapshot|SnapshotBlob": 1,
            "control_plane|snapshot|DeleteSnapshot": 1,
            "control_plane|table|QueryEntity": 3,
            "agent|blob|PutPage": 2,
        },
        storage_bytes={},
        servicebus={
            "send|agent-commands": 1,
            "receive|agent-commands/Subscriptions/s": 1,
            "complete|agent-commands/Subscriptions/s": 1,
            "send|agent-events": 1,
            "receive|agent-events": 1,
            "complete|agent-events": 1,
            "cbs-token|$cbs": 5,
            "accept-session-timeout|": 9,
        },
        executions={
            "orchestrationTrigger|replicate_vm": 4,
            "activityTrigger|record": 2,
            "serviceBusTrigger|agent_event": 1,
        },
        execution_seconds=0.5,
        host_cpu_seconds=0.1,
    )
    p = cost.PRICES
    n = cost.cycles_per_month(300)
    parts = cost.monthly_usd(
        cycle,
        {"queue": 10, "table": 5},
        300,
        24,
        8 * cost.MIB,
        1,
        billed_gb_seconds=4.0,
        heartbeat_usd_per_vm_month=0.25,
    )
    assert parts["storage_transactions"] == pytest.approx(
        n
        * (
            2 * p["blob_read_operation"].usd
            + p["blob_other_operation"].usd
            + 3 * p["table_transaction"].usd
        )
    )
    assert parts["servicebus_operations"] == pytest.approx(
        n * 6 * p["servicebus_standard_operation"].usd
    )  # token puts and idle waits excluded
    assert parts["functions_executions"] == pytest.approx(n * 7 * p["flex_on_demand_execution"].usd)
    assert parts["functions_execution_time"] == pytest.approx(
        n * 4.0 * p["flex_on_demand_gb_second"].usd
    )
    assert parts["snapshot_capacity"] == pytest.approx(
        8 / 1024 * 289 * p["snapshot_capacity_gb_month"].usd
    )
    assert parts["agent_page_writes"] == pytest.approx(n * 2 * p["blob_write_operation"].usd)
    control = [
        k
        for k in parts
        if k not in ("control_plane_total", "agent_page_writes", "total_with_agent_writes")
    ]
    assert parts["control_plane_total"] == pytest.approx(sum(parts[k] for k in control))
    assert parts["total_with_agent_writes"] == pytest.approx(
        parts["control_plane_total"] + parts["agent_page_writes"]
    )


def test_service_bus_operations_are_split_by_who_makes_them():
    assert broker_side("send", "agent-commands") == "control_plane"
    assert broker_side("send", "agent-events") == "agent"
    assert broker_side("receive", "agent-events") == "control_plane"
    assert broker_side("complete", "agent-commands/Subscriptions/site") == "agent"
    assert broker_side("management:renew-lock", "agent-events") == "control_plane"
    counts = {
        "send|agent-commands": 1,
        "receive|agent-events": 2,
        "management:renew-session-lock|agent-events": 1,
        "send|agent-events": 1,
        "connection|": 4,
    }
    assert cost.servicebus_operations(counts) == 5
    assert cost.servicebus_operations(counts, "control_plane") == 4
    assert cost.servicebus_operations(counts, "agent") == 1


def test_the_task_hub_model_counts_messages_per_episode_and_activity():
    estimate = cost.task_hub_estimate(
        {"orchestrationTrigger|replicate_vm": 5, "activityTrigger|a": 2},
        {"TIMER_FIRED": 1, "EVENT_RAISED": 1, "EXECUTION_STARTED": 1, "TASK_COMPLETED": 2},
    )
    assert estimate == {"queue": 2 * 5 + 4 * 2 + 3, "table": 3 * 5 + 1}


def test_invocation_lines_are_read_and_other_lines_skipped():
    line = (
        '{"function": "record_recovery_point", "trigger": "activityTrigger", '
        '"instance": "replication-bench-vm0001", "durationMs": 42.5, '
        '"outcome": "succeeded", "task": 3}'
    )
    found = parse_invocation(line, ended=100.0)
    assert found is not None
    assert (found.function, found.instance, found.seconds, found.extra) == (
        "record_recovery_point",
        "replication-bench-vm0001",
        0.0425,
        {"task": 3},
    )
    assert found.started == pytest.approx(100.0 - 0.0425)
    assert parse_invocation("devhost: listening on http://127.0.0.1:1") is None
    assert parse_invocation('{"not": "an invocation"}') is None
