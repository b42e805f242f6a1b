"""TLS for the stand-in: devhost's local certificate, and a CA bundle the app process trusts.

The SDKs refuse bearer tokens over plain HTTP, so the stand-in serves HTTPS with the
certificate `devhost/tls.py` makes (valid for 127.0.0.1 and localhost). The app does not
configure trust itself: requests (the SDKs' transport) reads `REQUESTS_CA_BUNDLE` and Python's
ssl reads `SSL_CERT_FILE`, so devhost points both at a bundle of the usual public CAs plus the
local certificate, as an operator would for a private CA. Public endpoints stay trusted.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devhost.tls import self_signed


def ensure_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert, key) in `folder`, made again when missing or within a day of expiring: a
    restarted stand-in keeps the certificate clients already trust."""
    from cryptography import x509

    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.exists() and key.exists():
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
        if loaded.not_valid_after_utc - datetime.now(UTC) > timedelta(days=1):
            return cert, key
    self_signed(cert, key, host)
    return cert, key


def ca_bundle(cert: Path, target: Path) -> Path:
    """A PEM bundle: the CAs this process already trusts (REQUESTS_CA_BUNDLE, else certifi's)
    followed by the local certificate."""
    import certifi

    base = os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()
    base_text = Path(base).read_text() if Path(base).is_file() else ""
    local = cert.read_text()
    if local in base_text:
        base_text = base_text.replace(local, "")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(base_text.rstrip("\n") + "\n" + local)
    return target
