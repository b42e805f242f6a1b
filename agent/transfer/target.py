"""The page blob a replica lives in, reached only through its SAS URL.

Checks the SAS and the blob before a single byte is written (expiry, permissions, type, size),
sends every request through `check_request`, and turns the storage service's refusals into
`AgentError`s with a stable code, the cause and the fix.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobClient

from agent.errors import AgentError
from agent.transfer.plan import check_request


def checksum_mode(requested: str) -> str:
    """ "auto" → CRC64 when the ext-checksums extra is installed (cheaper), MD5 otherwise."""
    if requested != "auto":
        return requested
    try:
        import azure.storage.extensions.checksums  # noqa: F401
    except ImportError:
        return "md5"
    return "crc64"


def _sas_error(code: str, cause: str) -> AgentError:
    return AgentError(
        code,
        cause,
        "Ask the control plane for a fresh SAS for this disk's blob (write, sp=w; read and "
        "write, sp=rw, for a resync; valid for the whole transfer) and run the command again; "
        "completed ranges are kept.",
    )


def check_sas(sas_url: str, *, need_read: bool = False, now: datetime | None = None) -> str:
    """Refuse a URL that is not a usable blob SAS before any request; returns the URL without
    its query (the blob's identity in the journal, never the secret).

    The control plane issues write-only SASes (the least an upload needs); only a resync, which
    compares with what the blob holds, needs read too."""
    parts = urlsplit(sas_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.count("/") < 2:
        raise AgentError(
            "BadSasUrl",
            f"{parts.scheme}://{parts.netloc}{parts.path} is not a blob URL.",
            "Pass the blob's SAS URL as issued: https://ACCOUNT.blob.core.windows.net/"
            "CONTAINER/BLOB?sv=...&sig=...",
        )
    query = parse_qs(parts.query)
    if "sig" not in query:
        raise _sas_error("SasMissing", "the URL carries no SAS token (no sig= parameter).")
    when = sas_expiry(sas_url)
    if when is not None and when <= (now or datetime.now(UTC)):
        raise _sas_error("SasExpired", f"the SAS expired at {when.isoformat()}.")
    perms = query.get("sp", [None])[0]
    if perms is not None:
        if "w" not in perms:
            raise _sas_error("SasNotWritable", f"the SAS allows '{perms}', not write (w).")
        if need_read and "r" not in perms:
            raise _sas_error(
                "SasNotReadable",
                f"the SAS allows '{perms}', not read (r): a resync compares the disk with what "
                "the blob holds, so it must read the blob.",
            )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def sas_expiry(sas_url: str) -> datetime | None:
    """The SAS's signed expiry (se=), if it has a readable one."""
    expiry = parse_qs(urlsplit(sas_url).query).get("se", [None])[0]
    if not expiry:
        return None
    try:
        when = datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_SIGNATURE = re.compile(r"(?i)\bsig=[^&\s\"'<>)]+")


def without_sas(text: str) -> str:
    """`text` with any SAS signature replaced: an SDK's error quotes the URL it called, and
    the cause travels to the control plane's events, jobs and API."""
    return _SIGNATURE.sub("sig=REDACTED", text)


def map_error(exc: Exception, *, writing: bool, expiry: datetime | None = None) -> AgentError:
    """A storage exception → the AgentError a user can act on. `expiry` is the SAS's own: a
    403 after it passed is an expiry, whatever words the service chose (Azurite says none)."""
    if isinstance(exc, AgentError):
        return exc
    if isinstance(exc, ServiceRequestError | ServiceResponseError) and not isinstance(
        exc, HttpResponseError
    ):
        return AgentError(
            "StorageUnreachable",
            f"the blob endpoint did not answer ({exc.__class__.__name__}: "
            f"{without_sas(str(exc.message))}).",
            "Check the network path to the storage account, then run the command again; "
            "completed ranges are kept and only the rest is sent.",
        )
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "error_code", None) or ""
        message = without_sas((exc.message or "").splitlines()[0]) if exc.message else ""
        status = exc.status_code
        if status == 403:
            expired = expiry is not None and expiry <= datetime.now(UTC)
            if expired or "expir" in (exc.message or "").lower():
                return _sas_error("SasExpired", f"storage refused the SAS as expired: {message}")
            if code in ("AuthorizationPermissionMismatch", "AuthorizationFailure"):
                which = "SasNotWritable" if writing else "SasNotReadable"
                return _sas_error(which, f"storage refused the request ({code}): {message}")
            return _sas_error("SasRejected", f"storage refused the SAS ({code}): {message}")
        if status == 404 or isinstance(exc, ResourceNotFoundError):
            return AgentError(
                "BlobNotFound",
                f"the blob does not exist ({code or status}).",
                "Enable protection from the control plane first: it creates the page blob of "
                "the right size and issues its SAS.",
            )
        return AgentError(
            "TransferFailed",
            f"storage answered {status} {code}: {message}",
            "Run the command again (only missing ranges are sent); if it persists, check the "
            "storage account's health and limits.",
        )
    raise exc


