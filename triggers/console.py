"""GET /api/console: the operator console, one page served by the app itself.

The page is static: HTML, CSS and plain JavaScript from the repository's `console/` folder,
inlined into one document so that the browser never fetches an asset (an asset request could
carry the key only in its URL). It holds no tenant data; it reads everything from the runbook
API, so every tenant check stays where it is.

The host lets the route through without a key (auth level anonymous) and the app decides how
the page talks to the API, never whether it gets data (it gets none here):
- an operator signed in with Entra ID, as App Service authentication tells a trusted app
  (httpapi/signin.py): the page in signed-in mode, for the tenant the sign-in admits; it
  calls the API through the console's own route (triggers/console_api.py), with no key;
- a key of a tenant (TENANT_KEY_HASHES), as on the runbook routes: the page, which sends the
  key in the `x-functions-key` header;
- anything else: the same page, answered 401, which asks for the tenant and its key.

The one other thing added at serve time is the replication policies' RPO thresholds (built in
and REPLICATION_POLICIES), so the page can put each VM's RPO against its policy's threshold.
A fresh nonce per response is the only way inline script and style may run (Content Security
Policy): markup that reached the page from the API could never execute.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func

from domain.errors import DomainError, ErrorInfo
from domain.replication import POLICIES, policy_named
from httpapi.auth import is_tenant_key, presented_key
from httpapi.signin import console_tenants, signed_in_operator

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


def render_page(nonce: str, signed_in: dict[str, Any] | None = None) -> str:
    """The page; `signed_in` (the operator, the tenant, or the problem that keeps it from
    one) puts it in signed-in mode, None in key mode."""
    scripts = "\n".join(f"// --- {name}\n{_asset(name)}" for name in SCRIPTS)
    return (
        _asset("index.html")
        .replace("{{nonce}}", nonce)
        .replace("{{style}}", _asset("console.css"))
        .replace("{{policies}}", _json_for_script(policy_thresholds()))
        .replace("{{signin}}", _json_for_script(signed_in))
        .replace("{{script}}", scripts)
    )


def signed_in_mode(operator: str, wanted: str | None) -> tuple[int, dict[str, Any]]:
    """The page's status and sign-in for `operator`: the tenant the sign-in admits (the one
    this control plane serves, or the one `?tenant=` names when it serves several)."""
    tenants = console_tenants()
    tenant = wanted or (tenants[0] if len(tenants) == 1 else None)
    if tenant in tenants:
        return 200, {"operator": operator, "tenant": tenant}
    if wanted:
        cause = f"The sign-in does not admit tenant '{wanted}' on this control plane."
    elif tenants:
        cause = "This control plane serves several tenants; the console opens one."
    else:
        cause = "This control plane serves no tenant (AGENT_SITES names none)."
    fix = (
        f"Open /api/console?tenant=<tenant>, one of: {', '.join(tenants)}."
        if tenants
        else "Set AGENT_SITES to the tenant and its sites (infra/modules/functionapp.bicep)."
    )
    problem = ErrorInfo(code="TenantNotAdmitted", cause=cause, recommendation=fix)
    return 400, {"operator": operator, "tenant": None, "problem": problem.to_dict()}


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


@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console_page(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous at the host: the page is static and holds no tenant data; who may read data
    is decided by the API it calls (a tenant's key, or the trusted sign-in)."""
    nonce = secrets.token_urlsafe(18)
    wanted = req.params.get("tenant") or None
    operator = signed_in_operator(req)
    if operator is not None:
        status, signed_in = signed_in_mode(operator, wanted)
    else:
        signed_in = None
        status = 200 if is_tenant_key(presented_key(req), wanted) else 401
    return func.HttpResponse(
        render_page(nonce, signed_in),
        status_code=status,
        mimetype="text/html",
        charset="utf-8",
        headers=security_headers(nonce),
    )
