"""What the agent remembers about one disk → blob replica, kept in the state dir.

Two things, saved with the same atomic discipline (temp file, fsync, os.replace, fsync dir):

- the journal (JSON): the disk's fingerprint, the blob's identity, the footer's id and time,
  which byte ranges of the initial copy are done, whether the replica is complete, and the byte
  ranges of a delta that started but may not have finished ("pending": re-sent next time);
- the manifest (binary): one 16-byte blake2b digest per hash block of the last replicated
  content, all-zero bytes for a block of zeros. It is written only after the blob writes of a
  cycle succeeded, so it is never ahead of the blob; the journal names it by its digest, so a
  journal and a manifest from two different cycles are never paired.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.private import private_dir

DIGEST_SIZE = 16
ZERO_DIGEST = bytes(DIGEST_SIZE)
JOURNAL_VERSION = 1


def block_digest(block: bytes | memoryview, zero: bytes) -> bytes:
    """The digest of one hash block; zeros get the all-zero digest without hashing."""
    if isinstance(block, bytes) and block == zero[: len(block)]:
        return ZERO_DIGEST  # a memoryview's caller has checked (a view compares slowly)
    return hashlib.blake2b(block, digest_size=DIGEST_SIZE).digest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` so a crash leaves either the old file or the new one, never a torn one."""
    private_dir(path.parent)  # mkstemp makes the file itself 0600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(offset, length) pairs → sorted, merged, non-empty."""
    out: list[list[int]] = []
    for off, length in sorted(r for r in ranges if r[1] > 0):
        if out and off <= out[-1][0] + out[-1][1]:
            out[-1][1] = max(out[-1][1], off + length - out[-1][0])
        else:
            out.append([off, length])
    return [(a, b) for a, b in out]


@dataclass
class Journal:
    """The resumable state of one replica (see the module docstring)."""

    disk_path: str
    blob_url: str  # without the SAS query
    blob_created: str  # creation time: a deleted and re-created blob is a different blob
    blob_size: int
    virtual_size: int
    fingerprint: str
    footer_id: str
    footer_timestamp: int
    done: list[tuple[int, int]] = field(default_factory=list)  # initial copy, byte ranges
    complete: bool = False
    hash_block_bytes: int = 0
    manifest_digest: str = ""  # names the manifest file of the last complete cycle
    pending: list[tuple[int, int]] = field(default_factory=list)  # unfinished delta ranges
    version: int = JOURNAL_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Journal:
        data = json.loads(raw)
        data["done"] = [tuple(r) for r in data.get("done", [])]
        data["pending"] = [tuple(r) for r in data.get("pending", [])]
        return cls(**data)


class StateStore:
    """The files of one disk → blob pair under `state_dir`, keyed by both names."""

    def __init__(self, state_dir: Path, disk_path: Path, blob_url: str) -> None:
        key = hashlib.blake2b(
            f"{Path(disk_path).resolve()}|{blob_url}".encode(), digest_size=8
        ).hexdigest()
        self.dir = Path(state_dir)
        self.journal_path = self.dir / f"{key}.journal.json"
        self.key = key

    def manifest_path(self, digest: str) -> Path:
        return self.dir / f"{self.key}.{digest[:32]}.manifest"

    def load(self) -> Journal | None:
        try:
            return Journal.from_json(self.journal_path.read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            return None  # unreadable: treated as absent, the caller decides what that costs

    def save(self, journal: Journal) -> None:
        atomic_write(self.journal_path, journal.to_json())

    def load_manifest(self, journal: Journal) -> bytearray | None:
        """The digests named by the journal, or None when missing or not the named ones."""
        if not journal.manifest_digest:
            return None
        try:
            raw = self.manifest_path(journal.manifest_digest).read_bytes()
        except FileNotFoundError:
            return None
        if manifest_digest(raw) != journal.manifest_digest:
            return None
        return bytearray(raw)

    def commit_manifest(self, journal: Journal, digests: bytes | bytearray) -> str:
        """Save digests, then point the journal at them, then drop the previous file."""
        digest = manifest_digest(digests)
        atomic_write(self.manifest_path(digest), bytes(digests))
        old = journal.manifest_digest
        journal.manifest_digest = digest
        self.save(journal)
        if old and old != digest:
            with contextlib.suppress(FileNotFoundError):
                self.manifest_path(old).unlink()
        return digest

    def forget(self) -> None:
        """Drop everything known about this pair (a --restart)."""
        for path in self.dir.glob(f"{self.key}.*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def manifest_digest(digests: bytes | bytearray) -> str:
    return hashlib.blake2b(bytes(digests), digest_size=32).hexdigest()
