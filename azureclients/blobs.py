"""Blob reads the SDK's downloader makes dearer than they need to be.

`BlobClient.download_blob` on a page blob first sends the ranged Get Blob, then lists the
whole blob's page ranges (Get Page Ranges) to skip empty pages while it streams: two billed
transactions for every read, and a listing that grows with the blob's fragmentation. A
verification reads a few small ranges it names exactly, so it sends the one Get Blob itself,
through the blob client's own generated operation (same pipeline: credential, retries,
API version, transport).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.storage.blob import BlobClient


@dataclass(frozen=True)
class RangeRead:
    data: bytes  # what the blob holds from the range's offset (short at the blob's end)
    blob_size: int  # the blob's whole length, from Content-Range


def read_range(blob: BlobClient, offset: int, length: int) -> RangeRead:
    """One ranged Get Blob (`length` > 0 bytes from `offset`) and nothing else.

    A range that starts past the blob's end raises HttpResponseError with status 416; one
    that starts inside but ends past it returns the bytes up to the end."""

    def keep(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
        return pipeline_response.http_response

    response = blob._client.blob.download(  # the generated Get Blob: see the docstring
        range=f"bytes={offset}-{offset + length - 1}", cls=keep
    )
    data = response.read()
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rsplit("/", 1)[-1]
    if not total.isdigit():
        raise ValueError(f"a ranged read of {blob.blob_name} answered without Content-Range")
    return RangeRead(data=data, blob_size=int(total))
