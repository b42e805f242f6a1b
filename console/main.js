// Start-up, routing and the live loop.

const POLL_MS = 3000;
const main = document.getElementById("main");
const liveStatus = document.getElementById("live");

// Replace a live region's content, keeping the keyboard where it was: the focused element is
// found again by its data-key after the refresh.
function render(region, ...children) {
  const active = document.activeElement;
  const key = active && region.contains(active) ? active.getAttribute("data-key") : null;
  region.replaceChildren();
  append(region, children);
  if (key) {
    const again = region.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
}

// A key passed as ?code= (as on every other route) is taken once, then removed from the
// address bar and the history, so it is not bookmarked, shared or logged from there.
function takeKeyFromAddress() {
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  const tenant = url.searchParams.get("tenant");
  if (code) remember(tenant || session.tenant, code);
  else if (tenant) remember(tenant, session.key);
  if (code || tenant) {
    url.searchParams.delete("code");
    url.searchParams.delete("tenant");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
}

const PAGES = { items: itemsPage, vm: vmPage, jobs: jobsPage, plans: plansPage, alerts: alertsPage };

let generation = 0;
let timer = null;
let refresh = null;

function parseHash() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "items";
  const [path, search] = hash.split("?", 2);
  const parts = path.split("/").map(decodeURIComponent);
  return {
    page: PAGES[parts[0]] ? parts[0] : "items",
    arg: parts[1],
    params: new URLSearchParams(search || ""),
  };
}

function showTenant() {
  const box = document.getElementById("tenant");
  if (session.operator) {
    // Signed in with Entra ID: nothing to change here; signing out is the platform's.
    box.replaceChildren(
      h("span", {}, "Tenant ", h("strong", {}, session.tenant)),
      " ",
      h("span", { id: "signed-in" }, "Signed in as ", h("strong", {}, session.operator)),
    );
    return;
  }
  box.replaceChildren(
    session.tenant ? h("span", {}, "Tenant ", h("strong", {}, session.tenant)) : null,
    " ",
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          forgetKey();
          signIn();
        },
      },
      "Change",
    ),
  );
}

// The state (live or not, and why) is announced when it changes; the time of the last refresh
// is shown but not read out every few seconds.
let lastState = null;
function setLive(text, problem) {
  const state = problem ? `Not live: ${text}` : "Live";
  liveStatus.classList.toggle("stale", Boolean(problem));
  if (state !== lastState) {
    lastState = state;
    document
      .getElementById("live-state")
      .replaceChildren(
        problem ? badge("Failed", "Not live") : badge("Succeeded", "Live"),
        problem ? ` ${text}` : "",
      );
  }
  document.getElementById("live-time").textContent = problem ? "" : text;
}

function signIn(problem) {
  generation += 1;
  clearTimeout(timer);
  refresh = null;
  for (const a of document.querySelectorAll("#nav a")) a.removeAttribute("aria-current");
  if (session.operator) {
    // Signed in, yet refused: there is no key to ask for; say why, and how to sign in again.
    signedInRefusedPage(main, problem || SIGNED_IN.problem);
    setLive("not admitted", true);
    return;
  }
  signInPage(main, problem);
  setLive("waiting for a key", true);
}

async function poll() {
  const mine = generation;
  clearTimeout(timer);
  if (!refresh) return;
  try {
    await refresh(() => mine === generation);
    if (mine === generation) setLive(`updated ${fmtTime(new Date())}, every ${POLL_MS / 1000} s`);
  } catch (error) {
    if (mine !== generation) return;
    if (error instanceof Problem && error.unauthorized) {
      signIn(error.info());
      return;
    }
    setLive(`${error.code || "Error"}: ${error.cause || error.message}. Retrying.`, true);
  }
  if (mine === generation) timer = setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
}

function refreshNow() {
  poll();
}

async function navigate() {
  if (!session.tenant || !(session.key || session.operator)) {
    signIn();
    return;
  }
  generation += 1;
  clearTimeout(timer);
  showTenant();
  const { page, arg, params } = parseHash();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === (page === "vm" ? "items" : page)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await loadCapabilities();
  } catch (error) {
    if (error instanceof Problem && error.unauthorized) {
      signIn(error.info());
      return;
    }
  }
  refresh = PAGES[page](main, page === "vm" ? arg : params);
  document.title = `${main.querySelector("h1")?.textContent || "Console"} · DR control plane`;
  poll();
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/")) navigate();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && refresh) refreshNow();
});
document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

takeKeyFromAddress();
navigate();
