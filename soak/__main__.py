"""`python -m soak` (`make soak`): a fault-injection soak of the control plane.

N VMs, each a real VHDX disk, are protected on devhost and replicated by the real agent
daemon; Azurite, the Service Bus broker, devhost and the agent each run as a process of their
own (soak/stack.py). For a bounded time a seeded random schedule kills one of them with
SIGKILL at a random moment and starts it again after a random downtime, while a writer
changes every VM's disk and samples its recovery points (the first point taken after each
write must hold exactly the disk as written: qemu-img's reading of it, not ours), and an
operator disables a VM's protection and enables it again now and then. Then the
faults stop and the soak checks that the control plane came back by itself:

- every VM is Protected with health Normal, and its latest point holds its disk;
- every recovery point sampled was byte-identical to the source at its time;
- no job is left InProgress (or NotStarted);
- no orphan: every blob snapshot in the replica containers is a recorded point's, every
  blob a replica disk of an item.

It prints one JSON object: the faults injected by kind and how many came back, the samples,
what the watchdog did (from devhost's log), and every check's outcome; the exit code is 0
only when every check passed. Options: --minutes (10), --vms (4), --seed, --work DIR (kept
for reading the logs), --no-operations.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soak.stack import COMPONENTS, MIB, Stack, make_disk, raw_image, wait_for, write

DISK = 32 * MIB
POLICY = "soak"
SETTINGS = {
    # Faster than production's every minute, so the soak converges within its bound.
    "REPLICATION_WATCHDOG_SCHEDULE": "*/10 * * * * *",
    "REPLICATION_STALL_SECONDS": "30",
    "AGENT_HEARTBEAT_TIMEOUT_SECONDS": "120",
    "REPLICATION_POLICIES": json.dumps(
        {POLICY: {"interval": 30, "retention_hours": 1, "app_consistent_frequency_hours": 0,
                  "rpo_threshold_seconds": 300}}
    ),
}  # fmt: skip
FAULT_GAP = (3.0, 15.0)  # seconds between two faults
# Seconds a killed component stays down: mostly a blink, but one in three outages outlasts
# the retries of a step (10 s for storage, 15 s for a command) and then some.
DOWNTIME = (0.0, 10.0)
LONG_DOWNTIME, LONG_SHARE = (20.0, 60.0), 1 / 3
OPERATION_GAP = (20.0, 60.0)  # seconds between two operator actions (disable, then enable)
# Besides the kills: an orchestration terminated through the Durable API, as an operator (or a
# deployment that breaks a replay) ends one. What the watchdog is for.
TERMINATIONS = ("terminate-loop", "terminate-operation")
FAULTS = (*COMPONENTS, *TERMINATIONS)
CONVERGE_SECONDS = 420  # after the faults: how long the control plane may take to recover


def log(message: str) -> None:
    print(f"soak: {datetime.now(UTC).strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


@dataclass
class Vm:
    """One protected VM, its disk, the version written last and what its points showed."""

    name: str
    disk: Path
    version: int = 0
    written_at: datetime | None = None
    expected: str | None = None  # sha256 of the disk's raw image as written
    sampled: list[dict] = field(default_factory=list)


class Writer(threading.Thread):
    """Changes each VM's disk, waits for the first point taken after the change, checks that
    point's bytes, and changes the disk again. It never writes while a point of its own
    version is still to come, so every sampled point is of a disk at rest."""

    def __init__(self, stack: Stack, vms: list[Vm], rng: random.Random, scratch: Path) -> None:
        super().__init__(daemon=True, name="writer")
        self.stack, self.vms, self.rng, self.scratch = stack, vms, rng, scratch
        self.stop = threading.Event()
        self.errors: Counter[str] = Counter()

    def run(self) -> None:
        for vm in self.vms:
            self.change(vm)
        while not self.stop.wait(2):
            for vm in self.vms:
                try:
                    if self.sample(vm):
                        self.change(vm)
                except Exception as error:  # a component is down: try again next round
                    self.errors[type(error).__name__] += 1

    def change(self, vm: Vm) -> None:
        vm.version += 1
        offset = self.rng.randrange(0, DISK // MIB - 2)
        write(vm.disk, offset, self.rng.randint(1, 2), self.rng.randrange(1, 256))
        vm.written_at = datetime.now(UTC)
        vm.expected = hashlib.sha256(raw_image(vm.disk, self.scratch)).hexdigest()

    def sample(self, vm: Vm) -> bool:
        """Check the first point taken after the last write, once there is one."""
        assert vm.written_at is not None
        points = self.stack.item(vm.name)["recoveryPoints"]
        newer = [p for p in points if datetime.fromisoformat(p["time"]) > vm.written_at]
        if not newer:
            return False
        point = min(newer, key=lambda p: p["time"])
        held = hashlib.sha256(point_bytes(self.stack, vm.name, point)).hexdigest()
        vm.sampled.append({"version": vm.version, "point": point["id"], "time": point["time"],
                           "identical": held == vm.expected})  # fmt: skip
        if held != vm.expected:
            log(f"MISMATCH {vm.name} point {point['id']} (version {vm.version})")
        return True


class Operator(threading.Thread):
    """An operator who, now and then, disables a VM's protection (keeping its replica) and
    enables it again, while the faults go on; a request that fails, or a job that ends Failed,
    is asked for again, until the VM is protected once more. Locks, jobs and initial
    replication are exercised under the same faults as the loops."""

    def __init__(self, stack: Stack, vms: list[Vm], rng: random.Random) -> None:
        super().__init__(daemon=True, name="operator")
        self.stack, self.vms, self.rng = stack, vms, rng
        self.stop = threading.Event()
        self.done: Counter[str] = Counter()
        self.job: str | None = None  # the job it waits for now

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(*OPERATION_GAP)):
            vm = self.rng.choice(self.vms)
            self.until("DELETE", vm, lambda i: i["status"] == "NotProtected", {})
            self.until("POST", vm, lambda i: i["status"] == "Protected",
                       {"targetName": vm.name, "policy": POLICY}, forever=True)  # fmt: skip

    def until(self, method: str, vm: Vm, reached: Any, body: dict, forever: bool = False) -> None:
        """Ask for the operation until the VM's status says it happened."""
        path = f"tenants/{self.stack.tenant}/vms/{vm.name}/protection"
        while forever or not self.stop.is_set():
            try:
                if reached(self.stack.item(vm.name)):
                    return
                response = self.stack.call(method, path, json=body)
                if response.status_code == 202:
                    self.done[f"{method} {response.json()['created']}"] += 1
                    self.job = response.json()["id"]
                    job = wait_for(
                        lambda j=response.json()["id"]: (s := self.stack.job(j))["state"]
                        in ("Succeeded", "Failed", "Cancelled") and s,
                        "the job's end", 300, every=1,
                    )  # fmt: skip
                    self.done[f"{method} job {job['state']}"] += 1
                    self.job = None
                else:
                    self.done[f"{method} {response.status_code}"] += 1
            except Exception as error:  # a component is down: ask again
                self.done[f"{method} {type(error).__name__}"] += 1
            time.sleep(2)


