"""Verification of a replica before it becomes a recovery point: the blob has the size of the
fixed VHD, a valid footer for it, and the bytes the agent says it wrote (MD5 of each range
it reports). A replica that fails is never snapshotted.

What it reads, per disk: the footer, once (one ranged Get Blob that also gives the blob's
size, from Content-Range, and the bytes of the agent's footer checksum), then the ranges the
agent reported, those close together read together (a gap of up to MERGE_GAP, a read of up to
MAX_READ), all at once. Every reported range is checked; none is skipped to save a read.
"""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient

from azureclients.blobs import read_range
from azureclients.clients import blob_service
from contracts.events import DiskResult
from domain import replication as rules

MIB = 1024 * 1024
# Two ranges this close are read in one Get Blob, the gap's bytes read for nothing: a
# transaction saved for a few milliseconds of transfer inside the region.
MERGE_GAP = 1 * MIB
MAX_READ = 16 * MIB  # bytes one read brings into memory (a longer range is read in parts)
READS_AT_ONCE = 4  # a disk's reads are sent together: a verification waits for one round trip


class ReplicaInvalid(Exception):
    """The replica in Azure does not match what the agent says it wrote."""


@dataclass(frozen=True)
class Span:
    """One range the agent reported, with the MD5 (base64) it says the blob holds there."""

    offset: int
    length: int
    digest: str

    @property
    def end(self) -> int:
        return self.offset + self.length

    @property
    def name(self) -> str:
        return f"{self.offset}+{self.length}"


def verify_disk(container: str, blob_name: str, expected_size: int, result: DiskResult) -> None:
    """The replica has the right size, a valid VHD footer, and the bytes the agent wrote."""
    if result.blob_size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: agent reported a {result.blob_size}-byte replica, "
            f"expected {expected_size}"
        )
    blob = blob_service().get_blob_client(container, blob_name)
    footer_at = expected_size - rules.FOOTER
    spans = reported_spans(result, expected_size)
    groups = read_groups([s for s in spans if s.offset < footer_at])
    with ThreadPoolExecutor(max_workers=READS_AT_ONCE) as pool:
        reads = [pool.submit(digests, blob, group) for group in groups]  # beside the footer's
        footer, size = _footer(blob, footer_at)
        if size != expected_size:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: blob is {size} bytes, expected {expected_size}"
            )
        if problem := rules.footer_problem(footer, expected_size - rules.FOOTER):
            raise ReplicaInvalid(f"disk {result.disk_id}: {problem}")
        for span in (s for s in spans if s.offset >= footer_at):  # from the footer's bytes
            if md5(footer[span.offset - footer_at : span.end - footer_at]) != span.digest:
                raise _differs(result, span)
        for read in reads:
            for span, digest in read.result():
                if digest != span.digest:
                    raise _differs(result, span)


def _footer(blob: BlobClient, footer_at: int) -> tuple[bytes, int]:
    """The blob's last 512 bytes where the footer belongs, and the blob's size."""
    try:
        read = read_range(blob, footer_at, rules.FOOTER)
    except HttpResponseError as error:
        if error.status_code != 416:  # 416: the range starts past the end, the blob is short
            raise
        return b"", blob.get_blob_properties().size
    return read.data, read.blob_size


def reported_spans(result: DiskResult, size: int) -> list[Span]:
    """The agent's checksums as spans in offset order; a key that is not `offset+length` of
    bytes inside the blob makes the replica invalid (the agent's word is untrusted input)."""
    spans = []
    for key, digest in result.checksums.items():
        try:
            offset, length = (int(x) for x in key.split("+"))
        except ValueError:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: the agent reported a checksum of '{key[:40]}', "
                "not of offset+length"
            ) from None
        if offset < 0 or length <= 0 or offset + length > size:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: bytes {offset}+{length} lie outside the {size}-byte blob"
            )
        spans.append(Span(offset, length, digest))
    return sorted(spans, key=lambda s: (s.offset, s.length))


def read_groups(spans: list[Span]) -> list[list[Span]]:
    """Spans (in offset order) grouped into reads: a span joins the read before it when the
    gap is at most MERGE_GAP and the read stays within MAX_READ."""
    groups: list[list[Span]] = []
    for span in spans:
        if groups:
            group = groups[-1]
            start, end = group[0].offset, max(s.end for s in group)
            if span.offset - end <= MERGE_GAP and max(end, span.end) - start <= MAX_READ:
                group.append(span)
                continue
        groups.append([span])
    return groups


def digests(blob: BlobClient, group: list[Span]) -> list[tuple[Span, str]]:
    """The MD5 of each span of one group as the blob holds it: one Get Blob for the group
    (a single span longer than MAX_READ is read in MAX_READ parts)."""
    start, end = group[0].offset, max(s.end for s in group)
    if end - start <= MAX_READ:
        data = read_range(blob, start, end - start).data
        return [(s, md5(data[s.offset - start : s.end - start])) for s in group]
    (span,) = group  # only a lone span is longer than one read
    hasher = hashlib.md5()
    for at in range(span.offset, span.end, MAX_READ):
        hasher.update(read_range(blob, at, min(MAX_READ, span.end - at)).data)
    return [(span, base64.b64encode(hasher.digest()).decode())]


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _differs(result: DiskResult, span: Span) -> ReplicaInvalid:
    return ReplicaInvalid(
        f"disk {result.disk_id}: bytes {span.name} differ from what the agent sent"
    )
