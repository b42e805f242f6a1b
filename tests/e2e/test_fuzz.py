"""The runbook API fuzzed from its own document (`GET /api/openapi.json`) with schemathesis:
valid and invalid requests for every operation, on devhost + Azurite. No answer may be a
server error, and every answer must be one the document lists, with its content type and
schema. Bounded: EXAMPLES per operation and mode, a fixed seed, and a time budget."""

from __future__ import annotations

import time

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import KEYS, ControlPlane

EXAMPLES = 20  # per operation, per mode and tenant choice
SEED = 20261202
BUDGET_SECONDS = 150
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_request_makes_a_server_error_and_every_answer_is_documented(
    control_plane: ControlPlane,
) -> None:
    document = control_plane.call("GET", "openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    session.headers["x-functions-key"] = KEYS["contoso"]
    failures: list[str] = []
    ran, started = 0, time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {"tenant": "contoso"} if "{tenant}" in operation.path else {}
        # The key's own tenant reaches the handlers; any other tenant is refused (403).
        for mode, path_parameters in (
            (GenerationMode.POSITIVE, fixed),
            (GenerationMode.NEGATIVE, fixed),
            (GenerationMode.POSITIVE, {}),
        ):
            if time.monotonic() - started > BUDGET_SECONDS:
                break
            strategy = operation.as_strategy(mode, path_parameters=path_parameters or None)

            @seed(SEED)
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=strategy)
            def call(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=control_plane.base_url, session=session,
                                       checks=CHECKS, timeout=30)  # fmt: skip

            try:
                call()
            except Unsatisfiable:
                pass  # nothing to make invalid: an operation without parameters or body
            except Exception as failure:  # every failure is reported together
                failures.append(f"{operation.label} ({mode.value}): {failure}"[:3000])
            ran += 1
    assert ran >= 40, f"only {ran} runs within the budget"
    assert not failures, "\n\n".join(failures)