def point_bytes(stack: Stack, vm: str, point: dict) -> bytes:
    from azure.storage.blob import BlobServiceClient

    ((disk_id, snapshot),) = point["snapshots"].items()
    service = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
    container = next(d["container"] for d in stack.item(vm)["replicaDisks"])
    blob = service.get_blob_client(container, f"{disk_id}.vhd", snapshot=snapshot)
    return blob.download_blob(offset=0, length=DISK).readall()


def inject_faults(
    stack: Stack,
    vms: list[Vm],
    operator: Operator,
    rng: random.Random,
    until: float,
    azurite_sigkill: bool = False,
) -> dict[str, dict[str, Any]]:
    """Kill a random component at a random moment and bring it back after a random downtime,
    or terminate a replication loop or the operator's running job through the Durable API."""
    faults: dict[str, dict[str, Any]] = {c: {"injected": 0, "recovered": 0} for c in FAULTS}
    while True:
        gap = rng.uniform(*FAULT_GAP)
        if time.monotonic() + gap >= until:
            return faults
        time.sleep(gap)
        kind = rng.choice(FAULTS)
        if kind in TERMINATIONS:
            vm = rng.choice(vms).name
            instance = operator.job if kind == "terminate-operation" else None
            if instance is None:  # no operation runs now: a loop it is
                kind, instance = "terminate-loop", f"replication-{stack.tenant}-{vm}"
            with contextlib.suppress(Exception):
                answer = stack.durable("POST", f"instances/{instance}/terminate?reason=soak")
                if answer.status_code == 202:
                    log(f"terminated {instance}")
                    faults[kind]["injected"] += 1
                    faults[kind].setdefault("instances", []).append(instance)
            continue
        downtime = rng.uniform(*(LONG_DOWNTIME if rng.random() < LONG_SHARE else DOWNTIME))
        # Azurite saves its metadata every 5 s (LokiJS): a SIGKILL loses what it acknowledged
        # since, which Azure Storage never does (see docs). By default it gets SIGTERM: it
        # drops every connection at once as it goes, but keeps what it acknowledged.
        how = signal.SIGTERM if kind == "azurite" and not azurite_sigkill else signal.SIGKILL
        log(f"kill -{how.value} {kind}, down {downtime:.1f} s")
        stack.kill(kind, how)
        faults[kind]["injected"] += 1
        time.sleep(downtime)
        try:
            stack.restart(kind)
            faults[kind]["recovered"] += 1
        except Exception as error:
            log(f"{kind} did not come back: {error}")
            faults[kind].setdefault("errors", []).append(str(error)[:300])


