"""The control plane tried as an attacker and as an unlucky operator would, end to end on
devhost + Azurite + the local broker: an agent speaking for another site or tenant, values
no table or clock accepts, secrets that must never be logged, kept or answered, and the one
destructive call."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from azureclients.clients import READ_MODELS, reset_cache
from tests.e2e.agent_sim import ScriptedAgent
from tests.e2e.conftest import KEYS, CheckedApi, ControlPlane, wait_until
from tests.e2e.test_protection import dead_letters, listed_vms, new_id, report, vm_body
from tests.e2e.test_replication import (  # noqa: F401 (agent: the module's scripted agent)
    agent,
    item,
    make_disk,
    protect,
    wait_status,
)

KEY = KEYS["contoso"]
FINGERPRINT = f"key sha256:{hashlib.sha256(KEY.encode()).hexdigest()[:12]}"
SIG = "sig=" + "S3cr3tSignature" + uuid.uuid4().hex  # a SAS signature that must go nowhere


# --- agent identity ---------------------------------------------------------------------------


def test_an_agent_cannot_mark_another_sites_vms_gone(api: CheckedApi) -> None:
    cloud, vm = new_id("cloud"), new_id("victim")
    report(api, "contoso", vm_body(vm), cloud=cloud)  # site-local's VM
    # site-rogue's agent, on its own queue, claims to be site-local: an empty snapshot.
    event_id = api.cp.send_event("inventory.snapshot", "contoso",
                                 {"cloud": {"id": cloud, "name": cloud}, "vms": []},
                                 site="site-local", queue_of="site-rogue")  # fmt: skip
    [(body, properties)] = dead_letters(api, event_id)
    assert body["id"] == event_id
    assert properties["DeadLetterReason"] == "ForeignSiteOrTenant"
    assert properties["DeadLetterSource"] == "agent-events-site-rogue"
    assert "site-local" in properties["DeadLetterErrorDescription"]
    assert listed_vms(api, "contoso")[vm]["present"] is True, "the VM was not marked gone"


def test_an_agent_cannot_speak_for_another_tenant(api: CheckedApi) -> None:
    vm = new_id("foreign")
    event_id = api.cp.send_event("inventory.snapshot", "fabrikam",
                                 {"cloud": {"id": "c", "name": "c"}, "vms": [vm_body(vm)]},
                                 site="site-rogue", queue_of="site-rogue")  # fmt: skip
    [(_, properties)] = dead_letters(api, event_id)
    assert properties["DeadLetterReason"] == "ForeignSiteOrTenant"
    assert vm not in listed_vms(api, "fabrikam")


def test_a_heartbeat_from_the_future_is_refused(api: CheckedApi) -> None:
    event_id = uuid.uuid4().hex
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    body = {"type": "agent.heartbeat", "tenant": "contoso", "site": "site-rogue", "id": event_id,
            "time": later, "data": {}}  # fmt: skip
    api.cp.send_raw(json.dumps(body).encode(), session_id="site-rogue", message_id=event_id,
                    site="site-rogue")  # fmt: skip
    [(_, properties)] = dead_letters(api, event_id)
    assert properties["DeadLetterReason"] == "EventTimeInFuture"


# --- routes, tokens and bodies that were 500s -------------------------------------------------


@pytest.mark.parametrize("bad", ["a%23b", "a%3Fb", "a%5Cb", "a%01b", "x" * 1100])
def test_route_ids_no_table_accepts_are_not_found(api: CheckedApi, bad: str) -> None:
    for path, code in ((f"tenants/contoso/jobs/{bad}", "JobNotFound"),
                       (f"tenants/contoso/replicated-items/{bad}", "ReplicatedItemNotFound")):  # fmt: skip
        response = api.call("GET", path)
        assert (response.status_code, response.json()["code"]) == (404, code), response.text
    response = api.call("POST", f"tenants/contoso/vms/{bad}/preflight", json={})
    assert (response.status_code, response.json()["code"]) == (404, "VmNotFound")


@pytest.mark.parametrize("decoded", [b"[1, 2]", b'"text"', b"7", b"{}", b'{"RowKey": 5}',
                                     b'{"PartitionKey": "a/b"}', b'{"x": "y"}',
                                     b"[" * 1500 + b"]" * 1500])  # fmt: skip
def test_a_continuation_token_that_is_not_a_table_position_is_a_400(
    api: CheckedApi, decoded: bytes
) -> None:
    token = base64.urlsafe_b64encode(decoded).decode()
    for route in ("jobs", "vms", "replicated-items"):
        response = api.call("GET", f"tenants/contoso/{route}",
                            params={"continuationToken": token})  # fmt: skip
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "InvalidContinuationToken"


def test_a_deeply_nested_body_is_a_400(api: CheckedApi) -> None:
    vm = new_id("deep")
    report(api, "contoso", vm_body(vm))
    deep = '{"targetName": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.call("POST", f"tenants/contoso/vms/{vm}/preflight", data=deep)
    assert (response.status_code, response.json()["code"]) == (400, "BodyTooDeep")


# --- the destructive call and who asked -------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", 1, "true", "on", None])
def test_delete_replica_takes_only_json_true(api: CheckedApi, value: object) -> None:
    response = api.call("DELETE", "tenants/contoso/vms/any/protection",
                        json={"deleteReplica": value})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidField" and "deleteReplica" in response.text


def test_every_job_records_which_key_asked_never_the_key(
    control_plane: ControlPlane,
    agent: ScriptedAgent,  # noqa: F811
    tmp_path: Path,
) -> None:
    cp, vm = control_plane, "who-" + uuid.uuid4().hex[:6]
    initial = protect(cp, vm, make_disk(tmp_path, vm))
    wait_status(cp, vm, "Protected", timeout=90)
    disabled = cp.call("DELETE", f"tenants/contoso/vms/{vm}/protection",
                       json={"deleteReplica": True}).json()  # fmt: skip
    wait_until(lambda: item(cp, vm).get("status") == "NotProtected", 60)
    jobs = cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).json()["value"]
    assert {j["type"] for j in jobs} == {"EnableProtection", "InitialReplication",
                                         "DisableProtection"}  # fmt: skip
    assert {j["requestedBy"] for j in jobs} == {FINGERPRINT}
    assert initial in {j["id"] for j in jobs} and disabled["requestedBy"] == FINGERPRINT
    assert KEY not in json.dumps(jobs)


# --- secrets ----------------------------------------------------------------------------------


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line of this process while the test runs (devhost runs here): the app's,
    devhost's and its invocation log, tracebacks included."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep(level=logging.DEBUG)
    keep.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(keep)
    root.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        root.removeHandler(keep)
        root.setLevel(level)


@pytest.fixture
def read_models_refuse() -> Iterator[None]:
    """The read models' account key is wrong: every table call fails, an unhandled 500."""
    saved = os.environ[READ_MODELS]
    wrong = base64.b64encode(b"not the account key").decode()
    os.environ[READ_MODELS] = re.sub(r"AccountKey=[^;]+", f"AccountKey={wrong}", saved)
    reset_cache()
    try:
        yield
    finally:
        os.environ[READ_MODELS] = saved
        reset_cache()


