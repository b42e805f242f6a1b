"""`python -m bench failover` (or `python -m bench.failover [--runs N] [--batch N]`): the control
plane's time from a failover request to the Azure VM, and where that time goes.

Run as bench/cost.py runs the app: devhost (the unchanged function_app.py) in a process of
its own, Azurite and the local Service Bus broker beside it, and its simulated agent in a
fourth process; the local ARM stand-in (devhost/arm, started with
devhost.arm.launch.start_for_app as `make up` and the e2e tests start it) plays Azure's
Compute and Network in this process. VMs are reported by the agent and protected over the
runbook API; the agent answers the initial copy and then holds every sync, so no replication
cycle runs while failovers are measured.

Each VM has one 16 MiB disk: its replica is a 16 MiB + 512 B page blob, zeros and a fixed VHD
footer, byte for byte the shape `qemu-img create -f vpc -o subformat=fixed` makes, so the point
copy and the Import move 16 MiB and the figures are the control plane's, not the disk copy's.

Measured (test failovers, `recoveryPoint: latest`):
- one VM at a time (`--runs` VMs, one after another), and `--batch` VMs requested at once:
  request to VM created (the `Create virtual machine` step's end) and to the job's end, median
  and p95;
- where the time goes, from the job's recorded step times: request to job start, each step
  (choose point, create disks = copy + import, NIC, VM), the gaps between steps, the end; and
  inside each reconcile step, from devhost's invocation log: how many reconcile calls, their
  activity time, the durable timers between them (POLL_FIRST doubling to POLL_MAX), and the
  rest (dispatch: episodes, queueing for an activity slot).
Baseline, in the same run, interleaved with the single runs: the same SDK calls made directly
and sequentially against the stand-in, no orchestration: read the item's latest point, copy the
point's snapshot to a blob, then PUT the disk (Import), the NIC and the VM, each followed by GETs
every 20 ms until it is Succeeded. Also the same with the SDK's own pollers (`.result()`, which
follow the stand-in's Retry-After), as a script would write it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.control_plane import percentile
from bench.cost import (
    SITE,
    TENANT,
    Agent,
    AgentPlan,
    DevhostProcess,
    app_settings,
    inventory,
    report_inventory,
    wait_for,
)
from bench.meters import Invocation
from bench.processes import BrokerProcess, group_cpu_seconds, process_cpu_seconds
from orchestrators.failover import POLL_FIRST, POLL_MAX

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
DISK_BYTES = 16 * MIB
POLICY = "bench"
TARGET_SIZE = "Standard_D2s_v5"  # offers generation 2, which cost.inventory's VMs are
CHOOSE, DISKS, NIC, VM = (
    "Choose recovery point",
    "Create disks",
    "Create network interface",
    "Create virtual machine",
)
RECONCILERS = {
    DISKS: "reconcile_failover_disks",
    NIC: "reconcile_failover_nic",
    VM: "reconcile_failover_vm",
}
SHORT = {DISKS: "disks", NIC: "NIC", VM: "VM"}
RETRY_AFTER = 1  # seconds the stand-in asks pollers to wait (start_for_app's default)
BASELINE_POLL = 0.02  # seconds between the baseline's GETs


def log(message: str) -> None:
    print(f"bench.failover: {message}", file=sys.stderr, flush=True)


# --- the arithmetic (pure; tests/bench/test_failover.py) --------------------------------------


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def phases(job: Mapping[str, Any], requested: float) -> dict[str, float]:
    """Where one failover job's time went, in seconds, from its recorded times and the wall
    time its request was sent: request to job start, each step, the gaps between steps (job
    start to the first step included), the VM's end to the job's end, and the two totals."""
    start, end = stamp(job["startTime"]), stamp(job["endTime"])
    out = {"request to job start": start - requested}
    between, previous, vm_created = 0.0, start, None
    for step in job["steps"]:
        began, ended = stamp(step["startTime"]), stamp(step["endTime"])
        between += began - previous
        out[step["name"]] = ended - began
        previous = ended
        if step["name"] == VM:
            vm_created = ended
    if vm_created is None:
        raise ValueError(f"job {job.get('id')} has no '{VM}' step: {job.get('state')}")
    out["between steps"] = between
    out["VM created to job end"] = end - vm_created
    out["request to VM created"] = vm_created - requested
    out["request to job end"] = end - requested
    return out


def scheduled_waits(calls: int, first: float = POLL_FIRST, most: float = POLL_MAX) -> float:
    """Seconds of durable timers a reconcile step sets before its `calls`-th call: `first`
    after the first call, doubling up to `most`."""
    total, pause = 0.0, first
    for _ in range(max(0, calls - 1)):
        total += pause
        pause = min(pause * 2, most)
    return total


def reconcile_breakdown(step_seconds: float, activity_seconds: Sequence[float]) -> dict[str, float]:
    """One reconcile step split: its calls, their activity time, the timers between them and
    the rest (orchestrator episodes, job-step records, waiting for an activity slot)."""
    timers = scheduled_waits(len(activity_seconds))
    active = sum(activity_seconds)
    return {
        "calls": len(activity_seconds),
        "activity_s": active,
        "timers_s": timers,
        "dispatch_s": step_seconds - active - timers,
    }


def spread(values: Iterable[float], digits: int = 3) -> dict[str, float]:
    ordered = list(values)
    return {
        "median": round(statistics.median(ordered), digits),
        "p95": round(percentile(ordered, 0.95), digits),
        "max": round(max(ordered), digits),
    }


def medians(rows: Sequence[Mapping[str, float]], digits: int = 3) -> dict[str, float]:
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    return {k: round(statistics.median(r[k] for r in rows), digits) for k in keys}


def of_jobs(
    jobs: Sequence[Mapping[str, Any]],
    requested: Mapping[str, float],
    activities: Mapping[str, Mapping[str, list[float]]],
) -> dict[str, Any]:
    """The figures of a set of failover jobs: totals (median, p95, max), the median of each
    phase, and the median split of each reconcile step. `activities`: job id -> activity
    function -> the durations of its calls."""
    rows = [phases(job, requested[job["id"]]) for job in jobs]
    polls: dict[str, list[dict[str, float]]] = {step: [] for step in RECONCILERS}
    for job, row in zip(jobs, rows, strict=True):
        for step, function in RECONCILERS.items():
            calls = activities.get(job["id"], {}).get(function, [])
            polls[step].append(reconcile_breakdown(row[step], calls))
    totals = ("request to VM created", "request to job end")
    counts = [{f: len(c) for f, c in activities.get(job["id"], {}).items()} for job in jobs]
    return {
        "vms": len(jobs),
        "request_to_vm_created_s": spread(r[totals[0]] for r in rows),
        "request_to_job_end_s": spread(r[totals[1]] for r in rows),
        "phases_median_s": {k: v for k, v in medians(rows).items() if k not in totals},
        "reconcile_steps_median": {step: medians(split) for step, split in polls.items()},
        "activity_calls_per_failover_median": medians(counts) if all(counts) else {},
    }


def findings(
    one: Mapping[str, Any],
    batch: Mapping[str, Any],
    base: Mapping[str, Any],
    sdk: Mapping[str, Any],
) -> list[str]:
    """What the figures say about the orchestration, each with its figure (the lead decides
    what to change)."""
    total = one["request_to_vm_created_s"]["median"]
    steps = one["reconcile_steps_median"]
    timers = sum(s["timers_s"] for s in steps.values())
    calls = ", ".join(f"{SHORT[s]} {v['calls']:g}" for s, v in steps.items())
    floor, pollers = base["one_vm_s"]["median"], sdk["one_vm_s"]["median"]
    out = [
        f"Reconcile's first wait: each reconcile step (disks, NIC, VM) sends its PUT in its "
        f"first call and answers not done without looking, then sleeps {POLL_FIRST:g} s on a "
        f"durable timer before its next call (calls per step, median: {calls}). For one VM "
        f"that is {timers:.1f} s of the {total:.2f} s from request to VM ({timers / total:.0%}). "
        f"The same calls made directly take {floor:.2f} s; with the SDK's own pollers, which "
        f"look once right after the PUT and wait Retry-After only after that, {pollers:.2f} s "
        "(the stand-in answers a NIC PUT Succeeded at once, as Azure usually does). Reading "
        "the PUT's provisioningState, or one GET right after it, would end a step that is "
        "already done without a timer; in Azure, where a VM takes tens of seconds, it is the "
        f"doubling to POLL_MAX = {POLL_MAX:g} s that costs, up to that much late detection "
        "per step.",
    ]
    nic = one["phases_median_s"].get(NIC, 0.0)
    out.append(
        f"'{NIC}' uses nothing '{DISKS}' makes (only the VM needs both): run beside it "
        f"(task_all), it would take its {nic:.2f} s ({nic / total:.0%}) off every failover."
    )
    grew = {
        k: batch["phases_median_s"][k] - v
        for k, v in one["phases_median_s"].items()
        if k in batch["phases_median_s"]
    }
    top = ", ".join(f"'{k}' +{v:.2f} s" for k, v in sorted(grew.items(), key=lambda kv: -kv[1])[:3])
    dispatch = ", ".join(
        f"{SHORT[s]} {batch['reconcile_steps_median'][s]['dispatch_s']:.2f} s" for s in RECONCILERS
    )
    at_once = batch["request_to_vm_created_s"]
    calls = one.get("activity_calls_per_failover_median") or {}
    records = calls.get("record_job_step", 0)
    cores = batch.get("cpu_cores_busy") or {}
    busy = ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
    out.append(
        f"{batch['vms']} at once: median request to VM {at_once['median']:.2f} s (p95 "
        f"{at_once['p95']:.2f} s) against {total:.2f} s for one, all {batch['vms']} VMs "
        f"within {batch['first_request_to_last_vm_created_s']:.2f} s. The growth is in {top}; "
        f"in the reconcile steps it is dispatch (an episode or an activity slot to run in: "
        f"{dispatch}), not the timers."
        + (
            f" Each failover runs {sum(calls.values()):g} activities, {records:g} of them "
            "job-step records (a begin and a finish per step, each its own activity and Table "
            "write)"
            if calls
            else ""
        )
        + (
            f"; cores busy meanwhile: {busy} (of {batch.get('cpu_cores')}); devhost runs the "
            "whole app in one Python process, so one core is its ceiling."
            if busy
            else "."
        )
    )
    return out


# --- the baseline: the same SDK calls, directly -------------------------------------------------


class Direct:
    """The SDK calls a failover makes, made one after another without the orchestration."""

    def __init__(self, settings: Mapping[str, str], storage: str) -> None:
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.network import NetworkManagementClient
        from azure.storage.blob import BlobServiceClient

        endpoint, subscription = settings["ARM_ENDPOINT"], settings["AZURE_SUBSCRIPTION_ID"]
        credential = DefaultAzureCredential()
        self.compute = ComputeManagementClient(credential, subscription, base_url=endpoint)
        self.network = NetworkManagementClient(credential, subscription, base_url=endpoint)
        self.blobs = BlobServiceClient.from_connection_string(storage)
        self.settings = settings

    def once(
        self, api: requests.Session, base_url: str, vm: str, name: str, sdk_pollers: bool
    ) -> dict[str, float]:
        from azure.mgmt.compute import models as compute
        from azure.mgmt.network import models as network
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        group = self.settings["RECOVERY_RESOURCE_GROUP"]
        location = self.settings["RECOVERY_LOCATION"]
        times = {}
        began = time.perf_counter()

        def lap(what: str) -> None:
            nonlocal began
            now = time.perf_counter()
            times[what] = now - began
            began = now

        item = api.get(f"{base_url}/api/tenants/{TENANT}/replicated-items/{vm}", timeout=30).json()
        replica, point = item["replicaDisks"][0], item["recoveryPoints"][0]
        snapshot = point["snapshots"][replica["diskId"]]
        lap("choose point (GET the item)")

        source = self.blobs.get_blob_client(
            replica["container"], replica["blob"], snapshot=snapshot
        )
        sas = generate_blob_sas(
            self.blobs.account_name,
            replica["container"],
            replica["blob"],
            snapshot=snapshot,
            account_key=self.blobs.credential.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(hours=1),
        )
        copy = self.blobs.get_blob_client(replica["container"], f"baseline-{name}.vhd")
        copy.start_copy_from_url(f"{source.url}&{sas}")
        while copy.get_blob_properties().copy.status == "pending":
            time.sleep(BASELINE_POLL)
        lap("copy the point to a blob")

        disk = compute.Disk(
            location=location,
            os_type="Windows",
            hyper_v_generation="V2",
            creation_data=compute.CreationData(
                create_option="Import",
                source_uri=copy.url,
                storage_account_id=self.settings["REPLICA_STORAGE_ACCOUNT_ID"],
            ),
        )
        made = self.create(self.compute.disks, group, f"{name}-os", disk, sdk_pollers)
        copy.delete_blob()  # as the failover does once its disk exists
        lap("import the disk")

        nic = network.NetworkInterface(
            location=location,
            ip_configurations=[
                network.NetworkInterfaceIPConfiguration(
                    name="ipconfig1",
                    subnet=network.Subnet(id=self.settings["TEST_FAILOVER_SUBNET_ID"]),
                    private_ip_allocation_method="Dynamic",
                )
            ],
        )
        nic_id = self.create(
            self.network.network_interfaces, group, f"{name}-nic", nic, sdk_pollers
        )
        lap("create the NIC")

        machine = compute.VirtualMachine(
            location=location,
            hardware_profile=compute.HardwareProfile(vm_size=TARGET_SIZE),
            storage_profile=compute.StorageProfile(
                os_disk=compute.OSDisk(
                    os_type="Windows",
                    create_option="Attach",
                    managed_disk=compute.ManagedDiskParameters(id=made),
                )
            ),
            network_profile=compute.NetworkProfile(
                network_interfaces=[compute.NetworkInterfaceReference(id=nic_id, primary=True)]
            ),
        )
        self.create(self.compute.virtual_machines, group, name, machine, sdk_pollers)
        lap("create the VM")
        return times

    @staticmethod
    def create(operations: Any, group: str, name: str, body: Any, sdk_pollers: bool) -> str:
        """PUT the resource; then the SDK's poller, or GETs every 20 ms, until Succeeded."""
        if sdk_pollers:
            return operations.begin_create_or_update(group, name, body).result().id
        operations.begin_create_or_update(group, name, body, polling=False)
        while (found := operations.get(group, name)).provisioning_state != "Succeeded":
            if found.provisioning_state in ("Failed", "Canceled"):
                raise SystemExit(f"bench.failover: baseline {name} {found.provisioning_state}")
            time.sleep(BASELINE_POLL)
        return found.id


