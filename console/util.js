// Building the page from data. Everything the API returns is hostile input (VM names come
// from on-premises agents): it only ever reaches the page as text nodes and attribute values
// set through the DOM, never as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

// h("tag", {attr: value, onclick: fn}, ...children): an element; strings become text nodes.
function h(tag, attrs, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value === "function") el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Links inside the page: the route and its parts, each part encoded.
function route(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
}

// --- formatting -------------------------------------------------------------------------

function pad(n) {
  return String(n).padStart(2, "0");
}

function asDate(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

// Local time: the time of day for today, the date too otherwise; the exact ISO time on hover.
function fmtTime(value) {
  const d = asDate(value);
  if (!d) return "–";
  const now = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

function timeEl(value) {
  const d = asDate(value);
  if (!d) return h("span", { class: "muted" }, "–");
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, fmtTime(d));
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  if (s < 86400) {
    const hours = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return m ? `${hours} h ${m} min` : `${hours} h`;
  }
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  return hours ? `${days} d ${hours} h` : `${days} d`;
}

function ago(value) {
  const d = asDate(value);
  if (!d) return "";
  return `${fmtDuration((Date.now() - d.getTime()) / 1000)} ago`;
}

function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

// --- status at a glance: a colour, a symbol and the word, never the colour alone ----------

const TONE_SYMBOL = { ok: "✓", warn: "▲", bad: "✕", busy: "↻", idle: "•" };

const STATUS_TONE = {
  Protected: "ok",
  TestFailoverSucceeded: "ok",
  FailoverCommitted: "ok",
  Succeeded: "ok",
  Normal: "ok",
  Warning: "warn",
  ResynchronizationRequired: "warn",
  FailedOver: "warn",
  FailedBack: "warn",
  FailbackCommitted: "warn",
  Cancelled: "warn",
  Critical: "bad",
  Failed: "bad",
  TestFailoverFailed: "bad",
  NotProtected: "idle",
  NotStarted: "idle",
};

function tone(status) {
  if (STATUS_TONE[status]) return STATUS_TONE[status];
  if (/InProgress|Pending|Waiting|Disabling/.test(String(status))) return "busy";
  return "idle";
}

function badge(status, label) {
  const t = tone(status);
  return h(
    "span",
    { class: `badge tone-${t}`, "data-status": status },
    h("span", { "aria-hidden": "true", class: "symbol" }, TONE_SYMBOL[t]),
    " ",
    label || status || "–",
  );
}

// An error in the team's shape: code, cause, the fix, and where a limit comes from.
function errorBlock(error) {
  return h(
    "div",
    { class: "error-info" },
    h("strong", { class: "code" }, error.code || "Error"),
    ": ",
    h("span", { class: "cause" }, error.cause || error.detail || ""),
    error.recommendation
      ? h("div", { class: "fix" }, h("span", { class: "label" }, "Fix: "), error.recommendation)
      : null,
    error.source
      ? h("div", { class: "source" }, h("span", { class: "label" }, "Source: "), error.source)
      : null,
  );
}

function definitionList(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]),
  );
}
