"""Verification of a replica before it becomes a recovery point: the blob has the size of the
fixed VHD, a valid footer for it, and the bytes the agent says it wrote (MD5 of each range
it reports). A replica that fails is never snapshotted."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from azure.core.exceptions import HttpResponseError

from azureclients.clients import blob_service
from contracts.events import DiskResult
from domain import replication as rules


class ReplicaInvalid(Exception):
    """The replica in Azure does not match what the agent says it wrote."""


def verify_disk(container: str, blob_name: str, expected_size: int, result: DiskResult) -> None:
    """The replica has the right size, a valid VHD footer, and the bytes the agent wrote.

    One ranged read gives both the footer and the blob's size (from Content-Range)."""
    blob = blob_service().get_blob_client(container, blob_name)
    if result.blob_size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: agent reported a {result.blob_size}-byte replica, "
            f"expected {expected_size}"
        )
    total: list[int] = []  # the blob's size, from the ranged read's Content-Range
    try:
        footer = blob.download_blob(
            offset=expected_size - rules.FOOTER,
            length=rules.FOOTER,
            raw_response_hook=lambda r: total.append(_content_range_total(r.http_response)),
        ).readall()
        size = total[-1]
    except HttpResponseError as error:
        if error.status_code != 416:  # 416: the range starts past the end, the blob is short
            raise
        footer, size = b"", blob.get_blob_properties().size
    if size != expected_size:
        raise ReplicaInvalid(
            f"disk {result.disk_id}: blob is {size} bytes, expected {expected_size}"
        )
    if problem := rules.footer_problem(footer, expected_size - rules.FOOTER):
        raise ReplicaInvalid(f"disk {result.disk_id}: {problem}")
    for span, digest in result.checksums.items():
        offset, length = (int(x) for x in span.split("+"))
        data = blob.download_blob(offset=offset, length=length).readall()
        if base64.b64encode(hashlib.md5(data).digest()).decode() != digest:
            raise ReplicaInvalid(
                f"disk {result.disk_id}: bytes {offset}+{length} differ from what the agent sent"
            )


def _content_range_total(response: Any) -> int:
    """The full length in a Content-Range header ("bytes 0-511/4096" -> 4096)."""
    return int(response.headers["Content-Range"].rsplit("/", 1)[1])
