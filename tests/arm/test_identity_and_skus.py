"""The app's own credential code reaches the stand-in through devhost's managed-identity
endpoint, and the SKU list is the size catalogue the prerequisite rules use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from azure.mgmt.compute.models import ResourceSku

from devhost.arm.compute import SKU_VERSIONS
from domain.sizes import SIZES
from tests.arm.conftest import OTHER_CREDENTIALS, Lab

ROOT = Path(__file__).resolve().parents[2]


def test_default_azure_credential_picks_the_local_managed_identity(lab: Lab) -> None:
    """A fresh process with only what devhost sets (the app settings, IDENTITY_ENDPOINT,
    IDENTITY_HEADER and the CA bundle) lists disks: DefaultAzureCredential chose the managed
    identity, as it does in Azure Functions, and asked it for the management audience."""
    script = (
        "import json, os, logging\n"
        "from azure.identity import DefaultAzureCredential\n"
        "from azure.mgmt.compute import ComputeManagementClient\n"
        "records = []\n"
        "class H(logging.Handler):\n"
        "    def emit(self, r): records.append(r.getMessage())\n"
        "logging.getLogger('azure.identity').addHandler(H()); logging.getLogger('azure.identity').setLevel(logging.INFO)\n"
        "cred = DefaultAzureCredential()\n"
        "client = ComputeManagementClient(cred, os.environ['AZURE_SUBSCRIPTION_ID'], base_url=os.environ['ARM_ENDPOINT'])\n"
        "names = [d.name for d in client.disks.list_by_resource_group(os.environ['RECOVERY_RESOURCE_GROUP'])]\n"
        "print(json.dumps({'disks': len(names), 'log': records}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in OTHER_CREDENTIALS}
    env.update(lab.settings)
    env.update(lab.arm.app_environment())
    before = len(lab.arm.identity.issued)
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("ManagedIdentityCredential" in line for line in out["log"]), out["log"]
    assert lab.arm.identity.issued[before:] == ["https://management.azure.com"]


def test_the_identity_endpoint_wants_the_header_devhost_gave_the_app(lab: Lab) -> None:
    import requests

    url = lab.arm.identity_endpoint
    params = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    assert requests.get(url, params=params, timeout=10).status_code == 401
    wrong = requests.get(url, params=params, headers={"X-IDENTITY-HEADER": "guess"}, timeout=10)
    assert wrong.status_code == 401
    ok = requests.get(
        url, params=params, headers={"X-IDENTITY-HEADER": lab.arm.identity.header}, timeout=10
    )
    assert ok.status_code == 200 and ok.json()["resource"] == "https://management.azure.com"


def test_resource_skus_are_the_size_catalogue_of_the_prerequisite_rules(lab: Lab) -> None:
    skus: list[ResourceSku] = list(
        lab.compute().resource_skus.list(filter=f"location eq '{lab.location}'")
    )
    assert {s.name for s in skus} == set(SIZES)
    for sku in skus:
        size = SIZES[sku.name]
        capabilities = {c.name: c.value for c in sku.capabilities}
        assert sku.resource_type == "virtualMachines" and sku.locations == [lab.location]
        assert int(capabilities["vCPUs"]) == size.vcpus
        assert float(capabilities["MemoryGB"]) == size.memory_gib
        assert int(capabilities["MaxDataDiskCount"]) == size.max_data_disks
        assert capabilities["HyperVGenerations"] == ",".join(
            f"V{g}" for g in sorted(size.generations)
        )
        assert sku.restrictions == []
    assert list(lab.compute().resource_skus.list(filter="location eq 'australiaeast'")) == []
    assert SKU_VERSIONS == ("2021-07-01",)
