"""Least privilege: every role assignment grants one built-in role on the one resource that
needs it. A scope wider than a resource (the resource group, the subscription, or no scope,
which means the deployment's resource group) is refused, except the recovery resource group,
which is the narrowest scope for VMs that failover has not created yet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra import bicep

ROLE_TYPE = "Microsoft.Authorization/roleAssignments"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

BUILT_IN = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "db58b8e5-c6ad-4a2a-8342-4190687cbf4a": "Storage Blob Delegator",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "6670b86e-a3f7-4917-ac9b-5d6ab1be4567": "Site Recovery Contributor",
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
}
BROAD = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}

# (file, role assignment symbol) -> (roles, type of the resource it is scoped to)
EXPECTED = {
    ("access.bicep", "storageAccess"): (
        {
            "Storage Blob Data Contributor",
            "Storage Blob Delegator",
            "Storage Queue Data Contributor",
            "Storage Table Data Contributor",
        },
        "Microsoft.Storage/storageAccounts",
    ),
    ("access.bicep", "receiveEvents"): (
        {"Azure Service Bus Data Receiver"},
        "Microsoft.ServiceBus/namespaces/queues",
    ),
    ("access.bicep", "sendDeadLetters"): (
        {"Azure Service Bus Data Sender"},
        "Microsoft.ServiceBus/namespaces/queues",
    ),
    ("access.bicep", "sendCommands"): (
        {"Azure Service Bus Data Sender"},
        "Microsoft.ServiceBus/namespaces/topics",
    ),
    ("access.bicep", "driveSiteRecovery"): (
        {"Site Recovery Contributor"},
        "Microsoft.RecoveryServices/vaults",
    ),
    ("access.bicep", "publishTelemetry"): (
        {"Monitoring Metrics Publisher"},
        "Microsoft.Insights/components",
    ),
    ("recovery-access.bicep", "createRecoveryVms"): (
        {"Virtual Machine Contributor"},
        "resourceGroup",
    ),
    ("agents.bicep", "sendEvents"): (
        {"Azure Service Bus Data Sender"},
        "Microsoft.ServiceBus/namespaces/queues",
    ),
    ("agents.bicep", "receiveOwnCommands"): (
        {"Azure Service Bus Data Receiver"},
        "Microsoft.ServiceBus/namespaces/topics/subscriptions",
    ),
    ("alerts.bicep", "publisherRole"): ({"EventGrid Data Sender"}, "Microsoft.EventGrid/topics"),
    ("alerts.bicep", "deadLetterWriter"): (
        {"Storage Blob Data Contributor"},
        "Microsoft.Storage/storageAccounts/blobServices/containers",
    ),
}

# The one module allowed a resource-group scope, and where main.bicep must deploy it.
RESOURCE_GROUP_SCOPED = {"recovery-access.bicep": "resourceGroup(recoveryResourceGroupName)"}


def _variables(file: bicep.BicepFile) -> dict[str, object]:
    return {
        bicep.text(n.named_children[0]): bicep.literal(n.named_children[-1])
        for n in file.root.named_children
        if n.type == "variable_declaration"
    }


def _resolve(expr: str, variables: dict[str, object], loop: str | None) -> list[str]:
    """Role GUIDs an expression stands for (a literal, a variable, `roles.x`, a loop item)."""
    expr = expr.strip()
    if GUID.fullmatch(expr.strip("'")):
        return [expr.strip("'")]
    if loop and (m := re.match(rf"\[\s*for\s+{re.escape(expr)}\s+in\s+(\w+)", loop)):
        items = variables.get(m.group(1), [])
        return [
            g for item in items for g in _resolve(getattr(item, "text", str(item)), variables, None)
        ]
    head, _, attr = expr.partition(".")
    value = variables.get(head)
    if attr and isinstance(value, dict):
        value = value.get(attr)
    if isinstance(value, str):
        return _resolve(value, variables, None)
    return []


def role_guids(resource: bicep.Resource, file: bicep.BicepFile) -> list[str]:
    props = bicep.properties(resource.props["properties"])
    definition = bicep.text(props["roleDefinitionId"])
    m = re.fullmatch(
        r"subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions',\s*(.+)\)", definition
    )
    assert m, f"{resource.symbol}: roleDefinitionId must be a built-in role id: {definition}"
    return _resolve(m.group(1), _variables(file), resource.loop)


def scope_target(resource: bicep.Resource, file: bicep.BicepFile) -> str:
    """Type of the resource the assignment is scoped to, or 'resourceGroup' / 'subscription'."""
    node = resource.props.get("scope")
    if node is None:
        return "resourceGroup"  # no scope: the deployment's resource group
    expr = bicep.text(node)
    if expr.startswith("resourceGroup(") or expr.startswith("subscription("):
        return expr.split("(")[0]
    symbol = re.sub(r"\[.*\]$", "", expr).split("::")[-1]
    found = [r for r in file.resources if r.symbol == symbol]
    assert found, f"{resource.symbol}: scope {expr} is not a resource of {file.path.name}"
    return found[0].type


def assignments() -> list[tuple[bicep.BicepFile, bicep.Resource]]:
    result = []
    for path in bicep.bicep_files():
        file = bicep.load(path)
        result += [(file, r) for r in file.resources_of(ROLE_TYPE) if not r.existing]
    return result


ASSIGNMENTS = assignments()


def too_wide(file: bicep.BicepFile, resource: bicep.Resource) -> bool:
    allowed = file.path.name in RESOURCE_GROUP_SCOPED
    return scope_target(resource, file) in ("resourceGroup", "subscription") and not allowed


def test_every_expected_role_assignment_exists_and_nothing_else() -> None:
    found = {(f.path.name, r.symbol) for f, r in ASSIGNMENTS}
    assert found == set(EXPECTED)


@pytest.mark.parametrize(
    "key", sorted(EXPECTED), ids=lambda k: f"{k[0].removesuffix('.bicep')}:{k[1]}"
)
def test_role_assignment_grants_the_named_roles_on_the_one_resource(key) -> None:
    file, resource = next((f, r) for f, r in ASSIGNMENTS if (f.path.name, r.symbol) == key)
    roles, target = EXPECTED[key]
    guids = role_guids(resource, file)
    assert {BUILT_IN.get(g, g) for g in guids} == roles
    assert scope_target(resource, file) == target
    assert not too_wide(file, resource)


def test_no_assignment_is_wider_than_a_resource_except_the_recovery_group() -> None:
    assert [r.symbol for f, r in ASSIGNMENTS if too_wide(f, r)] == []


def test_the_resource_group_scoped_module_is_deployed_at_the_recovery_group_only() -> None:
    main = bicep.load(bicep.INFRA / "main.bicep")
    for name, scope in RESOURCE_GROUP_SCOPED.items():
        (module,) = [m for m in main.modules if m.path == f"modules/{name}"]
        assert bicep.text(bicep.properties(module.body)["scope"]) == scope


def test_no_broad_role_is_granted_anywhere() -> None:
    text = "".join(p.read_text() for p in bicep.bicep_files()).lower()
    assert [name for guid, name in BROAD.items() if guid in text] == []


def test_agents_receive_from_their_own_subscription_only() -> None:
    agents = bicep.load(bicep.INFRA / "modules" / "agents.bicep")
    (receive,) = [r for r in agents.resources if r.symbol == "receiveOwnCommands"]
    (subs,) = [r for r in agents.resources if r.symbol == "siteSubscriptions"]
    assert bicep.text(receive.props["scope"]) == "siteSubscriptions[i]"
    assert "for (site, i) in sites" in receive.loop and "for site in sites" in subs.loop
    assert bicep.literal(subs.props["name"]).text == "site.name"


@pytest.mark.parametrize(
    "scope",
    ["  scope: resourceGroup()\n", "  scope: subscription()\n", ""],
    ids=["resourceGroup", "subscription", "no-scope"],
)
def test_the_check_refuses_a_wide_scope(tmp_path: Path, scope: str) -> None:
    path = tmp_path / "wide.bicep"
    path.write_text(
        f"resource r '{ROLE_TYPE}@2022-04-01' = {{\n  name: guid('x')\n{scope}"
        "  properties: {\n    roleDefinitionId: subscriptionResourceId("
        "'Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')\n"
        "    principalId: 'p'\n  }\n}\n"
    )
    file = bicep.load(path)
    assert too_wide(file, file.resources[0])
