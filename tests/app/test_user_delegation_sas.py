"""The agent's SAS on the identity-based path, as in Azure: no account key anywhere.

Azurite runs in OAuth mode (HTTPS, `--oauth basic`); the app's own code (azureclients.clients with
DefaultAzureCredential, azureclients.sas) is unchanged and configured by settings alone:
`ReplicaStorage__blobServiceUri`. The App Service managed-identity endpoint is served here on
127.0.0.1 (IDENTITY_ENDPOINT + IDENTITY_HEADER, which ManagedIdentityCredential honours) and
hands out an unsigned JWT for https://storage.azure.com, which Azurite's basic OAuth accepts.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient

from azureclients.clients import blob_service, reset_cache
from azureclients.sas import blob_sas_url
from devhost.azurite import Azurite

TENANT_ID = str(uuid.uuid4())
OBJECT_ID = str(uuid.uuid4())
HEADER = "identity-header-" + uuid.uuid4().hex


def unsigned_jwt(audience: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{TENANT_ID}/", "iat": now,
              "nbf": now - 60, "exp": now + 3600, "oid": OBJECT_ID, "tid": TENANT_ID,
              "appid": str(uuid.uuid4())}  # fmt: skip
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class IdentityEndpoint(BaseHTTPRequestHandler):
    """App Service's managed-identity endpoint (api-version 2019-08-01), for one identity."""

    requests: list[str] = []

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        IdentityEndpoint.requests.append(self.path)
        if self.headers.get("X-IDENTITY-HEADER") != HEADER:
            self.send_response(401)
            self.end_headers()
            return
        resource = query.get("resource", [""])[0]
        body = json.dumps({"access_token": unsigned_jwt(resource.rstrip("/")),
                           "expires_on": str(int(time.time()) + 3600), "resource": resource,
                           "token_type": "Bearer", "client_id": str(uuid.uuid4())}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def identity_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite in OAuth mode, and the app's settings pointing at it by identity."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), IdentityEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with Azurite(location=tmp_path_factory.mktemp("azurite-oauth"), oauth=True) as azurite:
        settings = {
            "ReplicaStorage__blobServiceUri": azurite.blob_endpoint,
            "IDENTITY_ENDPOINT": f"http://127.0.0.1:{server.server_port}/msi/token",
            "IDENTITY_HEADER": HEADER,
            "REQUESTS_CA_BUNDLE": str(azurite.cert_path),
            "SAS_LIFETIME_MINUTES": "30",
        }
        saved = {k: os.environ.get(k) for k in (*settings, "ReplicaStorage")}
        os.environ.pop("ReplicaStorage", None)
        os.environ.update(settings)
        reset_cache()
        try:
            yield azurite
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_cache()
            server.shutdown()


def test_the_app_reaches_storage_by_identity_only(identity_storage: Azurite) -> None:
    service = blob_service()
    assert service.url.startswith("https://127.0.0.1:")
    assert not hasattr(service.credential, "account_key")
    service.create_container("replica-identity")
    assert IdentityEndpoint.requests, "the token came from the managed-identity endpoint"


def test_the_agent_gets_a_user_delegation_sas_scoped_to_one_blob(
    identity_storage: Azurite, tmp_path: Path
) -> None:
    container = "replica-ud-" + uuid.uuid4().hex[:6]
    service = blob_service()
    service.create_container(container)
    service.get_blob_client(container, "os.vhd").create_page_blob(1024 * 1024 + 512)

    url = blob_sas_url(container, "os.vhd", write=True, read=True)
    query = parse_qs(urlsplit(url).query)
    # A user-delegation SAS: signed with a key the identity obtained, naming that identity.
    assert query["skoid"] == [OBJECT_ID] and query["sktid"] == [TENANT_ID]
    assert query["sr"] == ["b"] and query["sp"] == ["rw"] and query["spr"] == ["https"]
    expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < expiry - datetime.now(UTC) <= timedelta(minutes=31)

    verify = str(identity_storage.cert_path)
    blob = BlobClient.from_blob_url(url, connection_verify=verify)
    blob.upload_page(b"\x5a" * 512, offset=0, length=512)
    assert blob.download_blob(offset=0, length=512).readall() == b"\x5a" * 512

    # The same signature on another blob of the same container is refused.
    other = BlobClient.from_blob_url(
        url.replace("/os.vhd?", "/data.vhd?"), connection_verify=verify
    )
    with pytest.raises(HttpResponseError) as refused:
        other.create_page_blob(512)
    assert refused.value.status_code == 403
    # And it cannot delete the replica (recovery points are the control plane's).
    with pytest.raises(HttpResponseError) as undeletable:
        blob.delete_blob()
    assert undeletable.value.status_code == 403


def test_a_write_only_sas_cannot_read(identity_storage: Azurite) -> None:
    container = "replica-wo-" + uuid.uuid4().hex[:6]
    blob_service().create_container(container)
    blob_service().get_blob_client(container, "os.vhd").create_page_blob(512)
    url = blob_sas_url(container, "os.vhd", write=True)
    assert parse_qs(urlsplit(url).query)["sp"] == ["w"]
    blob = BlobClient.from_blob_url(url, connection_verify=str(identity_storage.cert_path))
    blob.upload_page(b"\x01" * 512, offset=0, length=512)
    with pytest.raises(HttpResponseError) as refused:
        blob.download_blob().readall()
    assert refused.value.status_code == 403


def test_one_delegation_key_signs_the_sas_of_many_cycles(identity_storage: Azurite) -> None:
    """Each cycle's SAS is signed by the same key until it nears its end: no key request per
    SAS. The key outlives every SAS it signs."""
    container = "replica-key-" + uuid.uuid4().hex[:6]
    blob_service().create_container(container)
    first = parse_qs(urlsplit(blob_sas_url(container, "os.vhd", write=True)).query)
    time.sleep(1.1)  # a key asked for now would start (skt) a second later
    second = parse_qs(urlsplit(blob_sas_url(container, "data.vhd", write=True)).query)
    assert (first["skt"], first["ske"]) == (second["skt"], second["ske"])
    assert first["se"] != second["se"]  # each SAS is still its own, with its own expiry

    def at(value: list[str]) -> datetime:
        return datetime.fromisoformat(value[0].replace("Z", "+00:00"))

    assert at(second["ske"]) >= at(second["se"]) + timedelta(hours=1)
