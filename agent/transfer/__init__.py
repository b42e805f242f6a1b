"""The upload engine: a disk image → its fixed-VHD page blob, initially and then by deltas.

Public API (the daemon and the CLI build on exactly this):

- `replicate(disk, sas_url, state_dir=...)`: initial replication. Sends only allocated,
  non-zero ranges, in parallel, checksummed, under an optional bandwidth cap; journals what is
  done so a rerun after any interruption sends only the rest; writes the footer last and then
  the first manifest. `resync=True` compares with what the blob holds instead (read+write SAS).
- `sync(disk, sas_url, state_dir=..., rct_ranges=...)`: one delta cycle, from Hyper-V RCT
  ranges or by comparing block hashes with the last manifest.

Every refusal is an `AgentError` with a stable code; see docs/agent.md for the list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from agent.disks.base import DiskImage, Extent
from agent.errors import AgentError
from agent.manifest import DIGEST_SIZE
from agent.progress import Progress
from agent.transfer.delta import delta
from agent.transfer.initial import initial
from agent.transfer.options import TransferOptions, TransferResult
from agent.transfer.plan import align_out, parse_rct
from agent.transfer.resync import resync as full_compare
from agent.transfer.run import Run

__all__ = [
    "AgentError",
    "Extent",
    "Progress",
    "TransferOptions",
    "TransferResult",
    "replicate",
    "sync",
]


def replicate(
    disk_path: str | Path | DiskImage,
    sas_url: str,
    *,
    state_dir: Path,
    options: TransferOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    resync: bool = False,
    restart: bool = False,
    tracked_as: str | Path | None = None,
) -> TransferResult:
    """Initial replication (resumable), or with `resync` a full compare against the blob.

    `restart` forgets a journal whose source changed and starts over (the blob is emptied
    first). `tracked_as`: see `sync`. Raises AgentError: SourceChanged, BlobSizeMismatch, Sas*,
    Cancelled, Disk*...
    """
    run = Run(disk_path, sas_url, state_dir, options, on_progress, cancel, need_read=resync,
              tracked_as=tracked_as)  # fmt: skip
    try:
        return full_compare(run) if resync else initial(run, restart)
    finally:
        run.close()


def sync(
    disk_path: str | Path | DiskImage,
    sas_url: str,
    *,
    state_dir: Path,
    rct_ranges: list[Extent] | list[dict[str, int]] | None = None,
    options: TransferOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    tracked_as: str | Path | None = None,
) -> TransferResult:
    """One delta cycle. With `rct_ranges` only those ranges are read and sent; without, every
    allocated block is hashed and compared with the last manifest. The manifest is committed
    only after all writes succeeded; ranges of an unfinished cycle are re-sent by the next.

    Raises ChangeTrackingLost when there is no complete replica with a valid manifest for this
    disk and blob: the control plane then orders a resync (`replicate --resync`).

    `tracked_as` names the disk whose replica this is when `disk_path` is a frozen copy of it
    (an app-consistent checkpoint's image): the journal and manifest are the disk's, so the
    cycle sends only what differs from the last point, whichever file that was read from.
    """
    run = Run(disk_path, sas_url, state_dir, options, on_progress, cancel, tracked_as=tracked_as)
    try:
        journal = run.journal
        digests = run.store.load_manifest(journal) if journal and journal.complete else None
        if journal is None or digests is None:
            raise AgentError(
                "ChangeTrackingLost",
                f"no complete replica with a valid manifest is recorded for {run.tracked} → "
                f"{run.target.url} in {state_dir} (state lost, blob re-created, or the initial "
                "replication never finished).",
                "Resynchronise: `replicate --resync` (compares with the blob and sends only the "
                "differences), or finish the initial `replicate`.",
            )
        block = journal.hash_block_bytes
        if len(digests) != run.n_blocks(block) * DIGEST_SIZE:
            raise AgentError(
                "ChangeTrackingLost",
                "the manifest does not match the disk's size.",
                "Resynchronise with `replicate --resync`.",
            )
        if rct_ranges is not None:
            items: object = rct_ranges
            if isinstance(rct_ranges, list):
                items = [
                    {"offset": r.offset, "length": r.length} if isinstance(r, Extent) else r
                    for r in rct_ranges
                ]
            changed = [align_out(o, n) for o, n in parse_rct(items, run.disk.virtual_size)]
            return delta(run, journal, digests, block, changed, "rct")
        return delta(run, journal, digests, block, None, "hash")
    finally:
        run.close()
