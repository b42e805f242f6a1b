"""devhost's host: HTTP triggers with keys, Event Grid, timers, Service Bus, settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from devhost.ncrontab import Schedule, ScheduleError
from devhost.settings import SettingsError
from tests.host.conftest import KEY, MASTER, ROOT, calls, wait_for


def test_route_params_methods_and_malformed_bodies_reach_the_function(host) -> None:
    devhost, _, _ = host
    url = f"{devhost.base_url}/api/echo/alice/3?x=1"
    response = requests.post(url, data=b"{not json", headers={"x-functions-key": KEY}, timeout=10)
    assert response.status_code == 200 and response.headers["X-Echo"] == "yes"
    body = response.json()
    assert body["route"] == {"name": "alice", "count": "3"}
    assert body["params"] == {"x": "1"} and body["body"] == "{not json"
    assert body["url"].startswith("http://127.0.0.1:")
    wrong_method = requests.delete(url, headers={"x-functions-key": KEY}, timeout=10)
    assert wrong_method.status_code == 404, "a method the function does not declare"
    optional = requests.get(f"{devhost.base_url}/api/echo/bob", params={"code": KEY}, timeout=10)
    assert optional.json()["route"] == {"name": "bob"}
    assert requests.get(f"{devhost.base_url}/api/echo/bob/x", params={"code": KEY},
                        timeout=10).status_code == 404  # fmt: skip


def problem_code(response: requests.Response, status: int) -> str:
    """The stable code of a devhost problem+json answer, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["cause"] and body["recommendation"]
    return body["code"]


def test_keys_are_enforced_per_auth_level(host) -> None:
    devhost, _, _ = host
    base = devhost.base_url + "/api"

    def get(path: str, key: str | None = None) -> requests.Response:
        return requests.get(f"{base}/{path}", headers={"x-functions-key": key} if key else {},
                            timeout=10)  # fmt: skip

    assert get("open").status_code == 200
    assert problem_code(get("echo/a"), 401) == "KeyRequired"
    assert problem_code(get("echo/a", "nope"), 401) == "InvalidKey"
    assert get("echo/a", KEY).ok and get("echo/a", MASTER).ok
    assert problem_code(get("admin-only", KEY), 401) == "InvalidKey", "a host key is not admin"
    assert get("admin-only", MASTER).ok
    assert problem_code(get("nothing-here"), 404) == "RouteNotFound"
    wrong_method = requests.put(f"{base}/open", timeout=10)
    assert problem_code(wrong_method, 404) == "MethodNotServed"
    assert "GET" in wrong_method.json()["recommendation"]


def test_a_function_that_raises_is_a_500_problem_without_internals(host) -> None:
    devhost, _, _ = host
    response = requests.get(
        f"{devhost.base_url}/api/boom", headers={"x-functions-key": KEY}, timeout=10
    )
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "secret internals" not in response.text


def test_durable_client_and_check_status_response(host) -> None:
    devhost, _, _ = host
    response = requests.post(f"{devhost.base_url}/api/start/greet", json="world",
                             headers={"x-functions-key": KEY}, timeout=10)  # fmt: skip
    assert response.status_code == 202
    status_url = response.json()["statusQueryGetUri"]
    assert "code=" in status_url
    done = wait_for(lambda: (s := requests.get(status_url, timeout=10).json())
                    and s["runtimeStatus"] == "Completed" and s)  # fmt: skip
    assert done["output"] == "hello world"
    keyless = status_url.split("?")[0]
    assert requests.get(keyless, timeout=10).status_code == 401


def test_event_grid_schema_cloudevents_and_handshakes(host) -> None:
    devhost, log, _ = host
    url = f"{devhost.base_url}/runtime/webhooks/eventgrid?functionName=on_alert&code={MASTER}"
    validation = requests.post(url, json=[{
        "id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "subject": "", "eventTime": "2026-11-24T00:00:00Z", "dataVersion": "1",
        "data": {"validationCode": "abc123"}}], headers={"aeg-event-type": "SubscriptionValidation"},
        timeout=10)  # fmt: skip
    assert validation.json() == {"validationResponse": "abc123"}
    requests.post(url, json=[{"id": "e1", "eventType": "Fired", "subject": "rule",
                              "eventTime": "2026-11-24T00:00:00Z", "dataVersion": "1",
                              "data": {"severity": "Sev1"}}], timeout=10)  # fmt: skip
    requests.post(url, json={"specversion": "1.0", "id": "c1", "source": "/x", "type": "Resolved",
                             "data": {"a": 1}}, timeout=10)  # fmt: skip
    options = requests.options(
        url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"}, timeout=10
    )
    assert options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert calls(log, "eventgrid") == [{"id": "e1", "type": "Fired", "data": {"severity": "Sev1"}}]
    assert calls(log, "cloudevent") == [{"id": "c1", "type": "Resolved", "data": {"a": 1}}]
    refused = requests.post(url.replace(MASTER, KEY), json=[], timeout=10)
    assert refused.status_code == 401


def test_event_grid_refuses_what_is_not_an_event(host) -> None:
    devhost, log, _ = host
    base = f"{devhost.base_url}/runtime/webhooks/eventgrid"
    url = f"{base}?functionName=on_alert&code={MASTER}"
    before = len(calls(log, "eventgrid")) + len(calls(log, "cloudevent"))
    not_json = requests.post(url, data=b"{oops", timeout=10)
    assert problem_code(not_json, 400) == "BodyNotJson"
    no_type = requests.post(url, json=[{"id": "x", "data": {}}], timeout=10)
    assert problem_code(no_type, 400) == "NotAnEvent"
    unknown = requests.post(f"{base}?functionName=nope&code={MASTER}", json=[], timeout=10)
    assert problem_code(unknown, 404) == "NoSuchFunction"
    assert "on_alert" in unknown.json()["recommendation"]
    assert problem_code(requests.post(f"{base}?functionName=on_alert", json=[], timeout=10),
                        401) == "KeyRequired"  # fmt: skip
    assert len(calls(log, "eventgrid")) + len(calls(log, "cloudevent")) == before


