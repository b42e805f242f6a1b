"""Part 3 of `make demo`: app01 fails over, against the local ARM stand-in.

The stand-in (devhost/arm) serves the Compute and Network APIs the app calls, over HTTPS, to
the real azure-mgmt-* SDKs; the demo starts it the way the e2e fixture and `make up` do
(devhost.arm.launch.start_for_app) and looks at what the failovers made with the same SDKs, as
an operator would in the portal:

- a test failover from the latest point: the test VM (name, size, disk, NIC in the isolated
  network), its managed disk read through grant access (tools/read_disk) and proven
  byte-identical to the point, and the files in it;
- its cleanup: nothing the test made is left;
- a planned failover: the agent shuts the source down through the shutdown hook, syncs it one
  last time, and the VM comes up on that final point: its disk equals the source as it was
  shut down, with the file written just before the request;
- the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobServiceClient

from demo.render import clock, item_page, job_page, table, took
from domain.failover import TAG_VM
from tools.read_disk import read_disk

TENANT, VM = "contoso", "app01"
MIB = 1024 * 1024


def sha256_of(path: Path, length: int | None = None) -> str:
    digest, left = hashlib.sha256(), length
    with path.open("rb") as source:
        while left is None or left > 0:
            chunk = source.read(4 * MIB if left is None else min(4 * MIB, left))
            if not chunk:
                break
            digest.update(chunk)
            left = None if left is None else left - len(chunk)
    return digest.hexdigest()


def text(value: Any) -> str:
    """An SDK enum as Azure writes it (`Standard_B2s`, not `VirtualMachineSizeTypes.…`)."""
    return str(getattr(value, "value", value))


def subnet_name(subnet_id: str) -> str:
    """`vnet/subnet` of a subnet's ARM id (…/virtualNetworks/VNET/subnets/SUBNET)."""
    parts = subnet_id.split("/")
    return f"{parts[-3]}/{parts[-1]}"


def operation(
    demo: Any,
    vm: str,
    what: str,
    body: dict | None = None,
    timeout: float = 120,
    route: str = "failover",
) -> dict:
    """POST a failover operation (`route` failover, failback or reprotect, then `what`), wait
    for its job to end, print it like ASR's job page."""
    tail = route + (f"/{what}" if what else "")
    path = f"tenants/{TENANT}/vms/{vm}/{tail}"
    response = demo.api("POST", path, json=body or {})
    if response.status_code != 202:
        raise SystemExit(f"demo: POST {path}: {response.status_code} {response.text[:500]}")
    job_id = response.json()["id"]
    sent = f" {json.dumps(body)}" if body else ""
    print(f"    POST .../vms/{vm}/{tail}{sent} -> 202, job {job_id}")
    job = demo.wait(
        lambda: (j := demo.api("GET", f"tenants/{TENANT}/jobs/{job_id}").json())
        .get("state") in ("Succeeded", "Failed") and j,
        f"the job {job_id}",
        timeout,
    )  # fmt: skip
    print(job_page(job))
    if job["state"] != "Succeeded":
        raise SystemExit(f"demo: the {job['type']} job failed; see the errors above")
    return job


def jobs_table(demo: Any, vm: str) -> str:
    """The VM's jobs (newest first), like ASR's jobs page."""
    jobs = demo.api("GET", f"tenants/{TENANT}/jobs", params={"target": vm}).json()
    return table([{"Job": j["type"], "Status": j["state"], "Start time": clock(j["startTime"]),
                   "Duration": took(j["startTime"], j["endTime"]), "Steps": len(j["steps"])}
                  for j in jobs["value"]],
                 ["Job", "Status", "Start time", "Duration", "Steps"])  # fmt: skip


