"""GET /api/console: the operator console, one page served by the app itself.

The page is static: HTML, CSS and plain JavaScript from the repository's `console/` folder,
inlined into one document so that the browser never fetches an asset (an asset request could
carry the key only in its URL). It holds no tenant data; it reads everything from the runbook
API with the key in the `x-functions-key` header, so every tenant check stays where it is.

The one thing added at serve time is the replication policies' RPO thresholds (built in and
REPLICATION_POLICIES), so the page can put each VM's RPO against its policy's threshold.
A fresh nonce per response is the only way inline script and style may run (Content Security
Policy): markup that reached the page from the API could never execute.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import cache
from pathlib import Path

import azure.functions as func

from domain.errors import DomainError
from domain.replication import POLICIES, policy_named

bp = func.Blueprint()

ASSETS = Path(__file__).resolve().parent.parent / "console"
# The page's scripts, in the order they are inlined (each uses the ones before it).
SCRIPTS = ("util.js", "api.js", "charts.js", "actions.js", "pages.js", "main.js")
POLICIES_SETTING = "REPLICATION_POLICIES"


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def policy_thresholds() -> dict[str, dict[str, int]]:
    """Each policy's interval, retention and RPO threshold, built in and operator-defined; a
    custom policy that does not parse is left out (its VMs' jobs already say why)."""
    try:
        custom = json.loads(os.environ.get(POLICIES_SETTING) or "{}")
    except json.JSONDecodeError:
        custom = {}
    if not isinstance(custom, dict):
        custom = {}
    table = {}
    for name in [*POLICIES, *custom]:
        try:
            policy = policy_named(name, custom)
        except DomainError:
            continue
        table[name] = {
            "intervalSeconds": int(policy.interval),
            "retentionHours": policy.retention_hours,
            "rpoThresholdSeconds": policy.rpo_threshold_seconds,
        }
    return table


def _json_for_script(value: object) -> str:
    """JSON safe inside a <script> element: no `</script>`, no `<!--`."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def render_page(nonce: str) -> str:
    scripts = "\n".join(f"// --- {name}\n{_asset(name)}" for name in SCRIPTS)
    return (
        _asset("index.html")
        .replace("{{nonce}}", nonce)
        .replace("{{style}}", _asset("console.css"))
        .replace("{{policies}}", _json_for_script(policy_thresholds()))
        .replace("{{script}}", scripts)
    )


def security_headers(nonce: str) -> dict[str, str]:
    policy = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        # The first address may carry ?code=: no other site may see it as a referrer.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def console_page(req: func.HttpRequest) -> func.HttpResponse:
    nonce = secrets.token_urlsafe(18)
    return func.HttpResponse(
        render_page(nonce),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers=security_headers(nonce),
    )
