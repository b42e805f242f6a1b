"""The prerequisite profile is chosen per tenant by settings; a wrong setting is the operator's
error, named with its fix, and never leaves a job running or a VM locked."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CheckedApi
from tests.e2e.test_protection import finished_job, item_of, new_id, report, vm_body

SETTING = "TENANT_PREREQUISITE_PROFILES"


@pytest.fixture
def typo_for_fabrikam() -> Iterator[None]:
    """fabrikam's profile set to one that does not exist (the host reads settings per call)."""
    saved = os.environ[SETTING]
    os.environ[SETTING] = json.dumps({**json.loads(saved), "fabrikam": "asr-2041"})
    try:
        yield
    finally:
        os.environ[SETTING] = saved


def test_each_tenant_gets_its_own_profile(api: CheckedApi) -> None:
    vm = vm_body(new_id("prof"), nics=[{"id": "n0", "addressing": "static"}])
    for tenant in ("contoso", "legacy"):
        report(api, tenant, vm)
    answers = {
        tenant: api.call("POST", f"tenants/{tenant}/vms/{vm['id']}/preflight", tenant, json={})
        .json()
        for tenant in ("contoso", "legacy")
    }  # fmt: skip
    assert (answers["contoso"]["profile"], answers["contoso"]["passed"]) == ("asr-2026", True)
    assert answers["legacy"]["profile"] == "asr-2014"  # static addresses were refused then
    assert [f["code"] for f in answers["legacy"]["failures"]] == ["StaticIpNotSupported"]


def test_an_unknown_profile_in_settings_is_a_500_naming_the_setting(
    api: CheckedApi, typo_for_fabrikam: None
) -> None:
    vm = new_id("typo")
    report(api, "fabrikam", vm_body(vm))
    response = api.call("POST", f"tenants/fabrikam/vms/{vm}/preflight", "fabrikam", json={})
    assert response.status_code == 500
    problem = response.json()
    assert problem["code"] == "SettingInvalid"
    assert "asr-2041" in problem["cause"] and SETTING in problem["recommendation"]
    # The same through the orchestration: the job fails with it, the VM is free again.
    accepted = api.call("POST", f"tenants/fabrikam/vms/{vm}/protection", "fabrikam", json={})
    job = finished_job(api, "fabrikam", accepted.json()["id"])
    assert (job["state"], [e["code"] for e in job["errors"]]) == ("Failed", ["SettingInvalid"])
    item = item_of(api, "fabrikam", vm)
    assert (item["status"], item["activeJobId"]) == ("NotProtected", None)
