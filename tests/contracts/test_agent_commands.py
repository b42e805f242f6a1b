"""The agent command contract's additions: shutdown (bounded), the site-wide bandwidth command
(no VM), and the events that answer them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contracts.commands import COMMAND_MODELS, AgentCommand, CommandType, ShutdownCommand
from contracts.events import AgentEvent, EventType


def envelope(type_: str, **over: object) -> dict:
    body = {"type": type_, "id": "c1", "tenant": "contoso", "site": "vmm01", "vm": "vm-1",
            "time": "2026-12-01T10:00:00Z", "data": {}}  # fmt: skip
    body.update(over)
    return body


def test_a_bandwidth_command_names_no_vm_and_every_vm_command_must() -> None:
    bandwidth = envelope("bandwidth", data={"bytesPerSecond": 5_000_000})
    del bandwidth["vm"]
    assert AgentCommand.model_validate(bandwidth).vm is None
    shutdown = envelope("shutdown")
    del shutdown["vm"]
    with pytest.raises(ValidationError, match="must name its vm"):
        AgentCommand.model_validate(shutdown)
    assert set(COMMAND_MODELS) == set(CommandType)


@pytest.mark.parametrize("data", [{"timeoutSeconds": 4}, {"timeoutSeconds": 3601},
                                  {"vmName": ""}, {"diskPaths": ["x"] * 257}])  # fmt: skip
def test_shutdown_fields_are_bounded(data: dict) -> None:
    with pytest.raises(ValidationError):
        ShutdownCommand.model_validate(data)
    assert ShutdownCommand.model_validate({}).wire() == {
        "timeoutSeconds": 300, "forceAfterTimeout": False, "diskPaths": []}  # fmt: skip


def test_answers_parse_a_site_wide_result_and_a_disable_request() -> None:
    result = envelope("command.result", data={"commandId": "c1", "status": "succeeded",
                                              "detail": "cap in force: 5000000 bytes/s"})  # fmt: skip
    del result["vm"]
    assert AgentEvent.parse(json.dumps(result)).type is EventType.COMMAND_RESULT
    disable = envelope("protection.disable.requested", data={"reason": "DRProtect removed"})
    assert AgentEvent.parse(json.dumps(disable)).payload().reason == "DRProtect removed"