def test_a_key_sent_as_code_is_in_no_log_and_no_answer_of_a_500(
    control_plane: ControlPlane, logs: list[str], read_models_refuse: None
) -> None:
    url = control_plane.url("tenants/contoso/jobs")
    response = requests.get(url, params={"code": KEY, "state": "Failed"}, timeout=30)
    assert response.status_code == 500 and response.json()["code"] == "InternalError"
    assert KEY not in response.text
    assert any("unhandled error" in line for line in logs), "the failure was logged"
    assert not [line for line in logs if KEY in line]


def test_a_sas_signature_an_agent_quotes_reaches_no_job_item_answer_or_log(
    control_plane: ControlPlane,
    agent: ScriptedAgent,  # noqa: F811
    tmp_path: Path,
    logs: list[str],
) -> None:
    cp, vm = control_plane, "sig-" + uuid.uuid4().hex[:6]

    def unreachable(command: dict) -> str:
        sas = command["data"]["disks"][0]["sasUrl"]
        agent.event("replication.failed", vm, {
            "commandId": command["id"], "code": "StorageUnreachable",
            "cause": f"the blob endpoint did not answer (ServiceRequestError: {sas}&{SIG})",
            "recommendation": f"Check the network path to {sas}.",
        })  # fmt: skip
        return "silent"

    agent.scripts[vm] = unreachable
    job_id = protect(cp, vm, make_disk(tmp_path, vm))
    failed = wait_until(lambda: (j := cp.call("GET", f"tenants/contoso/jobs/{job_id}").json())
                        .get("state") == "Failed" and j, 60)  # fmt: skip
    assert failed["errors"][0]["code"] == "StorageUnreachable"
    # A dead-lettered event's reasons too (a checksum range that quotes a signature).
    event_id = agent.event("replication.delta.completed", vm, {
        "commandId": "c1", "disks": [{"diskId": "os", "blobSize": 1024, "bytesSent": 0,
                                      "checksums": {f"x?{SIG}": "y"}}]})["id"]  # fmt: skip
    [(_, properties)] = dead_letters(CheckedApi(cp), event_id)
    kept = {
        "job": cp.call("GET", f"tenants/contoso/jobs/{job_id}").text,
        "jobs": cp.call("GET", "tenants/contoso/jobs", params={"target": vm}).text,
        "item": cp.call("GET", f"tenants/contoso/replicated-items/{vm}").text,
        "items": cp.call("GET", "tenants/contoso/replicated-items").text,
        "vms": cp.call("GET", "tenants/contoso/vms").text,
        "dead-letter": json.dumps(properties),
        "logs": "\n".join(logs),
    }
    assert "sig=REDACTED" in kept["job"], "the cause is kept, its signature is not"
    for where, text in kept.items():
        assert SIG not in text, where
        assert not re.search(r"sig=(?!REDACTED)", text), where
        assert KEY not in text, where


