// The pages. Each mounts its fixed parts once (headings, filters: what a person is typing in
// stays put) and refreshes a live part from the API on every poll.

const HEALTH_ORDER = { Critical: 0, Warning: 1, Normal: 2 };

function policyOf(item) {
  return POLICIES[item.policy || "default"] || null;
}

// Replicated items and unprotected VMs in one list: every VM the agents reported.
function mergeVms(vms, items) {
  const byVm = new Map(items.map((i) => [i.vm, i]));
  const rows = [];
  for (const record of vms) {
    const item = byVm.get(record.vm.id);
    byVm.delete(record.vm.id);
    rows.push(
      item
        ? { ...item, record }
        : {
            vm: record.vm.id,
            vmName: record.vm.name,
            site: record.site,
            status: record.protectionStatus || "NotProtected",
            health: record.health,
            activeJobId: record.activeJobId,
            record,
          },
    );
  }
  for (const item of byVm.values()) rows.push({ ...item, record: null });
  rows.sort(
    (a, b) =>
      (HEALTH_ORDER[a.health?.state] ?? 3) - (HEALTH_ORDER[b.health?.state] ?? 3) ||
      String(a.vmName || a.vm).localeCompare(String(b.vmName || b.vm)),
  );
  return rows;
}

function reasonsList(health) {
  const reasons = health?.reasons || [];
  if (!reasons.length) return null;
  return h(
    "ul",
    { class: "reasons" },
    reasons.map((r) => h("li", {}, errorBlock(r))),
  );
}

function healthCell(health) {
  if (!health) return h("span", { class: "muted" }, "–");
  return h("div", {}, badge(health.state), reasonsList(health));
}

// Where nothing replicates on purpose (failed over, on the way home, not protected), the age
// of the last point is history, not an RPO to judge against the threshold.
const NOT_REPLICATING = new Set([
  "NotProtected",
  "ProtectionPending",
  "DisablingProtection",
  "PlannedFailoverInProgress",
  "UnplannedFailoverInProgress",
  "FailedOver",
  "FailoverCommitted",
  "FailbackInProgress",
  "FailedBack",
  "FailbackCommitted",
  "ReprotectInProgress",
]);

function rpoCell(item) {
  if (item.rpoSeconds === null || item.rpoSeconds === undefined)
    return h("span", { class: "muted" }, item.status === "NotProtected" ? "–" : "no point yet");
  if (NOT_REPLICATING.has(item.status))
    return h(
      "span",
      { class: "muted", "data-rpo": "not-replicating" },
      `not replicating (last point ${fmtDuration(item.rpoSeconds)} ago)`,
    );
  const policy = policyOf(item);
  const threshold = policy?.rpoThresholdSeconds;
  const over = threshold && item.rpoSeconds > threshold;
  return h(
    "div",
    { class: over ? "rpo over" : "rpo" },
    over ? badge("Critical", fmtDuration(item.rpoSeconds)) : h("span", {}, fmtDuration(item.rpoSeconds)),
    threshold
      ? h("span", { class: "muted" }, ` of ${fmtDuration(threshold)}${over ? " threshold: over" : ""}`)
      : h("span", { class: "muted" }, " (policy unknown)"),
  );
}

function progressCell(item) {
  const p = item.progress;
  const initial = ["WaitingForInitialReplication", "InitialReplicationInProgress"].includes(item.status);
  if (!p && !initial) return h("span", { class: "muted" }, "–");
  if (!p) return h("span", {}, "waiting for the agent");
  if (!initial && p.percent >= 100) return h("span", {}, "complete");
  const eta = p.etaSeconds !== null && p.etaSeconds !== undefined ? `, ETA ${fmtDuration(p.etaSeconds)}` : "";
  return h(
    "div",
    { class: "progress" },
    h("progress", {
      max: 100,
      value: p.percent,
      "aria-label": `Initial replication ${p.percent.toFixed(0)} %`,
    }),
    h(
      "span",
      {},
      ` ${p.percent.toFixed(1)} % · ${fmtBytes(p.bytesDone)} of ${fmtBytes(p.bytesTotal)} · ${fmtBytes(p.throughputBytesPerS)}/s${eta}`,
    ),
  );
}

