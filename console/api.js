// The runbook API, reached one of two ways, as the server said when it sent the page:
// - with the tenant key in the x-functions-key header (locally, or wherever no sign-in is set
//   up). The key lives in this tab's sessionStorage only: never in an address the page builds,
//   never in a log.
// - signed in with Entra ID (in Azure): through the console's own route, /api/console/api/…,
//   which trusts the sign-in; no key is sent or kept.

const KEY_STORE = "drcp.console.key";
const TENANT_STORE = "drcp.console.tenant";
const CONSOLE_API = "/api/console/api/";
// {operator, tenant} or {operator, problem} when signed in; null in key mode.
const SIGNED_IN = JSON.parse(document.getElementById("sign-in").textContent || "null");

const session = {
  operator: SIGNED_IN ? SIGNED_IN.operator : "",
  tenant: SIGNED_IN ? SIGNED_IN.tenant || "" : sessionStorage.getItem(TENANT_STORE) || "",
  key: SIGNED_IN ? "" : sessionStorage.getItem(KEY_STORE) || "",
  paths: null, // the OpenAPI document's paths: which parts of the API this release serves
};

function remember(tenant, key) {
  if (session.operator) return; // signed in: the tenant is the sign-in's, and there is no key
  session.tenant = tenant;
  session.key = key;
  sessionStorage.setItem(TENANT_STORE, tenant);
  sessionStorage.setItem(KEY_STORE, key);
}

function forgetKey() {
  session.key = "";
  sessionStorage.removeItem(KEY_STORE);
}

// A problem+json answer (or any refusal), with the team's error shape.
class Problem extends Error {
  constructor(status, body, text) {
    const info = body && typeof body === "object" ? body : {};
    super(info.cause || info.detail || `HTTP ${status}`);
    this.status = status;
    this.code = info.code || `HTTP${status}`;
    this.cause = info.cause || info.detail || (text ? String(text).slice(0, 300) : `HTTP ${status}`);
    this.recommendation = info.recommendation || "";
    this.errors = Array.isArray(info.errors) && info.errors.length ? info.errors : [this.info()];
  }

  info() {
    return { code: this.code, cause: this.cause, recommendation: this.recommendation };
  }

  get unauthorized() {
    return this.status === 401 || this.status === 403;
  }

  // A route this release does not serve (the host's 404 for an unknown route).
  get routeMissing() {
    return (
      this.status === 404 &&
      (this.code === "RouteNotFound" || this.code === "MethodNotServed" || this.code === "HTTP404")
    );
  }
}

// Only our own origin is ever called: a link from an answer (nextLink, href) is reduced to its
// path, so the key cannot be sent anywhere else.
function sameOrigin(link) {
  const url = new URL(link, location.origin);
  return url.pathname + url.search;
}

// Where a call goes: the runbook route with the key, or signed in, the same route through the
// console's own (a link in an answer names the runbook route; it is sent the same way).
function apiUrl(path) {
  const url = path.startsWith("/") || path.includes("://") ? sameOrigin(path) : `/api/${path}`;
  if (!session.operator || url.startsWith(CONSOLE_API)) return url;
  return url.startsWith("/api/") ? CONSOLE_API + url.slice("/api/".length) : url;
}

async function api(method, path, body) {
  const url = apiUrl(path);
  const headers = { Accept: "application/json" };
  if (session.operator) {
    // The console's own header (no other site's request can carry it), and the one that
    // makes the platform's sign-in answer 401, not a redirect, once the session has ended.
    headers["x-drcp-console"] = "1";
    headers["X-Requested-With"] = "XMLHttpRequest";
  } else {
    headers["x-functions-key"] = session.key;
  }
  const init = {
    method,
    headers,
    cache: "no-store",
    credentials: "same-origin",
    referrerPolicy: "no-referrer",
    redirect: session.operator ? "manual" : "follow",
  };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new Problem(0, {
      code: "Unreachable",
      cause: `The control plane did not answer (${error.message}).`,
      recommendation: "Check that the Function App (or devhost) runs; the page keeps trying.",
    });
  }
  if (response.type === "opaqueredirect") {
    // Sent to the sign-in page: the session has ended.
    throw new Problem(401, {
      code: "SignInExpired",
      cause: "The sign-in has ended.",
      recommendation: "Reload the page to sign in again.",
    });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) throw new Problem(response.status, data, text);
  return data;
}

function tenantPath(rest) {
  return `tenants/${encodeURIComponent(session.tenant)}/${rest}`;
}

function query(params) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return kept.length ? "?" + new URLSearchParams(kept).toString() : "";
}

// Every page of a list (bounded: a console shows thousands, not millions).
async function listAll(path, maxPages = 20) {
  const values = [];
  let next = path;
  for (let page = 0; next && page < maxPages; page += 1) {
    const body = await api("GET", next);
    values.push(...(body.value || []));
    next = body.nextLink || null;
  }
  return values;
}

// Which routes this release serves, from GET /api/openapi.json (read once).
async function loadCapabilities() {
  if (session.paths) return session.paths;
  const doc = await api("GET", "openapi.json");
  session.paths = new Set(Object.keys(doc.paths || {}));
  return session.paths;
}

function serves(template) {
  return Boolean(session.paths && session.paths.has(`/api${template}`));
}

// --- the resources the pages read -------------------------------------------------------

const read = {
  vms: () => listAll(tenantPath("vms?top=1000")),
  items: () => listAll(tenantPath("replicated-items?top=1000")),
  async item(vm) {
    try {
      return await api("GET", tenantPath(`replicated-items/${encodeURIComponent(vm)}`));
    } catch (error) {
      if (error instanceof Problem && error.code === "ReplicatedItemNotFound") return null;
      throw error;
    }
  },
  jobs: (filter, top = 100) =>
    api("GET", tenantPath(`jobs${query({ top, state: filter.state, target: filter.target })}`)),
  job: (id) => api("GET", tenantPath(`jobs/${encodeURIComponent(id)}`)),
};
