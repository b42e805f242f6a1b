"""`python -m bench plan` (or `python -m bench.plan [--vms N] [--groups G]`): a recovery plan of
100 VMs in 5 groups, test-failed over against the local ARM stand-in; the control plane's
time to finish each group and the whole plan, and where it goes.

Beside devhost (the unchanged function_app.py, Durable history in SQLite): Azurite, the local
Service Bus broker in a process of its own, and the ARM stand-in (HTTPS on loopback, disks
imported from Azurite). The VMs are seeded as initial replication leaves them: inventory,
replicated item (Protected), a 1 MiB replica with its VHD footer and one recovery point (a
blob snapshot). The disks are small on purpose: the figures are the control plane's
(orchestration, activities, ARM calls and their long-running operations), not the copy of
bytes, which in Azure the platform does.

Baseline, in the same run: one VM's test failover on its own (POST .../vms/{vm}/failover),
request to job end. A group whose VMs ran perfectly in parallel would take one baseline; the
ratio says how far the group is from that, the plan's ratio to 100 baselines how far it is
from running every VM one after another. Each VM's own job tells where the time goes (its
steps' medians) and the plan's job what the plan adds around them (claiming a group's VMs,
recording steps).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.processes import BrokerProcess

TENANT, SITE = "bench", "site-bench"
MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
SIZE = "Standard_A2_v2"


def log(message: str) -> None:
    print(f"bench.plan: {message}", file=sys.stderr, flush=True)


def seed(vms: list[str]) -> None:
    """Each VM as initial replication leaves it: Protected, with one recovery point."""
    from agent.footer import Footer
    from azureclients.clients import blob_service
    from contracts.api import ProtectionTarget
    from contracts.inventory import InventoryVm, VmmCloudRef
    from readmodels.inventory import upsert_vm
    from readmodels.items import save_item
    from readmodels.points import save_point
    from readmodels.records import RecoveryPoint, ReplicaDisk, ReplicatedItem

    service = blob_service()
    cloud = VmmCloudRef(id="bench", name="bench")
    now = datetime.now(UTC)
    for vm in vms:
        disk = f"{vm}-os"
        inventory = InventoryVm.model_validate({
            "id": vm, "name": vm, "generation": 1, "osType": "linux",
            "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 1, "memoryMb": 1024,
            "nics": [{"id": "nic0"}],
            "disks": [{"id": disk, "path": f"D:\\{vm}.vhdx", "format": "VHDX",
                       "sizeBytes": MIB, "isOsDisk": True}],
        })  # fmt: skip
        upsert_vm(TENANT, SITE, cloud, inventory, event_id=uuid.uuid4().hex, event_time=now)
        container = f"replica-{TENANT}-{vm}"
        service.create_container(container)
        blob = service.get_blob_client(container, f"{disk}.vhd")
        blob.create_page_blob(MIB + 512)
        blob.upload_page(Footer.new(MIB).to_bytes(), offset=MIB, length=512)
        snapshot = blob.create_snapshot()["snapshot"]
        save_point(RecoveryPoint(id=f"{vm}-p1", tenant=TENANT, vm=vm, time=now,
                                 consistency="crash", snapshots={disk: snapshot}))  # fmt: skip
        save_item(ReplicatedItem(
            tenant=TENANT, vm=vm, vm_name=vm, site=SITE, status="Protected", provider="direct",
            policy="30s", target=ProtectionTarget(target_name=vm, target_size=SIZE),
            replica_disks=[ReplicaDisk(disk_id=disk, container=container, blob=f"{disk}.vhd",
                                       size=MIB, source_path=f"D:\\{vm}.vhdx")],
            last_recovery_point=now, recovery_points=1,
        ))  # fmt: skip


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.session = f"{base}/api/tenants/{TENANT}", requests.Session()
        self.session.headers["x-functions-key"] = key

    def call(self, method: str, path: str, **kw: Any) -> dict:
        answer = self.session.request(method, f"{self.base}/{path}", timeout=60, **kw)
        if answer.status_code >= 400:
            raise SystemExit(f"bench.plan: {method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else {}

    def ended(self, job_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.call("GET", f"jobs/{job_id}")
            if job["state"] in ("Succeeded", "Failed"):
                return job
            time.sleep(0.5)
        raise SystemExit(f"bench.plan: job {job_id} did not end within {timeout:.0f} s")


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def where(api: Api, vm_jobs: list[str]) -> dict[str, float]:
    """Median seconds of each step of the VMs' own failover jobs."""
    per_step: dict[str, list[float]] = {}
    for job_id in vm_jobs:
        for step in api.call("GET", f"jobs/{job_id}")["steps"]:
            if step["endTime"]:
                per_step.setdefault(step["name"], []).append(
                    seconds(step["startTime"], step["endTime"])
                )
    return {name: round(statistics.median(v), 2) for name, v in per_step.items()}


