"""The agent end to end without Windows: the real daemon (`python -m agent run --hyperv vmm`)
against the local Service Bus broker and Azurite, VMM and Hyper-V played by the stand-in
PowerShell from documented fixtures, and a qemu-img disk as the VM's VHDX.

It discovers the VM and reports it, takes a VMM-side enable (a custom property), replicates,
syncs only the ranges Hyper-V's change tracking reports (exactly the bytes the test wrote with
qemu-io), survives a reset of change tracking through a resync, refuses disks outside the
allowed folders (`..` and a symbolic link), keeps SAS signatures out of its log and its state
files private, and shuts the VM down for a planned failover. (The site's shared bandwidth cap
is test_daemon_bandwidth.py, with the same parts.)"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.storage.blob import BlobServiceClient

from agent import footer
from devhost.azurite import Azurite
from tests.agent.daemon_support import Bus, DaemonProcess, command
from tests.agent.hyperv_standin import StandIn, fixture
from tests.agent.transfer_support import MIB, check_replica, new_blob, new_sas

SITE = "site-e2e"
WEB01 = "6f1e4b2a-8c3d-4e5f-9a0b-1c2d3e4f5a6b"
SIZE = 64 * MIB
# What the guest writes between two cycles: 4 KiB-aligned, as a guest's file system would.
WRITES = [
    (5 * MIB + 64 * 1024, 64 * 1024, 0x51),
    (20 * MIB, MIB, 0x52),
    (40 * MIB + 4096, 4096, 0x53),
]


def qemu_write(disk: Path, offset: int, length: int, pattern: int) -> None:
    subprocess.run(["qemu-io", "-f", "vhdx", "-c", f"write -P {pattern} {offset} {length}",
                    str(disk)], check=True, capture_output=True)  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, make_disk: Callable[..., Path]) -> dict:
    vms = tmp_path / "vms"
    vms.mkdir()
    disk = vms / "web01-os.vhdx"
    made = make_disk("vhdx", size="64M", block_size="1M")
    made.rename(disk)
    qemu_write(disk, 0, 3 * MIB, 0x11)
    drive = fixture("inventory-vmm.json")["output"]["Clouds"][0]["VMs"][0]["VirtualDiskDrives"][0]
    drive["VirtualHardDisk"].update({"Location": str(disk), "MaximumSize": SIZE})
    standin = StandIn(tmp_path / "hyperv", {
        "inventory": {"patch": {WEB01: {"VirtualDiskDrives": [drive]}}},
        "power": {WEB01: {"state": "running", "shutdown": "obeys", "status_calls_until_off": 2}},
    })  # fmt: skip
    return {"vms": vms, "disk": disk, "standin": standin, "disk_id": drive["VirtualHardDisk"]["ID"]}


@pytest.fixture
def running(world: dict, azurite: Azurite, tmp_path: Path) -> Iterator[tuple]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"e2e-{uuid.uuid4().hex[:8]}")
    with Bus(tmp_path / "sb") as bus, DaemonProcess(bus, tmp_path / "state", tmp_path / "agent.log",
                                                    world["standin"].env, site=SITE) as daemon:  # fmt: skip
        daemon.start("--hyperv", "vmm", "--inventory-seconds", "1", "--log-level", "DEBUG",
                     "--allowed-disk-roots", str(world["vms"]), "--shutdown-poll-seconds", "0.3")  # fmt: skip
        yield bus, daemon, container


def disk_command(kind: str, world: dict, sas: str, **data: object) -> dict:
    disks = [{"diskId": world["disk_id"], "path": str(world["disk"]), "sasUrl": sas,
              "blobSize": footer.blob_size(SIZE)}]  # fmt: skip
    extra = {"cycle": 1} if kind == "sync" else {}
    return command(kind, WEB01, {"disks": disks, **extra, **data}, site=SITE)


def outcome(bus: Bus, cmd: dict) -> dict:
    return bus.events.wait(lambda e: e["type"].startswith("replication.") and e["type"] !=
                           "replication.progress" and e["data"].get("commandId") == cmd["id"], 90)  # fmt: skip


def test_discover_enable_replicate_with_rct_then_shut_down(
    world: dict, running: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    bus, _daemon, container = running
    standin, disk = world["standin"], world["disk"]

    # Discovered and reported, the disk as VMM names it.
    snap = bus.events.wait(lambda e: e["type"] == "inventory.snapshot"
                           and e["data"]["cloud"]["name"] == "Gold")  # fmt: skip
    [web] = [v for v in snap["data"]["vms"] if v["id"] == WEB01]
    assert web["disks"][0]["path"] == str(disk) and web["disks"][0]["sizeBytes"] == SIZE

    # Protection enabled from the VMM side.
    standin.update(lambda w: w["inventory"]["patch"][WEB01].update(
        {"CustomProperties": {"DRProtect": "true", "DRTargetName": "web01-dr"}}))  # fmt: skip
    asked = bus.events.wait(lambda e: e["type"] == "protection.requested" and e["vm"] == WEB01)
    assert asked["data"]["targetName"] == "web01-dr"

    # The control plane's answer: a page blob and a write-only SAS; the initial copy.
    blob, sas = new_blob(container, footer.blob_size(SIZE), read=False)
    first = disk_command("replicate", world, sas)
    bus.send(first)
    done = outcome(bus, first)
    assert done["type"] == "replication.initial.completed", done
    assert done["data"]["disks"][0]["mode"] == "initial"
    check_replica(blob, qemu_raw(disk), tmp_path)
    [reference] = standin.calls("rct.ps1")
    assert reference["action"] == "reference" and reference["request"]["paths"] == [str(disk)]

    # The guest writes; Hyper-V tracks it; the next cycle sends exactly those bytes.
    for offset, length, pattern in WRITES:
        qemu_write(disk, offset, length, pattern)
        standin.wrote(disk, offset, length)
    cycle = disk_command("sync", world, sas)
    bus.send(cycle)
    delta = outcome(bus, cycle)
    assert delta["type"] == "replication.delta.completed", delta
    [result] = delta["data"]["disks"]
    assert result["mode"] == "rct" and result["bytesSent"] == sum(n for _, n, _ in WRITES)
    check_replica(blob, qemu_raw(disk), tmp_path)
    [changes] = [c["request"] for c in standin.calls("rct.ps1") if c["action"] == "changes"]
    assert (changes["path"], changes["byteLength"]) == (str(disk), SIZE)
    assert changes["limitId"].endswith(":1")  # the RCT id taken before the initial copy read

    # Change tracking reset (the VM moved hosts): the agent says so, the resync starts afresh.
    standin.reset_tracking(disk)
    qemu_write(disk, 30 * MIB, 8192, 0x61)
    lost = disk_command("sync", world, sas)
    bus.send(lost)
    failed = outcome(bus, lost)
    assert failed["type"] == "replication.failed" and failed["data"]["changeTrackingLost"], failed
    assert failed["data"]["code"] == "ChangeTrackingLost" and "32773" in failed["data"]["cause"]
    resync = disk_command("replicate", world, f"{blob.url}?{new_sas(blob, read=True)}", resync=True)
    bus.send(resync)
    assert outcome(bus, resync)["data"]["disks"][0]["mode"] == "resync"
    check_replica(blob, qemu_raw(disk), tmp_path)
    qemu_write(disk, 50 * MIB, 4096, 0x62)
    standin.wrote(disk, 50 * MIB, 4096)
    again = disk_command("sync", world, sas)
    bus.send(again)
    [back] = outcome(bus, again)["data"]["disks"]
    assert back["mode"] == "rct" and back["bytesSent"] == 4096
    check_replica(blob, qemu_raw(disk), tmp_path)

    # Planned failover: the source VM is shut down through VMM and confirmed off.
    off = command("shutdown", WEB01, {"timeoutSeconds": 60}, site=SITE)
    bus.send(off)
    result = bus.events.result_of(off["id"])
    assert result["status"] == "succeeded" and result["powerState"] == "PowerOff", result
    assert standin.world()["power"][WEB01]["state"] == "off"
    assert not bus.events.invalid, bus.events.invalid


def test_a_disk_without_change_tracking_is_synced_by_block_hashes(
    world: dict, running: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    bus, _daemon, container = running
    standin, disk = world["standin"], world["disk"]
    standin.update(lambda w: w.setdefault("rct", {}).update(
        {str(disk): {"seq": 1, "writes": [], "supported": False}}))  # fmt: skip
    blob, sas = new_blob(container, footer.blob_size(SIZE), read=False)
    first = disk_command("replicate", world, sas)
    bus.send(first)
    assert outcome(bus, first)["type"] == "replication.initial.completed"
    qemu_write(disk, 12 * MIB, 4096, 0x71)
    cycle = disk_command("sync", world, sas)
    bus.send(cycle)
    [result] = outcome(bus, cycle)["data"]["disks"]
    assert result["mode"] == "hash" and 4096 <= result["bytesSent"] <= MIB  # one hash block
    check_replica(blob, qemu_raw(disk), tmp_path)
    assert not [c for c in standin.calls("rct.ps1") if c["action"] == "changes"]


def test_disks_outside_the_allowed_folders_are_refused_and_nothing_is_read(
    world: dict, running: tuple, tmp_path: Path, make_disk: Callable[..., Path]
) -> None:
    bus, daemon, container = running
    secret = make_disk("vhdx", size="64M")  # a real disk, outside the allowed folder
    outside = world["vms"].parent / "outside.vhdx"
    outside.write_bytes(secret.read_bytes())
    link = world["vms"] / "innocent.vhdx"
    link.symlink_to(secret)
    blob, sas = new_blob(container, footer.blob_size(SIZE), read=False)
    for path in (str(world["vms"] / ".." / "outside.vhdx"), str(link), "outside.vhdx"):
        cmd = disk_command("replicate", world, sas)
        cmd["data"]["disks"][0]["path"] = path
        bus.send(cmd)
        failed = outcome(bus, cmd)
        assert failed["type"] == "replication.failed", failed
        assert failed["data"]["code"] == "DiskPathNotAllowed", failed
        assert "Nothing was read" in failed["data"]["cause"]
    assert list(blob.list_page_ranges()) == []  # not a byte was written
    log = daemon.log_text()
    assert "DiskPathNotAllowed" in log


def test_sas_signatures_stay_out_of_logs_and_state_is_private(
    world: dict, running: tuple, qemu_raw: Callable[[Path], bytes], tmp_path: Path
) -> None:
    bus, daemon, container = running
    _blob, sas = new_blob(container, footer.blob_size(SIZE), read=False)
    cmd = disk_command("replicate", world, sas)
    bus.send(cmd)
    assert outcome(bus, cmd)["type"] == "replication.initial.completed"
    # A SAS for a blob that does not exist: the failure is reported without its signature.
    gone = container.get_blob_client("missing.vhd")
    bad = disk_command("replicate", world, f"{gone.url}?{new_sas(gone, read=False)}")
    bus.send(bad)
    assert outcome(bus, bad)["type"] == "replication.failed"
    daemon.stop()
    urls = (sas, bad["data"]["disks"][0]["sasUrl"])
    # Each signature as it travels (URL-encoded) and decoded.
    signatures = [re.search(r"sig=([^&]+)", u).group(1) for u in urls]
    signatures += [parse_qs(urlsplit(u).query)["sig"][0] for u in urls]
    log = daemon.log_text()
    assert "running" in log and all(sig not in log for sig in signatures)
    assert all(sig not in json.dumps(bus.events.events) for sig in signatures)
    state = daemon.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    holding = []
    for root, dirs, files in os.walk(state):
        for name in dirs:
            assert stat.S_IMODE((Path(root) / name).stat().st_mode) == 0o700, (root, name)
        for name in files:
            path = Path(root) / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            if any(sig in path.read_text(errors="replace") for sig in signatures):
                holding.append(path.relative_to(state))
    # Only the command journal keeps the SAS (to resume after a restart), and it is 0600.
    assert holding and all(p.parts[:2] == ("daemon", "commands") for p in holding), holding