# --- the run ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from agent.transfer.options import TransferOptions
    from devhost.arm.launch import start_for_app
    from devhost.azurite import Azurite

    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    singles = [f"vm{i:04d}" for i in range(args.runs)]
    batch = [f"vm{i:04d}" for i in range(args.runs, args.runs + args.batch)]
    key, master = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    options = TransferOptions()
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(Azurite(location=work / "azurite"))
        broker = stack.enter_context(BrokerProcess(work / "servicebus", [SITE]))
        settings = app_settings(
            azurite.connection_string,
            broker.connection_string,
            key,
            master,
            REPLICATION_STALL_SECONDS="3600",  # a held sync must not be sent again
        )
        # Fills the app's failover settings, the local managed identity and the CA bundle in.
        arm = stack.enter_context(
            start_for_app(
                work / "arm", azurite.connection_string, settings, retry_after=RETRY_AFTER
            )
        )
        os.environ.update({k: v for k, v in settings.items() if k in arm_keys(arm)})
        host = stack.enter_context(DevhostProcess(settings, work / "devhost"))
        log(f"devhost at {host.base_url}; ARM stand-in at {arm.endpoint}")
        agent = Agent(
            AgentPlan(broker.connection_string, 0, options.chunk_bytes, options.sample_checksums)
        )
        agent.start()
        stack.callback(agent.stop)
        api = requests.Session()
        api.headers["x-functions-key"] = key
        protect(api, host.base_url, broker.connection_string, singles + batch)

        direct = Direct(settings, azurite.connection_string)
        base: list[dict[str, float]] = []
        pollers: list[dict[str, float]] = []
        one_jobs, requested = [], {}
        for n, vm in enumerate(singles):
            base.append(direct.once(api, host.base_url, batch[0], f"base{n}", False))
            pollers.append(direct.once(api, host.base_url, batch[0], f"poller{n}", True))
            requested_at, job_id = request(api, host.base_url, vm)
            requested[job_id] = requested_at
            one_jobs.append(wait_jobs(api, host.base_url, [job_id], 120)[0])
            log(
                f"one VM, run {n + 1}/{len(singles)}: "
                f"{phases(one_jobs[-1], requested_at)['request to VM created']:.2f} s"
            )

        log(f"{len(batch)} VMs at once")

        def cpu() -> dict[str, float]:
            return {
                "devhost": process_cpu_seconds(host.process.pid),
                "azurite": group_cpu_seconds(azurite.process.pid),
                "broker": process_cpu_seconds(broker.pid),
                "arm_stand_in_and_bench": own_cpu_seconds(),
                "wall": time.monotonic(),
            }

        cpu0 = cpu()
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            sent = list(pool.map(lambda vm: request(api, host.base_url, vm), batch))
        requested.update({job_id: at for at, job_id in sent})
        batch_jobs = wait_jobs(api, host.base_url, [job_id for _, job_id in sent], 600)
        cpu1 = cpu()
        wall = cpu1.pop("wall") - cpu0.pop("wall")
        busy = {k: round((cpu1[k] - cpu0[k]) / wall, 2) for k in cpu0}
        time.sleep(1)  # the last invocation-log lines
        activities = by_job(host.invocations)
    return report(args, one_jobs, batch_jobs, requested, activities, base, pollers, busy)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def arm_keys(arm: Any) -> set[str]:
    from devhost.arm.config import local_failover_settings

    return set(local_failover_settings("")) | set(arm.app_environment())