def measure(vm_count: int, group_count: int) -> dict[str, Any]:
    from azureclients.clients import reset_cache
    from devhost.arm.launch import start_for_app
    from devhost.azurite import Azurite
    from devhost.functions import load_app
    from devhost.init_settings import embedded_settings
    from devhost.webhost import DevHost, running

    work = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    key = secrets.token_urlsafe(16)
    with (
        Azurite(location=work / "azurite") as azurite,
        BrokerProcess(work / "servicebus", [SITE]) as broker,
    ):
        os.environ.update(
            embedded_settings(
                azurite.connection_string,
                broker.connection_string,
                {TENANT: key},
                sites={TENANT: [SITE]},
            )
        )
        arm = start_for_app(work / "arm", azurite.connection_string, os.environ)
        reset_cache()
        vms = [f"vm{i:03d}" for i in range(vm_count)]
        log(f"seeding {vm_count + 1} protected VMs")
        seed([*vms, "baseline"])
        host = DevHost(load_app("function_app", ROOT), port=0, data_dir=work / "devhost",
                       host_json=ROOT / "host.json")  # fmt: skip
        try:
            with running(host):
                api = Api(host.base_url, key)
                log("baseline: one VM's test failover on its own")
                began = time.monotonic()
                single = api.call("POST", "vms/baseline/failover", json={"type": "test"})
                single = api.ended(single["id"], 300)
                baseline = time.monotonic() - began
                if single["state"] != "Succeeded":
                    raise SystemExit(f"bench.plan: the baseline failed: {single['errors']}")
                size = -(-vm_count // group_count)
                groups = [{"vms": vms[i : i + size]} for i in range(0, vm_count, size)]
                api.call("PUT", "recovery-plans/bench", json={"groups": groups})
                log(f"plan: {vm_count} VMs in {len(groups)} groups, test failover")
                began = time.monotonic()
                started = api.call("POST", "recovery-plans/bench/failover", json={"type": "test"})
                done = api.ended(started["id"], 60 * vm_count)
                total = time.monotonic() - began
                log(f"plan {done['state']} after {total:.1f} s; cleaning up")
                cleanup_began = time.monotonic()
                cleanup = api.call("POST", "recovery-plans/bench/cleanup")
                cleaned = api.ended(cleanup["id"], 60 * vm_count)
                cleanup_total = time.monotonic() - cleanup_began
                result = report(api, done, groups, baseline, total, single)
                result["cleanup"] = {"state": cleaned["state"], "seconds": round(cleanup_total, 1)}
        finally:
            arm.stop()
    return result


def report(
    api: Api, done: dict, groups: list[dict], baseline: float, total: float, single: dict
) -> dict[str, Any]:
    steps = {s["name"]: s for s in done["steps"]}
    per_group, vm_seconds, overhead = [], [], []
    for number, group in enumerate(groups, 1):
        whole = steps[f"Group {number}"]
        group_s = seconds(whole["startTime"], whole["endTime"])
        spans = [steps[f"Group {number}: {vm}"] for vm in group["vms"]]
        vm_seconds += [seconds(s["startTime"], s["endTime"]) for s in spans]
        first_start = min(s["startTime"] for s in spans)
        overhead.append(seconds(whole["startTime"], first_start))
        per_group.append({
            "group": number, "vms": len(group["vms"]), "seconds": round(group_s, 1),
            "ratio_to_baseline": round(group_s / baseline, 2),
        })  # fmt: skip
    vm_jobs = [f"{done['id']}-v{i:03d}" for i in range(sum(len(g["vms"]) for g in groups))]
    return {
        "vms": len(vm_jobs),
        "groups": len(groups),
        "state": done["state"],
        "errors": [e["code"] for e in done["errors"]][:5],
        "baseline_one_vm_seconds": round(baseline, 1),
        "plan_seconds": round(total, 1),
        "plan_ratio_to_baseline": round(total / baseline, 2),
        "plan_ratio_to_one_after_another": round(total / (baseline * len(vm_jobs)), 3),
        "per_group": per_group,
        "where_it_goes": {
            "vm_step_seconds": {
                "median": round(statistics.median(vm_seconds), 1),
                "p95": round(sorted(vm_seconds)[int(0.95 * (len(vm_seconds) - 1))], 1),
                "max": round(max(vm_seconds), 1),
            },
            "group_start_to_first_vm_seconds": round(statistics.median(overhead), 2),
            "vm_job_step_median_seconds": where(api, vm_jobs),
            "baseline_vm_job_step_seconds": {
                s["name"]: round(seconds(s["startTime"], s["endTime"]), 2)
                for s in single["steps"]
                if s["endTime"]
            },
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan")
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--groups", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.vms, args.groups), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
