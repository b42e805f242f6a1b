"""What the app declares, read the way the Functions host indexes a Python v2 app."""

from __future__ import annotations

import importlib
import sys
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.routes import RouteTemplate


@dataclass
class FunctionSpec:
    name: str
    trigger_type: str
    trigger: dict[str, Any]
    trigger_param: str
    user: Any
    client_params: list[str] = field(default_factory=list)
    route: RouteTemplate | None = None
    methods: tuple[str, ...] = ()
    auth_level: str = "function"


def load_app(module: str = "function_app", root: Path | None = None, *, fresh: bool = False) -> Any:
    """Import the app module (from `root`, default: the current folder) and return `app`.

    `fresh` imports it again as a new worker process would: an app reads some settings when it
    is indexed (which agent sites' queues it listens on), so an app module imported earlier in
    this process, under other settings, must not be the one served. That app module and the
    modules that declared the blueprints it composed are dropped and imported anew; nothing
    else is (other apps, and the pure code everything shares, stay as they are)."""
    root = root or Path.cwd()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if fresh and module in sys.modules:
        for name in _composing(sys.modules[module]):
            del sys.modules[name]
    return importlib.import_module(module).app


def _composing(app_module: Any) -> list[str]:
    """The app module's name and the names of the modules defining the blueprints it holds."""
    from azure.functions.decorators.function_app import DecoratorApi  # apps and blueprints

    parts = [v for v in vars(app_module).values() if isinstance(v, DecoratorApi)]
    owners = [
        name
        for name, m in list(sys.modules.items())
        if m is not None
        and m is not app_module
        and any(any(v is part for part in parts) for v in list(vars(m).values()))
    ]
    return [app_module.__name__, *owners]


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


# The SDK indexes an app once (a second get_functions() finds every name taken): a devhost
# started again on the same app (a restart, a test fixture set up anew) reads it from here.
_INDEXED: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def functions_of(app: Any) -> list[Any]:
    """`app.get_functions()`, called once per app."""
    if app not in _INDEXED:
        _INDEXED[app] = app.get_functions()
    return _INDEXED[app]


def index(functions: list[Any]) -> list[FunctionSpec]:
    """`functions` is `app.get_functions()`, which may be called only once per app."""
    specs = []
    for fn in functions:
        trigger = {k: _value(v) for k, v in fn.get_trigger().get_dict_repr().items()}
        if isinstance(trigger.get("methods"), list):
            trigger["methods"] = [_value(m) for m in trigger["methods"]]
        bindings = [b.get_dict_repr() for b in fn.get_bindings()]
        spec = FunctionSpec(
            name=fn.get_function_name(),
            trigger_type=trigger["type"],
            trigger=trigger,
            trigger_param=trigger["name"],
            user=fn.get_user_function(),
            client_params=[b["name"] for b in bindings if b["type"] == "durableClient"],
        )
        if spec.trigger_type == "httpTrigger":
            spec.route = RouteTemplate.compile(trigger.get("route") or spec.name)
            spec.methods = tuple(m.upper() for m in trigger.get("methods") or ()) or (
                "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
            )  # fmt: skip
            spec.auth_level = str(trigger.get("authLevel") or "function").lower()
        specs.append(spec)
    return specs
