"""A small app for devhost's own tests: every trigger kind, kept out of the product."""

from __future__ import annotations

import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _record(kind: str, value: object) -> None:
    path = os.environ.get("HOST_SAMPLE_LOG")
    if path:
        with Path(path).open("a") as f:
            f.write(json.dumps({"kind": kind, "value": value}) + "\n")


@app.route(route="echo/{name}/{count:int?}", methods=["POST", "GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "method": req.method,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "body": req.get_body().decode("latin-1"),
        "url": req.url,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json",
                             headers={"X-Echo": "yes"})  # fmt: skip


@app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def open_route(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("open", status_code=200)


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin", status_code=200)


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internals")


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    return (yield context.call_activity(hello, context.get_input()))


@app.orchestration_trigger(context_name="context")
def wait_approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    approver = yield context.wait_for_external_event("approve")
    return (yield context.call_activity(hello, approver))


@app.activity_trigger(input_name="who")
def hello(who: str) -> str:
    return f"hello {who}"


@app.event_grid_trigger(arg_name="event")
def on_alert(event: func.EventGridEvent) -> None:
    if isinstance(event, func.CloudEvent):
        _record("cloudevent", {"id": event.id, "type": event.type, "data": event.get_json()})
    else:
        _record("eventgrid", {"id": event.id, "type": event.event_type, "data": event.get_json()})


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *", run_on_startup=False)
def every_second(timer: func.TimerRequest) -> None:
    _record("timer", timer.past_due)


@app.timer_trigger(arg_name="timer", schedule="%SAMPLE_TIMER_SCHEDULE%", run_on_startup=False)
def from_setting(timer: func.TimerRequest) -> None:
    _record("from_setting", timer.past_due)


@app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *", run_on_startup=False)
def switched_off(timer: func.TimerRequest) -> None:  # AzureWebJobs.switched_off.Disabled
    _record("switched_off", timer.past_due)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="agent-events-deadletter",
                               connection="SampleServiceBus")  # fmt: skip
def on_message(msg: func.ServiceBusMessage) -> None:
    body = msg.get_body().decode()
    _record("servicebus", {"body": body, "id": msg.message_id, "count": msg.delivery_count})
    if body == "fail-once" and msg.delivery_count == 1:
        raise RuntimeError("first delivery fails")
