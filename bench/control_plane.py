"""`python -m bench.control_plane [--vms N] [--window S] [--quick]`: how many protected VMs one
devhost keeps at a 30-second replication interval, and the control plane's time per cycle.

One process runs devhost (the unchanged function_app.py, Durable history in SQLite). Beside
it, each in a process of its own as in production: Azurite and the local Service Bus broker
(the Azure services), and the simulated agent (on the VMM server). All share the 2 cores.
N VMs are protected with the 30 s policy (items seeded as the protect operation leaves them,
then the real `replicate_vm` orchestration started for each), and a simulated agent answers
every command at once: it writes the replica's VHD footer on the initial copy and reports each
delta as done with nothing to send. So the figures are the control plane's alone: commands with
fresh SAS, verification of the replica, blob snapshots, recovery-point rows, pruning, RPO and
health, timers and continue_as_new.

Measured over a window once every VM is Protected:
- per VM, the time between the starts of consecutive cycles (commands the agent receives):
  a VM is *kept* at 30 s when none of its intervals exceeds 30 s by more than 20 %;
- control-plane time per cycle: from the agent's completion event to the recovery point's row
  (its Table Timestamp): event delivery, raising it to the orchestration, verification,
  snapshot, pruning, RPO and health — median and p95;
- CPU per cycle of devhost's process, and of Azurite and the broker; the agent's apart.
Baseline, in the same run: the same activities called as plain functions in a loop (send the
command, verify + snapshot + record the point), no orchestration, no host: the storage and
broker work a cycle cannot avoid. Ratios: kept VMs to the 500 target, time per cycle to it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import os
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import BlobClient

from bench.processes import BrokerProcess, group_cpu_seconds, process_cpu_seconds
from contracts.events import events_queue

TARGET_VMS = 500
INTERVAL = 30.0
TOLERANCE = 1.2
TENANT, SITE = "bench", "site-bench"
DISK = 1024 * 1024 * 1024  # 1 GiB disks: blob size does not matter to the control plane
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"bench.control_plane: {message}", file=sys.stderr, flush=True)


class InstantAgent:
    """Answers every command at once from a few threads; records when each arrived.

    It runs in a process of its own, as the real agent runs on the VMM server: its CPU is
    not the control plane's and is reported apart."""

    def __init__(self, connection: str, threads: int = 4) -> None:
        self.received: dict[str, list[tuple[float, str]]] = {}  # vm -> (t, command id)
        self.answered: dict[str, float] = {}  # command id -> wall time the outcome was sent
        self.cpu_seconds = 0.0
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results = context.Queue()
        self._process = context.Process(
            target=_agent_process, args=(connection, threads, self._stop, self._results),
            daemon=True,
        )  # fmt: skip

    def start(self) -> None:
        self._process.start()

    def finish(self) -> None:
        """Stop answering and collect what the agent process saw."""
        self._stop.set()
        self.received, self.answered, self.cpu_seconds = self._results.get(timeout=60)
        self._process.join(timeout=30)


