"""The Function App module sets every app setting the code reads.

What the code reads is computed, not listed: the keys of local.settings.sample.json, plus every
setting name the code passes to `setting` / `int_setting` / `json_setting` / `os.environ` (found
with `ast`, constants resolved), plus every connection name a trigger binds to. Connections
that are connection strings locally must be identity-based in Azure: `X__<property>` is set,
`X` itself (which would carry a key) is not.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.infra import bicep

ROOT = bicep.ROOT
CODE_DIRS = (
    "azureclients",
    "httpapi",
    "application",
    "activities",
    "triggers",
    "orchestrators",
    "readmodels",
)
READERS = {"setting", "int_setting", "json_setting"}

# Settings only devhost reads; in Azure the Functions host owns its keys, so setting these
# there would only plant a second, unmanaged secret. Small and explicit on purpose.
DEVHOST_ONLY = {
    "DEVHOST_MASTER_KEY": "devhost's stand-in for the host master key (Azure manages its own)",
    "DEVHOST_HOST_KEYS": "devhost's stand-in for host/function keys (az functionapp keys set)",
}

# Settings the platform itself sets, which the app reads and neither the sample nor infra may
# set: setting one by hand would forge what it vouches for.
PLATFORM_SET = {
    "WEBSITE_AUTH_ENABLED": "App Service sets it to True when its authentication (the "
    "console's Entra sign-in) is on; httpapi/signin.py believes the sign-in only then",
}

# How the Functions host resolves the one connection azureclients/clients.py does not build:
# AzureWebJobsStorage (host state and the Durable task hub) takes the account name.
HOST_CONNECTIONS = {"AzureWebJobsStorage": {"accountName", "blobServiceUri"}}


def sample_settings() -> dict[str, str]:
    return json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _name(arg: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        return constants.get(arg.id)
    return None


def _is_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def code_settings() -> set[str]:
    """Setting and connection names the app code reads, from its syntax tree."""
    found: set[str] = set()
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            constants = _module_constants(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                    reads = called in READERS or (
                        isinstance(func, ast.Attribute)
                        and func.attr in {"get", "getenv"}
                        and (_is_environ(func.value) or getattr(func.value, "id", "") == "os")
                    )
                    if reads and node.args and (name := _name(node.args[0], constants)):
                        found.add(name)
                    for keyword in node.keywords:
                        if keyword.arg == "connection" and (
                            name := _name(keyword.value, constants)
                        ):
                            found.add(name)
                        # A binding expression (`schedule="%NAME%"`): the host reads NAME.
                        found.update(re.findall(r"%(\w+)%", _name(keyword.value, constants) or ""))
                elif (
                    isinstance(node, ast.Subscript)
                    and _is_environ(node.value)
                    and (name := _name(node.slice, constants))
                ):
                    found.add(name)
    return found


def identity_properties() -> dict[str, set[str]]:
    """{connection: {property}} from azureclients/clients.py: f"{connection}__<property>" per
    client."""
    tree = ast.parse((ROOT / "azureclients" / "clients.py").read_text())
    constants = _module_constants(tree)
    result: dict[str, set[str]] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        args = func.args.args
        defaults = dict(
            zip(
                [a.arg for a in args[len(args) - len(func.args.defaults) :]],
                func.args.defaults,
                strict=True,
            )
        )
        connection = _name(defaults["connection"], constants) if "connection" in defaults else None
        if connection is None:
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.JoinedStr) and len(node.values) == 2:
                head, tail = node.values
                if (
                    isinstance(head, ast.FormattedValue)
                    and getattr(head.value, "id", "") == "connection"
                    and isinstance(tail, ast.Constant)
                    and tail.value.startswith("__")
                ):
                    result.setdefault(connection, set()).add(tail.value[2:])
    return {**result, **HOST_CONNECTIONS}


def _settings_objects(node, variables: dict[str, object]) -> set[str]:
    """Names of the {name, value} objects an appSettings expression includes."""
    names: set[str] = set()
    for child in bicep.walk(node):
        if child.type == "identifier" and bicep.text(child) in variables:
            for item in bicep.walk(variables[bicep.text(child)]):
                if item.type == "object":
                    props = bicep.literal(item)
                    if set(props) == {"name", "value"} and isinstance(props["name"], str):
                        names.add(props["name"])
    return names


FUNCTION_APP = bicep.INFRA / "modules" / "functionapp.bicep"


def function_app_settings(path: Path = FUNCTION_APP) -> dict[str, set[str]]:
    """Setting names the Function App gets, per hosting plan."""
    module = bicep.load(path)
    variables = {
        bicep.text(n.named_children[0]): n.named_children[-1]
        for n in module.root.named_children
        if n.type == "variable_declaration"
    }
    (site,) = module.resources_of("Microsoft.Web/sites")
    site_props = bicep.properties(site.props["properties"])
    app_settings = bicep.properties(site_props["siteConfig"])["appSettings"]
    assert app_settings.type == "ternary_expression", "appSettings: isFlex ? flex : premium"
    _, flex_node, premium_node = app_settings.named_children
    flex = _settings_objects(flex_node, variables)
    premium = _settings_objects(premium_node, variables)
    # Flex Consumption names the worker runtime in functionAppConfig, not in app settings.
    config = site_props["functionAppConfig"]
    runtime = bicep.literal(config.named_children[1])["runtime"]
    if runtime == {"name": "python", "version": "3.11"}:
        flex.add("FUNCTIONS_WORKER_RUNTIME")
    return {"FlexConsumption": flex, "ElasticPremium": premium}


def is_connection_string(value: str) -> bool:
    return any(m in value for m in ("UseDevelopmentStorage=", "Endpoint=", "AccountKey="))


SAMPLE = sample_settings()
READ = code_settings()
PLANS = function_app_settings()
IDENTITY = identity_properties()


def required_settings() -> set[str]:
    return (set(SAMPLE) | READ) - set(DEVHOST_ONLY) - set(PLATFORM_SET)


def test_the_code_scan_finds_what_the_code_reads() -> None:
    # Spot checks that the scan works at all (a constant, an int_setting, a trigger binding).
    assert {"AGENT_EVENTS_DEADLETTER_QUEUE", "SAS_LIFETIME_MINUTES", "ServiceBusConnection"} <= READ
    assert "REPLICATION_WATCHDOG_SCHEDULE" in READ  # a timer's %NAME% schedule
    assert len(READ) >= 10


def test_the_code_reads_no_setting_the_sample_does_not_list() -> None:
    assert READ - set(SAMPLE) - set(PLATFORM_SET) == set(), (
        "add the setting to local.settings.sample.json"
    )


def test_settings_the_platform_sets_are_read_but_never_set_by_the_sample_or_infra() -> None:
    assert set(PLATFORM_SET) <= READ, "exclusion list names a setting nobody reads"
    assert not set(PLATFORM_SET) & set(SAMPLE)
    for plan, given in PLANS.items():
        assert not set(PLATFORM_SET) & given, plan


def test_identity_properties_come_from_core_clients() -> None:
    assert IDENTITY["ReplicaStorage"] == {"blobServiceUri"}
    assert IDENTITY["ReadModelStorage"] == {"tableServiceUri"}
    assert IDENTITY["ServiceBusConnection"] == {"fullyQualifiedNamespace"}


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_function_app_sets_every_setting_the_code_reads(plan: str) -> None:
    missing = unset(PLANS[plan])
    assert missing == [], f"{plan}: the Function App module does not set {missing}"


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_connections_are_identity_based_never_connection_strings(plan: str) -> None:
    connections = {n for n, v in SAMPLE.items() if is_connection_string(v)} | set(IDENTITY)
    assert connections >= {"AzureWebJobsStorage", "ServiceBusConnection", "ReplicaStorage"}
    assert sorted(connections & PLANS[plan]) == []


def test_devhost_only_settings_exist_in_the_sample_and_stay_out_of_azure() -> None:
    assert set(DEVHOST_ONLY) <= set(SAMPLE), "exclusion list names a setting nobody reads"
    for plan, given in PLANS.items():
        assert not set(DEVHOST_ONLY) & given, plan


def unset(given: set[str]) -> list[str]:
    missing = []
    for name in sorted(required_settings()):
        if name in IDENTITY or is_connection_string(SAMPLE.get(name, "")):
            if not any(f"{name}__{p}" in given for p in IDENTITY.get(name, set())):
                missing.append(f"{name}__{{{','.join(sorted(IDENTITY.get(name, {'?'})))}}}")
        elif name not in given:
            missing.append(name)
    return missing


@pytest.mark.parametrize(
    ("removed", "reported"),
    [
        ("REPLICATION_STALL_SECONDS", "REPLICATION_STALL_SECONDS"),
        ("ReplicaStorage__blobServiceUri", "ReplicaStorage__{blobServiceUri}"),
    ],
)
def test_the_check_notices_a_setting_the_module_forgets(
    tmp_path: Path, removed: str, reported: str
) -> None:
    source = FUNCTION_APP.read_text()
    assert f"name: '{removed}'" in source
    broken = tmp_path / "functionapp.bicep"
    broken.write_text(source.replace(f"name: '{removed}'", "name: 'SOMETHING_ELSE'"))
    for plan, given in function_app_settings(broken).items():
        assert unset(given) == [reported], plan
