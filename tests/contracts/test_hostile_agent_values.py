"""Everything an agent sends is hostile: ids that would become table keys or blob paths, times
without a zone, texts and lists without bounds, checksum ranges that would make verification
read a whole disk, secrets quoted in a cause. Each is refused with the field it concerns, or
made harmless (a SAS signature in a text is redacted)."""

from __future__ import annotations

import json

import pytest

from contracts.events import (
    MAX_CHECKSUM_RANGE,
    MAX_CHECKSUMS,
    AgentEvent,
    EventRejected,
    ReplicationFailed,
)

MIB = 1024 * 1024
MD5 = "1B2M2Y8AsgTpgAmY7PhCfg=="  # of b""


def event(type_: str = "agent.heartbeat", data: dict | None = None, **over: object) -> str:
    body = {"type": type_, "tenant": "contoso", "site": "hq", "id": "e1",
            "time": "2026-11-24T10:00:00Z", "data": data or {}}  # fmt: skip
    if type_ != "agent.heartbeat":
        body["vm"] = "vm-1"
    body.update(over)
    return json.dumps(body)


def refused(body: str) -> str:
    with pytest.raises(EventRejected) as info:
        AgentEvent.parse(body)
    return " | ".join(info.value.reasons)


def completed(**disk: object) -> str:
    result = {"diskId": "os", "blobSize": 64 * MIB + 512, "bytesSent": 0, **disk}
    return event("replication.delta.completed", {"commandId": "g-sync-1-1", "disks": [result],
                                                 "takenAt": "2026-11-24T09:59:00Z"})  # fmt: skip


@pytest.mark.parametrize("field", ["id", "vm"])
@pytest.mark.parametrize("value", ["a/b", "a#b", "a?b", "a\\b", "a\x01b", "../x", "x" * 129])
def test_ids_that_cannot_be_table_keys_are_refused(field: str, value: str) -> None:
    assert field in refused(event("vm.changed", {"vm": {"id": "vm-1", "name": "n",
                            "generation": 1, "vcpus": 1, "memoryMb": 1}}, **{field: value}))  # fmt: skip


def test_a_disk_id_that_would_escape_its_blob_path_is_refused() -> None:
    vm = {"id": "vm-1", "name": "n", "generation": 1, "vcpus": 1, "memoryMb": 1,
          "disks": [{"id": "../other-vm/os", "path": "C:\\os.vhdx", "format": "VHDX",
                     "sizeBytes": MIB}]}  # fmt: skip
    assert "data.vm.disks.0.id" in refused(event("vm.changed", {"vm": vm}))


def test_times_without_a_zone_are_refused() -> None:
    assert "time" in refused(event(time="2026-11-24T10:00:00"))
    naive = event("replication.delta.completed", {"commandId": "c1",
                                                  "takenAt": "2026-11-24T09:59:00"})  # fmt: skip
    assert "data.takenAt" in refused(naive)


def test_texts_and_lists_are_bounded() -> None:
    failed = {"commandId": "c1", "code": "DiskReadFailed", "cause": "x" * 100_000,
              "recommendation": "r"}  # fmt: skip
    assert "data.cause" in refused(event("replication.failed", failed))
    beat = {"runningCommands": [f"c{i}" for i in range(10_000)]}
    assert "data.runningCommands" in refused(event("agent.heartbeat", beat))
    assert "data.code" in refused(event("replication.failed", {**failed, "cause": "c",
                                                               "code": "a b/c"}))  # fmt: skip


def test_a_sas_signature_or_key_in_an_agents_text_is_redacted() -> None:
    failed = ReplicationFailed.model_validate({
        "commandId": "c1", "code": "StorageUnreachable",
        "cause": "the blob endpoint did not answer (https://a.blob.core.windows.net/c/os.vhd"
                 "?sv=2026-10-06&se=2026-12-01&sp=w&sig=AbC%2Bsecret%3D)",
        "recommendation": "Retry with ?code=hostkey or AccountKey=abc==",
    })  # fmt: skip
    assert "secret" not in failed.cause and "sig=REDACTED" in failed.cause
    assert "hostkey" not in failed.recommendation and "abc==" not in failed.recommendation


def test_checksum_ranges_are_few_small_and_inside_the_blob() -> None:
    AgentEvent.parse(completed(checksums={"0+1048576": MD5, f"{64 * MIB}+512": MD5}))
    many = {f"{i * 512}+512": MD5 for i in range(MAX_CHECKSUMS + 1)}
    assert "checksums" in refused(completed(checksums=many))
    whole = {f"0+{MAX_CHECKSUM_RANGE + 512}": MD5}
    assert "1 to" in refused(completed(checksums=whole))
    assert "past the blob" in refused(completed(checksums={f"{64 * MIB}+1024": MD5}))
    assert "offset+length" in refused(completed(checksums={"0-512": MD5}))
    assert "base64 MD5" in refused(completed(checksums={"0+512": "x" * 5000}))
    assert "blobSize" in refused(completed(blobSize=9 * 1024**4))