def protect(api: requests.Session, base_url: str, connection: str, vms: list[str]) -> None:
    """The agent reports the VMs (one 16 MiB disk each); each is protected over the API; then
    wait until every one is Protected with its first recovery point."""
    body = inventory(vms, 1)
    for reported in body["data"]["vms"]:
        for disk in reported["disks"]:
            disk["sizeBytes"] = DISK_BYTES
    report_inventory(connection, api, base_url, body)
    url = f"{base_url}/api/tenants/{TENANT}"
    log(f"protecting {len(vms)} VMs")
    for vm in vms:
        answer = api.post(
            f"{url}/vms/{vm}/protection",
            timeout=60,
            json={"targetName": vm, "targetSize": TARGET_SIZE, "policy": POLICY},
        )
        if answer.status_code != 202:
            raise SystemExit(f"bench.failover: protect {vm}: {answer.status_code} {answer.text}")

    def protected() -> bool:
        items = api.get(f"{url}/replicated-items?top=1000", timeout=30).json().get("value", [])
        ready = [i for i in items if i["status"] == "Protected" and i["recoveryPoints"]]
        return len(ready) >= len(vms)

    started = time.monotonic()
    wait_for(protected, "every VM protected", 120 + 3 * len(vms), every=2)
    log(f"all protected after {time.monotonic() - started:.0f} s")


