"""`python -m tools.read_disk --disk-id <ARM id> (--sha256 | --out FILE)`: read a managed
disk's bytes, e.g. to prove a failed-over disk equals its recovery point.

It goes the way Azure offers a disk's bytes: `begin_grant_access` (Read, for a limited time)
returns a SAS URL, azure-storage-blob downloads it, and `end_get_access` revokes it — always,
also when the download fails. The clients are the real azure-mgmt-compute and azure-identity
ones (DefaultAzureCredential: `az login`, a managed identity, or the local one devhost
serves), so the tool works the same against Azure and the local ARM stand-in; `ARM_ENDPOINT`
(default Azure's) says which. A disk attached to a running VM cannot be read: Azure refuses
the access until the VM is stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

AZURE_RESOURCE_MANAGER = "https://management.azure.com"
CHUNK_WORKERS = 4


def read_disk(disk_id: str, out: Path | None, endpoint: str, seconds: int) -> dict:
    """Stream the disk through a read SAS into `out` (optional) and a SHA-256."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.core.tools import parse_resource_id
    from azure.storage.blob import BlobClient

    parts = parse_resource_id(disk_id)
    if parts.get("namespace", "").lower() != "microsoft.compute" or parts.get("type") != "disks":
        raise ValueError(
            f"{disk_id} is not a managed disk id (…/providers/Microsoft.Compute/disks/NAME)"
        )
    group, name = parts["resource_group"], parts["name"]
    # Azure's Retry-After paces the polls; 1 s is the wait when a service sends none (the
    # SDK's default is 30 s).
    compute = ComputeManagementClient(
        DefaultAzureCredential(), parts["subscription"], base_url=endpoint, polling_interval=1
    )
    access = compute.disks.begin_grant_access(
        group, name, {"access": "Read", "durationInSeconds": seconds}
    ).result()
    digest = hashlib.sha256()
    size = 0
    try:
        download = BlobClient.from_blob_url(access.access_sas).download_blob(
            max_concurrency=CHUNK_WORKERS
        )
        with open(out, "wb") if out else open(os.devnull, "wb") as sink:
            for chunk in download.chunks():
                digest.update(chunk)
                sink.write(chunk)
                size += len(chunk)
    finally:
        compute.disks.begin_revoke_access(group, name).result()
    return {
        "disk": disk_id,
        "bytes": size,
        "sha256": digest.hexdigest(),
        **({"out": str(out)} if out else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.read_disk",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--disk-id", required=True, help="ARM id of the managed disk")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--sha256", action="store_true", help="print the bytes' SHA-256 only")
    what.add_argument("--out", type=Path, help="write the bytes (a fixed VHD) to this file")
    parser.add_argument(
        "--access-seconds",
        type=int,
        default=3600,
        help="how long the read SAS may live (default 3600)",
    )
    args = parser.parse_args(argv)
    endpoint = os.environ.get("ARM_ENDPOINT") or AZURE_RESOURCE_MANAGER
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    try:
        result = read_disk(args.disk_id, args.out, endpoint.rstrip("/"), args.access_seconds)
    except ValueError as error:
        print(f"read_disk: {error}", file=sys.stderr)
        return 2
    except ClientAuthenticationError as error:
        print(
            f"read_disk: no credential for {endpoint}: {error.message.splitlines()[0]}\n"
            "Fix: `az login` (Azure), or source .devhost/arm/env.sh (devhost --with-arm).",
            file=sys.stderr,
        )
        return 1
    except HttpResponseError as error:
        code = getattr(error.error, "code", None) or error.status_code
        print(f"read_disk: {code}: {error.message.splitlines()[0]}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
