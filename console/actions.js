// What an operator may do to a VM: the replicated item's allowedOperations (ASR's names), each
// behind a dialog that says what will happen and asks for confirmation, then shows its job.

const POLICIES = JSON.parse(document.getElementById("policies").textContent || "{}");

const FAILOVER = "/tenants/{tenant}/vms/{vm}/failover";

const OPERATIONS = {
  EnableProtection: {
    label: "Enable protection",
    route: "/tenants/{tenant}/vms/{vm}/protection",
    method: "POST",
    path: "protection",
    enable: true,
  },
  TestFailover: {
    label: "Test failover",
    route: FAILOVER,
    path: "failover",
    body: { type: "test" },
    point: true,
    text: "Creates an isolated Azure VM from the chosen recovery point. Replication goes on; clean the test up when you are done.",
  },
  TestFailoverCleanup: {
    label: "Clean up test failover",
    route: `${FAILOVER}/cleanup`,
    path: "failover/cleanup",
    text: "Deletes the test VM, its disks and network interface. The recovery point is released.",
  },
  PlannedFailover: {
    label: "Planned failover",
    route: FAILOVER,
    path: "failover",
    body: { type: "planned", recoveryPoint: "latest" },
    danger: true,
    text: "Shuts the source VM down after a final sync, then starts it in Azure from that last point: no data is lost, the on-premises VM stops.",
  },
  UnplannedFailover: {
    label: "Unplanned failover",
    route: FAILOVER,
    path: "failover",
    body: { type: "unplanned" },
    point: true,
    danger: true,
    text: "Starts the VM in Azure now from the chosen recovery point, without a final sync: changes made after that point are lost.",
  },
  ChangePit: {
    label: "Change recovery point",
    route: `${FAILOVER}/recovery-point`,
    path: "failover/recovery-point",
    body: {},
    point: true,
    text: "Recreates the failed-over VM from another recovery point.",
  },
  Commit: {
    label: "Commit failover",
    route: `${FAILOVER}/commit`,
    path: "failover/commit",
    danger: true,
    text: "Makes the failover final: the recovery point in use can no longer be changed and the other points are released.",
  },
  CancelFailover: {
    label: "Cancel failover",
    route: `${FAILOVER}/cancel`,
    path: "failover/cancel",
    text: "Removes the Azure VM of this failover; the VM goes back to being protected.",
  },
  Failback: {
    label: "Fail back",
    route: "/tenants/{tenant}/vms/{vm}/failback",
    path: "failback",
    body: { dataSync: "whileRunning" },
    check: {
      name: "completeOnApproval",
      label: "Wait for my approval (on the job) before the Azure VM is shut down",
    },
    danger: true,
    text: "Copies the Azure VM's changes back on premises while it runs, then shuts it down, copies the rest and starts the on-premises VM. Commit the failback when the VM runs well.",
  },
  CommitFailback: {
    label: "Commit failback",
    route: "/tenants/{tenant}/vms/{vm}/failback/commit",
    path: "failback/commit",
    danger: true,
    text: "Makes the failback final: the on-premises VM is the VM again and Site Recovery removes what the failover made in Azure. Nothing replicates until you reprotect.",
  },
  ReProtect: {
    label: "Reprotect",
    route: "/tenants/{tenant}/vms/{vm}/reprotect",
    path: "reprotect",
    text: "Starts replicating the on-premises VM to Azure again (reverse replication); the VM is protected once it ends.",
  },
  DisableProtection: {
    label: "Disable protection",
    route: "/tenants/{tenant}/vms/{vm}/protection",
    method: "DELETE",
    path: "protection",
    danger: true,
    replica: true,
    text: "Stops replication and removes the VM's protection. Its recovery points are kept unless you delete the replica too.",
  },
};

// allowedOperations as the API lists them. An item of a release that does not list them yet
// gets what that release serves: enable when unprotected, disable otherwise (never while busy).
function operationsFor(vm) {
  if (Array.isArray(vm.allowedOperations)) return vm.allowedOperations;
  if (vm.activeJobId) return [];
  return vm.status === "NotProtected" ? ["EnableProtection"] : ["DisableProtection"];
}