def request(api: requests.Session, base_url: str, vm: str) -> tuple[float, str]:
    """POST a test failover; (wall time it was sent, its job id)."""
    sent = time.time()
    answer = api.post(
        f"{base_url}/api/tenants/{TENANT}/vms/{vm}/failover",
        timeout=60,
        json={"type": "test", "recoveryPoint": "latest"},
    )
    if answer.status_code != 202:
        raise SystemExit(f"bench.failover: failover {vm}: {answer.status_code} {answer.text}")
    return sent, answer.json()["id"]


def wait_jobs(api: requests.Session, base_url: str, ids: list[str], timeout: float) -> list[dict]:
    url = f"{base_url}/api/tenants/{TENANT}/jobs"

    def ended() -> list[dict] | None:
        if len(ids) == 1:
            jobs = {ids[0]: api.get(f"{url}/{ids[0]}", timeout=30).json()}
        else:
            jobs = {
                j["id"]: j for j in api.get(url, params={"top": 1000}, timeout=30).json()["value"]
            }
        done = [jobs[i] for i in ids if jobs.get(i, {}).get("state") in ("Succeeded", "Failed")]
        return done if len(done) == len(ids) else None

    jobs = wait_for(
        ended, f"{len(ids)} failover job(s)", timeout, every=0.25 if len(ids) == 1 else 1
    )
    failed = [j for j in jobs if j["state"] != "Succeeded"]
    if failed:
        raise SystemExit(f"bench.failover: {len(failed)} failover(s) failed: {failed[0]['errors']}")
    return jobs


