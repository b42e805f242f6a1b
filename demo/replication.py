"""Part 2 of `make demo`: replication with the real agent daemon, end to end.

A VM disk with a real ext4 filesystem (a fixed VHD made with qemu-img, formatted by mkfs.ext4,
files put in with debugfs — no mount, no root) is reported by the site's agent; protection is
enabled over HTTP; the agent daemon (`python -m agent run`) copies the disk into Azurite while
the replicated item shows progress; files are written into the disk and a delta cycle makes a
new recovery point; the latest point is downloaded and proven byte-identical to the disk.
The daemon runs with the demo's quiesce and shutdown hooks (demo/hooks.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from demo.hooks import Hooks
from demo.render import table

ROOT = Path(__file__).resolve().parent.parent
TENANT, AGENT_SITE, VM = "contoso", "vmm-demo", "app01"
MIB = 1024 * 1024
DISK_MIB = 256


def run(*command: str, **kw: Any) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kw).stdout


def ago(stamp: str | None) -> str:
    if not stamp:
        return "-"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    return f"{int(seconds)} s ago"


class ReplicationDemo:
    def __init__(self, demo: Any, work: Path, storage: str, hooks: Hooks) -> None:
        self.demo, self.work, self.storage, self.hooks = demo, work, storage, hooks
        self.disk = work / "vms" / f"{VM}.vhd"
        self.agent: subprocess.Popen | None = None

    # --- the sample VM ---------------------------------------------------------------------

    def make_disk(self) -> None:
        """256 MiB fixed VHD (raw data + footer) holding an ext4 filesystem with a few files."""
        self.disk.parent.mkdir(parents=True, exist_ok=True)
        run("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed,force_size=on",
            str(self.disk), f"{DISK_MIB}M")  # fmt: skip
        # The filesystem covers the data area only (blocks of 1 KiB); the footer stays intact.
        run("mkfs.ext4", "-q", "-F", "-L", "app01-root", "-b", "1024", str(self.disk),
            str(DISK_MIB * 1024))  # fmt: skip
        seed = self.work / "seed"
        seed.mkdir(exist_ok=True)
        (seed / "motd").write_text("app01: protected by the DR control plane\n")
        (seed / "data.bin").write_bytes(os.urandom(8 * MIB))
        self.put_files(seed, ["motd", "data.bin"])

    def put_files(self, folder: Path, names: list[str]) -> None:
        script = "\n".join(f"write {folder / name} {name}" for name in names)
        run("debugfs", "-w", "-f", "-", str(self.disk), input=script)

    def list_files(self, image: Path) -> list[str]:
        out = run("debugfs", "-R", "ls -l /", str(image))
        return [line.split()[-1] for line in out.splitlines() if line.strip()
                and not line.split()[-1].startswith(".") and "lost+found" not in line]  # fmt: skip

    # --- the agent -------------------------------------------------------------------------

    def start_agent(self) -> None:
        env = {**os.environ, "AGENT_SERVICEBUS_CONNECTION": self.demo.servicebus}
        log = (self.work / "agent.log").open("w")
        daemon = ["--site", AGENT_SITE, "--tenant", TENANT,
                  "--state-dir", str(self.work / "agent-state"), "--heartbeat-seconds", "5",
                  "--progress-seconds", "0.5", "--bandwidth", "64MB/s"]  # fmt: skip
        hooks = ["--quiesce-hook", str(self.hooks.quiesce),
                 "--shutdown-hook", str(self.hooks.shutdown)]  # fmt: skip
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--", *daemon, *hooks],
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

    # --- the story ---------------------------------------------------------------------------

    def item(self) -> dict:
        return self.demo.api("GET", f"tenants/{TENANT}/replicated-items/{VM}").json()

    def run(self) -> None:
        print(f"\n7. A VM whose disk is a real ext4 filesystem: {self.disk.name} "
              f"({DISK_MIB} MiB fixed VHD)")  # fmt: skip
        self.make_disk()
        print(f"   files in it: {', '.join(self.list_files(self.disk))}")
        self.start_agent()
        print(f"   the agent daemon runs for site {AGENT_SITE} (python -m agent run)")
        self.demo.agent_event("inventory.snapshot", site=AGENT_SITE, data={
            "cloud": {"id": "silver", "name": "Silver"},
            "vms": [{"id": VM, "name": VM, "generation": 1, "osType": "linux",
                     "osName": "Ubuntu 22.04 LTS", "vcpus": 2, "memoryMb": 4096,
                     "nics": [{"id": "nic0"}],
                     "disks": [{"id": f"{VM}-os", "path": str(self.disk), "format": "VHD",
                                "sizeBytes": DISK_MIB * MIB, "isOsDisk": True}]}],
        })  # fmt: skip
        self.demo.wait(
            lambda: (
                self.demo.api("POST", f"tenants/{TENANT}/vms/{VM}/preflight", json={}).status_code
                == 200
            ),
            "app01 in the inventory",
        )

        print("\n8. Enable protection with the 30-second policy; initial replication:")
        job = self.demo.api("POST", f"tenants/{TENANT}/vms/{VM}/protection",
                            json={"targetName": f"{VM}-dr", "targetSize": "Standard_B2s",
                                  "policy": "30s"}).json()  # fmt: skip
        last = None
        deadline = time.monotonic() + 120
        while (item := self.item()).get("status") != "Protected":
            p = item.get("progress") or {}
            line = (f"   {item.get('status', '?'):<30} {p.get('percent', 0):5.1f} %  "
                    f"{p.get('bytesDone', 0) // MIB:4d}/{p.get('bytesTotal', 0) // MIB} MiB"
                    f"  {p.get('throughputBytesPerS', 0) / MIB:6.1f} MiB/s  "
                    f"ETA {p.get('etaSeconds') or 0:4.1f} s")  # fmt: skip
            if line != last:
                print(line)
                last = line
            if time.monotonic() > deadline:
                raise SystemExit("demo: initial replication did not finish; see agent.log")
            time.sleep(0.5)
        print(f"   {item['status']}: first recovery point "
              f"{item['recoveryPoints'][0]['time'][:19]} (protect job {job['id']})")  # fmt: skip

        print("\n9. Write files into the VM's disk; the next delta cycle sends only the change")
        change = self.work / "change"
        change.mkdir(exist_ok=True)
        (change / "orders.csv").write_text("".join(f"{i},order-{uuid.uuid4().hex}\n"
                                                   for i in range(20000)))  # fmt: skip
        (change / "motd").write_text("app01: changed after initial replication\n")
        run("debugfs", "-w", "-R", "rm motd", str(self.disk))
        self.put_files(change, ["orders.csv", "motd"])
        written = datetime.now(UTC)
        print(f"   wrote orders.csv and a new motd at {written.isoformat()[:19]}")

        def after_write() -> dict | None:
            points = self.item()["recoveryPoints"]
            return next((p for p in points if datetime.fromisoformat(p["time"]) > written), None)

        point = self.demo.wait(after_write, "a delta cycle", 90)
        print(f"   new recovery point {point['time'][:19]} ({point['consistency']}-consistent)")

        print("\n10. Replicated items, like ASR's page")
        item = self.item()
        print(table([{"Name": item["vmName"], "Replication health": item["health"]["state"],
                      "Status": item["status"], "RPO": f"{int(item['rpoSeconds'] or 0)} s",
                      "Last sync": ago(item.get("lastSync")),
                      "Recovery points": len(item["recoveryPoints"]),
                      "Policy": item["policy"]}],
                    ["Name", "Replication health", "Status", "RPO", "Last sync",
                     "Recovery points", "Policy"]))  # fmt: skip
        self.explain_health(item)
        print("\n    recovery points of app01 (newest first)")
        print(
            table(
                [
                    {"Time": p["time"][:19], "Consistency": p["consistency"], "Id": p["id"]}
                    for p in item["recoveryPoints"][:6]
                ],
                ["Time", "Consistency", "Id"],
            )
        )

        print("\n11. Jobs of app01")
        jobs = self.demo.api("GET", f"tenants/{TENANT}/jobs", params={"target": VM}).json()
        print(table([{"Job": j["type"], "Status": j["state"], "Started by": j["startedBy"],
                      "Start time": j["startTime"][:19],
                      "Steps": " > ".join(s["name"] for s in j["steps"])}
                     for j in jobs["value"]],
                    ["Job", "Status", "Started by", "Start time", "Steps"]))  # fmt: skip

        print("\n12. Proof: the latest recovery point is byte-identical to the disk")
        self.prove(item)

    def explain_health(self, item: dict) -> None:
        """Why the item's health is what it is, and what the quiesce hook did."""
        health = item["health"]
        print(f"\n    health {health['state']}: " + ("; ".join(r["code"] for r in health["reasons"])
                                                    or "nothing to report"))  # fmt: skip
        for reason in health["reasons"]:
            print(f"     - {reason['code']}: {reason['cause']}")
            print(f"       fix: {reason['recommendation']}")
        froze = [line for line in self.hooks.quiesce_said() if " freeze " in line]
        if froze:
            print(f"    app-consistent points: {len(froze)} freeze(s) by the demo's quiesce hook; "
                  f"the last said:\n      {froze[-1]}")  # fmt: skip

    def prove(self, item: dict) -> None:
        latest = item["recoveryPoints"][0]
        disk = item["replicaDisks"][0]
        snapshot = latest["snapshots"][disk["diskId"]]
        blob = BlobServiceClient.from_connection_string(self.storage).get_blob_client(
            disk["container"], disk["blob"], snapshot=snapshot
        )
        restored = self.work / "restored.raw"
        with restored.open("wb") as out:
            blob.download_blob(offset=0, length=DISK_MIB * MIB, max_concurrency=4).readinto(out)
        source = hashlib.sha256(self.disk.read_bytes()[: DISK_MIB * MIB]).hexdigest()
        copy = hashlib.sha256(restored.read_bytes()).hexdigest()
        print(f"   source disk    sha256 {source}")
        print(f"   recovery point sha256 {copy}  (snapshot {snapshot})")
        if source != copy:
            raise SystemExit("demo: the recovery point differs from the source disk")
        print(f"   identical; files in the recovery point: {', '.join(self.list_files(restored))}")