function actionButtons(vm, onStarted) {
  const names = operationsFor(vm);
  if (!names.length) {
    const why = vm.activeJobId
      ? `Busy with job ${vm.activeJobId}: no other operation until it ends.`
      : "No operation is allowed in this status.";
    return h("p", { class: "muted" }, why);
  }
  const missing = names.filter((name) => OPERATIONS[name] && !serves(OPERATIONS[name].route));
  return h(
    "div",
    { class: "actions", role: "group", "aria-label": "Operations" },
    names.map((name) => {
      const op = OPERATIONS[name];
      if (!op)
        return h("button", { type: "button", disabled: true, title: "Not known to this console" }, name);
      const served = serves(op.route);
      return h(
        "button",
        {
          type: "button",
          class: op.danger ? "danger" : "",
          "data-key": `action:${name}`,
          "data-operation": name,
          disabled: !served,
          title: served ? null : "Not available in this release",
          onclick: () => (op.enable ? openEnable(vm, onStarted) : openOperation(vm, name, onStarted)),
        },
        op.label,
      );
    }),
    missing.length
      ? h(
          "p",
          { class: "muted" },
          `Not in this release: ${missing.map((n) => OPERATIONS[n].label).join(", ")}.`,
        )
      : null,
  );
}

// --- the dialog ---------------------------------------------------------------------------

const dialog = document.getElementById("dialog");

function field(label, input, hint) {
  const id = input.getAttribute("id");
  return h(
    "div",
    { class: "field", "data-field": input.getAttribute("name") },
    h("label", { for: id }, label),
    input,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true }),
  );
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const top = form.querySelector(".problem");
  top.hidden = true;
  top.replaceChildren();
}