class Azure:
    """The recovery resource group as an operator sees it, through the real SDK clients."""

    def __init__(self) -> None:
        self.group = os.environ["RECOVERY_RESOURCE_GROUP"]
        self.endpoint = os.environ["ARM_ENDPOINT"]
        subscription, credential = os.environ["AZURE_SUBSCRIPTION_ID"], DefaultAzureCredential()
        self.compute = ComputeManagementClient(credential, subscription, base_url=self.endpoint)
        self.network = NetworkManagementClient(credential, subscription, base_url=self.endpoint)

    def made_for(self, vm: str) -> dict[str, list[str]]:
        """Every VM, managed disk and NIC a failover of `vm` made (by its tags)."""

        def names(resources: Any) -> list[str]:
            return [r.name for r in resources if (r.tags or {}).get(TAG_VM) == vm]

        return {
            "VMs": names(self.compute.virtual_machines.list(self.group)),
            "disks": names(self.compute.disks.list_by_resource_group(self.group)),
            "NICs": names(self.network.network_interfaces.list(self.group)),
        }

    def show_vm(self, name: str) -> None:
        """The VM's overview page: size, state, its disk and its network."""
        vm = self.compute.virtual_machines.get(self.group, name)
        view = self.compute.virtual_machines.instance_view(self.group, name)
        power = next((s.display_status for s in view.statuses or [] if
                      s.code.startswith("PowerState/")), "?")  # fmt: skip
        disk_name = vm.storage_profile.os_disk.managed_disk.id.split("/")[-1]
        disk = self.compute.disks.get(self.group, disk_name)
        nic_id = vm.network_profile.network_interfaces[0].id
        nic = self.network.network_interfaces.get(self.group, nic_id.split("/")[-1])
        ip = nic.ip_configurations[0]
        rows = [
            ("Size", text(vm.hardware_profile.vm_size)),
            ("Status", f"provisioning {vm.provisioning_state}, {power}"),
            ("Location", f"{vm.location}, resource group {self.group}"),
            ("OS disk", f"{disk.name}: {disk.disk_size_bytes // MIB} MiB, {text(disk.os_type)}, "
                        f"generation {text(disk.hyper_v_generation)}, "
                        f"{text(disk.creation_data.create_option)} of "
                        f"{disk.creation_data.source_uri.split('/')[-1]}"),
            ("Network", f"{nic.name} in {subnet_name(ip.subnet.id)}, "
                        f"{ip.private_ip_address or 'dynamic IP'}"),
            ("Tags", ", ".join(f"{k}={v}" for k, v in sorted((vm.tags or {}).items()))),
        ]  # fmt: skip
        print(f"    Azure VM {vm.name} (read with azure-mgmt-compute and -network)")
        for label, value in rows:
            print(f"      {label:<9} {value}")

    def read(self, vm_name: str, disk_id: str, out: Path) -> dict:
        """The disk's bytes through grant access, after stopping the VM: Azure refuses access
        to a running VM's disk."""
        self.compute.virtual_machines.begin_power_off(self.group, vm_name).result()
        return read_disk(disk_id, out, self.endpoint, 600)


