"""A small app for the kill -9 test: an HTTP starter and an orchestration of slow steps.

Each step appends to $CRASH_RUN_LOG before and after its work, so the test can tell which
steps finished before the kill and count how often each ran in total.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


def _log(line: str) -> None:
    with Path(os.environ["CRASH_RUN_LOG"]).open("a") as f:
        f.write(line + "\n")


@app.route(route="steps", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_steps(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance = await client.start_new("steps", None, req.get_json())
    return client.create_check_status_response(req, instance)


@app.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(4):
        value = yield context.call_activity(slow_step, value)
    return value


@app.activity_trigger(input_name="value")
def slow_step(value: int) -> int:
    _log(f"begin {value}")
    time.sleep(float(os.environ.get("CRASH_STEP_SECONDS", "0.5")))
    _log(f"end {value}")
    return value + 1