def _agent_process(connection: str, threads: int, stop: Any, results: Any) -> None:
    received: dict[str, list[tuple[float, str]]] = defaultdict(list)
    answered: dict[str, float] = {}
    lock = threading.Lock()
    workers = [
        threading.Thread(target=_answer, args=(connection, stop, received, answered, lock))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((dict(received), answered, cpu_seconds()))


def _answer(connection: str, stop: Any, received: dict, answered: dict,
            lock: threading.Lock) -> None:  # fmt: skip
    from agent.footer import Footer

    with ServiceBusClient.from_connection_string(connection) as client:
        receiver = client.get_subscription_receiver("agent-commands", SITE)
        sender = client.get_queue_sender(events_queue(SITE))
        with receiver, sender:
            while not stop.is_set():
                for message in receiver.receive_messages(max_message_count=20, max_wait_time=1):
                    command = json.loads(str(message))
                    receiver.complete_message(message)
                    if command["type"] == "cancel":
                        continue
                    vm, now = command["vm"], time.time()
                    with lock:
                        received[vm].append((now, command["id"]))
                    disks = []
                    for disk in command["data"]["disks"]:
                        if command["type"] == "replicate":
                            footer = Footer.new(disk["blobSize"] - 512).to_bytes()
                            BlobClient.from_blob_url(disk["sasUrl"]).upload_page(
                                footer, offset=disk["blobSize"] - 512, length=512
                            )
                        disks.append({"diskId": disk["diskId"], "blobSize": disk["blobSize"],
                                      "bytesSent": 0, "checksums": {}})  # fmt: skip
                    kind = "initial" if command["type"] == "replicate" else "delta"
                    event = {"type": f"replication.{kind}.completed", "tenant": TENANT,
                             "site": SITE, "vm": vm, "id": uuid.uuid4().hex,
                             "time": datetime.now(UTC).isoformat(),
                             "data": {"commandId": command["id"], "disks": disks}}  # fmt: skip
                    sender.send_messages(ServiceBusMessage(
                        json.dumps(event), session_id=vm, message_id=event["id"]))  # fmt: skip
                    answered[command["id"]] = time.time()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(vms: list[str]) -> None:
    """Items as the protect operation leaves them (WaitingForInitialReplication)."""
    from azureclients.clients import blob_service
    from readmodels.items import save_item
    from readmodels.jobs import create_job_with_id
    from readmodels.records import ReplicaDisk, ReplicatedItem

    service = blob_service()
    for vm in vms:
        container = f"replica-{TENANT}-{vm}"
        service.create_container(container)
        save_item(ReplicatedItem(
            tenant=TENANT, vm=vm, vm_name=vm, site=SITE, status="WaitingForInitialReplication",
            provider="direct", policy="30s",
            replica_disks=[ReplicaDisk(disk_id=f"{vm}-os", container=container, size=DISK,
                                       blob=f"{vm}-os.vhd", source_path=f"D:\\{vm}.vhdx")],
        ))  # fmt: skip
        create_job_with_id(TENANT, f"{vm}-r", "InitialReplication", vm, "api")


def start_orchestrations(base_url: str, master_key: str, vms: list[str]) -> None:
    from application.orchestrations import ReplicationInput

    session = requests.Session()
    for vm in vms:
        state = ReplicationInput(tenant=TENANT, vm=vm, generation=uuid.uuid4().hex[:8],
                                 job_id=f"{vm}-r", interval_seconds=30,
                                 stall_seconds=120)  # fmt: skip
        response = session.post(
            f"{base_url}/runtime/webhooks/durabletask/orchestrators/replicate_vm/"
            f"replication-{TENANT}-{vm}",
            params={"code": master_key},
            json=state.model_dump(mode="json"),
            timeout=30,
        )
        response.raise_for_status()


def baseline(cycles: int) -> float:
    """Median seconds of one cycle's activities called directly (no host, no orchestration)."""
    from activities.commands import send_agent_command
    from activities.recovery_points import record_recovery_point
    from agent.footer import Footer
    from azureclients.clients import blob_service
    from domain.replication import replica_blob_size

    vm = "baseline"
    seed([vm])
    blob = blob_service().get_blob_client(f"replica-{TENANT}-{vm}", f"{vm}-os.vhd")
    size = replica_blob_size(DISK)
    blob.create_page_blob(size)
    blob.upload_page(Footer.new(size - 512).to_bytes(), offset=size - 512, length=512)
    from readmodels.items import update_item

    update_item(TENANT, vm, lambda item: setattr(item, "status", "Protected"))
    times = []
    for cycle in range(cycles):
        began = time.perf_counter()
        command_id = f"base-sync-{cycle}-1"
        send_agent_command({"tenant": TENANT, "vm": vm, "command_id": command_id,
                            "type": "sync", "cycle": cycle})  # fmt: skip
        record_recovery_point({
            "tenant": TENANT, "vm": vm, "command_id": command_id,
            "status_event": "DeltaSyncCompleted", "consistency": "crash",
            "disks": [{"diskId": f"{vm}-os", "blobSize": size, "bytesSent": 0, "checksums": {}}],
        })  # fmt: skip
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def point_rows() -> dict[str, float]:
    """Recovery point id -> when its row was written (the Table service's Timestamp)."""
    from azureclients.clients import table_service

    rows = {}
    for entity in table_service().get_table_client("RecoveryPoints").list_entities():
        point = json.loads(entity["Json"])
        rows[point["id"]] = entity.metadata["timestamp"].timestamp()
    return rows


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from azureclients.clients import reset_cache
    from devhost.azurite import Azurite
    from devhost.functions import load_app
    from devhost.init_settings import embedded_settings
    from devhost.webhost import DevHost, running

    work = Path(tempfile.mkdtemp(prefix="bench-cp-"))
    master = secrets.token_urlsafe(16)
    with (
        Azurite(location=work / "azurite") as azurite,
        BrokerProcess(work / "servicebus", [SITE]) as broker,
    ):
        key = secrets.token_urlsafe(16)
        os.environ.update(
            embedded_settings(
                azurite.connection_string,
                broker.connection_string,
                {TENANT: key},
                master,
                sites={TENANT: [SITE]},
            ),
            REPLICATION_STALL_SECONDS="120",
            AGENT_HEARTBEAT_TIMEOUT_SECONDS="3600",
        )
        reset_cache()
        log("baseline: the activities of a cycle called directly")
        base = baseline(20)
        agent = InstantAgent(broker.connection_string)
        host = DevHost(load_app("function_app", ROOT), port=0, data_dir=work / "devhost",
                       host_json=args.host_json)  # fmt: skip
        hosting = running(host)
        hosting.__enter__()
        try:
            agent.start()
            vms = [f"vm{i:04d}" for i in range(args.vms)]
            log(f"protecting {len(vms)} VMs")
            seed(vms)
            start_orchestrations(host.base_url, master, vms)
            protected_after = wait_protected(vms, timeout=max(120, args.vms * 0.6))
            log(f"all protected after {protected_after:.1f} s; measuring {args.window:.0f} s")
            storage = azurite.process.pid if azurite.process else 0
            cpu0, t0 = cpu_seconds(), time.time()
            azurite0, broker0 = group_cpu_seconds(storage), process_cpu_seconds(broker.pid)
            time.sleep(args.window)
            cpu1, t1 = cpu_seconds(), time.time()
            azurite1, broker1 = group_cpu_seconds(storage), process_cpu_seconds(broker.pid)
            agent.finish()
            result = report(args, agent, point_rows(), base, t0, t1, cpu1 - cpu0,
                            protected_after, azurite1 - azurite0, broker1 - broker0)  # fmt: skip
        finally:
            try:
                hosting.__exit__(None, None, None)
            except TimeoutError:  # hundreds of open links take a while to close; not measured
                log("devhost took over 30 s to stop")
    return result


def wait_protected(vms: list[str], timeout: float) -> float:
    from readmodels.items import ITEMS

    began = time.time()
    while time.time() - began < timeout:
        statuses = [row.model.status for vm in vms if (row := ITEMS.get(TENANT, vm))]
        done = sum(s == "Protected" for s in statuses)
        if done == len(vms):
            return time.time() - began
        log(f"{done}/{len(vms)} protected")
        time.sleep(5)
    raise SystemExit(f"bench.control_plane: not every VM was protected within {timeout:.0f} s")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(args: argparse.Namespace, agent: InstantAgent, rows: dict[str, float], base: float,
           t0: float, t1: float, cpu: float, protected_after: float,
           azurite_cpu: float, broker_cpu: float) -> dict[str, Any]:  # fmt: skip
    intervals, kept, cycle_times, cycles = [], 0, [], 0
    for _vm, received in agent.received.items():
        window = [(t, cid) for t, cid in received if t0 <= t <= t1 and "-sync-" in cid]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(received)
                if t0 <= b[0] <= t1 and "-sync-" in b[1]]  # fmt: skip
        intervals.extend(gaps)
        cycles += len(window)
        if gaps and max(gaps) <= INTERVAL * TOLERANCE:
            kept += 1
        for _, cid in window:
            answered, written = agent.answered.get(cid), rows.get(cid)
            if answered and written:
                cycle_times.append(max(0.0, written - answered))
    median_cycle = statistics.median(cycle_times) if cycle_times else float("nan")
    extensions = json.loads(Path(args.host_json).read_text())["extensions"]
    sb, durable = extensions["serviceBus"], extensions.get("durableTask", {})
    return {
        "vms": args.vms,
        "max_concurrent_sessions": sb.get("maxConcurrentSessions", 8),
        "session_idle_timeout": sb.get("sessionIdleTimeout"),
        "max_concurrent_activity_functions": durable.get("maxConcurrentActivityFunctions", 16),
        "interval_seconds": INTERVAL,
        "window_seconds": round(t1 - t0, 1),
        "initial_replication_all_protected_seconds": round(protected_after, 1),
        "vms_kept_at_30s": kept,
        "kept_ratio_to_target_500": round(kept / TARGET_VMS, 3),
        "cycles_in_window": cycles,
        "cycles_per_second": round(cycles / (t1 - t0), 2),
        "cycles_per_second_needed": round(args.vms / INTERVAL, 2),
        "interval_median_seconds": round(statistics.median(intervals), 2) if intervals else None,
        "interval_p95_seconds": round(percentile(intervals, 0.95), 2) if intervals else None,
        "interval_max_seconds": round(max(intervals), 2) if intervals else None,
        "control_plane_ms_per_cycle_median": round(median_cycle * 1000, 1),
        "control_plane_ms_per_cycle_p95": round(percentile(cycle_times, 0.95) * 1000, 1),
        "baseline_ms_per_cycle_direct_calls": round(base * 1000, 1),
        "ratio_cycle_time_to_baseline": round(median_cycle / base, 2) if base else None,
        "process_cpu_ms_per_cycle": round(cpu / cycles * 1000, 1) if cycles else None,
        "cpu_cores_busy": round(cpu / (t1 - t0), 2),
        "agent_process_cpu_seconds_whole_run": round(agent.cpu_seconds, 1),
        "azurite_cpu_ms_per_cycle": round(azurite_cpu / cycles * 1000, 1) if cycles else None,
        "azurite_cores_busy": round(azurite_cpu / (t1 - t0), 2),
        "broker_cpu_ms_per_cycle": round(broker_cpu / cycles * 1000, 1) if cycles else None,
        "broker_cores_busy": round(broker_cpu / (t1 - t0), 2),
        # The machine is shared: figures only compare at a similar load.
        "load_average_1m_at_end": os.getloadavg()[0],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.control_plane")
    parser.add_argument("--vms", type=int, default=TARGET_VMS)
    parser.add_argument(
        "--window",
        type=float,
        default=90.0,
        help="seconds measured once all VMs are protected (default 90)",
    )
    parser.add_argument("--quick", action="store_true", help="50 VMs, 60 s")
    parser.add_argument(
        "--host-json",
        type=Path,
        default=ROOT / "host.json",
        help="the host.json devhost runs with (default: the app's)",
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.quick:
        args.vms, args.window = 50, 60.0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(measure(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
