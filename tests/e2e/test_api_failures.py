"""When a step of an operation fails for good (its retries spent), the job says so and the VM
is free again: no job stays InProgress forever, no VM stays locked."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator

import pytest

from azureclients.clients import reset_cache
from tests.e2e.conftest import CheckedApi
from tests.e2e.test_protection import finished_job, item_of, new_id, report, vm_body

SETTING = "ReplicaStorage"  # the connection's name, as the Functions host spells it


@pytest.fixture
def replica_storage_refuses(api: CheckedApi) -> Iterator[None]:
    """Replica storage answers 403 to every call: the account key is wrong (Azurite checks it),
    so creating the replica container fails on every retry."""
    saved = os.environ[SETTING]
    wrong = base64.b64encode(b"not the account key").decode()
    os.environ[SETTING] = re.sub(r"AccountKey=[^;]+", f"AccountKey={wrong}", saved)
    reset_cache()
    try:
        yield
    finally:
        os.environ[SETTING] = saved
        reset_cache()


def test_a_step_that_keeps_failing_fails_the_job_and_frees_the_vm(
    api: CheckedApi, replica_storage_refuses: None
) -> None:
    vm = new_id("fail")
    report(api, "contoso", vm_body(vm))
    accepted = api.call("POST", f"tenants/contoso/vms/{vm}/protection", json={})
    job = finished_job(api, "contoso", accepted.json()["id"])
    assert job["state"] == "Failed"
    assert [e["code"] for e in job["errors"]] == ["OperationFailed"]
    assert job["errors"][0]["recommendation"]
    steps = {s["name"]: s["state"] for s in job["steps"]}
    assert steps == {"Prerequisites check": "Succeeded", "Enable protection": "Failed"}
    item = item_of(api, "contoso", vm)
    assert (item["status"], item["activeJobId"]) == ("NotProtected", None)
