"""The engine's options and results: what the daemon and the CLI pass in and get back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.errors import AgentError
from agent.throttle import TokenBucket
from agent.transfer.plan import MAX_PUT_PAGE, PAGE

MIB = 1024 * 1024


@dataclass
class TransferOptions:
    """How a transfer runs. Defaults follow AzCopy (4 MiB pages) and Add-AzVhd (skip zeros)."""

    concurrency: int = 8
    bandwidth_bytes_per_s: int | None = None
    chunk_bytes: int = 4 * MIB  # largest Put Page; Azure's limit is 4 MiB
    hash_block_bytes: int = 1 * MIB  # manifest granularity for hash-compare deltas
    zero_skip_bytes: int = 64 * 1024  # zero runs this long inside a chunk are not sent
    memory_budget_bytes: int = 96 * MIB  # data read but not yet acknowledged by storage
    checksum: str = "auto"  # "auto" (CRC64 if available) | "crc64" | "md5"
    sample_checksums: int = 8  # written ranges whose MD5 goes into the result
    request_hook: Callable[[Any], None] | None = field(default=None, repr=False)
    # The site's cap, shared by every transfer the daemon runs (bandwidth_bytes_per_s is this
    # transfer's own, on top of it).
    shared_bucket: TokenBucket | None = field(default=None, repr=False)

    def validate(self) -> None:
        def bad(cause: str, fix: str) -> AgentError:
            return AgentError("BadOption", cause, fix)

        if not 1 <= self.concurrency <= 256:
            raise bad(f"concurrency {self.concurrency} is out of range.", "Use 1 to 256.")
        if self.bandwidth_bytes_per_s is not None and self.bandwidth_bytes_per_s <= 0:
            raise bad("the bandwidth cap must be positive.", "Omit it for no cap.")
        if self.chunk_bytes % PAGE or not PAGE <= self.chunk_bytes <= MAX_PUT_PAGE:
            raise bad(
                f"chunk size {self.chunk_bytes} is not a multiple of 512 up to 4 MiB.",
                "Use 4MiB (the default) or a smaller power of two.",
            )
        for name in ("hash_block_bytes", "zero_skip_bytes"):
            value = getattr(self, name)
            if value < PAGE or value & (value - 1):
                raise bad(f"{name} {value} is not a power of two ≥ 512.", "Use e.g. 1MiB.")
        big, small = (
            max(self.chunk_bytes, self.hash_block_bytes),
            min(self.chunk_bytes, self.hash_block_bytes),
        )
        if big % small:
            raise bad(
                "the chunk size and the hash block size must divide one another.",
                "Use powers of two, e.g. 4MiB chunks with 1MiB hash blocks.",
            )
        if self.checksum not in ("auto", "crc64", "md5"):
            raise bad(f"checksum {self.checksum!r} is unknown.", "Use auto, crc64 or md5.")

    @property
    def unit(self) -> int:
        """The read unit: whole hash blocks and whole chunks."""
        return max(self.chunk_bytes, self.hash_block_bytes)


@dataclass
class TransferResult:
    """What one run did; `checksums` lets the control plane verify the blob independently."""

    blob_size: int
    bytes_sent: int
    bytes_cleared: int
    manifest_digest: str
    checksums: dict[str, str]  # "offset+length" -> base64 MD5 of those blob bytes
    bytes_scanned: int = 0
    seconds: float = 0.0
    mode: str = "initial"  # "initial" | "resume" | "resync" | "rct" | "hash" | "noop"
    requests: int = 0
    scan_seconds: float = 0.0  # hash mode: time spent reading and hashing the disk