def by_job(invocations: Sequence[Invocation]) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for inv in invocations:
        if inv.trigger == "activityTrigger" and inv.instance:
            out.setdefault(inv.instance, {}).setdefault(inv.function, []).append(inv.seconds)
    return out


def report(
    args: argparse.Namespace,
    one_jobs: list[dict],
    batch_jobs: list[dict],
    requested: Mapping[str, float],
    activities: Mapping[str, Mapping[str, list[float]]],
    base: list[dict[str, float]],
    pollers: list[dict[str, float]],
    batch_busy: dict[str, float],
) -> dict[str, Any]:
    one = of_jobs(one_jobs, requested, activities)
    many = of_jobs(batch_jobs, requested, activities)
    baseline = {
        "runs": len(base),
        "one_vm_s": spread(sum(b.values()) for b in base),
        "steps_median_s": medians(base),
    }
    sdk = {
        "runs": len(pollers),
        "one_vm_s": spread(sum(p.values()) for p in pollers),
        "steps_median_s": medians(pollers),
    }
    first = min(requested[j["id"]] for j in batch_jobs)
    last_vm = max(
        stamp(next(s for s in j["steps"] if s["name"] == VM)["endTime"]) for j in batch_jobs
    )
    many["first_request_to_last_vm_created_s"] = round(last_vm - first, 3)
    many["cpu_cores"] = os.cpu_count()
    many["cpu_cores_busy"] = batch_busy  # from the requests to the last job's end
    floor = baseline["one_vm_s"]["median"]
    return {
        "what": "test failover (recoveryPoint latest) against the local ARM stand-in: control-"
        "plane time from the HTTP request to the VM created (its 'Create virtual machine' step "
        "ended) and to the job's end",
        "disks": f"one {DISK_BYTES // MIB} MiB fixed VHD per VM (zeros and the footer, the shape "
        "qemu-img makes): copy and import move 16 MiB, so the figures are the control plane's, "
        "not the disk copy's",
        "orchestration": {
            "poll_first_seconds": POLL_FIRST,
            "poll_max_seconds": POLL_MAX,
            "stand_in_retry_after_seconds": RETRY_AFTER,
        },
        "one_vm": one,
        f"{len(batch_jobs)}_vms_at_once": many,
        "baseline_direct_sdk_calls_sequential": baseline,
        "baseline_sdk_pollers_sequential": sdk,
        "ratios": {
            "one_vm_median_to_baseline": round(one["request_to_vm_created_s"]["median"] / floor, 2),
            "one_vm_median_to_sdk_pollers": round(
                one["request_to_vm_created_s"]["median"] / sdk["one_vm_s"]["median"], 2
            ),
            f"{len(batch_jobs)}_vms_median_to_baseline": round(
                many["request_to_vm_created_s"]["median"] / floor, 2
            ),
            f"{len(batch_jobs)}_vms_all_created_to_{len(batch_jobs)}_sequential_baselines": round(
                many["first_request_to_last_vm_created_s"] / (floor * len(batch_jobs)), 2
            ),
        },
        "findings": findings(one, many, baseline, sdk),
        # The machine is shared: figures only compare at a similar load.
        "load_average_1m_at_end": os.getloadavg()[0],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover")
    parser.add_argument("--runs", type=int, default=5, help="single failovers, one at a time (5)")
    parser.add_argument("--batch", type=int, default=50, help="failovers requested at once (50)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
