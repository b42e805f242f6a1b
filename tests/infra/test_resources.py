"""Each resource type and API version in infra/ is one from the allowed list below.

The list is kept here, by hand, so a new type or version is a reviewed decision: each entry
is a published, non-preview ARM API version of that type (checked against the Azure REST API
specs / template reference when added).
"""

from __future__ import annotations

import pytest

from tests.infra import bicep

ALLOWED: dict[str, set[str]] = {
    "Microsoft.Web/sites": {"2024-04-01"},
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": {"2024-04-01"},
    "Microsoft.Web/sites/config": {"2024-04-01"},
    "Microsoft.Web/serverfarms": {"2024-04-01"},
    "Microsoft.Storage/storageAccounts": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/blobServices": {"2023-05-01"},
    "Microsoft.Storage/storageAccounts/blobServices/containers": {"2023-05-01"},
    "Microsoft.ServiceBus/namespaces": {"2024-01-01"},
    "Microsoft.ServiceBus/namespaces/queues": {"2024-01-01"},
    "Microsoft.ServiceBus/namespaces/topics": {"2024-01-01"},
    "Microsoft.ServiceBus/namespaces/topics/subscriptions": {"2024-01-01"},
    "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules": {"2024-01-01"},
    "Microsoft.EventGrid/topics": {"2022-06-15"},
    "Microsoft.EventGrid/topics/eventSubscriptions": {"2022-06-15"},
    "Microsoft.EventGrid/systemTopics": {"2022-06-15"},
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": {"2022-06-15"},
    "Microsoft.Insights/actionGroups": {"2023-01-01"},
    "Microsoft.Insights/components": {"2020-02-02"},
    "Microsoft.OperationalInsights/workspaces": {"2023-09-01"},
    "Microsoft.RecoveryServices/vaults": {"2024-04-01"},
    "Microsoft.Authorization/roleAssignments": {"2022-04-01"},
    "Microsoft.ManagedIdentity/userAssignedIdentities": {"2023-01-31"},
    "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials": {"2023-01-31"},
}

RESOURCES = [r for path in bicep.bicep_files() for r in bicep.load(path).resources]


def disallowed(resources: list[bicep.Resource]) -> list[str]:
    return [
        f"{r.file.name}: {r.symbol} {r.type}@{r.api_version}"
        for r in resources
        if r.api_version not in ALLOWED.get(r.type, set())
    ]


def test_resources_are_found_at_all() -> None:
    assert len(RESOURCES) >= 30


def test_every_resource_type_and_api_version_is_allowed() -> None:
    assert disallowed(RESOURCES) == []


def test_no_preview_api_version_is_allowed() -> None:
    previews = {t: v for t, vs in ALLOWED.items() for v in vs if "preview" in v}
    assert previews == {}


@pytest.mark.parametrize(
    "snippet",
    [
        b"resource t 'Microsoft.EventGrid/topics@2023-12-15-preview' = {\n  name: 't'\n}\n",
        b"resource s 'Microsoft.Web/sites@2016-08-01' = {\n  name: 's'\n}\n",
        b"resource k 'Microsoft.KeyVault/vaults@2023-07-01' = {\n  name: 'k'\n}\n",
    ],
)
def test_the_check_rejects_an_unlisted_type_or_version(tmp_path, snippet: bytes) -> None:
    path = tmp_path / "x.bicep"
    path.write_bytes(snippet)
    assert len(disallowed(bicep.load(path).resources)) == 1


def test_every_resource_type_the_issue_names_is_deployed() -> None:
    deployed = {r.type for r in RESOURCES if not r.existing}
    for needed in (
        "Microsoft.Web/sites",
        "Microsoft.Web/serverfarms",
        "Microsoft.Storage/storageAccounts",
        "Microsoft.ServiceBus/namespaces/queues",
        "Microsoft.ServiceBus/namespaces/topics/subscriptions",
        "Microsoft.EventGrid/topics",
        "Microsoft.EventGrid/topics/eventSubscriptions",
        "Microsoft.EventGrid/systemTopics",
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
        "Microsoft.Insights/actionGroups",
        "Microsoft.Insights/components",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.RecoveryServices/vaults",
        "Microsoft.Authorization/roleAssignments",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
    ):
        assert needed in deployed, needed
