"""The replica blobs of a protected VM, before its initial replication."""

from __future__ import annotations

import azure.durable_functions as df
from azure.core.exceptions import ResourceExistsError

from activities.seams import Seam, VmRef
from azureclients.clients import blob_service
from domain import replication as rules
from readmodels.items import require_item_row

bp = df.Blueprint()


class ReplicaBlob(Seam):
    disk_id: str
    blob_size: int


class ReplicaPrepared(Seam):
    blobs: list[ReplicaBlob]


@bp.activity_trigger(input_name="payload")
def prepare_replica(payload: dict) -> dict:
    """One page blob per disk, sized for the fixed-VHD replica (existing blobs are kept, and
    grown when the source disk grew while unprotected). Idempotent."""
    ref = VmRef.model_validate(payload)
    item = require_item_row(ref.tenant, ref.vm).model
    service = blob_service()
    blobs = []
    for disk in item.replica_disks:
        blob = service.get_blob_client(disk.container, disk.blob)
        size = rules.replica_blob_size(disk.size)
        try:
            blob.create_page_blob(size, if_none_match="*")
        except ResourceExistsError:
            if blob.get_blob_properties().size != size:
                blob.resize_blob(size)
        blobs.append(ReplicaBlob(disk_id=disk.disk_id, blob_size=size))
    return ReplicaPrepared(blobs=blobs).out()