function vmLink(row) {
  return h(
    "a",
    { href: route("vm", row.vm), "data-key": `vm:${row.vm}`, class: "vm-link" },
    h("span", { class: "vm-name" }, row.vmName || row.vm),
    row.vmName && row.vmName !== row.vm ? h("span", { class: "muted vm-id" }, ` (${row.vm})`) : null,
  );
}

// The running job, or the VM's last job when it failed: a failure stays in the list until
// something newer happens to the VM.
function jobCell(row, last) {
  const link = (id, text) => h("a", { href: `${route("jobs")}?job=${encodeURIComponent(id)}` }, text);
  if (row.activeJobId)
    return [badge("InProgress", "running"), " ", link(row.activeJobId, row.activeJobType || "job")];
  if (last && last.state === "Failed") {
    const first = (last.errors || [])[0];
    return h(
      "div",
      { class: "last-failed" },
      badge("Failed", "failed"),
      " ",
      link(last.id, last.type),
      first ? h("div", { class: "muted" }, `${first.code}: ${first.cause}`) : null,
    );
  }
  return h("span", { class: "muted" }, "–");
}

// --- Replicated items ---------------------------------------------------------------------

function itemsPage(main) {
  const live = h("div", { class: "live-region" });
  main.replaceChildren(h("h1", {}, "Replicated items"), live);
  return async (isCurrent) => {
    const [vms, items, jobs] = await Promise.all([read.vms(), read.items(), read.jobs({}, 200)]);
    if (!isCurrent()) return;
    const rows = mergeVms(vms, items);
    const lastJobs = new Map();
    for (const job of jobs.value) if (!lastJobs.has(job.target)) lastJobs.set(job.target, job);
    const counts = {};
    for (const r of rows)
      counts[r.health?.state || "Not protected"] = (counts[r.health?.state || "Not protected"] || 0) + 1;
    const summary = Object.entries(counts)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
    render(
      live,
      h(
        "p",
        { class: "summary" },
        `${rows.length} VM${rows.length === 1 ? "" : "s"}${rows.length ? ": " + summary : ""}.`,
      ),
      rows.length
        ? h(
            "table",
            { class: "items" },
            h(
              "caption",
              { class: "visually-hidden" },
              "Every VM with status, health, RPO, last sync, initial replication and provider",
            ),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                [
                  "VM",
                  "Status",
                  "Replication health",
                  "RPO",
                  "Last sync",
                  "Initial replication",
                  "Provider",
                  "Job",
                ].map((c) => h("th", { scope: "col" }, c)),
              ),
            ),
            h(
              "tbody",
              {},
              rows.map((row) =>
                h(
                  "tr",
                  { "data-vm": row.vm },
                  h(
                    "th",
                    { scope: "row" },
                    vmLink(row),
                    row.record && row.record.present === false
                      ? h("div", { class: "muted" }, "gone from the inventory")
                      : null,
                  ),
                  h("td", {}, badge(row.status)),
                  h("td", {}, healthCell(row.health)),
                  h("td", {}, rpoCell(row)),
                  h(
                    "td",
                    {},
                    row.lastSync
                      ? [timeEl(row.lastSync), h("div", { class: "muted" }, ago(row.lastSync))]
                      : h("span", { class: "muted" }, "–"),
                  ),
                  h("td", {}, progressCell(row)),
                  h("td", {}, row.provider || h("span", { class: "muted" }, "–")),
                  h("td", {}, jobCell(row, lastJobs.get(row.vm))),
                ),
              ),
            ),
          )
        : h("p", {}, "No VM reported yet: the on-premises agent sends its VMM clouds' inventory."),
    );
  };
}

// --- A VM ---------------------------------------------------------------------------------

const watched = new Map(); // vm -> the id of the job an action of this page started

