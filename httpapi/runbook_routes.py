"""The runbook API's route table, for the operator console's signed-in door.

In Azure the console, signed in with Entra ID, calls the runbook API's own handlers through one
route of its own (triggers/console_api.py), which must find the handler of a path and method.
The API's trigger modules declare their routes with `RunbookBlueprint`: its `route` declares
the function to the Functions host as any blueprint does, and enters the same function, route
and methods in RUNBOOK_API, so the table cannot drift from what the host serves. Nothing here
imports the app or devhost; the functions are the blueprints' own function objects.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from httpapi.route_templates import RouteTemplate


@dataclass(frozen=True)
class ApiRoute:
    method: str
    template: RouteTemplate
    function: Any  # the blueprint's FunctionBuilder: `build()` gives the function it declares

    async def call(self, req: func.HttpRequest, client: str | None) -> func.HttpResponse:
        """Run the route's function as the host would: the request as its trigger, and the
        durable client binding (`client`, as the host passes it) to each parameter that
        declares one."""
        function = self.function.build()
        kwargs: dict[str, Any] = {function.get_trigger().name: req}
        for binding in function.get_bindings():
            if binding.type == "durableClient":
                kwargs[binding.name] = client
        user = function.get_user_function()
        if inspect.iscoroutinefunction(user):
            return await user(**kwargs)
        return await asyncio.to_thread(user, **kwargs)  # copies the context (the operator)


@dataclass
class RouteMatch:
    route: ApiRoute | None
    values: dict[str, str] = field(default_factory=dict)
    other_methods: list[str] = field(default_factory=list)  # when the path has no such method


class RouteTable:
    def __init__(self) -> None:
        # Keyed by method and template: a module imported again replaces its own entries.
        self._routes: dict[tuple[str, str], ApiRoute] = {}

    def add(self, template: str, methods: Iterable[str], function: Any) -> None:
        parsed = RouteTemplate.parse(template)
        for method in methods:
            name = str(getattr(method, "value", method)).upper()
            self._routes[(name, parsed.template.lower())] = ApiRoute(name, parsed, function)

    def routes(self) -> list[ApiRoute]:
        return list(self._routes.values())

    def match(self, method: str, path: str) -> RouteMatch:
        """The route serving `method` on `path` (percent-encoded, without the route prefix)."""
        others: list[str] = []
        for route in self._routes.values():
            values = route.template.match(path)
            if values is None:
                continue
            if route.method == method.upper():
                return RouteMatch(route, values)
            others.append(route.method)
        return RouteMatch(None, other_methods=others)


RUNBOOK_API = RouteTable()


class RunbookBlueprint(df.Blueprint):
    """The blueprint of the runbook API's trigger modules: every route it declares is also in
    RUNBOOK_API, so the signed-in console can reach it."""

    def route(  # type: ignore[override]
        self, route: str | None = None, *args: Any, methods: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> Callable[..., Any]:  # fmt: skip
        if not route or not methods:
            raise ValueError("A runbook API route names its route and its methods.")
        declare = super().route(route, *args, methods=methods, **kwargs)

        def wrap(function: Any) -> Any:
            declared = declare(function)
            RUNBOOK_API.add(route, methods, declared)
            return declared

        return wrap
