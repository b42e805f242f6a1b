"""Azure SDK clients built from settings, the way the Functions host resolves connections.

A connection named `X` is either a connection string in setting `X` (locally: Azurite or the
devhost broker) or identity-based settings `X__blobServiceUri` / `X__tableServiceUri` /
`X__fullyQualifiedNamespace` with the managed identity (in Azure). Nothing else in the app knows
which one is in use. Clients are cached per process: they hold connection pools.
"""

from __future__ import annotations

import os
from functools import cache

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from core.settings import setting

READ_MODELS = "ReadModelStorage"
REPLICAS = "ReplicaStorage"
SERVICE_BUS = "ServiceBusConnection"


@cache
def _credential():
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


@cache
def table_service(connection: str = READ_MODELS) -> TableServiceClient:
    if conn := _connection_string(connection):
        return TableServiceClient.from_connection_string(conn)
    return TableServiceClient(setting(f"{connection}__tableServiceUri"), credential=_credential())


@cache
def blob_service(connection: str = REPLICAS) -> BlobServiceClient:
    if conn := _connection_string(connection):
        return BlobServiceClient.from_connection_string(conn)
    return BlobServiceClient(setting(f"{connection}__blobServiceUri"), credential=_credential())


def servicebus_client(connection: str = SERVICE_BUS):
    """A new ServiceBusClient (callers close it); sync, for activities."""
    from azure.servicebus import ServiceBusClient

    if conn := os.environ.get(connection):
        return ServiceBusClient.from_connection_string(conn)
    return ServiceBusClient(
        setting(f"{connection}__fullyQualifiedNamespace"), credential=_credential()
    )


def reset_cache() -> None:
    """Forget cached clients (tests point the same process at a new Azurite)."""
    table_service.cache_clear()
    blob_service.cache_clear()