function disksTable(record, item) {
  const replicas = new Map((item?.replicaDisks || []).map((d) => [d.diskId, d]));
  const disks = record?.vm?.disks || [];
  const ids = [...new Set([...disks.map((d) => d.id), ...replicas.keys()])];
  if (!ids.length) return h("p", { class: "muted" }, "No disks reported.");
  const source = new Map(disks.map((d) => [d.id, d]));
  return h(
    "table",
    { class: "disks" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Disk", "Source", "Format", "Virtual size", "Replica", "Replica size"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      ids.map((id) => {
        const d = source.get(id);
        const r = replicas.get(id);
        return h(
          "tr",
          {},
          h("th", { scope: "row" }, id, d?.isOsDisk ? h("span", { class: "muted" }, " (OS)") : null),
          h("td", { class: "path" }, d?.path || r?.sourcePath || "–"),
          h("td", {}, d ? `${d.format}${d.shared ? ", shared" : ""}` : "–"),
          h("td", {}, d ? fmtBytes(d.sizeBytes) : "–"),
          h("td", { class: "path" }, r ? `${r.container}/${r.blob}` : "not replicated"),
          h("td", {}, r ? fmtBytes(r.size) : "–"),
        );
      }),
    ),
  );
}

function failoverView(failover) {
  if (!failover) return null;
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Failover"),
    definitionList([
      ["Type", failover.type],
      ["State", badge(failover.state)],
      ["Recovery point", failover.recoveryPointId],
      ["Azure VM", failover.vmName],
      ["Size", failover.vmSize],
      ["Resource id", h("span", { class: "path" }, failover.vmId || "–")],
      [
        "Disks",
        (failover.disks || []).length
          ? h(
              "ul",
              {},
              failover.disks.map((d) =>
                h("li", {}, `${d.diskId} → `, h("span", { class: "path" }, d.managedDiskId || "–")),
              ),
            )
          : "–",
      ],
    ]),
  );
}

function pointsTable(points) {
  const sorted = pointTimes(points).reverse();
  if (!sorted.length) return null;
  const shown = sorted.slice(0, 12);
  return h(
    "details",
    { class: "points-list", "data-key": "points-list" },
    h("summary", {}, `Recovery points (newest ${shown.length} of ${sorted.length})`),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Time", "Consistency", "Note", "Id"].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      h(
        "tbody",
        {},
        shown.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, timeEl(p.at)),
            h("td", {}, p.consistency === "app" ? "◆ app-consistent" : "● crash-consistent"),
            h("td", {}, p.note || "–"),
            h("td", { class: "path" }, p.id),
          ),
        ),
      ),
    ),
  );
}