def test_local_settings_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    from devhost.init_settings import create

    target = tmp_path / "local.settings.json"
    key = create(Path(__file__).parents[2] / "local.settings.sample.json", target)
    assert key and key in target.read_text()
    assert target.stat().st_mode & 0o777 == 0o600


# --- an answer to an attempt the loop no longer waits for -------------------------------------


def test_a_late_completion_of_an_earlier_attempt_makes_no_point(
    control_plane: ControlPlane,
    agent: ScriptedAgent,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Attempt 1 stalls, the loop resends (attempt 2, fresh SAS); attempt 1's upload then ends
    while attempt 2 may still write: its completion must not become a point."""
    cp, vm = control_plane, "late-" + uuid.uuid4().hex[:6]
    held: list[dict] = []

    def hold(command: dict) -> str:
        held.append(command)
        return "silent"

    agent.scripts[vm] = hold
    protect(cp, vm, make_disk(tmp_path, vm))
    wait_until(lambda: len(held) >= 2, timeout=90)  # the stall watch (30 s) resent it
    first, second = held[0], held[1]
    assert first["id"].endswith("-1") and second["id"].endswith("-2")
    agent.upload(first)  # the earlier attempt's completion arrives late
    for _ in range(10):  # give it every chance to be (wrongly) taken
        shown = item(cp, vm)
        assert shown["status"] == "InitialReplicationInProgress", shown["status"]
        assert shown["recoveryPoints"] == []
        time.sleep(0.5)
    agent.upload(second)
    done = wait_status(cp, vm, "Protected", timeout=60)
    assert [p["id"] for p in done["recoveryPoints"]] == [second["id"]]