class FailoverDemo:
    def __init__(self, demo: Any, replication: Any, storage: str) -> None:
        self.demo, self.replication, self.storage = demo, replication, storage
        self.work: Path = replication.work
        self.azure = Azure()

    # --- the API -----------------------------------------------------------------------------

    def item(self) -> dict:
        return self.demo.api("GET", f"tenants/{TENANT}/replicated-items/{VM}").json()

    def ask(self, what: str, body: dict | None = None, timeout: float = 120) -> dict:
        return operation(self.demo, VM, what, body, timeout)

    def show_item(self, item: dict) -> None:
        print(item_page(item))

    # --- the story ---------------------------------------------------------------------------

    def run(self) -> None:
        print(f"\n13. Test failover of app01 from the latest recovery point (the ARM stand-in "
              f"on {self.azure.endpoint} plays Azure)")  # fmt: skip
        self.show_item(self.item())
        self.ask("", {"type": "test", "recoveryPoint": "latest"})
        item = self.item()
        self.show_item(item)
        failover = item["failover"]
        self.azure.show_vm(failover["vmName"])
        self.prove_test(item, failover)

        print("\n14. Clean up the test failover: delete exactly what it made")
        self.ask("cleanup")
        left = self.azure.made_for(VM)
        container = item["replicaDisks"][0]["container"]
        blobs = [b.name for b in BlobServiceClient.from_connection_string(self.storage)
                 .get_container_client(container).list_blobs()]  # fmt: skip
        print(f"    left in {self.azure.group} for app01: "
              + ", ".join(f"{len(v)} {k}" for k, v in left.items())
              + f"; replica container {container}: {', '.join(blobs)} (no point copy)")  # fmt: skip
        if any(left.values()):
            raise SystemExit(f"demo: the cleanup left {left}")
        self.show_item(self.item())

        print("\n15. Planned failover: the agent shuts app01 down, syncs it one last time, and "
              "the VM comes up on that point")  # fmt: skip
        last = self.work / "last"
        last.mkdir(exist_ok=True)
        (last / "last-order.csv").write_text(f"20001,order written at {datetime.now(UTC)}\n")
        self.replication.put_files(last, ["last-order.csv"])
        print(f"    wrote last-order.csv into app01's disk; app01 is "
              f"{self.replication.hooks.power_state(VM)}")  # fmt: skip
        self.ask("", {"type": "planned"}, timeout=180)
        print(f"    the shutdown hook (demo/hooks.py, standing in for Stop-VM) says app01 is "
              f"{self.replication.hooks.power_state(VM)}")  # fmt: skip
        item = self.item()
        self.show_item(item)
        failover = item["failover"]
        self.azure.show_vm(failover["vmName"])
        self.prove_planned(failover)

        print("\n16. Commit: the Azure VM is app01 from now on")
        self.ask("commit")
        self.show_item(self.item())
        print(f"    Azure VMs of app01: {', '.join(self.azure.made_for(VM)['VMs'])}; reprotect "
              "and failback are not available yet (docs/failover.md)")  # fmt: skip

        print("\n17. Jobs of app01 (newest first), like ASR's jobs page")
        print(jobs_table(self.demo, VM))

    def prove_test(self, item: dict, failover: dict) -> None:
        point = next(p for p in item["recoveryPoints"] if p["id"] == failover["recoveryPointId"])
        [disk] = failover["disks"]
        replica = next(d for d in item["replicaDisks"] if d["diskId"] == disk["diskId"])
        snapshot = point["snapshots"][disk["diskId"]]
        print("    proof: the test VM's disk holds the point's bytes (stopped the VM, read "
              "through grant access with tools.read_disk)")  # fmt: skip
        started = time.monotonic()
        copy = self.work / "point.vhd"
        blob = BlobServiceClient.from_connection_string(self.storage).get_blob_client(
            replica["container"], replica["blob"], snapshot=snapshot
        )
        with copy.open("wb") as out:
            blob.download_blob(max_concurrency=4).readinto(out)
        image = self.work / "test-failover.vhd"
        read = self.azure.read(failover["vmName"], disk["managedDiskId"], image)
        point_sha = sha256_of(copy)
        print(f"      recovery point {point['id']} sha256 {point_sha}  (snapshot {snapshot})")
        name, seconds = disk["managedDiskId"].split("/")[-1], time.monotonic() - started
        print(f"      Azure disk {name} sha256 {read['sha256']}  "
              f"({read['bytes']} bytes, footer included; {seconds:.1f} s)")  # fmt: skip
        if read["sha256"] != point_sha:
            raise SystemExit("demo: the test failover's disk differs from its recovery point")
        files = ", ".join(self.replication.list_files(image))
        print(f"      identical; files in the test VM's disk: {files}")
        copy.unlink()
        image.unlink()

    def prove_planned(self, failover: dict) -> None:
        [disk] = failover["disks"]
        image = self.work / "planned-failover.vhd"
        read = self.azure.read(failover["vmName"], disk["managedDiskId"], image)
        size = read["bytes"] - 512  # the data; the footer is the replica's own
        source, copy = sha256_of(self.replication.disk, size), sha256_of(image, size)
        print("    proof, no data loss: the Azure VM's disk equals app01's disk as it was shut "
              "down (read through grant access)")  # fmt: skip
        print(f"      source disk (off) sha256 {source}")
        print(f"      Azure disk        sha256 {copy}")
        if source != copy:
            raise SystemExit("demo: the planned failover's disk differs from the source disk")
        print(f"      identical; files in it: {', '.join(self.replication.list_files(image))}")
        image.unlink()