function vmPage(main, vmId) {
  const live = h("div", { class: "live-region" });
  const heading = h("h1", {}, vmId);
  main.replaceChildren(h("p", {}, h("a", { href: route("items") }, "← Replicated items")), heading, live);
  return async (isCurrent) => {
    const [item, vms, jobs] = await Promise.all([
      read.item(vmId),
      read.vms(),
      read.jobs({ target: vmId }, 10),
    ]);
    const watchedId = watched.get(vmId);
    const job = watchedId ? await read.job(watchedId) : null;
    if (!isCurrent()) return;
    const record = vms.find((v) => v.vm.id === vmId) || null;
    if (!item && !record) {
      render(live, h("p", { role: "alert" }, `No VM '${vmId}' in this tenant's inventory.`));
      return;
    }
    const vm = item || {
      vm: vmId,
      vmName: record.vm.name,
      status: record.protectionStatus || "NotProtected",
      health: record.health,
      activeJobId: record.activeJobId,
    };
    heading.replaceChildren();
    append(heading, [
      vm.vmName || vmId,
      vm.vmName && vm.vmName !== vmId ? h("span", { class: "muted vm-id" }, ` (${vmId})`) : null,
    ]);
    const policy = item ? policyOf(item) : null;
    const onStarted = (started) => {
      watched.set(vmId, started.id);
      refreshNow();
    };
    render(
      live,
      job ? jobPanel(job) : null,
      h(
        "div",
        { class: "vm-grid" },
        h(
          "div",
          { class: "column" },
          h(
            "section",
            { class: "card" },
            h("h2", {}, "Status"),
            definitionList([
              ["Status", h("span", { id: "vm-status" }, badge(vm.status))],
              ["Replication health", healthCell(vm.health)],
              item && ["RPO", rpoCell(item)],
              item && [
                "Last sync",
                item.lastSync ? [timeEl(item.lastSync), ` (${ago(item.lastSync)})`] : "–",
              ],
              item && ["Initial replication", progressCell(item)],
              item && ["Provider", item.provider || "–"],
              item && [
                "Policy",
                policy
                  ? `${item.policy || "default"}: every ${fmtDuration(policy.intervalSeconds)}, RPO threshold ${fmtDuration(policy.rpoThresholdSeconds)}, points kept ${policy.retentionHours} h`
                  : item.policy || "default",
              ],
              item && [
                "Agent heartbeat",
                item.lastHeartbeat ? [timeEl(item.lastHeartbeat), ` (${ago(item.lastHeartbeat)})`] : "never",
              ],
              record && ["Site / cloud", `${record.site} / ${record.cloud?.name || record.cloud?.id || "–"}`],
              [
                "Running job",
                vm.activeJobId
                  ? h(
                      "a",
                      { href: `${route("jobs")}?job=${encodeURIComponent(vm.activeJobId)}` },
                      vm.activeJobType || vm.activeJobId,
                    )
                  : "none",
              ],
            ]),
            h("h3", {}, "Actions"),
            actionButtons(vm, onStarted),
          ),
          item
            ? h(
                "section",
                { class: "card" },
                h("h2", {}, "Recovery points"),
                pointsTimeline(item.recoveryPoints || []),
                pointsTable(item.recoveryPoints || []),
                h("h2", {}, "RPO over the last day"),
                rpoChart(item.recoveryPoints || [], policy?.rpoThresholdSeconds),
              )
            : null,
        ),
        h(
          "div",
          { class: "column" },
          failoverView(item?.failover),
          h(
            "section",
            { class: "card" },
            h("h2", {}, "Target in Azure"),
            item?.target
              ? definitionList([
                  ["Name", item.target.targetName],
                  ["Size", item.target.targetSize],
                  ["Resource group", item.target.targetResourceGroup],
                  ["Network", item.target.targetNetwork],
                  ["Managed disks", item.target.useManagedDisks === false ? "no" : "yes"],
                ])
              : h("p", { class: "muted" }, "Set when protection is enabled."),
          ),
          h("section", { class: "card" }, h("h2", {}, "Disks"), disksTable(record, item)),
          h(
            "section",
            { class: "card" },
            h("h2", {}, "Recent jobs"),
            jobs.value.length ? jobList(jobs.value) : h("p", { class: "muted" }, "No jobs yet."),
            h(
              "p",
              {},
              h("a", { href: `${route("jobs")}?target=${encodeURIComponent(vmId)}` }, "All jobs of this VM"),
            ),
          ),
        ),
      ),
    );
  };
}

// --- Jobs ---------------------------------------------------------------------------------

const JOB_STATES = ["NotStarted", "InProgress", "Succeeded", "Failed", "Cancelled"];
const openJobs = new Map(); // job id -> open or closed, as the person left it

function jobList(jobs, highlight) {
  return h(
    "ul",
    { class: "jobs" },
    jobs.map((job) => {
      const open = openJobs.has(job.id)
        ? openJobs.get(job.id)
        : job.state === "Failed" || job.id === highlight;
      const details = h(
        "details",
        { class: `job state-${job.state}`, "data-job": job.id, open },
        h("summary", { "data-key": `job:${job.id}` }, jobSummary(job)),
        h(
          "div",
          { class: "job-body" },
          h("p", { class: "muted" }, `Job ${job.id}`),
          stepsTable(job.steps),
          job.errors && job.errors.length
            ? h("div", { class: "job-errors" }, h("h4", {}, "Errors"), job.errors.map(errorBlock))
            : null,
        ),
      );
      details.addEventListener("toggle", () => openJobs.set(job.id, details.open));
      return h("li", {}, details);
    }),
  );
}