// The API's problem, each error beside the field it names (InvalidField says "field: ...").
function showProblem(form, problem) {
  const general = [];
  for (const error of problem.errors) {
    const match = /^([A-Za-z][A-Za-z0-9_]*)[.:]/.exec(error.cause || "");
    const input = match && form.querySelector(`[name="${match[1]}"]`);
    if (input) {
      const slot = form.querySelector(`#${input.id}-error`);
      slot.hidden = false;
      slot.append(errorBlock(error));
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${input.id}-error`);
    } else {
      general.push(error);
    }
  }
  const top = form.querySelector(".problem");
  if (general.length) {
    top.hidden = false;
    top.append(
      h("p", {}, `The control plane refused (${problem.status || "no answer"}):`),
      general.map(errorBlock),
    );
  }
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
}

function openDialog({ title, intro, fields, confirm, danger, submit, extra }) {
  const form = h(
    "form",
    { class: "dialog-form", novalidate: true },
    h("h2", { id: "dialog-title" }, title),
    intro ? h("p", { class: "intro" }, intro) : null,
    fields || [],
    extra || null,
    h("div", { class: "problem", role: "alert", hidden: true }),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", "data-role": "cancel", onclick: () => dialog.close() }, "Cancel"),
      h("button", { type: "submit", class: danger ? "danger" : "primary", "data-role": "confirm" }, confirm),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("[data-role=confirm]");
    button.disabled = true;
    button.textContent = "Working…";
    try {
      await submit(form);
      dialog.close();
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      showProblem(form, error);
    } finally {
      button.disabled = false;
      button.textContent = confirm;
    }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
  const first = form.querySelector("input, select, button[type=submit]");
  if (first) first.focus();
  return form;
}

function pointSelect(vm) {
  const options = [
    h("option", { value: "latest" }, "Latest (processed)"),
    h("option", { value: "latestAppConsistent" }, "Latest app-consistent"),
  ];
  const points = pointTimes(vm.recoveryPoints || []).reverse();
  for (const p of points) {
    options.push(
      h(
        "option",
        { value: p.id },
        `${fmtTime(p.at)} · ${p.consistency}-consistent${p.note ? " (note)" : ""}`,
      ),
    );
  }
  return h("select", { id: "op-point", name: "recoveryPoint" }, options);
}

async function startJob(method, vm, path, body, onStarted) {
  const job = await api(method, tenantPath(`vms/${encodeURIComponent(vm.vm)}/${path}`), body);
  onStarted(job);
  return job;
}

function openOperation(vm, name, onStarted) {
  const op = OPERATIONS[name];
  const fields = [];
  if (op.point) fields.push(field("Recovery point", pointSelect(vm)));
  if (op.replica) {
    fields.push(
      h(
        "div",
        { class: "field checkbox", "data-field": "deleteReplica" },
        h("input", { type: "checkbox", id: "op-delete-replica", name: "deleteReplica" }),
        h("label", { for: "op-delete-replica" }, "Also delete the replica and its recovery points"),
        h("p", { class: "field-error", id: "op-delete-replica-error", role: "alert", hidden: true }),
      ),
    );
  }
  if (op.check) {
    fields.push(
      h(
        "div",
        { class: "field checkbox", "data-field": op.check.name },
        h("input", { type: "checkbox", id: "op-check", name: op.check.name }),
        h("label", { for: "op-check" }, op.check.label),
        h("p", { class: "field-error", id: "op-check-error", role: "alert", hidden: true }),
      ),
    );
  }
  openDialog({
    title: `${op.label}: ${vm.vmName || vm.vm}`,
    intro: op.text,
    fields,
    confirm: op.label,
    danger: op.danger,
    submit: (form) => {
      let body = op.body ? { ...op.body } : undefined;
      if (op.point) body = { ...(body || {}), recoveryPoint: form.elements.recoveryPoint.value };
      if (op.replica) body = { deleteReplica: form.elements.deleteReplica.checked };
      if (op.check) body = { ...(body || {}), [op.check.name]: form.elements[op.check.name].checked };
      return startJob(op.method || "POST", vm, op.path, body, onStarted);
    },
  });
}

// --- enable protection, with the preflight as a live preview -----------------------------

function enableBody(form) {
  const body = {};
  for (const name of [
    "targetName",
    "targetSize",
    "targetResourceGroup",
    "targetNetwork",
    "policy",
    "provider",
  ]) {
    const value = form.elements[name].value.trim();
    if (value) body[name] = value;
  }
  body.useManagedDisks = form.elements.useManagedDisks.checked;
  return body;
}

function preflightView(report) {
  if (report.passed) {
    return h(
      "div",
      { class: "preflight passed" },
      badge("Succeeded", "Preflight passed"),
      ` Fails over as ${report.targetName}, size ${report.targetSize || "none fits"} (profile ${report.profile}, provider ${report.provider}).`,
    );
  }
  return h(
    "div",
    { class: "preflight failed" },
    badge(
      "Failed",
      `${report.failures.length} prerequisite${report.failures.length === 1 ? "" : "s"} not met`,
    ),
    ` Profile ${report.profile}, provider ${report.provider}. Protection would be refused:`,
    h(
      "ul",
      {},
      report.failures.map((f) => h("li", {}, errorBlock(f))),
    ),
  );
}

function openEnable(vm, onStarted) {
  const text = (id, name, label, value, hint) =>
    field(
      label,
      h("input", { id, name, type: "text", value: value || "", autocomplete: "off", spellcheck: "false" }),
      hint,
    );
  const policyOptions = [h("option", { value: "" }, "default")].concat(
    Object.entries(POLICIES)
      .filter(([name]) => name !== "default")
      .map(([name, p]) =>
        h(
          "option",
          { value: name },
          `${name} (every ${fmtDuration(p.intervalSeconds)}, RPO threshold ${fmtDuration(p.rpoThresholdSeconds)})`,
        ),
      ),
  );
  const preview = h(
    "div",
    { class: "preview", "aria-live": "polite", "data-role": "preflight" },
    "Checking prerequisites…",
  );
  let asked = 0;
  const form = openDialog({
    title: `Enable protection: ${vm.vmName || vm.vm}`,
    intro:
      "Replicates the VM's disks to Azure. The prerequisite check below runs as you type; nothing is changed until you enable.",
    fields: [
      text(
        "op-target-name",
        "targetName",
        "Target VM name",
        vm.vmName && /^[A-Za-z0-9-]+$/.test(vm.vmName) ? vm.vmName : "",
        "1–63 letters, digits and hyphens; empty: the VM's name.",
      ),
      text(
        "op-target-size",
        "targetSize",
        "Target size",
        "",
        "e.g. Standard_D2s_v5; empty: the smallest size that fits.",
      ),
      field("Replication policy", h("select", { id: "op-policy", name: "policy" }, policyOptions)),
      field(
        "Provider",
        h(
          "select",
          { id: "op-provider", name: "provider" },
          h("option", { value: "direct" }, "direct (the agent replicates)"),
          h("option", { value: "asr" }, "asr (Azure Site Recovery)"),
        ),
      ),
      text("op-target-rg", "targetResourceGroup", "Target resource group", "", "Optional."),
      text("op-target-network", "targetNetwork", "Target network", "", "Optional."),
      h(
        "div",
        { class: "field checkbox", "data-field": "useManagedDisks" },
        h("input", { type: "checkbox", id: "op-managed", name: "useManagedDisks", checked: true }),
        h("label", { for: "op-managed" }, "Use managed disks"),
        h("p", { class: "field-error", id: "op-managed-error", role: "alert", hidden: true }),
      ),
    ],
    extra: h(
      "section",
      { class: "preflight-box", "aria-label": "Preflight" },
      h("h3", {}, "Preflight"),
      preview,
    ),
    confirm: "Enable protection",
    submit: (form) => startJob("POST", vm, "protection", enableBody(form), onStarted),
  });
  const check = async () => {
    const mine = ++asked;
    clearErrors(form);
    preview.replaceChildren("Checking prerequisites…");
    try {
      const report = await api(
        "POST",
        tenantPath(`vms/${encodeURIComponent(vm.vm)}/preflight`),
        enableBody(form),
      );
      if (mine === asked) preview.replaceChildren(preflightView(report));
    } catch (error) {
      if (mine !== asked || !(error instanceof Problem)) return;
      preview.replaceChildren(
        h("p", {}, "Preflight could not run with these values; see the fields marked."),
      );
      showProblem(form, error);
    }
  };
  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  });
  check();
}

// --- a job, followed in place ---------------------------------------------------------------

function stepsTable(steps) {
  if (!steps || !steps.length) return h("p", { class: "muted" }, "No steps yet.");
  return h(
    "table",
    { class: "steps" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Step"),
        h("th", { scope: "col" }, "State"),
        h("th", { scope: "col" }, "Started"),
        h("th", { scope: "col" }, "Took"),
      ),
    ),
    h(
      "tbody",
      {},
      steps.map((s) => [
        h(
          "tr",
          { "data-step": s.name },
          h("td", {}, s.name),
          h("td", {}, badge(s.state)),
          h("td", {}, timeEl(s.startTime)),
          h(
            "td",
            {},
            s.endTime && s.startTime
              ? fmtDuration((asDate(s.endTime) - asDate(s.startTime)) / 1000)
              : s.startTime
                ? `running ${ago(s.startTime).replace(" ago", "")}`
                : "–",
          ),
        ),
        s.errors && s.errors.length
          ? h("tr", { class: "step-errors" }, h("td", { colspan: 4 }, s.errors.map(errorBlock)))
          : null,
      ]),
    ),
  );
}

function jobSummary(job) {
  const took = job.endTime
    ? fmtDuration((asDate(job.endTime) - asDate(job.startTime)) / 1000)
    : `running for ${ago(job.startTime).replace(" ago", "")}`;
  return [
    h("span", { class: "job-type" }, job.type),
    " ",
    h("span", { class: "job-target" }, job.target),
    " ",
    badge(job.state),
    " ",
    h("span", { class: "muted" }, `started ${fmtTime(job.startTime)} by ${job.startedBy || "?"}, ${took}`),
  ];
}

function jobPanel(job) {
  return h(
    "section",
    { class: "job-panel", "aria-label": `Job ${job.id}`, "data-job": job.id },
    h("h3", {}, "Job ", h("a", { href: `${route("jobs")}?job=${encodeURIComponent(job.id)}` }, job.id)),
    h("p", {}, jobSummary(job)),
    stepsTable(job.steps),
    job.errors && job.errors.length
      ? h("div", { class: "job-errors" }, h("h4", {}, "Errors"), job.errors.map(errorBlock))
      : null,
  );
}
