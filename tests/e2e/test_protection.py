"""Protection end to end: inventory from the agent, preflight, enable and
disable, jobs, health re-checks and invalid events, on devhost + Azurite + the local broker.

Every HTTP answer goes through `api`, which checks it against /api/openapi.json."""

from __future__ import annotations

import uuid

from azure.storage.blob import BlobServiceClient

from application.providers import replica_container
from domain.prerequisites import ASR_2026, RULES
from domain.sizes import get_size
from tests.e2e.conftest import SITE, CheckedApi, wait_until

SEVERITY = {"Normal": 0, "Warning": 1, "Critical": 2}
TB = 1024**4
GB = 1024**3


def vm_body(vm_id: str, **over: object) -> dict:
    vm = {
        "id": vm_id, "name": vm_id, "generation": 1, "osType": "linux",
        "osName": "Other Linux (64-bit)", "is64Bit": True, "vcpus": 2, "memoryMb": 4096,
        "nics": [{"id": "nic0", "addressing": "dhcp"}],
        "disks": [{"id": "os", "path": f"C:\\VMs\\{vm_id}\\os.vhdx", "format": "VHDX",
                   "sizeBytes": 16 * GB, "isOsDisk": True}],
    }  # fmt: skip
    vm.update(over)
    return vm


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def listed_vms(api: CheckedApi, tenant: str) -> dict[str, dict]:
    page = api.call("GET", f"tenants/{tenant}/vms", tenant, params={"top": 1000}).json()
    return {v["vm"]["id"]: v for v in page["value"]}


def report(api: CheckedApi, tenant: str, *vms: dict, cloud: str = "gold") -> None:
    """The agent's inventory snapshot of one VMM cloud; waits until the VMs are listed."""
    api.cp.send_event(
        "inventory.snapshot", tenant, {"cloud": {"id": cloud, "name": cloud}, "vms": list(vms)}
    )
    wanted = {vm["id"] for vm in vms}
    wait_until(lambda: all(listed_vms(api, tenant).get(v, {}).get("present") for v in wanted))


def jobs_of(api: CheckedApi, tenant: str, vm: str) -> list[dict]:
    return api.call("GET", f"tenants/{tenant}/jobs", tenant, params={"target": vm}).json()["value"]


def finished_job(api: CheckedApi, tenant: str, job_id: str) -> dict:
    return wait_until(
        lambda: (
            (j := api.call("GET", f"tenants/{tenant}/jobs/{job_id}", tenant).json())
            and j.get("state") in ("Succeeded", "Failed")
            and j
        ),
        timeout=60,
    )


def item_of(api: CheckedApi, tenant: str, vm: str) -> dict:
    return api.call("GET", f"tenants/{tenant}/replicated-items/{vm}", tenant).json()


def protect(api: CheckedApi, vm: str, tenant: str = "contoso", **body: object) -> dict:
    """Enable protection over HTTP and wait for the job to finish."""
    accepted = api.call("POST", f"tenants/{tenant}/vms/{vm}/protection", tenant, json=body)
    assert accepted.status_code == 202, accepted.text
    return finished_job(api, tenant, accepted.json()["id"])


def dead_letters(api: CheckedApi, marker: str) -> list[tuple[object, dict]]:
    return wait_until(
        lambda: [m for m in api.cp.receive("agent-events-deadletter", wait=2)
                 if marker in str(m[0])],
        timeout=30,
    )  # fmt: skip


def test_a_vm_breaking_two_rules_ends_in_a_failed_job_naming_both(api: CheckedApi) -> None:
    vm = new_id("bad")
    report(api, "contoso", vm_body(vm, disks=[
        {"id": "os", "path": "os.vhdx", "format": "VHDX", "sizeBytes": 5 * TB, "isOsDisk": True},
        {"id": "data", "path": "shared.vhdx", "format": "VHDX", "sizeBytes": 100 * GB,
         "shared": True},
    ]))  # fmt: skip
    # The VMM checkbox: the agent asks for protection.
    api.cp.send_event("protection.requested", "contoso", {"targetName": vm}, vm=vm)
    jobs = wait_until(lambda: jobs_of(api, "contoso", vm))
    job = finished_job(api, "contoso", jobs[0]["id"])
    assert (job["state"], job["type"], job["startedBy"]) == ("Failed", "EnableProtection", "agent")
    errors = {e["code"]: e for e in job["errors"]}
    assert set(errors) == {"OsDiskTooLarge", "DiskShared"}
    for code in errors:  # each names its cause, its fix and the source of the limit
        assert errors[code]["recommendation"] == RULES[code].fix(ASR_2026)
        assert "hyper-v-azure-support-matrix" in errors[code]["source"]
    assert "5 TiB" in errors["OsDiskTooLarge"]["cause"]
    assert "data" in errors["DiskShared"]["cause"]
    [check] = job["steps"]
    assert (check["name"], check["state"]) == ("Prerequisites check", "Failed")
    assert check["startTime"] <= check["endTime"]
    assert item_of(api, "contoso", vm)["status"] == "NotProtected"