function jobsPage(main, params) {
  const filter = { state: params.get("state") || "", target: params.get("target") || "" };
  const highlight = params.get("job") || "";
  let extra = [];
  let nextLink = null;
  const live = h("div", { class: "live-region" });
  const stateSelect = h(
    "select",
    { id: "filter-state", name: "state" },
    h("option", { value: "" }, "any"),
    JOB_STATES.map((s) => h("option", { value: s, selected: s === filter.state }, s)),
  );
  const vmSelect = h("select", { id: "filter-target", name: "target" }, h("option", { value: "" }, "any"));
  const onChange = () => {
    filter.state = stateSelect.value;
    filter.target = vmSelect.value;
    extra = [];
    history.replaceState(
      null,
      "",
      `${route("jobs")}${query({ state: filter.state, target: filter.target })}`,
    );
    refreshNow();
  };
  stateSelect.addEventListener("change", onChange);
  vmSelect.addEventListener("change", onChange);
  main.replaceChildren(
    h("h1", {}, "Jobs"),
    h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "filter-state" }, "State "),
      stateSelect,
      h("label", { for: "filter-target" }, " VM "),
      vmSelect,
    ),
    live,
  );
  read.vms().then(
    (vms) => {
      const ids = new Set(vms.map((v) => v.vm.id));
      if (filter.target) ids.add(filter.target);
      vmSelect.append(
        ...[...ids].sort().map((id) => h("option", { value: id, selected: id === filter.target }, id)),
      );
    },
    () => {},
  );
  const more = async () => {
    if (!nextLink) return;
    const page = await api("GET", nextLink);
    extra = extra.concat(page.value || []);
    nextLink = page.nextLink || null;
    refreshNow();
  };
  return async (isCurrent) => {
    const page = await read.jobs(filter);
    let highlighted = null;
    if (highlight && !page.value.some((j) => j.id === highlight))
      highlighted = await read.job(highlight).catch(() => null);
    if (!isCurrent()) return;
    if (!extra.length) nextLink = page.nextLink || null;
    const seen = new Set();
    const jobs = [...(highlighted ? [highlighted] : []), ...page.value, ...extra].filter(
      (j) => !seen.has(j.id) && seen.add(j.id),
    );
    render(
      live,
      h(
        "p",
        { class: "summary" },
        `${jobs.length} job${jobs.length === 1 ? "" : "s"}${filter.state ? ` in state ${filter.state}` : ""}${filter.target ? ` of ${filter.target}` : ""}, newest first.`,
      ),
      jobs.length ? jobList(jobs, highlight) : h("p", {}, "No jobs match."),
      nextLink ? h("button", { type: "button", "data-key": "more-jobs", onclick: more }, "Show more") : null,
    );
  };
}

// --- Recovery plans and alerts: shown when this release serves them ------------------------

function notAvailable(what, route_) {
  return h(
    "div",
    { class: "card not-available", role: "note" },
    h("p", {}, h("strong", {}, `${what} are not available in this release.`)),
    h("p", { class: "muted" }, `The API does not serve GET /api${route_}; this page lights up when it does.`),
  );
}

// Any object the API returns, as terms and values (for shapes this console only lists).
function plainFacts(object, skip = []) {
  return definitionList(
    Object.entries(object || {})
      .filter(([k]) => !skip.includes(k))
      .map(([k, v]) => [k, v !== null && typeof v === "object" ? JSON.stringify(v) : String(v)]),
  );
}

async function optionalList(path) {
  try {
    const body = await api("GET", tenantPath(path));
    return Array.isArray(body) ? body : body?.value || [];
  } catch (error) {
    if (error instanceof Problem && error.routeMissing) return null;
    throw error;
  }
}

