"""What ARM itself checks before a provider sees a request — the token, the api-version, the
subscription and the resource group — and the long-running operation protocol, each through
the real SDK where the SDK can send it, and over raw HTTPS where it cannot (no token)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient

from devhost.arm.compute import DISK_VERSIONS, SKU_VERSIONS, VM_VERSIONS
from devhost.arm.network import VERSIONS as NETWORK_VERSIONS
from tests.arm.conftest import Lab, Vhd, import_body, unique


class _Token:
    """A credential handing out a token of our choosing (what a wrong credential would)."""

    def __init__(self, claims: dict | None, raw: str | None = None) -> None:
        self.claims, self.raw = claims, raw

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        if self.raw is not None:
            return AccessToken(self.raw, int(time.time()) + 3600)

        def part(value: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        return AccessToken(
            f"{part({'alg': 'none'})}.{part(self.claims or {})}.", int(time.time()) + 3600
        )


def test_a_request_without_a_token_is_refused_as_arm_refuses_it(lab: Lab) -> None:
    url = f"{lab.settings['ARM_ENDPOINT']}/subscriptions/{lab.settings['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{lab.group}/providers/Microsoft.Compute/disks?api-version={DISK_VERSIONS[0]}"
    response = requests.get(url, timeout=10)  # trusts the stand-in through REQUESTS_CA_BUNDLE
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        (_Token(None, raw="not-a-jwt"), "InvalidAuthenticationToken"),
        (
            _Token({"aud": "https://storage.azure.com", "exp": time.time() + 600}),
            "InvalidAuthenticationTokenAudience",
        ),
        (
            _Token({"aud": "https://management.azure.com/", "exp": time.time() - 60}),
            "ExpiredAuthenticationToken",
        ),
    ],
)
def test_a_bad_token_is_refused_with_arms_code(lab: Lab, credential: _Token, code: str) -> None:
    with pytest.raises(ClientAuthenticationError) as refused:
        list(lab.compute(credential).disks.list_by_resource_group(lab.group))
    assert refused.value.status_code == 401 and refused.value.error.code == code


def test_an_api_version_the_operation_is_not_modelled_on_is_refused(lab: Lab) -> None:
    with pytest.raises(HttpResponseError) as refused:
        lab.compute().disks.get(lab.group, "any", api_version="2019-07-01")
    assert refused.value.status_code == 400
    assert refused.value.error.code == "NoRegisteredProviderFound"
    assert f"The supported api-versions are '{DISK_VERSIONS[0]}'" in refused.value.error.message
    # Per operation: the VMs' version is not the disks'.
    with pytest.raises(HttpResponseError) as other:
        lab.compute().disks.get(lab.group, "any", api_version=VM_VERSIONS[0])
    assert other.value.error.code == "NoRegisteredProviderFound"
    with pytest.raises(HttpResponseError) as malformed:
        lab.compute().disks.get(lab.group, "any", api_version="latest")
    assert malformed.value.error.code == "InvalidApiVersionParameter"


def test_a_resource_group_that_does_not_exist_is_refused(lab: Lab, vhd: Vhd) -> None:
    with pytest.raises(ResourceNotFoundError) as refused:
        lab.compute().disks.begin_create_or_update(
            "rg-nobody-made", unique("disk"), import_body(lab, vhd.url)
        ).result()
    assert refused.value.error.code == "ResourceGroupNotFound"
    assert refused.value.error.message == "Resource group 'rg-nobody-made' could not be found."


def test_another_subscription_is_not_found(lab: Lab) -> None:
    from azure.identity import DefaultAzureCredential

    other = ComputeManagementClient(
        DefaultAzureCredential(),
        "00000000-0000-4000-8000-000000000000",
        base_url=lab.settings["ARM_ENDPOINT"],
    )
    with pytest.raises(ResourceNotFoundError) as refused:
        other.disks.get(lab.group, "any")
    assert refused.value.error.code == "SubscriptionNotFound"


def test_a_location_the_stand_in_does_not_model_is_refused(lab: Lab, vhd: Vhd) -> None:
    body = {**import_body(lab, vhd.url), "location": "australiaeast"}
    with pytest.raises(HttpResponseError) as refused:
        lab.compute().disks.begin_create_or_update(lab.group, unique("far"), body).result()
    assert refused.value.error.code == "LocationNotAvailableForResourceType"


def test_long_running_operations_answer_with_both_headers_and_the_spec_status(
    lab: Lab, vhd: Vhd
) -> None:
    """The first answer of an LRO, as the poller sees it: the status the spec lists, both
    polling headers and Retry-After; the status document then reports Succeeded."""
    seen: list[requests.Response] = []
    compute = lab.compute()
    poller = compute.disks.begin_create_or_update(
        lab.group,
        unique("lro"),
        import_body(lab, vhd.url),
        raw_response_hook=lambda r: seen.append(r.http_response),
    )
    poller.result()
    first = seen[0]
    assert first.status_code == 202  # Disks_CreateOrUpdate: 200 or 202
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert {"azure-asyncoperation", "location", "retry-after"} <= set(headers)
    assert headers["location"] == headers["azure-asyncoperation"] + "&monitor=true"
    status = compute._client.send_request(HttpRequest("GET", headers["azure-asyncoperation"]))
    assert status.json()["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("module", "builder", "args", "modelled"),
    [
        (
            "azure.mgmt.compute.operations._operations",
            "build_disks_create_or_update_request",
            ("rg", "d", "s"),
            DISK_VERSIONS,
        ),
        (
            "azure.mgmt.compute.operations._operations",
            "build_disks_grant_access_request",
            ("rg", "d", "s"),
            DISK_VERSIONS,
        ),
        (
            "azure.mgmt.compute.operations._operations",
            "build_virtual_machines_create_or_update_request",
            ("rg", "v", "s"),
            VM_VERSIONS,
        ),
        (
            "azure.mgmt.compute.operations._operations",
            "build_virtual_machines_power_off_request",
            ("rg", "v", "s"),
            VM_VERSIONS,
        ),
        (
            "azure.mgmt.compute.operations._operations",
            "build_resource_skus_list_request",
            ("s",),
            SKU_VERSIONS,
        ),
        (
            "azure.mgmt.network.operations._operations",
            "build_network_interfaces_create_or_update_request",
            ("rg", "n", "s"),
            NETWORK_VERSIONS,
        ),
        (
            "azure.mgmt.network.operations._operations",
            "build_subnets_get_request",
            ("rg", "v", "sn", "s"),
            NETWORK_VERSIONS,
        ),
    ],
)
def test_the_modelled_api_versions_are_those_the_pinned_sdks_send(
    module, builder, args, modelled
) -> None:
    """When an SDK upgrade changes the api-version it sends, this fails before the stand-in
    starts refusing the app: model the new version (read its spec examples), then bump."""
    import importlib

    request = getattr(importlib.import_module(module), builder)(*args)
    assert parse_qs(urlsplit(request.url).query)["api-version"][0] in modelled
