"""Part 4 of `make demo`: web01 on the `asr` provider, through the ARM stand-in's simulated
Azure Site Recovery.

In Azure, ASR's provider on the VMM server registers the server, its clouds and their VMs in
the Recovery Services vault; locally the stand-in's control endpoint plays that part (a test
and demo facility, keyed with devhost's master key, never reached by the app). The rest goes
over the runbook API as for `direct`: protection with `{"provider": "asr"}` (the app creates
the ASR policy, maps the cloud to it, enables replication, and mirrors ASR's job into our
InitialReplication job), a test failover through ASR and its cleanup, an unplanned failover
from ASR's latest app-consistent point and its commit, then the way home: failback, its
commit and reverse replication. ASR copies the data and builds the VMs, so no byte proof
here: parts 2 and 3 give that for `direct`.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import requests

from demo.failover import jobs_table, operation
from demo.render import item_page, job_page, table

TENANT = "contoso"
FABRIC = {"name": "vmm01", "friendlyName": "vmm01.contoso.local"}
MIB = 1024 * 1024
PACE = {"taskSeconds": 0.3, "initialReplicationSeconds": 5}  # ASR's job tasks, IR: brisk


class AsrDemo:
    def __init__(self, demo: Any, arm: Any, vm: dict, cloud: dict) -> None:
        """`vm` and `cloud` as the agent reported them in part 1: ASR names them alike."""
        self.demo, self.arm, self.vm, self.cloud = demo, arm, vm, cloud
        self.vault = os.environ["ASR_VAULT_ID"]
        self.container = f"cloud-{cloud['id']}"
        self.asr_item = (f"{self.vault}/replicationFabrics/{FABRIC['name']}/"
                         f"replicationProtectionContainers/{self.container}/"
                         f"replicationProtectedItems/{vm['id']}")  # fmt: skip

    def control(self, what: str, body: dict) -> dict:
        """The stand-in's control endpoint (what VMM's ASR provider would do, and its pace)."""
        try:
            return self.arm.site_recovery_control(what, body)
        except requests.HTTPError as refused:
            answer = refused.response
            raise SystemExit(
                f"demo: stand-in {what}: {answer.status_code} {answer.text[:300]}"
            ) from None

    def item(self) -> dict:
        return self.demo.api("GET", f"tenants/{TENANT}/replicated-items/{self.vm['id']}").json()

    def job(self, job_id: str) -> dict:
        return self.demo.api("GET", f"tenants/{TENANT}/jobs/{job_id}").json()

    def ended(self, job_id: str, what: str, timeout: float = 90) -> dict:
        return self.demo.wait(
            lambda: (j := self.job(job_id)).get("state") in ("Succeeded", "Failed") and j,
            what,
            timeout,
        )

    # --- the story ---------------------------------------------------------------------------

    def run(self) -> None:
        vm, name = self.vm, self.vm["name"]
        print(f"\n18. Azure Site Recovery discovers {name} in cloud '{self.cloud['name']}' (the "
              "stand-in's control endpoint plays ASR's provider on the VMM server)")  # fmt: skip
        self.control("settings", PACE)
        self.control("discover", {
            "vault": self.vault, "fabric": FABRIC,
            "cloud": {"name": self.container, "friendlyName": self.cloud["name"]},
            "vms": [{"name": vm["id"], "friendlyName": name, "generation": vm["generation"],
                     "osType": "Windows" if vm["osType"] == "windows" else "Linux",
                     "memoryMB": vm["memoryMb"], "cpuCount": vm["vcpus"],
                     "disks": [{"vhdId": d["id"], "vhdName": d["path"].rsplit("\\", 1)[-1],
                                "maxSizeMB": d["sizeBytes"] // MIB,
                                "vhdType": "OperatingSystem" if d.get("isOsDisk") else "DataDisk"}
                               for d in vm["disks"]]}],
        })  # fmt: skip
        print(f"    vault {self.vault.rsplit('/', 1)[-1]}: fabric {FABRIC['friendlyName']}, "
              f"protection container '{self.cloud['name']}', protectable item {name} "
              f"(generation {vm['generation']}, {vm['osName']})")  # fmt: skip
        print(f"    the simulation's pace: {PACE['taskSeconds']} s per ASR job task, "
              f"{PACE['initialReplicationSeconds']} s of initial replication")  # fmt: skip
        print("    our agent on the VMM server still reports the inventory; Site Recovery, not "
              f"the agent, copies {name}'s data (and its health is ASR's)")  # fmt: skip

        print(f"\n19. Enable protection of {name} with provider asr; ASR replicates it")
        body = {"provider": "asr", "targetName": f"{name}-dr", "targetSize": "Standard_D2s_v5",
                "policy": "30s"}  # fmt: skip
        path = f"tenants/{TENANT}/vms/{vm['id']}"
        report = self.demo.api("POST", f"{path}/preflight", json=body).json()
        verdict = "passes" if report["passed"] else f"fails {len(report['failures'])} rules"
        print(f"    preflight with provider asr: {verdict} (profile {report['profile']})")
        response = self.demo.api("POST", f"{path}/protection", json=body)
        if response.status_code != 202:
            raise SystemExit(f"demo: enable {name}: {response.status_code} {response.text[:500]}")
        protect = response.json()["id"]
        print(f"    POST .../vms/{name}/protection {json.dumps(body)} -> 202, job {protect}")
        if (job := self.ended(protect, f"the job {protect}"))["state"] != "Succeeded":
            print(job_page(job))
            raise SystemExit(f"demo: enabling {name} with asr failed; see the errors above")
        jobs = self.demo.api("GET", f"tenants/{TENANT}/jobs", params={"target": vm["id"]})
        initial = next(j for j in jobs.json()["value"] if j["type"] == "InitialReplication")
        print(f"    {self.follow_initial_replication(initial['id'])}")
        initial = self.ended(initial["id"], "the InitialReplication job")
        print("    our InitialReplication job: the ASR policy and the cloud's mapping, then "
              "ASR's enable job's tasks mirrored as steps")  # fmt: skip
        print(job_page(initial))
        if initial["state"] != "Succeeded":
            raise SystemExit("demo: ASR's initial replication failed; see the errors above")
        print(item_page(self.item()))

        print(f"\n20. Test failover of {name} through ASR, then its cleanup")
        # Recovery points come every 30 s on this policy; the stand-in moves the VM's
        # replication 100 s into the past so that ASR has a few to choose from.
        self.control("age", {"item": self.asr_item, "seconds": 100})
        points = self.demo.wait(lambda: len(p := self.item()["recoveryPoints"]) >= 3 and p,
                                "ASR's recovery points")  # fmt: skip
        print(f"    ASR's recovery points of {name} (newest first; the stand-in aged its "
              "replication by 100 s)")  # fmt: skip
        print(table([{"Time": p["time"][:19], "Consistency": p["consistency"], "Id": p["id"]}
                     for p in points], ["Time", "Consistency", "Id"]))  # fmt: skip
        operation(self.demo, vm["id"], "", {"type": "test", "recoveryPoint": "latest"})
        print(item_page(self.item()))
        operation(self.demo, vm["id"], "cleanup")
        print(item_page(self.item()))

        print(f"\n21. Unplanned failover of {name} from ASR's latest app-consistent point (the "
              "source left alone), then commit")  # fmt: skip
        operation(self.demo, vm["id"], "",
                  {"type": "unplanned", "recoveryPoint": "latestAppConsistent"})  # fmt: skip
        print(item_page(self.item()))
        refused = self.demo.api("POST", f"{path}/failover/cancel", json={})
        print(f"    POST .../vms/{name}/failover/cancel -> {refused.status_code} "
              f"{refused.json().get('code')}: ASR has no cancel for Hyper-V to Azure")  # fmt: skip
        operation(self.demo, vm["id"], "commit")
        print(item_page(self.item()))

        print(f"\n22. {name} comes home: failback through ASR (its changes copied while the "
              "Azure VM runs), its commit, then reverse replication")  # fmt: skip
        operation(self.demo, vm["id"], "", {"dataSync": "whileRunning"}, route="failback")
        print(item_page(self.item()))
        operation(self.demo, vm["id"], "commit", route="failback")
        operation(self.demo, vm["id"], "", route="reprotect")
        watched = self.demo.wait(
            lambda: (i := self.item())["status"] == "Protected" and i.get("rpoSeconds") and i,
            f"{name} protected and watched again",
        )
        print(item_page(watched))

        print(f"\n23. Jobs of {name} (newest first), like ASR's jobs page")
        print(jobs_table(self.demo, vm["id"]))

    def follow_initial_replication(self, job_id: str) -> str:
        """The item's status and ASR's progress as the watch reads them, until Protected or
        the job fails: `WaitingForInitialReplication -> InitialReplicationInProgress 11 % ->
        32 % -> … -> Protected`."""
        seen: list[str] = []
        last: tuple[str, float | None] = ("", None)
        deadline = time.monotonic() + 90
        while True:
            item = self.item()
            now = (item["status"], (item.get("progress") or {}).get("percent"))
            if now != last:
                said = [now[0]] if now[0] != last[0] else []
                seen.append(" ".join(said + ([f"{now[1]:.0f} %"] if now[1] is not None else [])))
                last = now
            if now[0] == "Protected" or self.job(job_id).get("state") == "Failed":
                return " -> ".join(seen)
            if time.monotonic() > deadline:
                raise SystemExit(f"demo: {self.vm['name']} did not reach Protected: {seen}")
            time.sleep(0.3)
