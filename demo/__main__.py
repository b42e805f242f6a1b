"""The main job on the local embedded default: Azurite, the local Service Bus, devhost.

Part 1 (protection): an on-premises agent (played here with the real Service Bus SDK) reports
the VMs of a VMM cloud; an operator checks them with preflight and enables protection over the
runbook API; the control plane checks every rule, records every operation as a job and asks
the agent to start initial replication.
Part 2 (replication, demo/replication.py): the real agent daemon replicates a VM whose disk is
a real ext4 filesystem into Azurite, a delta cycle carries files written into it, and the
latest recovery point is proven byte-identical to the disk.
Part 3 (failover, demo/failover.py): against the local ARM stand-in, a test failover of that VM
(its disk proven identical to the point through grant access), its cleanup, then a planned
failover (the agent shuts the source down through a shutdown hook) and its commit.
Part 4 (the `asr` provider, demo/asr.py): the stand-in's simulated Azure Site Recovery
discovers web01 in cloud Gold (its control endpoint plays ASR's provider on the VMM server);
web01 is protected with provider `asr` (our InitialReplication job mirrors ASR's job), test
failed over through ASR and cleaned up, failed over unplanned and committed, then failed back,
committed and protected again by reverse replication.
The demo prints what happened, like ASR's portal pages, and stops everything it started.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

import requests
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from contracts.events import events_queue
from demo.asr import AsrDemo
from demo.failover import FailoverDemo
from demo.hooks import write_hooks
from demo.render import table
from demo.replication import AGENT_SITE, ReplicationDemo

ROOT = Path(__file__).resolve().parent.parent
TENANT, SITE = "contoso", "site-local"
CLOUD = {"id": "gold", "name": "Gold"}
GB, TB = 1024**3, 1024**4


def disk(disk_id: str, size: int, **extra: object) -> dict:
    return {"id": disk_id, "path": f"D:\\Hyper-V\\{disk_id}.vhdx", "format": "VHDX",
            "sizeBytes": size, **extra}  # fmt: skip


INVENTORY = [
    {"id": "web01", "name": "web01", "generation": 2, "osType": "windows",
     "osName": "Windows Server 2022 Datacenter", "vcpus": 2, "memoryMb": 8192,
     "nics": [{"id": "nic0"}], "disks": [disk("web01-os", 127 * GB, isOsDisk=True)]},
    {"id": "bsd01", "name": "bsd01", "generation": 1, "osType": "linux",
     "osName": "Other Linux (64-bit)", "vcpus": 1, "memoryMb": 2048,
     "nics": [{"id": "nic0"}], "disks": [disk("bsd01-os", 20 * GB, isOsDisk=True)]},
    {"id": "sql01", "name": "sql01", "generation": 1, "osType": "windows",
     "osName": "Windows Server 2019 Datacenter", "vcpus": 8, "memoryMb": 65536,
     "nics": [{"id": "nic0"}, {"id": "nic1", "teamed": True}],
     "disks": [disk("sql01-os", 5 * TB, isOsDisk=True),
               disk("sql01-quorum", 10 * GB, shared=True)]},
]  # fmt: skip


class Demo:
    def __init__(self, base_url: str, key: str, servicebus: str) -> None:
        self.base, self.key, self.servicebus = base_url, key, servicebus

    def api(self, method: str, path: str, **kw: object) -> requests.Response:
        return requests.request(method, f"{self.base}/api/{path}", timeout=30,
                                headers={"x-functions-key": self.key}, **kw)  # fmt: skip

    def agent_event(self, type_: str, data: dict, vm: str | None = None, site: str = SITE) -> None:
        body = {"type": type_, "tenant": TENANT, "site": site, "id": uuid.uuid4().hex,
                "time": datetime.now(UTC).isoformat(), "data": data}  # fmt: skip
        if vm:
            body["vm"] = vm
        with (
            ServiceBusClient.from_connection_string(self.servicebus) as client,
            client.get_queue_sender(events_queue(site)) as sender,
        ):
            sender.send_messages(
                ServiceBusMessage(json.dumps(body), session_id=vm or site, message_id=body["id"])
            )

    def wait(self, check, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(0.3)
        raise SystemExit(f"demo: timed out waiting for {what}")

    def run(self) -> None:
        print(f"\n1. The agent on the VMM server reports cloud '{CLOUD['name']}' with three VMs")
        self.agent_event("inventory.snapshot", {"cloud": CLOUD, "vms": INVENTORY})
        vms = self.wait(lambda: len(v := self.api("GET", f"tenants/{TENANT}/vms").json()["value"])
                        >= 3 and v, "the inventory")  # fmt: skip
        print(table([{"VM": v["vm"]["name"], "Generation": v["vm"]["generation"],
                      "OS": v["vm"]["osName"], "Status": v["protectionStatus"]} for v in vms],
                    ["VM", "Generation", "OS", "Status"]))  # fmt: skip

        print("\n2. Preflight: every prerequisite rule, nothing changed")
        for vm in ("web01", "bsd01", "sql01"):
            report = self.api("POST", f"tenants/{TENANT}/vms/{vm}/preflight",
                              json={"targetSize": "Standard_D2s_v5"}).json()  # fmt: skip
            verdict = "passes" if report["passed"] else f"fails {len(report['failures'])} rules"
            print(f"  {vm}: {verdict} (profile {report['profile']})")
            for failure in report["failures"]:
                print(f"     - {failure['code']}: {failure['cause']}")
                print(f"       fix: {failure['recommendation']}")

        print("\n3. Enable protection over HTTP (a runbook would do the same)")
        jobs = {}
        for vm, size in (("bsd01", "Standard_B2s"), ("sql01", "Standard_E8s_v5")):
            response = self.api("POST", f"tenants/{TENANT}/vms/{vm}/protection",
                                json={"targetName": f"{vm}-dr", "targetSize": size})  # fmt: skip
            jobs[vm] = response.json()["id"]
            print(f"  {vm}: {response.status_code} job {jobs[vm]}")
        print("  web01: later, with Azure Site Recovery (provider asr, step 19)")
        again = self.api("POST", f"tenants/{TENANT}/vms/bsd01/protection", json={})
        print(
            f"  bsd01 again: {again.status_code} {again.json().get('code') or again.json()['id']}"
        )

        for vm, job_id in jobs.items():
            self.wait(lambda j=job_id: self.api("GET", f"tenants/{TENANT}/jobs/{j}").json()
                      .get("state") in ("Succeeded", "Failed"), f"the job of {vm}")  # fmt: skip

        print("\n4. Jobs (newest first), like ASR's jobs page")
        rows = []
        for job in self.api("GET", f"tenants/{TENANT}/jobs").json()["value"]:
            rows.append({
                "Job": job["type"], "VM": job["target"], "Status": job["state"],
                "Started by": job["startedBy"], "Start time": job["startTime"][:19],
                "Steps": ", ".join(f"{s['name']} ({s['state']})" for s in job["steps"]),
                "Errors": ", ".join(e["code"] for e in job["errors"]),
            })  # fmt: skip
        print(table(rows, ["Job", "VM", "Status", "Started by", "Start time", "Errors"]))
        failed = next(j for j in self.api("GET", f"tenants/{TENANT}/jobs").json()["value"]
                      if j["target"] == "sql01")  # fmt: skip
        print("\n   sql01's job says why, and how to fix it:")
        for error in failed["errors"]:
            print(
                f"     - {error['code']}: {error['cause']}\n       fix: {error['recommendation']}"
            )

        print("\n5. Replicated items")
        items = self.api("GET", f"tenants/{TENANT}/replicated-items").json()["value"]
        print(table([{"VM": i["vmName"], "Status": i["status"], "Health": i["health"]["state"],
                      "Target": f"{i['target']['targetName']} ({i['target']['targetSize']})",
                      "Replica disks": len(i["replicaDisks"])} for i in items],
                    ["VM", "Status", "Health", "Target", "Replica disks"]))  # fmt: skip

        print("\n6. The agent's site received its replicate commands (write-only SAS per disk)")
        with (
            ServiceBusClient.from_connection_string(self.servicebus) as client,
            client.get_subscription_receiver("agent-commands", SITE, max_wait_time=5) as receiver,
        ):
            for message in receiver.receive_messages(max_message_count=10, max_wait_time=5):
                command = json.loads(str(message))
                sas = command["data"]["disks"][0]["sasUrl"]
                permissions = next(
                    p for p in sas.split("?", 1)[1].split("&") if p.startswith("sp=")
                )
                blob = "/".join(sas.split("?")[0].rsplit("/", 2)[-2:])
                disks = len(command["data"]["disks"])
                print(
                    f"  {command['type']} {command['vm']}: {disks} disk(s) -> {blob}, "
                    f"SAS {permissions} (write only, this blob only, expires within the hour)"
                )
                receiver.complete_message(message)


def demo_entities():
    """The broker's entities plus the queue and commands subscription of the replication
    demo's site."""
    from devhost.servicebus.entities import load_entities

    return load_entities().add_site(AGENT_SITE)