def check(ok: bool, detail: Any = None) -> dict[str, Any]:
    return {"ok": bool(ok), **({"detail": detail} if detail not in (None, [], {}) else {})}


def converge(stack: Stack, vms: list[Vm]) -> None:
    """Wait (bounded) for every VM to be Protected and Normal with no unfinished job."""

    def settled() -> bool:
        items = [stack.item(vm.name) for vm in vms]
        unfinished = stack.jobs(state="InProgress") + stack.jobs(state="NotStarted")
        return not unfinished and all(
            i["status"] == "Protected" and i["health"]["state"] == "Normal" for i in items
        )

    with contextlib.suppress(TimeoutError):
        wait_for(settled, "recovery", CONVERGE_SECONDS, every=3)


def final_checks(stack: Stack, vms: list[Vm], scratch: Path) -> dict[str, Any]:
    items = {vm.name: stack.item(vm.name) for vm in vms}
    not_normal = {
        name: {"status": i["status"], "health": i["health"]}
        for name, i in items.items()
        if i["status"] != "Protected" or i["health"]["state"] != "Normal"
    }
    # The latest point of each VM holds its disk as it is now (nothing writes any more).
    latest_differs = {}
    for vm in vms:
        points = items[vm.name]["recoveryPoints"]
        if not points:
            latest_differs[vm.name] = "no point"
            continue
        newest = max(points, key=lambda p: p["time"])
        if point_bytes(stack, vm.name, newest) != raw_image(vm.disk, scratch):
            latest_differs[vm.name] = newest["id"]
    samples = [s for vm in vms for s in vm.sampled]
    mismatched = [{"vm": vm.name, **s} for vm in vms for s in vm.sampled if not s["identical"]]
    unfinished = [
        {"id": j["id"], "type": j["type"], "target": j["target"], "state": j["state"]}
        for j in stack.jobs(state="InProgress") + stack.jobs(state="NotStarted")
    ]
    orphans = orphan_check(stack, vms)
    return {
        "everyVmProtectedAndNormal": check(not not_normal, not_normal),
        "latestPointHoldsTheDisk": check(not latest_differs, latest_differs),
        "sampledPointsByteIdentical": check(
            bool(samples) and not mismatched, {"sampled": len(samples), "mismatched": mismatched}
        ),
        "noJobLeftInProgress": check(not unfinished, unfinished),
        "noOrphanSnapshot": check(not orphans["snapshots"], orphans["snapshots"]),
        "noOrphanBlob": check(not orphans["blobs"], orphans["blobs"]),
    }


