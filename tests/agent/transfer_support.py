"""Shared parts of the upload-engine tests: blobs with real SAS tokens on a real Azurite, and a
request log that checks what our client sends (Azurite accepts pages Azure refuses)."""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.storage.blob import BlobClient, BlobSasPermissions, ContainerClient, generate_blob_sas

from agent import footer
from devhost.azurite import DEV_ACCOUNT, DEV_KEY

MIB = 1024 * 1024
_names = count()


def new_blob(
    container: ContainerClient,
    size: int,
    *,
    read: bool = True,
    write: bool = True,
    expiry: timedelta = timedelta(hours=1),
) -> tuple[BlobClient, str]:
    """A fresh page blob of `size` bytes and a blob SAS URL signed with Azurite's account key."""
    name = f"disk-{next(_names)}.vhd"
    blob = container.get_blob_client(name)
    blob.create_page_blob(size)
    return blob, f"{blob.url}?{new_sas(blob, read=read, write=write, expiry=expiry)}"


def new_sas(
    blob: BlobClient,
    *,
    read: bool = True,
    write: bool = True,
    expiry: timedelta = timedelta(hours=1),
) -> str:
    """A blob SAS token signed with Azurite's (public, well-known) development account key."""
    return generate_blob_sas(
        DEV_ACCOUNT,
        blob.container_name,
        blob.blob_name,
        account_key=DEV_KEY,
        permission=BlobSasPermissions(read=read, write=write),
        expiry=datetime.now(UTC) + expiry,
    )


def replica_of(raw: bytes, virtual_size: int) -> bytes:
    """What the blob must hold besides its footer: the raw disk zero-padded to whole MiB."""
    return raw + bytes(footer.rounded_size(virtual_size) - len(raw))


def check_replica(blob: BlobClient, raw: bytes, tmp: Path) -> dict[str, Any]:
    """Blob == raw disk padded + a valid fixed-VHD footer, and qemu-img reads it as a fixed VHD
    of the rounded size. Returns the parsed footer."""
    data = blob.download_blob().readall()
    rounded = footer.rounded_size(len(raw))
    assert len(data) == rounded + footer.FOOTER_SIZE
    assert data[:rounded] == replica_of(raw, len(raw)), "replica differs from the source"
    parsed = footer.parse(data[rounded:])
    assert parsed["current_size"] == rounded and parsed["disk_type"] == 2
    path = tmp / "downloaded.vhd"
    path.write_bytes(data)
    info = qemu_info_vpc(path)
    assert info["format"] == "vpc" and info["virtual-size"] == rounded
    assert info.get("format-specific", {}).get("data", {}).get("subformat", "fixed") == "fixed"
    path.unlink()
    return parsed


def qemu_info_vpc(path: Path) -> dict[str, Any]:
    """`qemu-img info` of a fixed VHD (qemu probes only dynamic VHDs by their header)."""
    run = subprocess.run(
        ["qemu-img", "info", "-f", "vpc", "--output=json", str(path)],
        check=True,
        capture_output=True,
    )
    return json.loads(run.stdout)


@dataclass
class PageRequest:
    method: str
    offset: int
    length: int
    kind: str  # "update" | "clear"
    body_length: int
    headers: dict[str, str]


@dataclass
class RequestLog:
    """A `raw_request_hook`: records every Put Page the client is about to send."""

    requests: list[PageRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, pipeline_request: Any) -> None:
        req = pipeline_request.http_request
        query = parse_qs(urlsplit(req.url).query)
        if query.get("comp") != ["page"]:
            return
        rng = req.headers.get("x-ms-range") or req.headers.get("Range") or ""
        start, end = (int(x) for x in rng.split("=")[1].split("-"))
        data = req.data if isinstance(req.data, bytes) else b""
        with self.lock:
            self.requests.append(
                PageRequest(
                    req.method,
                    start,
                    end + 1 - start,
                    req.headers.get("x-ms-page-write", ""),
                    len(data),
                    dict(req.headers),
                )
            )

    def writes(self) -> list[PageRequest]:
        return [r for r in self.requests if r.kind == "update"]

    def assert_azure_rules(self, blob_size: int) -> None:
        """What Azure enforces and Azurite does not: ≤ 4 MiB, 512-aligned, inside the blob,
        and a checksum header on every write."""
        assert self.requests, "no Put Page was seen"
        for r in self.requests:
            assert r.offset % 512 == 0 and r.length % 512 == 0, r
            assert r.length > 0 and r.offset + r.length <= blob_size, r
            if r.kind == "update":
                assert r.length <= 4 * MIB, r
                assert r.body_length == r.length, r
                lower = {k.lower() for k in r.headers}
                assert "x-ms-content-crc64" in lower or "content-md5" in lower, r