def main() -> int:
    # The Durable SDK warns when an agent's answer arrives before the orchestration waits for
    # it; it is delivered all the same (durable-replay.md). Keep the story readable.
    warnings.filterwarnings("ignore", message="Potential duplicate Task completion")
    from azureclients.clients import reset_cache
    from devhost.arm.launch import start_for_app
    from devhost.azurite import Azurite
    from devhost.functions import load_app
    from devhost.init_settings import embedded_settings
    from devhost.servicebus import Broker
    from devhost.webhost import DevHost, running

    work = Path(tempfile.mkdtemp(prefix="dr-demo-"))
    key = secrets.token_urlsafe(24)
    print(f"demo: working in {work}")
    with (
        Azurite(location=work / "azurite") as azurite,
        Broker(port=0, data_dir=work / "servicebus", entities=demo_entities()) as broker,
    ):
        print(f"demo: Azurite on 127.0.0.1:{azurite.blob_port}, Service Bus on "
              f"127.0.0.1:{broker.port}")  # fmt: skip
        os.environ.update(
            embedded_settings(
                azurite.connection_string,
                broker.connection_string,
                {TENANT: key},
                sites={TENANT: [SITE, AGENT_SITE]},
            )
        )
        # The `asr` provider's watch looks at Site Recovery every second (the app's defaults:
        # every 10 s while enabling, 60 s once protected), to keep part 4 brisk.
        os.environ.update({"ASR_POLL_SECONDS": "1", "ASR_WATCH_SECONDS": "1"})
        # The failover settings, the local managed identity and the CA bundle go into this
        # process's environment, where devhost runs the app (as the e2e `arm` fixture does).
        with start_for_app(work / "arm", azurite.connection_string) as arm:
            print(f"demo: ARM stand-in (Compute, Network, Site Recovery) on {arm.endpoint}")
            # The stand-in's control endpoint (demo/asr.py plays ASR's provider on the VMM
            # server through it) takes devhost's master key; the app never calls it.
            arm.config.control_key = os.environ["DEVHOST_MASTER_KEY"]
            reset_cache()
            host = DevHost(load_app("function_app", ROOT), port=0, data_dir=work / "devhost",
                           host_json=ROOT / "host.json")  # fmt: skip
            with running(host):
                print(f"demo: devhost on {host.base_url} runs function_app.py")
                demo = Demo(host.base_url, key, broker.connection_string)
                demo.run()
                hooks = write_hooks(work / "hooks")
                replication = ReplicationDemo(demo, work, azurite.connection_string, hooks)
                try:
                    replication.run()
                    FailoverDemo(demo, replication, azurite.connection_string).run()
                    web01 = next(vm for vm in INVENTORY if vm["id"] == "web01")
                    AsrDemo(demo, arm, web01, CLOUD).run()
                finally:
                    replication.stop()
    print("\ndemo: done; the agent, the ARM stand-in, devhost, the broker and Azurite are stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
