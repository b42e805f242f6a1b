"""One bandwidth cap per site, shared by all of the daemon's transfers: the real daemon, four
concurrent initial replications of qemu-made disks into Azurite, the cap set by a `bandwidth`
command on the local broker. The cause is asserted from the shared bucket's own accounting
(what it let through while four transfers shared it) and the effect, coarsely, from the wall
time of the whole copy: four transfers at a per-transfer cap would go four times faster."""

from __future__ import annotations

import contextlib
import json
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from agent import footer
from devhost.azurite import Azurite
from tests.agent.conftest import Write
from tests.agent.daemon_support import Bus, DaemonProcess, command
from tests.agent.transfer_support import MIB, new_blob

SITE = "site-cap"
CAP = 4_000_000  # bytes/s for the whole site
DISKS, DATA_MIB = 4, 10  # 40 MiB in all: ~10.5 s at the cap, ~2.6 s at four times it


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    with Bus(tmp_path_factory.mktemp("servicebus")) as running:
        yield running


@pytest.fixture(scope="module")
def container(azurite: Azurite) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    return service.create_container(f"cap-{uuid.uuid4().hex[:8]}")


def replicate_command(vm: str, disk: Path, container: ContainerClient) -> dict:
    size = footer.blob_size(16 * MIB)
    _, sas = new_blob(container, size, read=False)
    data = {"disks": [{"diskId": f"{vm}-os", "path": str(disk), "sasUrl": sas, "blobSize": size}]}
    return command("replicate", vm, data, site=SITE)


def usage(state: Path) -> dict:
    return json.loads((state / "daemon" / "bandwidth-usage.json").read_text())


def test_four_transfers_share_one_cap_which_is_kept_across_a_restart(
    bus: Bus, container: ContainerClient, make_disk: Callable[..., Path], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    daemon = DaemonProcess(bus, state, tmp_path / "agent.log", site=SITE)
    with daemon:
        daemon.start("--workers", "4")
        setting = command("bandwidth", None, {"bytesPerSecond": CAP}, site=SITE)
        bus.send(setting)
        answer = bus.events.result_of(setting["id"])
        assert answer == {"commandId": setting["id"], "status": "succeeded",
                          "detail": f"cap in force: {CAP} bytes/s"}  # fmt: skip
        disks = [
            make_disk("vhdx", size="16M", writes=[Write(MIB, DATA_MIB * MIB, 0x40 + i)])
            for i in range(DISKS)
        ]
        commands = [replicate_command(f"cap-{i}-{uuid.uuid4().hex[:6]}", disk, container)
                    for i, disk in enumerate(disks)]  # fmt: skip
        started, sent_at = time.monotonic(), datetime.now(UTC)
        bus.send_all(commands)  # at once, as a control plane's loop would
        # While all four run, sample what the shared bucket let through.
        samples = []
        while len(bus.events.of("replication.initial.completed")) < DISKS:
            assert time.monotonic() - started < 120, daemon.log_text()[-3000:]
            with contextlib.suppress(FileNotFoundError, ValueError):
                samples.append(usage(state))
            time.sleep(0.5)
        completed = [bus.events.wait(lambda e, c=c: e["type"] == "replication.initial.completed"
                                     and e["data"]["commandId"] == c["id"]) for c in commands]  # fmt: skip
        sent = sum(d["bytesSent"] for e in completed for d in e["data"]["disks"])
        assert sent >= DISKS * DATA_MIB * MIB

        # The cause: the one bucket the transfers shared let through no more than the cap while
        # two or more ran at once (burst: at most one second's worth, on top).
        shared = [s for s in samples if s["users"] >= 2]
        assert shared, samples
        first, last = shared[0], shared[-1]
        seconds = (datetime.fromisoformat(last["time"])
                   - datetime.fromisoformat(first["time"])).total_seconds()  # fmt: skip
        assert seconds >= 4, f"too short a window to measure: {shared}"
        rate = (last["grantedBytes"] - first["grantedBytes"]) / seconds
        assert 0.5 * CAP <= rate <= 1.25 * CAP, (rate, shared)
        assert max(s["peakUsers"] for s in samples) == DISKS
        assert all(s["capBytesPerSecond"] == CAP for s in samples)
        # The effect, coarsely: the whole copy, from sending the commands to the daemon's last
        # completion, took about as long as the cap says (a cap per transfer would have
        # finished in about a quarter of the time).
        ended = max(datetime.fromisoformat(e["time"]) for e in completed)
        elapsed = (ended - sent_at).total_seconds()
        assert sent / elapsed <= 1.25 * CAP, (sent, elapsed)

        # A schedule: a window covering every day and hour in Auckland caps lower.
        scheduled = command("bandwidth", None, {
            "bytesPerSecond": 9_000_000, "timeZone": "Pacific/Auckland",
            "schedule": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          "start": "00:00", "end": "24:00", "bytesPerSecond": 1_500_000}],
        }, site=SITE)  # fmt: skip
        bus.send(scheduled)
        assert bus.events.result_of(scheduled["id"])["detail"] == "cap in force: 1500000 bytes/s"
        # A setting sent before the one in force (a resend of an old one) changes nothing.
        stale = command("bandwidth", None, {"bytesPerSecond": 1}, site=SITE,
                        sent=datetime.now(UTC) - timedelta(minutes=5))  # fmt: skip
        bus.send(stale)
        assert bus.events.result_of(stale["id"])["code"] == "BandwidthSuperseded"
        bad = command("bandwidth", None, {"bytesPerSecond": -5}, site=SITE)
        bus.send(bad)
        assert bus.events.result_of(bad["id"])["code"] == "BadCommand"

    kept = state / "daemon" / "bandwidth.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["commandId"] == scheduled["id"]
    restarted = datetime.now(UTC)
    with daemon:
        daemon.start()  # no --bandwidth: the kept setting is what applies
        deadline = time.monotonic() + 30
        while not (datetime.fromisoformat(usage(state)["time"]) > restarted):
            assert time.monotonic() < deadline, daemon.log_text()[-2000:]
            time.sleep(0.3)
        assert usage(state)["capBytesPerSecond"] == 1_500_000
