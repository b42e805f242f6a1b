"""The app's orchestrators and activities, found by either name the SDK may send, and how an
activity is called: input decoded and result encoded the way the Python worker does."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from azure.functions.durable_functions import ActivityTriggerConverter
from azure.functions.meta import Datum


class UnknownFunction(Exception):
    """No orchestrator or activity of that name is registered."""


def trigger_type(fn: Any) -> str:
    return fn.get_trigger().get_dict_repr()["type"]


class FunctionCatalog:
    """Orchestrators and activities of the app, by registered name and by Python name."""

    def __init__(self, functions: list) -> None:
        self.orchestrators: dict[str, Callable[[str], str]] = {}
        self.activities: dict[str, tuple[Callable[..., Any], str, dict[str, str]]] = {}
        for fn in functions:
            kind = trigger_type(fn)
            user = fn.get_user_function()
            names = {fn.get_function_name(), getattr(user, "__name__", fn.get_function_name())}
            inner = getattr(user, "orchestrator_function", None)
            if inner is not None:
                names.add(inner.__name__)
            if kind == "orchestrationTrigger":
                for name in names:
                    self.orchestrators[name] = user
            elif kind == "activityTrigger":
                trigger_name = fn.get_trigger().name
                extra = {
                    b.name: b.get_dict_repr()["type"]
                    for b in fn.get_bindings()
                    if b.name != trigger_name and b.get_dict_repr()["type"] == "durableClient"
                }
                for name in names:
                    self.activities[name] = (user, trigger_name, extra)

    def prepare_activity(
        self, name: str, input_text: str | None, client_binding: Callable[[], str]
    ) -> tuple[Any, dict]:
        """The activity's function and its keyword arguments, decoded as the worker does."""
        entry = self.activities.get(name)
        if entry is None:
            raise UnknownFunction(f"activity '{name}' is not registered")
        fn, trigger_name, extra = entry
        value = ActivityTriggerConverter.decode(Datum(input_text, "json"), trigger_metadata=None)
        kwargs: dict[str, Any] = {trigger_name: value}
        for binding in extra:
            kwargs[binding] = client_binding()
        return fn, kwargs

    @staticmethod
    async def invoke_activity(fn: Any, kwargs: dict, user: list[float], pool: Executor) -> Any:
        """Run the user's function (sync ones in the pool); add its own seconds to `user[0]`."""
        if inspect.iscoroutinefunction(fn):
            started = time.perf_counter()
            try:
                return await fn(**kwargs)
            finally:
                user[0] += time.perf_counter() - started

        def timed() -> Any:
            started = time.thread_time()  # CPU of this thread: not the wait for the GIL
            try:
                return fn(**kwargs)
            finally:
                user[0] += time.thread_time() - started

        return await asyncio.get_running_loop().run_in_executor(pool, timed)
