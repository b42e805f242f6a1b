"""Replica names that cannot collide or escape: one container per VM whatever its id, and a
disk id that is not a name never becomes a blob path."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from application.providers import PROVIDERS, DiskIdInvalid, replica_container
from azureclients.clients import blob_service
from contracts.inventory import InventoryDisk, InventoryVm, VmmCloudRef
from devhost.azurite import Azurite
from readmodels.records import ReplicatedItem, VmRecord
from tests.app.test_user_delegation_sas import identity_storage  # noqa: F401 (fixture)

CONTAINER = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")
MIB = 1024 * 1024


def record(vm: str, *disks: InventoryDisk) -> VmRecord:
    body = InventoryVm.model_construct(id=vm, name=vm, generation=1, vcpus=1, memory_mb=1024,
                                       disks=list(disks), nics=[])  # fmt: skip
    return VmRecord.model_construct(tenant="contoso", site="s", cloud=VmmCloudRef(id="c", name="c"),
                                    vm=body, present=True, last_seen=datetime.now(UTC))  # fmt: skip


def disk(disk_id: str, size: int = MIB) -> InventoryDisk:
    return InventoryDisk.model_construct(id=disk_id, path="D:\\os.vhdx", format="VHDX",
                                         size_bytes=size)  # fmt: skip


def test_vm_ids_that_read_alike_get_containers_of_their_own() -> None:
    ids = ["web.01", "web_01", "WEB-01", "web-01", "x" * 128, "x" * 127 + "y"]
    names = [replica_container("contoso", vm) for vm in ids]
    assert len(set(names)) == len(ids)
    assert replica_container("contoso", "web-01") != replica_container("contoso-web", "01")
    for name in names:
        assert 3 <= len(name) <= 63 and CONTAINER.fullmatch(name), name
        assert name.startswith("replica-contoso-")


@pytest.mark.usefixtures("read_models")
def test_deleting_one_vms_replica_leaves_the_look_alikes(monkeypatch: pytest.MonkeyPatch) -> None:
    run = uuid.uuid4().hex[:6]
    direct = PROVIDERS["direct"]
    items = {}
    for vm in (f"web.{run}", f"web_{run}", f"WEB-{run}"):
        replica = direct.enable("contoso", record(vm, disk("os")))
        items[vm] = ReplicatedItem(tenant="contoso", vm=vm, vm_name=vm, site="s",
                                   status="Protected", replica_disks=replica)  # fmt: skip
    direct.disable(items[f"web.{run}"], delete_replica=True)
    service = blob_service()
    exists = {vm: service.get_container_client(i.replica_disks[0].container).exists()
              for vm, i in items.items()}  # fmt: skip
    assert exists == {f"web.{run}": False, f"web_{run}": True, f"WEB-{run}": True}


def test_a_disk_id_that_climbs_out_of_its_container_is_refused(
    identity_storage: Azurite,  # noqa: F811
) -> None:
    """By OAuth, as in Azure: nothing signs the path, so `mine/../victim/os.vhd` reaches the
    victim's blob (with a shared key the signature of the unnormalized path fails instead,
    and hides the hole). The provider must refuse such an id before it names a blob."""
    service = blob_service()
    victim = replica_container("contoso", "victim-" + uuid.uuid4().hex[:6])
    service.create_container(victim)
    victim_blob = service.get_blob_client(victim, "os.vhd")
    victim_blob.create_page_blob(MIB + 512)
    mine = replica_container("contoso", "mine-" + uuid.uuid4().hex[:6])
    service.create_container(mine)
    # The hole the check closes: the path climbs into the victim's container.
    climbed = service.get_blob_client(mine, f"../{victim}/os.vhd")
    assert climbed.get_blob_properties().size == MIB + 512

    with pytest.raises(DiskIdInvalid) as refused:
        PROVIDERS["direct"].enable("contoso", record("mine", disk(f"../{victim}/os", 8 * MIB)))
    assert refused.value.code == "DiskIdInvalid"
    assert victim_blob.get_blob_properties().size == MIB + 512, "the victim's blob is untouched"
