"""The agent is never sent a replication command for a VM Azure Site Recovery replicates: a
delta loop started for one by mistake ends at its first send, having sent nothing."""

from __future__ import annotations

import uuid

import pytest

from activities.commands import CommandInput, CommandSent, send_agent_command
from contracts.commands import CommandType
from readmodels.items import save_item
from readmodels.records import ReplicatedItem

TENANT = "provider"


@pytest.mark.usefixtures("read_models")
def test_a_sync_for_an_asr_vm_is_not_sent_and_the_loop_is_told_to_stop() -> None:
    vm = "vm-" + uuid.uuid4().hex[:8]
    save_item(
        ReplicatedItem(
            tenant=TENANT, vm=vm, vm_name=vm, site="site", status="Protected", provider="asr"
        )
    )
    command = CommandInput(
        tenant=TENANT, vm=vm, command_id="1a2b3c4d-sync-1-1", type=CommandType.SYNC, cycle=1
    )
    sent = CommandSent.model_validate(send_agent_command(command.out()))
    assert not sent.sent and sent.command_id is None
    assert sent.status == "Protected"