class Target:
    """A page blob behind a SAS; all I/O of the engine with storage goes through here."""

    def __init__(
        self,
        sas_url: str,
        *,
        checksum: str = "auto",
        request_hook: Callable[[Any], None] | None = None,
        need_read: bool = False,
    ) -> None:
        self.url = check_sas(sas_url, need_read=need_read)
        perms = parse_qs(urlsplit(sas_url).query).get("sp", [None])[0]
        self.readable = perms is None or "r" in perms
        self.expiry = sas_expiry(sas_url)
        kwargs: dict[str, Any] = {"connection_timeout": 20, "read_timeout": 120}
        if request_hook is not None:
            kwargs["raw_request_hook"] = request_hook
        self.client = BlobClient.from_blob_url(sas_url, **kwargs)
        self.validate = checksum_mode(checksum)
        self.size = 0
        self.created = ""

    def check(self, expected_size: int) -> None:
        """Exists, is a page blob, and has exactly the replica's size; else refuse.

        A write-only SAS cannot read the blob's properties: then the size the control plane
        created the blob with is trusted, Azure refuses any write past the blob's end, and the
        control plane verifies size and footer before it makes a recovery point."""
        if not self.readable:
            self.size, self.created = expected_size, ""
            return
        try:
            props = self.client.get_blob_properties()
        except (HttpResponseError, ServiceRequestError, ClientAuthenticationError) as exc:
            raise map_error(exc, writing=False, expiry=self.expiry) from exc
        blob_type = str(getattr(props.blob_type, "value", props.blob_type))
        if blob_type != "PageBlob":
            raise AgentError(
                "BlobTypeMismatch",
                f"{self.url} is a {blob_type}, not a page blob.",
                "Give the agent the SAS of the page blob the control plane created for this "
                "disk; block and append blobs cannot hold a disk.",
            )
        if props.size != expected_size:
            raise AgentError(
                "BlobSizeMismatch",
                f"{self.url} is {props.size} bytes; this disk's replica needs {expected_size} "
                "(virtual size rounded up to 1 MiB, plus the 512-byte VHD footer).",
                "Check the SAS is for this disk's blob; if the disk was resized, let the control "
                "plane resize the blob (or re-enable protection), then run again.",
            )
        self.size = props.size
        created = props.creation_time
        self.created = created.isoformat() if created else ""

    def put(self, offset: int, data: bytes) -> None:
        check_request(offset, len(data), self.size, clear=False)
        try:
            self.client.upload_page(data, offset, len(data), validate_content=self.validate)
        except (HttpResponseError, ServiceRequestError) as exc:
            raise map_error(exc, writing=True, expiry=self.expiry) from exc

    def clear(self, offset: int, length: int) -> None:
        check_request(offset, length, self.size, clear=True)
        try:
            self.client.clear_page(offset, length)
        except (HttpResponseError, ServiceRequestError) as exc:
            raise map_error(exc, writing=True, expiry=self.expiry) from exc

    def read(self, offset: int, length: int) -> bytes:
        try:
            return self.client.download_blob(offset, length).readall()
        except (HttpResponseError, ServiceRequestError) as exc:
            raise map_error(exc, writing=False, expiry=self.expiry) from exc

    def page_ranges(self) -> list[tuple[int, int]]:
        """Ranges that hold data (offset, length). Never the snapshot diff: Azurite lies there."""
        try:
            return [
                (r.start, r.end + 1 - r.start)
                for r in self.client.list_page_ranges()
                if not getattr(r, "cleared", False)
            ]
        except (HttpResponseError, ServiceRequestError) as exc:
            raise map_error(exc, writing=False, expiry=self.expiry) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def md5_b64(data: bytes) -> str:
    """What `TransferResult.checksums` holds: base64 MD5, the same form as Content-MD5."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