def test_gen2_windows_1tb_vhdx_passes_2026_and_fails_2014(api: CheckedApi) -> None:
    vm = vm_body(new_id("gen2"), generation=2, osType="windows",
                 osName="Windows Server 2019 Datacenter", disks=[
                     {"id": "os", "path": "os.vhdx", "format": "VHDX", "sizeBytes": 1 * TB,
                      "isOsDisk": True, "dataVolumes": 1}])  # fmt: skip
    report(api, "contoso", vm)
    report(api, "legacy", vm)  # TENANT_PREREQUISITE_PROFILES: legacy runs asr-2014
    asr = {"provider": "asr"}  # generation limits are ASR's; the direct provider lifts them
    modern = api.call("POST", f"tenants/contoso/vms/{vm['id']}/preflight", json=asr).json()
    legacy = api.call("POST", f"tenants/legacy/vms/{vm['id']}/preflight", "legacy", json=asr)
    assert (modern["profile"], modern["passed"], modern["failures"]) == ("asr-2026", True, [])
    legacy = legacy.json()
    assert (legacy["profile"], legacy["passed"]) == ("asr-2014", False)
    # 2014 knew neither generation 2 in Azure nor Windows Server 2019.
    assert {f["code"] for f in legacy["failures"]} == {
        "GenerationNotSupported", "GuestOsNotSupported"}  # fmt: skip
    direct = api.call("POST", f"tenants/legacy/vms/{vm['id']}/preflight", "legacy", json={})
    assert direct.json()["passed"] is True, "the direct provider lifts the generation rule"


