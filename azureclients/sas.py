"""Per-blob SAS for the agent: that one blob, only the permission needed, short-lived.

With an identity-based connection (Azure) the SAS is a user-delegation SAS signed by a key
the managed identity obtains; no account key exists anywhere. With a connection string
(Azurite) it is signed with the account key. Either way the agent never gets more than one
blob.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    UserDelegationKey,
    generate_blob_sas,
)

from azureclients.clients import blob_service
from azureclients.settings import int_setting

# Clock skew between the agent, Azure and us: start a little in the past.
SKEW = timedelta(minutes=5)
# A user-delegation key signs SAS for hours (Azure allows up to 7 days), not one request each.
KEY_LIFETIME = timedelta(hours=6)
_keys: dict[str, UserDelegationKey] = {}  # account URL -> the key signing its SAS now
_keys_lock = threading.Lock()


def blob_sas_url(
    container: str,
    blob: str,
    *,
    write: bool,
    read: bool = False,
    snapshot: str | None = None,
    used_from: datetime | None = None,
) -> str:
    """A SAS URL of one blob (or of one snapshot of it: read-only by nature). It lives
    SAS_LIFETIME_MINUTES from `used_from` (a command delivered later) or from now."""
    service = blob_service()
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=int_setting("SAS_LIFETIME_MINUTES", 60))
    expiry = max(now, used_from or now) + lifetime
    permission = BlobSasPermissions(read=read, write=write)
    credential = service.credential
    if hasattr(credential, "account_key"):
        token = generate_blob_sas(
            service.account_name,
            container,
            blob,
            account_key=credential.account_key,
            snapshot=snapshot,
            permission=permission,
            start=now - SKEW,
            expiry=expiry,
            protocol="https" if service.url.startswith("https") else "https,http",
        )
    else:
        delegation_key = _delegation_key(service, now, expiry)
        token = generate_blob_sas(
            service.account_name,
            container,
            blob,
            user_delegation_key=delegation_key,
            snapshot=snapshot,
            permission=permission,
            start=now - SKEW,
            expiry=expiry,
            protocol="https",
        )
    url = service.get_blob_client(container, blob, snapshot=snapshot).url
    return f"{url}{'&' if '?' in url else '?'}{token}"


def _delegation_key(
    service: BlobServiceClient, now: datetime, expiry: datetime
) -> UserDelegationKey:
    """A key valid until at least `expiry`, asked for once per KEY_LIFETIME.

    Every replication cycle issues a SAS per disk; fetching a key for each would add a call
    to the storage account (and its token) to every cycle of every VM. A key only signs, it
    grants nothing by itself, and each SAS it signs still lives SAS_LIFETIME_MINUTES."""
    with _keys_lock:
        key = _keys.get(service.url)
        if key is None or datetime.fromisoformat(key.signed_expiry) < expiry:
            lifetime = max(KEY_LIFETIME, expiry - now + timedelta(hours=1))
            key = _keys[service.url] = service.get_user_delegation_key(now - SKEW, now + lifetime)
        return key
