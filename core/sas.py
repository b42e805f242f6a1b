"""Per-blob SAS for the agent: that one blob, only the permission needed, short-lived.

With an identity-based connection (Azure) the SAS is a user-delegation SAS signed by a key
the managed identity obtains; no account key exists anywhere. With a connection string
(Azurite) it is signed with the account key. Either way the agent never gets more than one
blob.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from core.clients import blob_service
from core.settings import int_setting

# Clock skew between the agent, Azure and us: start a little in the past.
SKEW = timedelta(minutes=5)


def blob_sas_url(container: str, blob: str, *, write: bool, read: bool = False) -> str:
    service = blob_service()
    now = datetime.now(UTC)
    expiry = now + timedelta(minutes=int_setting("SAS_LIFETIME_MINUTES", 60))
    permission = BlobSasPermissions(read=read, write=write)
    credential = service.credential
    if hasattr(credential, "account_key"):
        token = generate_blob_sas(
            service.account_name,
            container,
            blob,
            account_key=credential.account_key,
            permission=permission,
            start=now - SKEW,
            expiry=expiry,
            protocol="https" if service.url.startswith("https") else "https,http",
        )
    else:
        delegation_key = service.get_user_delegation_key(now - SKEW, expiry)
        token = generate_blob_sas(
            service.account_name,
            container,
            blob,
            user_delegation_key=delegation_key,
            permission=permission,
            start=now - SKEW,
            expiry=expiry,
            protocol="https",
        )
    return f"{service.get_blob_client(container, blob).url}?{token}"
