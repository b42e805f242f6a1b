"""`python -m bench.replication [--quick]`: the upload engine against Azurite, with baselines
measured in the same run. Prints one JSON document; progress on stderr.

- dense raw disk (1 GiB; --quick 256 MiB): our engine vs the best case Azurite allows (4 MiB
  `upload_page` calls on 4 threads, no checksums) and vs one `upload_blob(PageBlob)` call;
- dynamic VHDX of 8 GiB (--quick 2 GiB) with 10 % written: bytes sent / non-zero bytes, and
  wall time vs `upload_blob(PageBlob)` of the same disk converted to raw;
- delta after 1 % of the disk is rewritten in scattered 64 KiB writes: bytes sent / bytes
  changed with RCT ranges and with hash comparison, and the hash scan's speed;
- peak RSS of every run: each runs in its own child process (`_child` below).

Azurite stores data on disk (--location), as the notes advise for big runs.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB
ROOT = Path(__file__).resolve().parent.parent
CONTAINER = "bench"


def log(msg: str) -> None:
    print(f"[replication] {msg}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    """This process's peak RSS since exec (VmHWM). Not ru_maxrss: Linux carries that over exec,
    so a child would report its parent's peak."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    if match:
        return round(int(match.group(1)) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- children: one measured operation each, so peak RSS is that operation's own -----------


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    from azure.storage.blob import BlobClient, BlobServiceClient

    from agent.transfer import TransferOptions, replicate, sync  # imported before the clock

    op = spec["op"]
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if op == "loop":  # the ceiling: back-to-back 4 MiB Put Page on 4 threads, nothing else
        blob = BlobClient.from_blob_url(spec["sas"])
        size, chunk = spec["size"], 4 * MIB
        offsets = iter(range(0, size, chunk))
        lock = threading.Lock()

        def work() -> None:
            with open(spec["path"], "rb") as f:
                while True:
                    with lock:
                        off = next(offsets, None)
                    if off is None:
                        return
                    data = os.pread(f.fileno(), chunk, off)
                    blob.upload_page(data, off, len(data))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["bytes_sent"] = size
    elif op == "upload_blob":  # the SDK's own way: one call, it skips zero pages itself
        svc = BlobServiceClient.from_connection_string(spec["conn"])
        blob = svc.get_blob_client(CONTAINER, spec["name"])
        with open(spec["path"], "rb") as f:
            blob.upload_blob(
                f, blob_type="PageBlob", length=spec["size"], max_concurrency=4, overwrite=True
            )
    elif op in ("replicate", "sync"):
        opts = TransferOptions(concurrency=spec.get("concurrency", 8))
        if op == "replicate":
            result = replicate(spec["path"], spec["sas"], state_dir=Path(spec["state"]),
                               options=opts)  # fmt: skip
        else:
            ranges = json.loads(Path(spec["rct"]).read_text()) if spec.get("rct") else None
            result = sync(spec["path"], spec["sas"], state_dir=Path(spec["state"]),
                          rct_ranges=ranges, options=opts)  # fmt: skip
        out.update(
            bytes_sent=result.bytes_sent,
            bytes_cleared=result.bytes_cleared,
            bytes_scanned=result.bytes_scanned,
            scan_seconds=result.scan_seconds,
            requests=result.requests,
        )
    else:
        raise SystemExit(f"unknown op {op}")
    out["seconds"] = time.perf_counter() - started
    out["peak_rss_mib"] = peak_rss_mib()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return out


def measure(label: str, spec: dict[str, Any]) -> dict[str, Any]:
    log(f"{label} …")
    run = subprocess.run(
        [sys.executable, "-m", "bench.replication", "_child", json.dumps(spec)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{run.stderr[-3000:]}")
    out = json.loads(run.stdout)
    log(f"{label}: {out['seconds']:.2f} s, peak RSS {out['peak_rss_mib']} MiB")
    return out


# --- set-up --------------------------------------------------------------------------------


class Env:
    """Azurite on disk, a container, and fresh page blobs with read+write SAS URLs."""

    def __init__(self, work: Path) -> None:
        from azure.storage.blob import BlobServiceClient

        from devhost.azurite import Azurite

        self.work = work
        self.azurite = Azurite(work / "azurite").start()
        self.conn = self.azurite.connection_string
        self.svc = BlobServiceClient.from_connection_string(self.conn)
        self.container = self.svc.create_container(CONTAINER)
        self.n = 0

    def blob(self, size: int) -> tuple[str, str]:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        from devhost.azurite import DEV_ACCOUNT, DEV_KEY

        self.n += 1
        name = f"b{self.n}.vhd"
        client = self.container.get_blob_client(name)
        client.create_page_blob(size)
        sas = generate_blob_sas(DEV_ACCOUNT, CONTAINER, name, account_key=DEV_KEY,
                                permission=BlobSasPermissions(read=True, write=True),
                                expiry=datetime.now(UTC) + timedelta(hours=3))  # fmt: skip
        return name, f"{client.url}?{sas}"

    def drop(self, name: str) -> None:
        self.container.delete_blob(name)  # keep Azurite's folder small between runs

    def close(self) -> None:
        self.azurite.stop()
        shutil.rmtree(self.work / "azurite", ignore_errors=True)


def qemu_io(path: Path, fmt: str, commands: list[str]) -> None:
    """Feed qemu-io its commands on stdin (thousands of them do not fit on a command line)."""
    subprocess.run(["qemu-io", "-f", fmt, str(path)], input="\n".join(commands) + "\nquit\n",
                   text=True, check=True, capture_output=True)  # fmt: skip


def sparse_writes(size: int, fraction: float, rng: random.Random) -> list[tuple[int, int, int]]:
    """(offset, length, pattern): 1 MiB slots picked at random, each written from its start
    for 64 KiB to 1 MiB, until `fraction` of the disk holds data."""
    slots = list(range(size // MIB))
    rng.shuffle(slots)
    out, total = [], 0
    for slot in slots:
        if total >= fraction * size:
            break
        length = rng.randrange(1, 17) * 64 * 1024
        out.append((slot * MIB, length, rng.randrange(1, 256)))
        total += length
    return sorted(out)


def scattered_64k(size: int, fraction: float, rng: random.Random) -> list[int]:
    """Offsets of distinct 64 KiB writes covering `fraction` of the disk."""
    cells = size // (64 * 1024)
    return sorted(rng.sample(range(cells), int(cells * fraction)))


# --- the three measurements ----------------------------------------------------------------


def dense(work: Path, size: int) -> dict[str, Any]:
    """Each contender gets a fresh Azurite: on-disk Azurite slows as it accumulates (deleted
    blobs are reclaimed lazily), which would otherwise favour whoever runs first."""
    from agent.footer import blob_size

    path = work / "dense.raw"
    with path.open("wb") as f:
        block = os.urandom(16 * MIB)
        for _ in range(size // (16 * MIB)):
            f.write(block)
    runs: dict[str, Any] = {}
    tries: dict[str, list[float]] = {}
    # Interleaved and best of two: the 2 cores are shared, so load from elsewhere must hit
    # every contender alike rather than whoever happened to run at that moment.
    order = ("engine", "loop_4x4MiB", "upload_blob", "upload_blob", "loop_4x4MiB", "engine")
    for label in order:
        env = Env(work / f"dense-{label}")
        try:
            if label == "engine":
                _, sas = env.blob(blob_size(size))
                spec = {"op": "replicate", "sas": sas, "path": str(path),
                        "state": str(env.work / "state")}  # fmt: skip
            elif label == "loop_4x4MiB":
                _, sas = env.blob(size)
                spec = {"op": "loop", "sas": sas, "path": str(path), "size": size}
            else:
                spec = {"op": "upload_blob", "conn": env.conn, "name": "ub", "path": str(path),
                        "size": size}  # fmt: skip
            out = measure(f"dense: {label}", spec)
            tries.setdefault(label, []).append(round(out["seconds"], 2))
            if label not in runs or out["seconds"] < runs[label]["seconds"]:
                runs[label] = out
        finally:
            env.close()
    path.unlink()
    mibps = {k: round(size / MIB / v["seconds"], 1) for k, v in runs.items()}
    return {
        "size_bytes": size,
        "mib_per_s": mibps,
        "engine_vs_loop": round(mibps["engine"] / mibps["loop_4x4MiB"], 3),
        "engine_vs_upload_blob": round(mibps["engine"] / mibps["upload_blob"], 3),
        "targets": {"engine_vs_loop": ">= 0.9", "engine_vs_upload_blob": ">= 1.0"},
        "seconds_each_try": tries,
        "client_cpu_seconds": {k: v["cpu_seconds"] for k, v in runs.items()},
        "peak_rss_mib": {k: v["peak_rss_mib"] for k, v in runs.items()},
    }


def sparse_and_delta(env: Env, size: int, rng: random.Random) -> tuple[dict, dict]:
    from agent.footer import blob_size

    vhdx = env.work / "sparse.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", "-o", "subformat=dynamic",
                    str(vhdx), str(size)], check=True)  # fmt: skip
    writes = sparse_writes(size, 0.10, rng)
    log(f"sparse: writing {len(writes)} ranges into a {size // GIB} GiB VHDX …")
    qemu_io(vhdx, "vhdx", [f"write -P {p} {o} {n}" for o, n, p in writes])
    nonzero = sum(n for _, n, _ in writes)
    raw = env.work / "sparse.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(vhdx), str(raw)], check=True)
    name = f"ub{env.n}"
    base = measure("sparse: upload_blob of the raw", {"op": "upload_blob", "conn": env.conn,
                   "name": name, "path": str(raw), "size": size})  # fmt: skip
    env.drop(name)
    raw.unlink()
    name, sas = env.blob(blob_size(size))
    state = str(env.work / "state-sparse")
    engine = measure("sparse: engine", {"op": "replicate", "sas": sas, "path": str(vhdx),
                     "state": state})  # fmt: skip
    sparse = {
        "virtual_bytes": size,
        "nonzero_bytes": nonzero,
        "bytes_sent": engine["bytes_sent"],
        "sent_over_nonzero": round((engine["bytes_sent"] - 512) / nonzero, 4),
        "seconds": {
            "engine": round(engine["seconds"], 2),
            "upload_blob": round(base["seconds"], 2),
        },
        "speedup_vs_upload_blob": round(base["seconds"] / engine["seconds"], 2),
        "targets": {"sent_over_nonzero": "<= 1.02", "speedup_vs_upload_blob": ">= 4"},
        "peak_rss_mib": {"engine": engine["peak_rss_mib"], "upload_blob": base["peak_rss_mib"]},
    }

    # Delta 1: 1 % rewritten in scattered 64 KiB writes, sent from RCT ranges.
    delta: dict[str, Any] = {"write_bytes": 64 * 1024, "fraction": 0.01}
    for mode in ("rct", "hash"):
        cells = scattered_64k(size, 0.01, rng)
        qemu_io(
            vhdx, "vhdx", [f"write -P {rng.randrange(1, 256)} {c * 65536} 65536" for c in cells]
        )
        changed = len(cells) * 65536
        spec = {"op": "sync", "sas": sas, "path": str(vhdx), "state": state}
        if mode == "rct":
            rct = env.work / "rct.json"
            rct.write_text(json.dumps([{"offset": c * 65536, "length": 65536} for c in cells]))
            spec["rct"] = str(rct)
        out = measure(f"delta: {mode}", spec)
        entry = {
            "bytes_changed": changed,
            "bytes_sent": out["bytes_sent"],
            "sent_over_changed": round(out["bytes_sent"] / changed, 3),
            "seconds": round(out["seconds"], 2),
            "peak_rss_mib": out["peak_rss_mib"],
        }
        if mode == "hash":
            entry["hash_block_bytes"] = MIB
            entry["scan_mb_per_s"] = round(out["bytes_scanned"] / 1e6 / out["scan_seconds"], 1)
            entry["bytes_scanned"] = out["bytes_scanned"]
        delta[mode] = entry
    delta["targets"] = {
        "rct.sent_over_changed": "<= 1.1",
        "hash.sent_over_changed": "<= hash block / write size (16 for 1 MiB / 64 KiB)",
        "hash.scan_mb_per_s": ">= 500",
    }
    env.drop(name)
    vhdx.unlink()
    return sparse, delta


def main(argv: list[str]) -> int:
    if argv[:1] == ["_child"]:
        print(json.dumps(_child(json.loads(argv[1]))))
        return 0
    quick = "--quick" in argv
    dense_size = 256 * MIB if quick else GIB
    sparse_size = 2 * GIB if quick else 8 * GIB
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        result: dict[str, Any] = {"quick": quick, "cores": os.cpu_count()}
        result["dense"] = dense(Path(tmp), dense_size)
        env = Env(Path(tmp) / "sparse")
        try:
            result["sparse_vhdx"], result["delta"] = sparse_and_delta(env, sparse_size, rng)
        finally:
            env.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