def test_timer_trigger_fires_on_its_schedule(host) -> None:
    _, log, _ = host
    wait_for(lambda: len(calls(log, "timer")) >= 2, timeout=10)


def test_a_schedule_may_be_an_app_setting_and_a_timer_may_be_disabled(host) -> None:
    """`%NAME%` is the setting NAME, as the Functions host resolves binding expressions; a
    timer whose AzureWebJobs.<name>.Disabled is true never fires."""
    _, log, _ = host
    wait_for(lambda: len(calls(log, "from_setting")) >= 2, timeout=10)
    assert calls(log, "switched_off") == []


def test_devhost_refuses_to_start_without_the_setting_a_schedule_names(
    host, monkeypatch: pytest.MonkeyPatch
) -> None:
    devhost, _, _ = host
    monkeypatch.delenv("SAMPLE_TIMER_SCHEDULE")
    with pytest.raises(SettingsError) as refused:
        devhost._check_settings()
    assert "SAMPLE_TIMER_SCHEDULE: the schedule of from_setting" in str(refused.value)
    monkeypatch.setenv("AzureWebJobs.from_setting.Disabled", "true")
    devhost._check_settings()  # a disabled timer needs nothing


def test_service_bus_trigger_completes_and_retries_a_failure(host) -> None:
    _, log, broker = host
    with ServiceBusClient.from_connection_string(broker.connection_string) as client, \
            client.get_queue_sender("agent-events-deadletter") as sender:  # fmt: skip
        sender.send_messages(ServiceBusMessage("fine", message_id="m-fine"))
        sender.send_messages(ServiceBusMessage("fail-once", message_id="m-fail"))
    seen = wait_for(lambda: (c := calls(log, "servicebus")) and len(c) >= 3 and c)
    fine = [c for c in seen if c["body"] == "fine"]
    failing = [c["count"] for c in seen if c["body"] == "fail-once"]
    assert len(fine) == 1 and fine[0]["id"] == "m-fine"
    assert failing[:2] == [1, 2], "abandoned, then delivered again"


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("*/30 * * * * *", "2026-01-01T00:00:10", "2026-01-01T00:00:30"),
        ("0 30 9 * * Mon-Fri", "2026-11-28T12:00:00", "2026-11-30T09:30:00"),
        ("0 0 0 1 Jan *", "2026-03-01T00:00:00", "2027-01-01T00:00:00"),
        ("0 */5 * * * *", "2026-01-01T00:07:00", "2026-01-01T00:10:00"),
        ("00:00:10", "2026-01-01T00:00:00", "2026-01-01T00:00:10"),
    ],
)
def test_ncrontab(schedule: str, after: str, expected: str) -> None:
    from datetime import datetime

    assert (
        Schedule.parse(schedule).next_after(datetime.fromisoformat(after)).isoformat() == expected
    )


@pytest.mark.parametrize("bad", ["* * * * *", "61 * * * * *", "*/0 * * * * *", "x * * * * *"])
def test_ncrontab_refuses_bad_schedules(bad: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(bad)


def test_devhost_refuses_to_start_without_a_needed_setting(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"DEVHOST_MASTER_KEY": ""}}))
    env = {
        k: v for k, v in os.environ.items() if k not in ("DEVHOST_MASTER_KEY", "SampleServiceBus")
    }
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--app", "tests.host.sample_app",
         "--settings", str(settings), "--port", "0",
         "--data-dir", str(tmp_path / "d")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "DEVHOST_MASTER_KEY" in result.stderr and "SampleServiceBus" in result.stderr
    assert "Fix:" in result.stderr


def test_the_real_function_app_loads_and_lists_its_functions() -> None:
    # One agent-events trigger per site of AGENT_SITES, each on the site's own queue.
    env = {**os.environ, "AGENT_SITES": '{"contoso": ["site-local", "HQ.01"]}'}
    result = subprocess.run([sys.executable, "-m", "devhost", "--list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}
    listed = {name: rest[0] for name, rest in lines.items()}
    assert listed["api_enable_protection"] == "httpTrigger"
    assert lines["agent_events_site_local"] == ["serviceBusTrigger", "agent-events-site-local"]
    assert lines["agent_events_hq_01"] == ["serviceBusTrigger", "agent-events-HQ.01"]
    assert listed["protect_vm"] == "orchestrationTrigger"
    assert listed["replicate_vm"] == "orchestrationTrigger"
    assert listed["check_prerequisites"] == "activityTrigger"


def test_every_function_of_the_sample_app_is_discovered(host) -> None:
    devhost, _, _ = host
    found = {spec.name: spec.trigger_type for spec in devhost.specs}
    assert found == {
        "echo": "httpTrigger", "open_route": "httpTrigger", "admin_only": "httpTrigger",
        "boom": "httpTrigger", "start": "httpTrigger", "greet": "orchestrationTrigger",
        "wait_approval": "orchestrationTrigger", "hello": "activityTrigger",
        "on_alert": "eventGridTrigger", "every_second": "timerTrigger",
        "from_setting": "timerTrigger", "switched_off": "timerTrigger",
        "on_message": "serviceBusTrigger",
    }  # fmt: skip
    assert next(s for s in devhost.specs if s.name == "start").client_params == ["client"]
    described = "\n".join(devhost.describe())
    assert (
        "echo: [POST,GET] " in described and "/api/echo/{name}/{count:int?} (function)" in described
    )
