"""Protection end to end (issue 4): inventory from the agent, preflight, enable, jobs,
tenant isolation, and invalid events in the dead-letter queue."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import KEYS, SITE, ControlPlane, wait_until

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


def report(cp: ControlPlane, tenant: str, *vms: dict, cloud: str = "gold") -> None:
    cp.send_event(
        "inventory.snapshot", tenant, {"cloud": {"id": cloud, "name": cloud}, "vms": list(vms)}
    )
    wanted = {vm["id"] for vm in vms}

    def listed() -> bool:
        page = cp.call("GET", f"tenants/{tenant}/vms", tenant, params={"top": 1000}).json()
        return wanted <= {v["vm"]["id"] for v in page["value"]}

    wait_until(listed)


def finished_job(cp: ControlPlane, tenant: str, job_id: str) -> dict:
    return wait_until(
        lambda: (
            (j := cp.call("GET", f"tenants/{tenant}/jobs/{job_id}", tenant).json())
            and j.get("state") in ("Succeeded", "Failed")
            and j
        ),
        timeout=60,
    )


def test_a_vm_breaking_two_rules_ends_in_a_failed_job_naming_both(
    control_plane: ControlPlane,
) -> None:
    cp, vm = control_plane, "bad-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm, disks=[
        {"id": "os", "path": "os.vhdx", "format": "VHDX", "sizeBytes": 5 * TB, "isOsDisk": True},
        {"id": "data", "path": "shared.vhdx", "format": "VHDX", "sizeBytes": 100 * GB,
         "shared": True},
    ]))  # fmt: skip
    # The VMM checkbox: the agent asks for protection.
    cp.send_event("protection.requested", "contoso", {"targetName": vm}, vm=vm)
    jobs = wait_until(
        lambda: cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).json()["value"]
    )
    job = finished_job(cp, "contoso", jobs[0]["id"])
    assert job["state"] == "Failed"
    assert job["startedBy"] == "agent"
    codes = {e["code"]: e for e in job["errors"]}
    assert {"OsDiskTooLarge", "DiskShared"} <= set(codes)
    assert all(codes[c]["recommendation"] for c in ("OsDiskTooLarge", "DiskShared"))
    item = cp.call("GET", f"tenants/contoso/replicated-items/{vm}").json()
    assert item["status"] == "NotProtected"


def test_gen2_windows_1tb_vhdx_passes_2026_and_fails_2014(control_plane: ControlPlane) -> None:
    cp = control_plane
    vm = vm_body("gen2-" + uuid.uuid4().hex[:6], generation=2, osType="windows",
                 osName="Windows Server 2019 Datacenter", disks=[
                     {"id": "os", "path": "os.vhdx", "format": "VHDX", "sizeBytes": 1 * TB,
                      "isOsDisk": True, "dataVolumes": 1}])  # fmt: skip
    report(cp, "contoso", vm)
    report(cp, "legacy", vm)
    asr = {"provider": "asr"}  # generation limits are ASR's; the direct provider lifts them
    modern = cp.call("POST", f"tenants/contoso/vms/{vm['id']}/preflight", json=asr).json()
    legacy = cp.call("POST", f"tenants/legacy/vms/{vm['id']}/preflight", "legacy", json=asr).json()
    assert (modern["profile"], modern["passed"]) == ("asr-2026", True), modern
    assert (legacy["profile"], legacy["passed"]) == ("asr-2014", False)
    assert "GenerationNotSupported" in {f["code"] for f in legacy["failures"]}


def test_preflight_changes_nothing(control_plane: ControlPlane) -> None:
    cp, vm = control_plane, "pre-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm))
    response = cp.call(
        "POST", f"tenants/contoso/vms/{vm}/preflight", json={"targetSize": "Standard_D2s_v5"}
    )
    assert response.status_code == 200 and response.json()["passed"] is True
    assert cp.call("GET", f"tenants/contoso/replicated-items/{vm}").status_code == 404
    assert cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).json()["value"] == []


def test_enable_over_http_reaches_waiting_for_initial_replication_and_asks_the_agent(
    control_plane: ControlPlane,
) -> None:
    cp, vm = control_plane, "good-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm))
    first = cp.call("POST", f"tenants/contoso/vms/{vm}/protection",
                    json={"targetName": vm, "targetSize": "Standard_D2s_v5"})  # fmt: skip
    second = cp.call("POST", f"tenants/contoso/vms/{vm}/protection", json={"targetName": vm})
    assert first.status_code == second.status_code == 202
    assert first.headers["Location"].endswith(f"/api/tenants/contoso/jobs/{first.json()['id']}")
    assert second.json()["id"] == first.json()["id"], "a second enable returns the running job"
    job = finished_job(cp, "contoso", first.json()["id"])
    assert job["state"] == "Succeeded", job
    assert [s["name"] for s in job["steps"]] == [
        "Prerequisites check", "Enable protection", "Start initial replication"]  # fmt: skip
    item = cp.call("GET", f"tenants/contoso/replicated-items/{vm}").json()
    assert item["status"] in ("WaitingForInitialReplication", "InitialReplicationInProgress")
    assert item["target"]["targetSize"] == "Standard_D2s_v5"
    # Initial replication asked the site's agent to copy the disk, with a SAS for one blob.
    commands = wait_until(lambda: cp.receive(topic="agent-commands", subscription=SITE, wait=2))
    mine = [c for c, props in commands if c["vm"] == vm]
    assert mine and mine[0]["type"] == "replicate"
    sas = mine[0]["data"]["disks"][0]["sasUrl"]
    assert "sp=w&" in sas or sas.endswith("sp=w") or "&sp=w" in sas
    again = cp.call("POST", f"tenants/contoso/vms/{vm}/protection", json={})
    assert again.status_code == 409 and again.json()["code"] == "AlreadyProtected"


def test_a_tenant_key_never_reads_another_tenants_data(control_plane: ControlPlane) -> None:
    cp, vm = control_plane, "iso-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm))
    theirs = cp.call("GET", "tenants/contoso/vms", key=KEYS["fabrikam"])
    assert theirs.status_code == 403
    assert theirs.headers["Content-Type"].startswith("application/problem+json")
    assert theirs.json()["code"] == "TenantForbidden"
    mine = cp.call("GET", "tenants/fabrikam/vms", "fabrikam").json()["value"]
    assert vm not in {v["vm"]["id"] for v in mine}
    write = cp.call("POST", f"tenants/contoso/vms/{vm}/protection", key=KEYS["fabrikam"], json={})
    assert write.status_code == 403
    assert cp.call("GET", "tenants/contoso/vms", key="wrong").status_code == 401


def test_bad_body_is_a_problem_json_400_naming_the_field(control_plane: ControlPlane) -> None:
    cp, vm = control_plane, "body-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm))
    response = cp.call("POST", f"tenants/contoso/vms/{vm}/protection", json={"provider": "tape"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "provider" in response.json()["detail"]
    broken = cp.call("POST", f"tenants/contoso/vms/{vm}/protection", data=b"{nope")
    assert broken.status_code == 400 and broken.json()["code"] == "BodyNotJson"


def test_invalid_events_are_dead_lettered_with_their_reason(control_plane: ControlPlane) -> None:
    cp = control_plane
    marker = uuid.uuid4().hex
    cp.send_raw(b"not json " + marker.encode(), session_id="garbage", message_id=marker)
    dead = wait_until(lambda: [m for m in cp.receive("agent-events-deadletter", wait=2)
                               if marker in str(m[0])], timeout=30)  # fmt: skip
    _, properties = dead[0]
    assert properties["DeadLetterReason"] == "InvalidAgentEvent"
    assert "Invalid JSON" in properties["DeadLetterErrorDescription"]


def test_a_duplicate_event_changes_nothing(control_plane: ControlPlane) -> None:
    cp, vm = control_plane, "dup-" + uuid.uuid4().hex[:6]
    report(cp, "contoso", vm_body(vm))
    event_id = uuid.uuid4().hex
    cp.send_event("protection.requested", "contoso", {}, vm=vm, event_id=event_id)
    jobs = wait_until(
        lambda: cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).json()["value"]
    )
    finished_job(cp, "contoso", jobs[0]["id"])
    cp.send_event("protection.requested", "contoso", {}, vm=vm, event_id=event_id)
    cp.send_event("vm.changed", "contoso", {"vm": vm_body(vm)}, vm=vm)  # a later event flushes
    # The vm.changed behind it in the same session is applied only after the duplicate.
    wait_until(lambda: cp.call("GET", f"tenants/contoso/replicated-items/{vm}").json()
               .get("health", {}).get("state") == "Normal")  # fmt: skip
    jobs = cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).json()["value"]
    assert [j["type"] for j in jobs].count("EnableProtection") == 1


def test_openapi_describes_every_http_function(control_plane: ControlPlane) -> None:
    doc = control_plane.call("GET", "openapi.json").json()
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {
        (method, "/api/" + spec.route.template)
        for spec in control_plane.host.specs
        if spec.route is not None
        for method in spec.methods
    }
    assert served == described
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            assert operation["security"] == ([] if path == "/api/health" else [{"functionKey": []}])
