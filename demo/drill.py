"""`make drill` (`python -m demo.drill`): a DR drill on the local embedded default.

Azurite, the local Service Bus broker, the ARM stand-in and devhost (the unchanged
function_app.py) start; the real agent daemon replicates two VMs whose disks qemu-img made;
a recovery plan puts them in two groups; the drill fails the plan over for a test, reads every
failed-over disk back through grant access and compares it with its recovery point, cleans up
and reports. It prints, per VM and disk, whether the disk is identical, the RTO and RPO, and
the cleanup; then it stops everything it started.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
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
from demo.render import table

ROOT = Path(__file__).resolve().parent.parent
TENANT, SITE, PLAN = "contoso", "vmm-drill", "shop"
MIB = 1024 * 1024
DISK_MIB = 64
VMS = ("shop-db", "shop-web")


class Drill:
    def __init__(self, base: str, key: str, servicebus: str, work: Path) -> None:
        self.base, self.key, self.servicebus, self.work = base, key, servicebus, work
        self.agent: subprocess.Popen | None = None

    def api(self, method: str, path: str, **kw: object) -> requests.Response:
        return requests.request(method, f"{self.base}/api/tenants/{TENANT}/{path}", timeout=30,
                                headers={"x-functions-key": self.key}, **kw)  # fmt: skip

    def wait(self, check, what: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(0.5)
        raise SystemExit(f"drill: timed out waiting for {what} (see {self.work}/agent.log)")

    def make_disk(self, vm: str, pattern: int) -> Path:
        path = self.work / "vms" / f"{vm}.vhdx"
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(path), f"{DISK_MIB}M"],
                       check=True)  # fmt: skip
        for offset in (0, 17, 40):
            subprocess.run(["qemu-io", "-f", "vhdx", "-c",
                            f"write -P {pattern + offset} {offset}M 2M", str(path)],
                           check=True, capture_output=True)  # fmt: skip
        return path

    def start_agent(self) -> None:
        env = {**os.environ, "AGENT_SERVICEBUS_CONNECTION": self.servicebus}
        log = (self.work / "agent.log").open("w")
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "agent.daemon", "--site", SITE, "--tenant", TENANT,
             "--state-dir", str(self.work / "agent-state"), "--heartbeat-seconds", "5",
             "--progress-seconds", "0.5"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        if self.agent and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(20)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()

    def report_inventory(self, disks: dict[str, Path]) -> None:
        vms = [{"id": vm, "name": vm, "generation": 1, "osType": "linux",
                "osName": "Ubuntu 22.04 LTS", "vcpus": 1, "memoryMb": 2048,
                "nics": [{"id": "nic0"}],
                "disks": [{"id": f"{vm}-os", "path": str(path), "format": "VHDX",
                           "sizeBytes": DISK_MIB * MIB, "isOsDisk": True}]}
               for vm, path in disks.items()]  # fmt: skip
        body = {"type": "inventory.snapshot", "tenant": TENANT, "site": SITE,
                "id": uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(),
                "data": {"cloud": {"id": "gold", "name": "Gold"}, "vms": vms}}  # fmt: skip
        with (
            ServiceBusClient.from_connection_string(self.servicebus) as client,
            client.get_queue_sender(events_queue(SITE)) as sender,
        ):
            sender.send_messages(
                ServiceBusMessage(json.dumps(body), session_id=SITE, message_id=body["id"])
            )

    def run(self) -> bool:
        print(f"\n1. Two VMs with real VHDX disks ({DISK_MIB} MiB each), the agent daemon for "
              f"site {SITE}")  # fmt: skip
        disks = {vm: self.make_disk(vm, 0x30 + 16 * n) for n, vm in enumerate(VMS)}
        self.start_agent()
        self.report_inventory(disks)
        for vm in VMS:
            self.wait(lambda v=vm: self.api("POST", f"vms/{v}/preflight", json={}).status_code
                      == 200, f"{vm} in the inventory", 60)  # fmt: skip
            answer = self.api("POST", f"vms/{vm}/protection",
                              json={"targetName": vm, "policy": "30s"})  # fmt: skip
            print(f"   {vm}: enable protection {answer.status_code}")
        for vm in VMS:
            self.wait(lambda v=vm: self.api("GET", f"replicated-items/{v}").json().get("status")
                      == "Protected", f"{vm} Protected", 180)  # fmt: skip
        print("   both Protected, each with a recovery point")

        print(f"\n2. Recovery plan '{PLAN}': group 1 {VMS[0]}, group 2 {VMS[1]}")
        plan = {"description": "database first, then web",
                "groups": [{"vms": [VMS[0]]}, {"vms": [VMS[1]]}]}  # fmt: skip
        shown = self.api("PUT", f"recovery-plans/{PLAN}", json=plan).json()
        print(f"   health {shown['health']['state']}: {shown['health']['reasons'][0]['cause']}")

        print("\n3. The drill: test failover, proof of every disk, cleanup")
        started = self.api("POST", f"recovery-plans/{PLAN}/drill").json()
        job = self.wait(lambda: (j := self.api("GET", f"jobs/{started['id']}").json())["state"]
                        in ("Succeeded", "Failed") and j, "the drill", 600)  # fmt: skip
        print(table([{"Step": s["name"], "State": s["state"], "Start": s["startTime"][11:19],
                      "End": (s["endTime"] or "")[11:19]} for s in job["steps"]],
                    ["Step", "State", "Start", "End"]))  # fmt: skip

        report = self.api("GET", f"recovery-plans/{PLAN}/drills/{started['id']}").json()
        print(f"\n4. Report: {report['state']}")
        rows = []
        for vm in report["vms"]:
            for disk in vm["disks"] or [{}]:
                rows.append({
                    "VM": vm["vm"], "Group": vm["group"], "Disk": disk.get("diskId", "-"),
                    "Identical": ("yes" if disk.get("identical") else "NO") if disk else "-",
                    "SHA-256 (disk read via grant access)": (disk.get("sha256") or "-")[:16],
                    "SHA-256 (recovery point)": (disk.get("pointSha256") or "-")[:16],
                    "RTO": f"{vm['rtoSeconds']:.1f} s" if vm["rtoSeconds"] is not None else "-",
                    "RPO": f"{vm['rpoSeconds']:.1f} s" if vm["rpoSeconds"] is not None else "-",
                })  # fmt: skip
        print(table(rows, list(rows[0])))
        cleanup = report["cleanup"] or {}
        rto, rpo = report["rtoSeconds"] or 0, report["rpoSeconds"] or 0
        print(f"   plan RTO {rto:.1f} s, RPO {rpo:.1f} s; cleanup "
              f"{'confirmed, nothing left' if cleanup.get('confirmed') else cleanup}")  # fmt: skip
        for error in report["errors"]:
            print(f"   - {error['code']}: {error['cause']}")
        print(f"   HTML report: {report['report']} (send the key as x-functions-key)")
        health = self.api("GET", f"recovery-plans/{PLAN}").json()["health"]
        print(f"   plan health now: {health['state']}")
        return report["state"] == "Passed"


def main() -> int:
    warnings.filterwarnings("ignore", message="Potential duplicate Task completion")
    from azureclients.clients import reset_cache
    from devhost.arm.launch import start_for_app
    from devhost.azurite import Azurite
    from devhost.functions import load_app
    from devhost.init_settings import embedded_settings
    from devhost.servicebus import Broker
    from devhost.servicebus.entities import load_entities
    from devhost.webhost import DevHost, running

    work = Path(tempfile.mkdtemp(prefix="dr-drill-"))
    key = secrets.token_urlsafe(24)
    print(f"drill: working in {work}")
    entities = load_entities().add_site(SITE)  # the drill site's events queue and commands
    with (
        Azurite(location=work / "azurite") as azurite,
        Broker(port=0, data_dir=work / "servicebus", entities=entities) as broker,
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
        host = DevHost(load_app("function_app", ROOT), port=0, data_dir=work / "devhost",
                       host_json=ROOT / "host.json")  # fmt: skip
        drill, passed = None, False
        try:
            with running(host):
                print(f"drill: devhost on {host.base_url}, ARM stand-in on {arm.endpoint}")
                drill = Drill(host.base_url, key, broker.connection_string, work)
                passed = drill.run()
        finally:
            if drill is not None:
                drill.stop()
            arm.stop()
    print(
        "\ndrill: done; the agent, devhost, the ARM stand-in, the broker and Azurite are stopped."
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