def test_preflight_changes_nothing(api: CheckedApi) -> None:
    good, bad = new_id("pre"), new_id("prebad")
    report(api, "contoso", vm_body(good), vm_body(bad, is64Bit=False, nics=[
        {"id": "n", "teamed": True}]))  # fmt: skip
    before = listed_vms(api, "contoso")
    ok = api.call("POST", f"tenants/contoso/vms/{good}/preflight",
                  json={"targetSize": "Standard_D2s_v5"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["passed"] is True
    assert ok.json()["targetSize"] == "Standard_D2s_v5"
    failing = api.call("POST", f"tenants/contoso/vms/{bad}/preflight", json={}).json()
    assert {f["code"] for f in failing["failures"]} == {
        "Guest32BitNotSupported", "NicTeamingNotSupported"}  # fmt: skip
    after = listed_vms(api, "contoso")
    for vm in (good, bad):
        assert after[vm] == before[vm]
        assert api.call("GET", f"tenants/contoso/replicated-items/{vm}").status_code == 404
        assert jobs_of(api, "contoso", vm) == []


def test_enable_over_http_reaches_waiting_for_initial_replication(api: CheckedApi) -> None:
    vm = new_id("good")
    report(api, "contoso", vm_body(vm))
    first = api.call("POST", f"tenants/contoso/vms/{vm}/protection",
                     json={"targetName": vm, "targetSize": "Standard_D2s_v5"})  # fmt: skip
    second = api.call("POST", f"tenants/contoso/vms/{vm}/protection", json={"targetName": vm})
    assert first.status_code == second.status_code == 202
    assert first.json()["created"] is True and second.json()["created"] is False
    assert first.headers["Location"].endswith(f"/api/tenants/contoso/jobs/{first.json()['id']}")
    assert second.json()["id"] == first.json()["id"], "a second enable returns the running job"
    job = finished_job(api, "contoso", first.json()["id"])
    assert (job["state"], job["startedBy"], job["target"]) == ("Succeeded", "api", vm), job
    assert [s["name"] for s in job["steps"]] == [
        "Prerequisites check", "Enable protection", "Start initial replication"]  # fmt: skip
    assert all(s["state"] == "Succeeded" and s["startTime"] <= s["endTime"] for s in job["steps"])
    item = item_of(api, "contoso", vm)
    # Enable leaves it waiting; the hand-over to initial replication may have moved it on.
    assert item["status"] in ("WaitingForInitialReplication", "InitialReplicationInProgress")
    assert (item["provider"], item["target"]["targetSize"]) == ("direct", "Standard_D2s_v5")
    assert [d["diskId"] for d in item["replicaDisks"]] == ["os"]
    # The hand-over: initial replication asked the site's agent to copy the disk.
    commands = wait_until(lambda: api.cp.receive(topic="agent-commands", subscription=SITE,
                                                 wait=2))  # fmt: skip
    mine = [c for c, _ in commands if c["vm"] == vm]
    assert mine and mine[0]["type"] == "replicate"
    again = api.call("POST", f"tenants/contoso/vms/{vm}/protection", json={})
    assert again.status_code == 409 and again.json()["code"] == "AlreadyProtected"


def test_without_a_size_the_smallest_fitting_catalogue_size_is_recorded(api: CheckedApi) -> None:
    vm = new_id("size")
    report(api, "contoso", vm_body(vm, vcpus=4, memoryMb=12 * 1024))
    chosen = api.call("POST", f"tenants/contoso/vms/{vm}/preflight", json={}).json()["targetSize"]
    size = get_size(chosen)
    assert size is not None and size.vcpus >= 4 and size.memory_mb >= 12 * 1024
    assert protect(api, vm)["state"] == "Succeeded"
    assert item_of(api, "contoso", vm)["target"]["targetSize"] == chosen


def test_asr_fails_the_job_clearly_for_a_vm_asr_has_not_discovered(
    api: CheckedApi, arm: object
) -> None:
    vm = new_id("asr")
    report(api, "contoso", vm_body(vm, osName="Ubuntu 22.04 LTS"))
    job = protect(api, vm, provider="asr")
    assert job["state"] == "Failed"
    assert [e["code"] for e in job["errors"]] == ["AsrVmNotDiscovered"]
    assert "direct" in job["errors"][0]["recommendation"]
    assert item_of(api, "contoso", vm)["status"] == "NotProtected"


def test_disable_is_an_orchestration_that_removes_the_replica(api: CheckedApi) -> None:
    vm = new_id("off")
    report(api, "contoso", vm_body(vm))
    assert protect(api, vm)["state"] == "Succeeded"
    blobs = BlobServiceClient.from_connection_string(api.cp.azurite.connection_string)
    container = blobs.get_container_client(replica_container("contoso", vm))
    assert container.exists()
    accepted = api.call("DELETE", f"tenants/contoso/vms/{vm}/protection",
                        json={"deleteReplica": True})  # fmt: skip
    assert accepted.status_code == 202 and accepted.json()["type"] == "DisableProtection"
    job = finished_job(api, "contoso", accepted.json()["id"])
    assert job["state"] == "Succeeded", job
    assert [s["name"] for s in job["steps"]] == ["Stop replication", "Disable protection"]
    item = item_of(api, "contoso", vm)
    assert (item["status"], item["replicaDisks"]) == ("NotProtected", [])
    assert not container.exists()
    again = api.call("DELETE", f"tenants/contoso/vms/{vm}/protection", json={})
    assert again.status_code == 409 and again.json()["code"] == "NotProtected"


def test_vm_changed_rechecks_a_protected_vm_and_raises_its_health(api: CheckedApi) -> None:
    vm = new_id("chg")
    report(api, "contoso", vm_body(vm))
    assert protect(api, vm)["state"] == "Succeeded"

    def health_after_change(rule: str | None, state: str, **over: object) -> dict:
        """Report a change; wait until the item's health names `rule` (None: no rule)."""
        api.cp.send_event("vm.changed", "contoso", {"vm": vm_body(vm, **over)}, vm=vm)

        def settled() -> dict | None:
            health = item_of(api, "contoso", vm)["health"]
            rules = [r["code"] for r in health["reasons"] if r["code"] in RULES]
            return health if rules == ([rule] if rule else []) else None

        health = wait_until(settled)
        # Other reasons (e.g. no agent heartbeat here) may make it worse, never better.
        assert SEVERITY[health["state"]] >= SEVERITY[state], health
        return health

    health_after_change("NicTeamingNotSupported", "Warning", nics=[{"id": "n0", "teamed": True}])
    shared = health_after_change(
        "DiskShared",
        "Critical",
        disks=[
            {
                "id": "os",
                "path": "os.vhdx",
                "format": "VHDX",
                "sizeBytes": 16 * GB,
                "isOsDisk": True,
            },
            {"id": "d1", "path": "d1.vhdx", "format": "VHDX", "sizeBytes": GB, "shared": True},
        ],
    )
    assert shared["state"] == "Critical"
    [reason] = [r for r in shared["reasons"] if r["code"] == "DiskShared"]
    assert reason["recommendation"] == RULES["DiskShared"].fix(ASR_2026)
    health_after_change(None, "Normal")
    # The VM row follows the change too.
    assert len(listed_vms(api, "contoso")[vm]["vm"]["disks"]) == 1


def test_a_snapshot_marks_vms_that_are_gone(api: CheckedApi) -> None:
    cloud, stays, goes = new_id("cloud"), new_id("stay"), new_id("gone")
    report(api, "contoso", vm_body(stays), vm_body(goes), cloud=cloud)
    api.cp.send_event(
        "inventory.snapshot", "contoso", {"cloud": {"id": cloud, "name": cloud},
                                          "vms": [vm_body(stays)]})  # fmt: skip
    wait_until(lambda: listed_vms(api, "contoso")[goes]["present"] is False)
    assert listed_vms(api, "contoso")[stays]["present"] is True
    gone = api.call("POST", f"tenants/contoso/vms/{goes}/preflight", json={})
    assert gone.status_code == 404 and gone.json()["code"] == "VmNotFound"


def test_malformed_json_is_dead_lettered_with_its_reason(api: CheckedApi) -> None:
    marker = uuid.uuid4().hex
    api.cp.send_raw(b"not json " + marker.encode(), session_id="garbage", message_id=marker)
    [(_, properties)] = dead_letters(api, marker)
    assert properties["DeadLetterReason"] == "InvalidAgentEvent"
    assert "Invalid JSON" in properties["DeadLetterErrorDescription"]


def test_an_event_that_breaks_its_schema_is_dead_lettered_naming_each_field(
    api: CheckedApi,
) -> None:
    vm = new_id("schema")
    event_id = api.cp.send_event("vm.changed", "contoso",
                                 {"vm": vm_body(vm, generation=3, vcpus=0)}, vm=vm)  # fmt: skip
    [(body, properties)] = dead_letters(api, event_id)
    assert body["id"] == event_id, "the event is kept unchanged"
    assert properties["DeadLetterReason"] == "InvalidAgentEvent"
    reason = properties["DeadLetterErrorDescription"]
    assert "data.vm.generation" in reason and "data.vm.vcpus" in reason
    assert vm not in listed_vms(api, "contoso"), "an invalid event changes nothing"


def test_protection_requested_for_an_unknown_vm_is_dead_lettered(api: CheckedApi) -> None:
    vm = new_id("ghost")
    event_id = api.cp.send_event("protection.requested", "contoso", {}, vm=vm)
    [(_, properties)] = dead_letters(api, event_id)
    assert properties["DeadLetterReason"] == "VmNotInInventory"
    assert "inventory.snapshot" in properties["DeadLetterErrorDescription"]
    assert jobs_of(api, "contoso", vm) == []


def test_a_duplicate_event_changes_nothing(api: CheckedApi) -> None:
    vm = new_id("dup")
    report(api, "contoso", vm_body(vm))
    event_id = uuid.uuid4().hex
    api.cp.send_event("protection.requested", "contoso", {}, vm=vm, event_id=event_id)
    jobs = wait_until(lambda: jobs_of(api, "contoso", vm))
    finished_job(api, "contoso", jobs[0]["id"])
    api.cp.send_event("protection.requested", "contoso", {}, vm=vm, event_id=event_id)
    # A later event in the same session is applied only after the duplicate was handled.
    api.cp.send_event("vm.changed", "contoso", {"vm": vm_body(vm, memoryMb=8192)}, vm=vm)
    wait_until(lambda: listed_vms(api, "contoso")[vm]["vm"]["memoryMb"] == 8192)
    assert [j["type"] for j in jobs_of(api, "contoso", vm)].count("EnableProtection") == 1
