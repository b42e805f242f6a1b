"""`python -m bench.runbook_api [--vms N] [--quick]`: what the runbook API costs on top of the
storage it reads, and how fast the protection path turns agent reports into state.

One process runs devhost (the unchanged function_app.py) and the local Service Bus broker;
Azurite runs beside it. Measured, each against a baseline taken in the same run:
- inventory: `inventory.snapshot`s of N VMs (one per cloud of 250), from the send until every
  VM is listed, against
  N plain `upsert_entity` calls of rows of the same size (what the projection cannot avoid);
- paging: every VM through GET .../vms with top=100 and nextLink, per page, against the same
  pages read with the Tables SDK directly (the API adds auth, the items join, JSON and HTTP);
- preflight: POST .../preflight per VM (median, p95), against reading the VM's row with the
  SDK plus running every rule in process (the work a preflight cannot avoid);
- enable: POST .../protection for 20 VMs at once until every job is Succeeded (absolute:
  three orchestration steps, four activities, the replication hand-over).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from contracts.events import events_queue

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench"
SITE = "site-bench"
GB = 1024**3
CLOUD_SIZE = 250  # VMs per VMM cloud, one snapshot each


def log(message: str) -> None:
    print(f"bench.runbook_api: {message}", file=sys.stderr, flush=True)


def vm_body(i: int) -> dict:
    return {
        "id": f"vm{i:05d}", "name": f"vm{i:05d}", "generation": 1 + i % 2, "osType": "windows",
        "osName": "Windows Server 2022 Datacenter", "is64Bit": True, "vcpus": 2,
        "memoryMb": 4096, "nics": [{"id": "nic0"}],
        "disks": [{"id": "os", "path": f"C:\\VMs\\vm{i}\\os.vhdx", "format": "VHDX",
                   "sizeBytes": 127 * GB, "isOsDisk": True},
                  {"id": "data", "path": f"C:\\VMs\\vm{i}\\data.vhdx", "format": "VHDX",
                   "sizeBytes": 512 * GB}],
    }  # fmt: skip


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
    }


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        self.base, self.session = base_url, requests.Session()
        self.session.headers["x-functions-key"] = key

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base}/api/{path}"
        response = self.session.request(method, url, timeout=60, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response


def send_snapshots(connection: str, vms: list[dict]) -> int:
    """One snapshot per VMM cloud of CLOUD_SIZE VMs, as an agent reports a large site: each
    message stays under Service Bus Standard's 256 KB. Returns the largest message's size."""
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    largest = 0
    with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_sender(events_queue(SITE)) as sender,
    ):
        for n, start in enumerate(range(0, len(vms), CLOUD_SIZE)):
            cloud = {"id": f"cloud{n}", "name": f"Cloud {n}"}
            event = {"type": "inventory.snapshot", "tenant": TENANT, "site": SITE,
                     "id": uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(),
                     "data": {"cloud": cloud, "vms": vms[start : start + CLOUD_SIZE]}}  # fmt: skip
            body = json.dumps(event)
            largest = max(largest, len(body))
            sender.send_messages(ServiceBusMessage(body, session_id=SITE, message_id=event["id"]))
    return largest


def listed(api: Api) -> int:
    count, url = 0, "tenants/bench/vms?top=1000"
    while url:
        body = api("GET", url).json()
        count += len(body["value"])
        url = body.get("nextLink", "")
    return count


def inventory(api: Api, connection: str, vms: list[dict]) -> tuple[float, int]:
    started = time.perf_counter()
    largest = send_snapshots(connection, vms)
    while listed(api) < len(vms):
        time.sleep(0.05)
    return time.perf_counter() - started, largest


def inventory_baseline(vms: list[dict]) -> float:
    """N upserts of rows shaped like the projection's, in a table of their own."""
    from readmodels.records import VmRecord
    from readmodels.tables import ModelTable

    table = ModelTable("BenchRawVms", VmRecord)
    rows = [
        VmRecord.model_validate({"tenant": TENANT, "site": SITE,
                                 "cloud": {"id": "gold", "name": "Gold"}, "vm": vm,
                                 "last_seen": datetime.now(UTC)})
        for vm in vms
    ]  # fmt: skip
    client = table.client()
    started = time.perf_counter()
    for row in rows:
        entity = {"PartitionKey": TENANT, "RowKey": row.vm.id, "Json": row.model_dump_json(),
                  "Site": SITE, "Present": True}  # fmt: skip
        client.upsert_entity(entity)
    return time.perf_counter() - started


def paging(api: Api) -> list[float]:
    samples, url = [], "tenants/bench/vms?top=100"
    while url:
        started = time.perf_counter()
        body = api("GET", url).json()
        samples.append(time.perf_counter() - started)
        url = body.get("nextLink", "")
    return samples


def paging_baseline() -> list[float]:
    from readmodels.inventory import VMS

    samples, token = [], None
    while True:
        started = time.perf_counter()
        _, token = VMS.page(TENANT, 100, token)
        samples.append(time.perf_counter() - started)
        if not token:
            return samples


