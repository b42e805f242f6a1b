"""The packages of the app depend on each other one way only.

function_app → triggers / orchestrators / activities → application → readmodels / Azure
clients → contracts, domain. A package may import the ones below it (skipping a layer is
fine), never one above or beside it, with two rules of the Durable shape on top: an
orchestrator may import activities (it calls them by function object and builds their input
models), and no trigger module imports another. `httpapi` is the HTTP presentation kit that
only triggers use. Imports are read with `ast`, those inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALLOWED: dict[str, frozenset[str]] = {
    "function_app": frozenset({"triggers", "orchestrators", "activities"}),
    "triggers": frozenset(
        {"application", "httpapi", "readmodels", "azureclients", "contracts", "domain"}
    ),
    "orchestrators": frozenset({"activities", "application", "contracts", "domain"}),
    "activities": frozenset({"application", "readmodels", "azureclients", "contracts", "domain"}),
    "application": frozenset({"readmodels", "azureclients", "contracts", "domain"}),
    "httpapi": frozenset({"azureclients", "contracts", "domain"}),
    "readmodels": frozenset({"azureclients", "contracts", "domain"}),
    "azureclients": frozenset({"domain"}),
    "contracts": frozenset({"domain"}),
    "domain": frozenset(),
}
# Packages beside the app, with rules of their own (or none): the agent runs on the VMM
# server; devhost, bench, demo and tests drive the app from outside.
OUTSIDE = {
    "agent",
    "devhost",
    "bench",
    "soak",
    "demo",
    "tests",
    "tools",
    "infra",
    "docs",
    "node_modules",
}
# Packages whose modules must not import each other.
NO_SIBLINGS = {"triggers"}


def package_of(module: str) -> str:
    return module.split(".", 1)[0]


def imported(source: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if "." in node.module:
                found.append((node.lineno, node.module))
            else:  # `from triggers import api_jobs`: a module of the package (or a name)
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(module: str, source: str, where: str) -> list[str]:
    """Every import of `module` (dotted, e.g. triggers.api_jobs) that breaks the layering."""
    package = package_of(module)
    found = []
    for line, target in imported(source):
        other = package_of(target)
        if other not in ALLOWED or (other == package and package not in NO_SIBLINGS):
            continue  # the standard library, a third-party package, or its own package
        if other == package and target.split(".")[:2] in ([package], module.split(".")[:2]):
            continue  # its own package's __init__, or the module itself
        if other in ALLOWED[package]:
            continue
        allowed = ", ".join(sorted(ALLOWED[package])) or "nothing of the app"
        why = "another trigger module" if other == package else f"'{other}'"
        found.append(
            f"{where}:{line}: {module} imports {target}: {package} may not import {why} "
            f"(it may import {allowed})"
        )
    return found


def app_modules() -> list[tuple[str, Path]]:
    modules = [("function_app", ROOT / "function_app.py")]
    for package in sorted(ALLOWED):
        folder = ROOT / package
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules.append((dotted.removesuffix(".__init__"), path))
    return modules


def test_every_package_of_the_app_has_a_place_in_the_layers() -> None:
    packages = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.py"))
    }
    unplaced = packages - set(ALLOWED) - OUTSIDE
    assert not unplaced, f"give {sorted(unplaced)} a place in ALLOWED (or OUTSIDE)"


def test_nothing_imports_upward_or_sideways() -> None:
    found = []
    for module, path in app_modules():
        found += violations(module, path.read_text(), str(path.relative_to(ROOT)))
    assert not found, "layering broken:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "named"),
    [
        ("activities.commands", "from orchestrators.replication import run_command", "orchestrators"),
        ("activities.health", "import triggers.api_jobs", "triggers"),
        ("triggers.agent_events", "from triggers.api_protection import begin", "another trigger"),
        ("triggers.api_jobs", "from triggers import api_protection", "another trigger"),
        ("application.protection", "from activities.protection import x", "activities"),
        ("readmodels.items", "from application.health import as_of", "application"),
        ("domain.jobs", "from contracts.views import JobView", "contracts"),
        ("orchestrators.protection", "from readmodels.items import get_item", "readmodels"),
        ("application.health", "def f():\n    from httpapi.answers import shown\n", "httpapi"),
    ],
)  # fmt: skip
def test_the_rule_names_the_offending_import(module: str, source: str, named: str) -> None:
    [found] = violations(module, source, "x.py")
    assert f"{module} imports" in found and named in found


def test_allowed_imports_pass() -> None:
    source = (
        "import json\nfrom azure.durable_functions import Blueprint\n"
        "from activities.commands import send_agent_command\n"
        "from orchestrators.steps import call\nfrom application.orchestrations import PROTECT\n"
    )
    assert violations("orchestrators.replication", source, "x.py") == []
    assert violations("activities.commands", "from activities.seams import VmRef\n", "x") == []
