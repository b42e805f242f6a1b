"""/api/console/api/{*rest}: the runbook API for the operator console signed in with Entra ID.

In Azure the console opens with the Entra sign-in alone: App Service authentication admits only
the tenant's operator group (infra/modules/functionapp.bicep). The runbook routes themselves
(/api/tenants/*) are excluded from that sign-in and take the tenant's key, which a signed-in
person does not hold. So the signed-in page calls the same routes through this one: the host
lets it through without a key (anonymous), and the app

1. answers 401 unless the request carries a sign-in it trusts (httpapi/signin.py: the
   platform's principal headers, believed only where App Service authentication is on);
2. answers 403 without the console's own request header: a person's sign-in is a cookie the
   browser sends on any site's request, but no other site can add a header to a request to
   this origin without a CORS grant the app never gives;
3. runs the runbook route's own handler for the path and method (httpapi/runbook_routes.py),
   with the tenant authorized by the sign-in: a context variable set here and nowhere else,
   which authorize_tenant honours for the tenants the sign-in admits only. Jobs started this
   way record `entra:<name>` as who asked.

The handler sees the request as the runbook route would (its URL, so links in the answer
name the runbook routes; the page sends them back through here), without any key.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import azure.functions as func

from domain.errors import ErrorInfo
from httpapi.problems import problem
from httpapi.runbook_routes import RUNBOOK_API
from httpapi.signin import ConsoleOperator, acting_for, console_tenants, signed_in_operator

bp = func.Blueprint()

DOOR = "/console/api/"
# Sent by the console page on every call; a request another site makes cannot carry it.
CONSOLE_HEADER = "x-drcp-console"
ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix


def _runbook_path(req: func.HttpRequest) -> str:
    """The runbook route's path, as sent (percent-encoded), after /api/console/api/."""
    path = urlsplit(req.url).path
    at = path.lower().find(DOOR)
    return path[at + len(DOOR) :] if at >= 0 else req.route_params.get("rest", "")


def _runbook_request(req: func.HttpRequest, path: str, values: dict[str, str]) -> func.HttpRequest:
    """The request as the runbook route gets it, minus any key (the sign-in decides here)."""
    url = urlsplit(req.url)
    params = {k: v for k, v in req.params.items() if k != "code"}
    query = f"?{urlencode(params)}" if params else ""
    headers = {k: v for k, v in req.headers.items() if k.lower() != "x-functions-key"}
    return func.HttpRequest(
        method=req.method,
        url=f"{url.scheme}://{url.netloc}/{ROUTE_PREFIX}/{path}{query}",
        headers=headers,
        params=params,
        route_params=values,
        body=req.get_body(),
    )


@bp.route(
    route="console/api/{*rest}",
    methods=["GET", "POST", "PUT", "DELETE"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
@bp.generic_input_binding(arg_name="client", type="durableClient")
async def console_api(req: func.HttpRequest, client: str) -> func.HttpResponse:
    """`client` is the durable client binding as the host passes it (JSON), handed on as such
    to a handler that declares one, which builds its client from it as if called directly."""
    name = signed_in_operator(req)
    if name is None:
        return problem(
            401,
            ErrorInfo(
                code="SignInRequired",
                cause="This route answers only the operator console signed in with Entra ID "
                "(App Service authentication), and this request carries no sign-in the app "
                "trusts.",
                recommendation="Open /api/console in the browser and sign in; runbooks call "
                "/api/tenants/... with the tenant's key. Locally, open the console with the "
                "key (?code=).",
            ),
        )
    if not req.headers.get(CONSOLE_HEADER):
        return problem(
            403,
            ErrorInfo(
                code="ConsoleRequestRequired",
                cause=f"The request lacks the console's {CONSOLE_HEADER} header.",
                recommendation="Use the console page; another site cannot act with an "
                "operator's sign-in.",
            ),
        )
    path = _runbook_path(req)
    found = RUNBOOK_API.match(req.method, path)
    if found.route is None:
        where = f"{req.method} /{ROUTE_PREFIX}/{path}"
        if found.other_methods:
            return problem(
                404,
                ErrorInfo(
                    code="MethodNotServed",
                    cause=f"No runbook route serves {where}.",
                    recommendation=f"This route serves {', '.join(found.other_methods)}.",
                ),
            )
        return problem(
            404,
            ErrorInfo(
                code="RouteNotFound",
                cause=f"No runbook route serves {where}.",
                recommendation="Check the path against GET /api/openapi.json.",
            ),
        )
    operator = ConsoleOperator(name=name, tenants=frozenset(console_tenants()))
    with acting_for(operator):
        return await found.route.call(_runbook_request(req, path, found.values), client)
