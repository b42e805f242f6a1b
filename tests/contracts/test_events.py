"""The agent event envelope refuses bad events with every reason, naming the field."""

from __future__ import annotations

import json

import pytest

from contracts.events import AgentEvent, EventRejected, EventType, InventorySnapshot


def envelope(**over: object) -> dict:
    base = {
        "type": "vm.changed",
        "tenant": "contoso",
        "site": "vmm01",
        "vm": "vm-1",
        "id": "evt-1",
        "time": "2026-11-24T10:00:00Z",
        "data": {"vm": {"id": "vm-1", "name": "web01", "generation": 1, "vcpus": 2,
                        "memoryMb": 4096}},
    }  # fmt: skip
    base.update(over)
    return base


def test_a_valid_event_parses_with_typed_data() -> None:
    event = AgentEvent.parse(json.dumps(envelope()))
    assert event.type is EventType.VM_CHANGED
    assert event.payload().vm.memory_mb == 4096


def test_body_that_is_not_json_is_rejected() -> None:
    with pytest.raises(EventRejected) as info:
        AgentEvent.parse(b"\x00not json")
    assert "Invalid JSON" in info.value.reasons[0]


def test_every_wrong_field_is_named_at_once() -> None:
    bad = envelope(data={"vm": {"id": "vm-1", "name": "web01", "generation": 3}})
    with pytest.raises(EventRejected) as info:
        AgentEvent.parse(json.dumps(bad))
    joined = " | ".join(info.value.reasons)
    assert "data.vm.generation" in joined
    assert "data.vm.vcpus" in joined
    assert "data.vm.memoryMb" in joined


def test_unknown_type_and_missing_tenant_are_both_reported() -> None:
    bad = envelope(type="vm.exploded")
    del bad["tenant"]
    with pytest.raises(EventRejected) as info:
        AgentEvent.parse(json.dumps(bad))
    joined = " | ".join(info.value.reasons)
    assert joined.count(":") >= 2
    assert "type" in joined
    assert "tenant" in joined


def test_vm_scoped_event_without_vm_is_rejected() -> None:
    bad = envelope()
    del bad["vm"]
    with pytest.raises(EventRejected, match="must name its vm"):
        AgentEvent.parse(json.dumps(bad))


def test_inventory_snapshot_is_site_scoped() -> None:
    body = envelope(
        type="inventory.snapshot",
        vm=None,
        data={"cloud": {"id": "c1", "name": "Gold"}, "vms": []},
    )
    event = AgentEvent.parse(json.dumps(body))
    assert isinstance(event.payload(), InventorySnapshot)


def test_tenant_names_cannot_smuggle_table_keys() -> None:
    with pytest.raises(EventRejected, match="tenant"):
        AgentEvent.parse(json.dumps(envelope(tenant="a/b")))
