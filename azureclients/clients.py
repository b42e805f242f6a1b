"""Azure SDK clients built from settings, the way the Functions host resolves connections.

A connection named `X` is either a connection string in setting `X` (locally: Azurite or the
devhost broker) or identity-based settings `X__blobServiceUri` / `X__tableServiceUri` /
`X__fullyQualifiedNamespace` with the managed identity (in Azure). Nothing else in the app knows
which one is in use. Clients are cached per process: they hold connection pools.
"""

from __future__ import annotations

import os
import re
import urllib.request
from functools import cache

import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from azureclients.settings import setting

READ_MODELS = "ReadModelStorage"
REPLICAS = "ReplicaStorage"
SERVICE_BUS = "ServiceBusConnection"


@cache
def credential():
    """The app's one credential: the managed identity in Azure (locally, the identity
    endpoint devhost serves), found by DefaultAzureCredential as the Functions host sets it."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def _connection_string(name: str) -> str | None:
    value = os.environ.get(name)
    if value == "UseDevelopmentStorage=true":
        # The documented shortcut for the local emulator on its default ports.
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
            "K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
            "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
            "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
        )
    return value or None


# Connections kept per storage endpoint: as many as the host runs activities and triggers at
# once (maxConcurrentActivityFunctions 16, maxConcurrentCalls 16), so none is dropped and
# reopened under load ("Connection pool is full, discarding connection").
POOL_SIZE = 32


def _transport() -> RequestsTransport:
    """The HTTP transport of a long-lived storage client.

    requests reads the environment on every request: it looks for ~/.netrc and scans the
    proxy variables, a file system check or three per call, which a control plane making a
    dozen storage calls per replication cycle pays thousands of times a minute. The
    environment of a running host does not change, so it is read once here. When proxy
    variables are set, requests keeps reading them itself (it alone applies NO_PROXY).
    A netrc entry is never wanted: storage requests carry their own Authorization header."""
    session = requests.Session()
    # Retries are the SDK's policy, not urllib3's (as in azure-core's own transport).
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=no_retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if urllib.request.getproxies():
        return RequestsTransport(session=session, session_owner=False)
    # The CA bundle requests would take from the environment (a private CA, Azurite's
    # self-signed certificate), asked of requests itself once; the SDK passes `verify` on
    # each request, so it goes to the transport.
    verify = session.merge_environment_settings("https://storage", {}, None, True, None)["verify"]
    session.trust_env = False
    return RequestsTransport(session=session, session_owner=False, connection_verify=verify)


_FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def valid_key(key: str) -> bool:
    """Whether Azure Tables accepts `key` as a PartitionKey or RowKey: at most 1 KiB, none of
    `/`, `\\`, `#`, `?` or control characters."""
    return len(key.encode("utf-8")) <= 1024 and _FORBIDDEN_IN_KEYS.search(key) is None


@cache
def table_service(connection: str = READ_MODELS) -> TableServiceClient:
    if conn := _connection_string(connection):
        return TableServiceClient.from_connection_string(conn, transport=_transport())
    return TableServiceClient(
        setting(f"{connection}__tableServiceUri"), credential=credential(), transport=_transport()
    )


@cache
def blob_service(connection: str = REPLICAS) -> BlobServiceClient:
    if conn := _connection_string(connection):
        return BlobServiceClient.from_connection_string(conn, transport=_transport())
    return BlobServiceClient(
        setting(f"{connection}__blobServiceUri"), credential=credential(), transport=_transport()
    )


def servicebus_client(connection: str = SERVICE_BUS):
    """A new ServiceBusClient (callers close it); sync, for activities."""
    from azure.servicebus import ServiceBusClient

    if conn := os.environ.get(connection):
        return ServiceBusClient.from_connection_string(conn)
    return ServiceBusClient(
        setting(f"{connection}__fullyQualifiedNamespace"), credential=credential()
    )


def reset_cache() -> None:
    """Forget cached clients (tests point the same process at a new Azurite)."""
    table_service.cache_clear()
    blob_service.cache_clear()
    credential.cache_clear()