def orphan_check(stack: Stack, vms: list[Vm]) -> dict[str, list[str]]:
    """Snapshots no recorded point names, and blobs no item's replica disks name, in every
    replica container. The loops go on meanwhile, and a point's snapshots exist a moment
    before its row: what looks orphaned is looked at again 20 s later."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(stack.azurite.connection_string)

    def known() -> tuple[set, set]:
        items = [stack.item(vm.name) for vm in vms]
        blobs = {(d["container"], f"{d['diskId']}.vhd") for i in items for d in i["replicaDisks"]}
        snapshots = {
            (d["container"], snapshot)
            for i in items
            for p in i["recoveryPoints"]
            for d in i["replicaDisks"]
            for disk_id, snapshot in p["snapshots"].items()
            if disk_id == d["diskId"]
        }
        return blobs, snapshots

    def unknown(blobs: set, snapshots: set) -> tuple[dict, dict]:
        lost_snapshots, lost_blobs = {}, {}
        for container in {c for c, _ in blobs}:
            listed = service.get_container_client(container).list_blobs(
                include=["snapshots", "metadata"]
            )
            for blob in listed:
                if blob.snapshot and (container, blob.snapshot) not in snapshots:
                    point = (blob.metadata or {}).get("recoverypoint")
                    lost_snapshots[(container, blob.snapshot)] = (
                        f"{container}/{blob.name}@{blob.snapshot} (point {point})"
                    )
                elif not blob.snapshot and (container, blob.name) not in blobs:
                    lost_blobs[(container, blob.name)] = f"{container}/{blob.name}"
        return lost_snapshots, lost_blobs

    first = unknown(*known())
    if any(first):
        time.sleep(20)
        second = unknown(*known())
        first = tuple(
            {k: v for k, v in a.items() if k in b} for a, b in zip(first, second, strict=True)
        )
    return {"snapshots": sorted(first[0].values()), "blobs": sorted(first[1].values())}


def watchdog_decisions(stack: Stack) -> list[dict[str, Any]]:
    """What the watchdog logged, decision by decision (devhost's log, across its restarts)."""
    decisions = []
    for line in (stack.logs / "devhost.log").read_text(errors="replace").splitlines():
        if line.startswith('{"watchdog": ') and not line.startswith('{"watchdog": "run"'):
            with contextlib.suppress(json.JSONDecodeError):
                decisions.append(json.loads(line))
    return decisions


def count_recovered(faults: dict[str, dict[str, Any]], decisions: list[dict[str, Any]]) -> None:
    """A terminated orchestration is recovered when the watchdog acted on it: restarted the
    loop (or flagged the initial replication), or ended the job and freed the VM. (A loop
    terminated while its VM was being disabled needs nothing; it counts as not recovered.)"""
    left = list(decisions)

    def take(match: Any) -> bool:
        found = next((d for d in left if match(d)), None)
        if found is not None:
            left.remove(found)
        return found is not None

    for instance in faults["terminate-loop"].get("instances", []):
        vm = instance.split("-", 2)[2]
        if take(lambda d, vm=vm: d.get("vm") == vm and d["watchdog"] in (
                "loopRestarted", "initialReplicationStopped")):  # fmt: skip
            faults["terminate-loop"]["recovered"] += 1
    for instance in faults["terminate-operation"].get("instances", []):
        if take(lambda d, job=instance: d.get("job") == job):
            faults["terminate-operation"]["recovered"] += 1


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="soak-"))
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Stack(work / "stack", settings=SETTINGS) as stack:
        vms = [Vm(f"soak{i:02d}", make_disk(work / f"soak{i:02d}.vhdx", DISK))
               for i in range(args.vms)]  # fmt: skip
        for vm in vms:
            write(vm.disk, 0, 2, 0x11)
        stack.report({vm.name: vm.disk for vm in vms}, DISK)
        for vm in vms:
            wait_for(lambda v=vm: stack.call("POST", f"tenants/{stack.tenant}/vms/{v.name}/"
                                             "preflight", json={}).status_code == 200,
                     f"{vm.name} listed", 60)  # fmt: skip
            response = stack.call("POST", f"tenants/{stack.tenant}/vms/{vm.name}/protection",
                                  json={"targetName": vm.name, "policy": POLICY})  # fmt: skip
            response.raise_for_status()
        for vm in vms:
            wait_for(lambda v=vm: stack.item(v.name)["status"] == "Protected",
                     f"{vm.name} Protected", 180, every=1)  # fmt: skip
        log(f"{len(vms)} VMs protected; faults for {args.minutes} min (seed {args.seed})")

        fault_rng, writer = random.Random(rng.random()), Writer(stack, vms, rng, scratch)
        operator = Operator(stack, vms, random.Random(rng.random()))
        writer.start()
        if args.operations:
            operator.start()
        until = time.monotonic() + args.minutes * 60
        faults = inject_faults(stack, vms, operator, fault_rng, until, args.azurite_sigkill)
        log("faults over; waiting for the control plane to recover")
        recovering = time.monotonic()
        operator.stop.set()
        if args.operations:
            operator.join(600)  # its last enable goes on until the VM is protected again
        writer.stop.set()
        writer.join(60)
        # One last version per VM, written now that nothing fails: its point must come.
        for vm in vms:
            writer.change(vm)
        for vm in vms:
            with contextlib.suppress(TimeoutError):
                wait_for(lambda v=vm: writer.sample(v), f"{vm.name}'s last point", 300, every=2)
        converge(stack, vms)
        recovery = round(time.monotonic() - recovering, 1)
        checks = final_checks(stack, vms, scratch)
        decisions = watchdog_decisions(stack)
        count_recovered(faults, decisions)
        result = {
            "seed": args.seed,
            "azuriteSignal": "SIGKILL" if args.azurite_sigkill else "SIGTERM",
            "vms": args.vms,
            "faultMinutes": args.minutes,
            "wallSeconds": round(time.monotonic() - started, 1),
            "faults": faults,
            "faultsInjected": sum(f["injected"] for f in faults.values()),
            "faultsRecovered": sum(f["recovered"] for f in faults.values()),
            "samples": sum(len(vm.sampled) for vm in vms),
            "recoverySeconds": recovery,
            "watchdog": dict(Counter(d["watchdog"] for d in decisions)),
            "writerRetries": dict(writer.errors),
            "operations": dict(operator.done),
            "checks": checks,
            "ok": all(c["ok"] for c in checks.values()),
            "work": str(work) if args.work else None,
        }
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long faults go on")
    parser.add_argument("--vms", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--work", type=Path, default=None, help="keep everything here")
    parser.add_argument("--azurite-sigkill", action="store_true",
                        help="SIGKILL Azurite too (it then loses up to 5 s of acknowledged "
                        "writes, which Azure never does; see docs)")  # fmt: skip
    parser.add_argument("--no-operations", dest="operations", action="store_false",
                        help="no operator disabling and enabling VMs meanwhile")  # fmt: skip
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    result = run(args)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