function planView(plan, drills) {
  const name = plan.name || plan.id;
  const groups = plan.groups || [];
  return h(
    "section",
    { class: "card plan", "data-plan": name },
    h("h2", {}, name, plan.health ? [" ", badge(plan.health.state || plan.health)] : null),
    plainFacts(plan, ["name", "id", "groups", "health", "tenant"]),
    h("h3", {}, "Groups, in failover order"),
    groups.length
      ? h(
          "ol",
          { class: "groups" },
          groups.map((g, i) =>
            h(
              "li",
              {},
              h("strong", {}, g.name || `Group ${i + 1}`),
              h(
                "ul",
                {},
                (g.vms || []).map((v) => {
                  const id = typeof v === "string" ? v : v.vm || v.id;
                  return h("li", {}, h("a", { href: route("vm", id) }, id));
                }),
              ),
              [...(g.preActions || []), ...(g.postActions || []), ...(g.actions || [])].map((a) =>
                h("div", { class: "muted" }, `Action: ${a.name || a.type || JSON.stringify(a)}`),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No groups."),
    h("h3", {}, "Last drills"),
    drills.length ? jobList(drills) : h("p", { class: "muted" }, "No drill yet."),
  );
}

function plansPage(main) {
  const live = h("div", { class: "live-region" });
  main.replaceChildren(h("h1", {}, "Recovery plans"), live);
  return async (isCurrent) => {
    const template = "/tenants/{tenant}/recovery-plans";
    const plans = serves(template) ? await optionalList("recovery-plans") : null;
    if (!isCurrent()) return;
    if (plans === null) {
      render(live, notAvailable("Recovery plans and drills", template));
      return;
    }
    const views = [];
    for (const plan of plans) {
      const jobs = await read.jobs({ target: plan.name || plan.id }, 20);
      views.push(planView(plan, jobs.value.filter((j) => /Drill/i.test(j.type)).slice(0, 5)));
    }
    if (!isCurrent()) return;
    render(live, plans.length ? views : h("p", {}, "No recovery plans yet."));
  };
}

function alertsPage(main) {
  const live = h("div", { class: "live-region" });
  main.replaceChildren(h("h1", {}, "Alerts and auto-failover"), live);
  return async (isCurrent) => {
    const template = "/tenants/{tenant}/auto-failover-rules";
    const rules = serves(template) ? await optionalList("auto-failover-rules") : null;
    if (!isCurrent()) return;
    if (rules === null) {
      render(live, notAvailable("Auto-failover rules and their decisions", template));
      return;
    }
    const jobs = await listAll(tenantPath("jobs?top=200"), 1);
    if (!isCurrent()) return;
    const decisions = jobs.filter((j) => j.startedBy === "alert");
    render(
      live,
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Rules"),
        rules.length
          ? rules.map((r) =>
              h(
                "div",
                { class: "rule" },
                h("h3", {}, r.name || r.id),
                plainFacts(r, ["name", "id", "tenant"]),
              ),
            )
          : h("p", {}, "No rules."),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Decisions, with their evidence"),
        decisions.length ? jobList(decisions) : h("p", {}, "No alert has started anything."),
      ),
    );
  };
}

// --- Sign-in: which tenant, with which key ------------------------------------------------

function signInPage(main, problem) {
  const tenantInput = h("input", {
    id: "signin-tenant",
    name: "tenant",
    type: "text",
    value: session.tenant,
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const keyInput = h("input", {
    id: "signin-key",
    name: "key",
    type: "password",
    value: session.key,
    autocomplete: "off",
    required: true,
  });
  const form = h(
    "form",
    { class: "card signin", novalidate: true },
    h("h1", {}, "Open the console"),
    h("p", {}, "The tenant, and its key (the runbooks' x-functions-key). The key stays in this browser tab."),
    field("Tenant", tenantInput),
    field("Key", keyInput),
    h("div", { class: "problem", role: "alert", hidden: true }),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Open")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    remember(tenantInput.value.trim(), keyInput.value.trim());
    try {
      await api("GET", tenantPath("vms?top=1"));
      if (location.hash.startsWith("#/") && !location.hash.startsWith("#/signin")) navigate();
      else location.hash = route("items");
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      const slot = form.querySelector("#signin-key-error");
      slot.hidden = false;
      slot.append(errorBlock(error));
      keyInput.setAttribute("aria-invalid", "true");
      keyInput.setAttribute("aria-describedby", "signin-key-error");
      keyInput.focus();
    }
  });
  main.replaceChildren(form);
  if (problem) {
    const slot = form.querySelector("#signin-key-error");
    slot.hidden = false;
    slot.append(errorBlock(problem));
  }
  (session.tenant ? keyInput : tenantInput).focus();
}

// Signed in with Entra ID but refused (no tenant for this sign-in, or the sign-in expired):
// the answer, and no key form, since a key is not how this console is opened.
function signedInRefusedPage(main, problem) {
  const box = document.getElementById("tenant");
  box.replaceChildren(h("span", { id: "signed-in" }, "Signed in as ", h("strong", {}, session.operator)));
  main.replaceChildren(
    h(
      "div",
      { class: "card signin" },
      h("h1", {}, "The console cannot open"),
      h("div", { class: "problem", role: "alert" }, problem ? errorBlock(problem) : null),
      h("p", {}, "Reload the page to sign in again."),
    ),
  );
  main.focus();
}
