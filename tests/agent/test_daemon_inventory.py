"""Inventory from VMM (and a Hyper-V host without it), and protection enabled from the VMM side.

The mapping is checked against the recorded, documented cmdlet output (fixtures) and against the
contract the control plane validates with (InventoryVm, every event through AgentEvent.parse).
The real daemon then reads VMM through the stand-in PowerShell on a one-second schedule while
the test changes VMM's world: a custom property set, removed, a VM changed, a VM deleted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.hyperv.inventory import Marks, read_clouds
from contracts.events import ProtectionDisableRequested, ProtectionRequested
from contracts.inventory import InventoryVm
from tests.agent.daemon_support import Bus, DaemonProcess, EventLog
from tests.agent.hyperv_standin import StandIn, fixture

WEB01 = "6f1e4b2a-8c3d-4e5f-9a0b-1c2d3e4f5a6b"
LNX01 = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
SQL01 = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
SITE = "site-vmm"


def test_vmm_output_maps_to_the_inventory_the_control_plane_validates() -> None:
    clouds = read_clouds(fixture("inventory-vmm.json")["output"], "vmm")
    assert [(c.name, [v["name"] for v in c.vms]) for c in clouds] == [
        ("Gold", ["web01", "lnx01"]),  # "bad\a name" is left out, not the whole cloud
        ("Silver", ["sql01"]),
    ]
    vms = {v["id"]: InventoryVm.model_validate(v) for c in clouds for v in c.vms}
    web = vms[WEB01]
    assert (web.generation, web.vcpus, web.memory_mb, web.secure_boot) == (2, 4, 8192, True)
    assert (web.os_type, web.os_name, web.is_64_bit) == (
        "windows",
        "Windows Server 2019 Datacenter",
        True,
    )
    os_disk, data = web.disks
    assert (os_disk.is_os_disk, os_disk.format, os_disk.dynamic, os_disk.size_bytes) == (
        True, "VHDX", True, 136365211648)  # fmt: skip
    assert os_disk.path == "C:\\ClusterStorage\\Volume1\\web01\\web01-os.vhdx"
    assert (data.is_os_disk, data.dynamic, data.logical_sector_size) == (False, False, 4096)
    assert [(n.addressing, n.ipv6, n.apipa) for n in web.nics] == [("static", False, False)]
    lnx = vms[LNX01]
    assert (lnx.generation, lnx.os_type, [d.format for d in lnx.disks]) == (1, "linux", ["VHD"])
    assert [(n.addressing, n.ipv6, n.apipa) for n in lnx.nics] == [("dhcp", True, True)]
    assert [d.kind for d in vms[SQL01].disks] == ["virtual", "passthrough"]
    marks = {vm_id: m for c in clouds for vm_id, m in c.marks.items()}
    assert marks[WEB01] == Marks() and not marks[LNX01].protect
    assert marks[SQL01] == Marks(True, "sql01-dr", "Standard_E8s_v5", "15min", None)
    assert ProtectionRequested.model_validate(marks[SQL01].request()).target_name == "sql01-dr"


def test_a_hyperv_host_without_vmm_is_the_fallback() -> None:
    [cloud] = read_clouds(fixture("inventory-host.json")["output"], "host")
    assert (cloud.id, cloud.name) == ("HV01", "HV01")
    [vm] = [InventoryVm.model_validate(v) for v in cloud.vms]
    assert (vm.name, vm.memory_mb, vm.secure_boot, vm.os_type) == ("db01", 16384, True, None)
    assert vm.disks[0].path == "E:\\Hyper-V\\db01\\db01.vhdx" and vm.disks[0].is_os_disk
    assert vm.disks[0].id == "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    assert (vm.nics[0].ipv6, vm.nics[0].apipa) == (False, False)  # fe80:: is link-local only
    assert cloud.marks[vm.id] == Marks(True, "db01-dr", "Standard_D4s_v5", None, None)


@pytest.fixture
def vmm(tmp_path: Path) -> Iterator[tuple[Bus, StandIn, DaemonProcess]]:
    standin = StandIn(tmp_path / "hyperv")
    with Bus(tmp_path / "sb") as bus, DaemonProcess(bus, tmp_path / "state", tmp_path / "log",
                                                    standin.env, site=SITE) as daemon:  # fmt: skip
        daemon.start("--hyperv", "vmm", "--inventory-seconds", "1", "--snapshot-seconds", "600")
        yield bus, standin, daemon


def wait_for(events: EventLog, type_: str, vm: str | None = None, count: int = 1,
             timeout: float = 60) -> list[dict]:  # fmt: skip
    deadline = time.monotonic() + timeout
    while len(found := events.of(type_, vm)) < count:
        assert time.monotonic() < deadline, f"{count} {type_} of {vm}: {found}"
        time.sleep(0.2)
    return found


def test_the_daemon_reports_vmm_and_follows_its_protection_marks(vmm) -> None:
    bus, standin, daemon = vmm
    events = bus.events
    snapshots = wait_for(events, "inventory.snapshot", count=2)
    assert {s["data"]["cloud"]["name"]: [v["name"] for v in s["data"]["vms"]]
            for s in snapshots} == {"Gold": ["web01", "lnx01"], "Silver": ["sql01"]}  # fmt: skip
    assert all(s.get("vm") is None and s["site"] == SITE for s in snapshots)
    # sql01 is marked in VMM: the control plane hears of the VM, then of the request.
    [asked] = wait_for(events, "protection.requested", SQL01)
    assert asked["data"] == {"provider": "direct", "targetName": "sql01-dr",
                             "targetSize": "Standard_E8s_v5", "policy": "15min"}  # fmt: skip
    mine = [e["type"] for e in events.events if e.get("vm") == SQL01]
    assert mine.index("vm.changed") < mine.index("protection.requested")

    # An administrator ticks web01 for protection in VMM (its custom properties).
    standin.update(lambda w: w.setdefault("inventory", {}).setdefault("patch", {}).update({
        WEB01: {"CustomProperties": {"DRProtect": "True", "DRTargetName": "web01-dr",
                                     "DRTargetSize": "Standard_D4s_v5", "DRPolicy": "30s"}},
        SQL01: {"CustomProperties": {"DRProtect": "false"}},  # and unticks sql01
        LNX01: {"CPUCount": 4},  # and gives lnx01 more processors
    }))  # fmt: skip
    [web] = wait_for(events, "protection.requested", WEB01)
    assert web["data"]["targetName"] == "web01-dr" and web["data"]["policy"] == "30s"
    [off] = wait_for(events, "protection.disable.requested", SQL01)
    assert ProtectionDisableRequested.model_validate(off["data"]).reason
    changed = wait_for(events, "vm.changed", LNX01, count=2)
    assert (
        changed[-1]["data"]["vm"]["vcpus"] == 4 and changed[-1]["data"]["cloud"]["name"] == "Gold"
    )
    assert len(events.of("inventory.snapshot")) == 2  # nothing came or went: no snapshot

    # lnx01 is deleted in VMM: only a snapshot can say so.
    standin.update(lambda w: w["inventory"].update({"drop": [LNX01]}))
    later = wait_for(events, "inventory.snapshot", count=4)  # every cloud again
    gold = [s for s in later[2:] if s["data"]["cloud"]["name"] == "Gold"]
    assert [v["name"] for v in gold[-1]["data"]["vms"]] == ["web01"]

    # Restarted, the daemon remembers what it reported: nothing is asked again.
    daemon.stop()
    calls = len(standin.calls("inventory.ps1"))
    daemon.start("--hyperv", "vmm", "--inventory-seconds", "1", "--snapshot-seconds", "600")
    deadline = time.monotonic() + 30
    while len(standin.calls("inventory.ps1")) < calls + 3:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    assert len(events.of("protection.requested", WEB01)) == 1
    assert len(events.of("protection.disable.requested", SQL01)) == 1
    assert not events.invalid, events.invalid
    request = standin.calls("inventory.ps1")[0]["request"]
    assert request["customProperties"] == ["DRProtect", "DRTargetName", "DRTargetSize",
                                           "DRPolicy", "DRProvider"]  # fmt: skip
