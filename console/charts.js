// Inline SVG: the recovery points on a time line, and the RPO over the last day derived from
// the points' times (the RPO at any moment is the age of the newest point taken before it).
// Each chart comes with its own words: a summary in text, so nothing depends on seeing it.

const DAY = 86400;

function pointTimes(points) {
  return points
    .map((p) => ({ ...p, at: asDate(p.time) }))
    .filter((p) => p.at)
    .sort((a, b) => a.at - b.at);
}

// The RPO as a saw: 0 at each point, rising by one second a second until the next one. The
// chart covers the last 24 hours, or less when retention keeps no older point: before the
// oldest point kept, the RPO is not known.
function rpoSeries(points, now, windowSeconds = DAY) {
  const times = pointTimes(points).map((p) => p.at.getTime() / 1000);
  const end = now.getTime() / 1000;
  const start = times.length
    ? Math.max(end - windowSeconds, Math.min(times[0], end - 60))
    : end - windowSeconds;
  const series = [];
  for (let i = 0; i < times.length; i += 1) {
    const from = times[i];
    const to = i + 1 < times.length ? times[i + 1] : end;
    if (to < start) continue;
    const visibleFrom = Math.max(from, start);
    series.push([visibleFrom, visibleFrom - from]);
    series.push([to, to - from]);
  }
  return { start, end, series };
}

function rpoSummary(data, threshold) {
  if (!data.series.length) return "No recovery point yet: the RPO starts with the first one.";
  let worst = 0;
  let over = 0;
  for (let i = 0; i + 1 < data.series.length; i += 2) {
    const r0 = data.series[i][1];
    const r1 = data.series[i + 1][1];
    worst = Math.max(worst, r1);
    if (threshold) over += Math.max(0, r1 - Math.max(r0, threshold));
  }
  const since = fmtTime(new Date(data.series[0][0] * 1000));
  const parts = [`Highest RPO ${fmtDuration(worst)} since ${since}`];
  if (threshold) {
    parts.push(
      over > 0
        ? `over the ${fmtDuration(threshold)} threshold for ${fmtDuration(over)}`
        : `never over the ${fmtDuration(threshold)} threshold`,
    );
  }
  return parts.join(", ") + ".";
}

// Axis words that fit: 45s, 5m, 2h.
function shortDuration(seconds) {
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

function rpoChart(points, threshold, now = new Date()) {
  const width = 720;
  const height = 180;
  const left = 44;
  const right = 16;
  const top = 12;
  const bottom = 28;
  const data = rpoSeries(points, now);
  const peak = Math.max(threshold || 0, ...data.series.map(([, r]) => r), 60) * 1.1;
  const x = (t) => left + ((t - data.start) / (data.end - data.start)) * (width - left - right);
  const y = (r) => top + (1 - r / peak) * (height - top - bottom);
  const svg = h("svg:svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-labelledby": "rpo-chart-summary",
  });
  svg.append(
    h("svg:rect", {
      x: left,
      y: top,
      width: width - left - right,
      height: height - top - bottom,
      class: "plot",
    }),
  );
  for (const r of [0, peak / 2.2, peak / 1.1]) {
    svg.append(
      h("svg:text", { x: left - 6, y: y(r) + 4, class: "tick", "text-anchor": "end" }, shortDuration(r)),
    );
  }
  const ticks = 6;
  for (let i = 0; i <= ticks; i += 1) {
    const t = data.start + ((data.end - data.start) * i) / ticks;
    const d = new Date(t * 1000);
    const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
    svg.append(
      h(
        "svg:text",
        { x: x(t), y: height - 8, class: "tick", "text-anchor": anchor },
        data.end - data.start < 7200
          ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
          : `${pad(d.getHours())}:${pad(d.getMinutes())}`,
      ),
    );
  }
  if (threshold) {
    svg.append(
      h("svg:line", { x1: left, x2: width - right, y1: y(threshold), y2: y(threshold), class: "threshold" }),
    );
    svg.append(
      h(
        "svg:text",
        { x: width - right - 4, y: y(threshold) - 4, class: "note", "text-anchor": "end" },
        `threshold ${fmtDuration(threshold)}`,
      ),
    );
  }
  if (data.series.length) {
    const path = data.series
      .map(([t, r], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(r).toFixed(1)}`)
      .join(" ");
    svg.append(h("svg:path", { d: path, class: "rpo-line" }));
  }
  const span = data.end - data.start;
  const window =
    span >= DAY - 1 ? "the last 24 hours" : `the last ${fmtDuration(span)} (no older recovery point is kept)`;
  return h(
    "figure",
    { class: "figure" },
    svg,
    h(
      "figcaption",
      { id: "rpo-chart-summary" },
      `RPO over ${window}, from the recovery points' times. `,
      rpoSummary(data, threshold),
    ),
  );
}

// The recovery points kept, oldest to newest: a circle for crash-consistent, a diamond for
// app-consistent (the legend says so in words).
function pointsTimeline(points, now = new Date()) {
  const sorted = pointTimes(points);
  const width = 720;
  const height = 64;
  const left = 12;
  const right = 12;
  const mid = 26;
  if (!sorted.length) return h("p", { class: "muted" }, "No recovery points yet.");
  const start = sorted[0].at.getTime();
  const end = Math.max(now.getTime(), start + 1000);
  const x = (t) => left + ((t - start) / (end - start)) * (width - left - right);
  const svg = h("svg:svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart timeline",
    role: "img",
    "aria-labelledby": "timeline-summary",
  });
  svg.append(h("svg:line", { x1: left, x2: width - right, y1: mid, y2: mid, class: "axis" }));
  for (const p of sorted) {
    const cx = x(p.at.getTime());
    const label = `${fmtTime(p.at)} ${p.consistency}-consistent${p.note ? ": " + p.note : ""}`;
    const mark =
      p.consistency === "app"
        ? h("svg:rect", {
            x: cx - 6,
            y: mid - 6,
            width: 12,
            height: 12,
            transform: `rotate(45 ${cx} ${mid})`,
            class: "point app",
          })
        : h("svg:circle", { cx, cy: mid, r: 4.5, class: p.note ? "point crash noted" : "point crash" });
    mark.append(h("svg:title", {}, label));
    svg.append(mark);
  }
  svg.append(h("svg:text", { x: left, y: height - 6, class: "tick" }, fmtTime(sorted[0].at)));
  svg.append(
    h(
      "svg:text",
      { x: width - right, y: height - 6, class: "tick", "text-anchor": "end" },
      `now ${fmtTime(now)}`,
    ),
  );
  const app = sorted.filter((p) => p.consistency === "app").length;
  const noted = sorted.filter((p) => p.note).length;
  return h(
    "figure",
    { class: "figure" },
    svg,
    h(
      "figcaption",
      { id: "timeline-summary" },
      h(
        "span",
        { class: "legend" },
        h("span", { class: "shape circle", "aria-hidden": "true" }),
        " crash-consistent",
      ),
      h(
        "span",
        { class: "legend" },
        h("span", { class: "shape diamond", "aria-hidden": "true" }),
        " app-consistent",
      ),
      noted
        ? h(
            "span",
            { class: "legend" },
            h("span", { class: "shape circle noted", "aria-hidden": "true" }),
            " with the agent's note on its consistency",
          )
        : null,
      ` ${sorted.length} points kept, ${app} app-consistent${noted ? `, ${noted} with a note` : ""}; newest ${fmtTime(sorted[sorted.length - 1].at)}.`,
    ),
  );
}