def preflight(api: Api, ids: list[str]) -> list[float]:
    return [
        timed(lambda v=v: api("POST", f"tenants/bench/vms/{v}/preflight", json={})) for v in ids
    ]


def preflight_baseline(ids: list[str]) -> list[float]:
    from domain import prerequisites
    from domain.adapters import to_domain_vm, to_protection_request
    from readmodels.inventory import get_vm

    def one(vm: str) -> None:
        record = get_vm(TENANT, vm)
        assert record is not None
        request = to_protection_request(record, {})
        prerequisites.evaluate(to_domain_vm(record), request, prerequisites.ASR_2026)

    return [timed(lambda v=v: one(v)) for v in ids]


def enable(api: Api, ids: list[str]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        accepted = pool.map(
            lambda v: api("POST", f"tenants/bench/vms/{v}/protection", json={}), ids
        )
        jobs = [response.json()["id"] for response in accepted]
    pending = set(jobs)
    while pending:
        for job in list(pending):
            state = api("GET", f"tenants/bench/jobs/{job}").json()["state"]
            if state == "Failed":
                raise RuntimeError(f"job {job} failed")
            if state == "Succeeded":
                pending.discard(job)
        time.sleep(0.05)
    return time.perf_counter() - started


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from azureclients.clients import reset_cache
    from devhost.azurite import Azurite
    from devhost.functions import load_app
    from devhost.init_settings import embedded_settings
    from devhost.servicebus import Broker
    from devhost.servicebus.entities import load_entities
    from devhost.webhost import DevHost, running

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    vms = [vm_body(i) for i in range(args.vms)]
    sample = [vm["id"] for vm in vms[:: max(1, len(vms) // args.preflights)]]
    with (
        Azurite(location=work / "azurite") as azurite,
        Broker(
            port=0, data_dir=work / "servicebus", entities=load_entities().add_site(SITE)
        ) as broker,
    ):
        key = secrets.token_urlsafe(16)
        os.environ.update(
            embedded_settings(
                azurite.connection_string,
                broker.connection_string,
                {TENANT: key},
                sites={TENANT: [SITE]},
            )
        )
        reset_cache()
        log(f"baseline: {len(vms)} raw upserts")
        raw_upserts = inventory_baseline(vms)
        host = DevHost(load_app("function_app", ROOT), port=0, data_dir=work / "devhost",
                       host_json=ROOT / "host.json")  # fmt: skip
        with running(host):
            api = Api(host.base_url, key)
            log(f"inventory snapshot of {len(vms)} VMs")
            projected, largest = inventory(api, broker.connection_string, vms)
            log("paging through every VM, API and SDK")
            pages, raw_pages = paging(api), paging_baseline()
            log(f"{len(sample)} preflights, API and in process")
            checks, raw_checks = preflight(api, sample), preflight_baseline(sample)
            log(f"enabling {args.enable} VMs at once")
            enabled = enable(api, [vm["id"] for vm in vms[: args.enable]])
    page_q, raw_page_q = quantiles(pages), quantiles(raw_pages)
    check_q, raw_check_q = quantiles(checks), quantiles(raw_checks)
    return {
        "vms": len(vms),
        "inventory_snapshots": -(-len(vms) // CLOUD_SIZE),
        "largest_snapshot_bytes": largest,
        "inventory_all_listed_s": round(projected, 2),
        "inventory_vms_per_s": round(len(vms) / projected, 1),
        "baseline_raw_upserts_s": round(raw_upserts, 2),
        "ratio_inventory_to_raw_upserts": round(projected / raw_upserts, 2),
        "list_page_of_100": page_q,
        "baseline_sdk_page_of_100": raw_page_q,
        "ratio_list_page_to_sdk_page": round(page_q["median_ms"] / raw_page_q["median_ms"], 2),
        "preflight": check_q,
        "baseline_read_and_rules_in_process": raw_check_q,
        "ratio_preflight_to_in_process": round(check_q["median_ms"] / raw_check_q["median_ms"], 2),
        "enable_vms_at_once": args.enable,
        "enable_all_jobs_succeeded_s": round(enabled, 2),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.runbook_api")
    parser.add_argument("--vms", type=int, default=2000, help="VMs in the inventory (2000)")
    parser.add_argument("--preflights", type=int, default=100, help="preflight calls (100)")
    parser.add_argument("--enable", type=int, default=20, help="VMs enabled at once (20)")
    parser.add_argument("--quick", action="store_true", help="300 VMs, 30 preflights, 10 enables")
    args = parser.parse_args(argv)
    if args.quick:
        args.vms, args.preflights, args.enable = 300, 30, 10
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(measure(args), indent=2), flush=True)
    # The figures are out and every server is stopped; do not let a straggling background
    # thread of the embedded host (a Durable timer of the VMs just protected) hold the exit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
