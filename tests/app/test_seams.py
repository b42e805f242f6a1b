"""The names one side of a seam uses for the other: every orchestration the application
starts by name is one the Function App registers (a typo would fail only at runtime).

The blueprints are read, not the app: `app.get_functions()` may run once per app, and the
end-to-end tests' devhost is the one to run it."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

import function_app
from application.orchestrations import STARTED


def registered_orchestrations() -> set[str]:
    """Names of the orchestrators in the blueprints function_app composes."""
    blueprints = [
        v for v in vars(function_app).values() if isinstance(v, df.Blueprint | func.Blueprint)
    ]
    functions = [builder._function for bp in blueprints for builder in bp._function_builders]
    return {
        fn.get_function_name()
        for fn in functions
        if fn.get_trigger().get_dict_repr()["type"] == "orchestrationTrigger"
    }


def test_every_orchestration_started_by_name_is_registered() -> None:
    registered = registered_orchestrations()
    assert len(registered) >= 3, f"found only {registered}: the test reads the wrong thing"
    assert set(STARTED) <= registered, set(STARTED) - registered
