// A run's Gantt chart: one row per step (in DAG order), one bar per attempt
// from its start to its end (or now, while it runs). Retries sit side by side
// on their step's row, lost attempts are hatched, and the bars of the critical
// path (the chain of steps that decided when the run ended) are outlined.
// Every bar carries data-step, data-attempt and data-status.
import { svg } from "../dom.js";
import { duration, glyph, label } from "../format.js";

const ROW = 20;
const LABEL_W = 170;
const PLOT_W = 760;
const AXIS_H = 22;

function niceStep(span) {
  const target = span / 6;
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000,
    900000, 1800000, 3600000, 7200000, 10800000, 21600000, 43200000, 86400000];
  return steps.find((s) => s >= target) || steps[steps.length - 1];
}

// steps: the run's steps (with their attempts) in the order to draw them;
// critical: a Set of step names.
export function ganttChart(steps, critical, now = Date.now()) {
  const times = [];
  for (const s of steps) {
    for (const a of s.attempts) {
      times.push(new Date(a.started_at).getTime());
      times.push(a.finished_at ? new Date(a.finished_at).getTime() : now);
    }
  }
  const t0 = times.length ? Math.min(...times) : now;
  const t1 = Math.max(t0 + 1000, ...times);
  const x = (t) => LABEL_W + ((t - t0) / (t1 - t0)) * PLOT_W;
  const height = AXIS_H + steps.length * ROW + 4;
  const width = LABEL_W + PLOT_W + 10;

  const tick = niceStep(t1 - t0);
  const axis = svg("g", { class: "axis" });
  for (let t = 0; t <= t1 - t0; t += tick) {
    const px = x(t0 + t);
    axis.append(svg("line", { x1: px, x2: px, y1: AXIS_H - 4, y2: height }),
      svg("text", { x: px + 2, y: 12 }, `+${duration(t)}`));
  }

  const rows = steps.map((s, i) => {
    const y = AXIS_H + i * ROW;
    const onPath = critical.has(s.step);
    const row = svg("g", { class: "row", "data-row": s.step },
      svg("rect", { class: "rowbg", x: 0, y, width, height: ROW }),
      svg("text", { class: ["label", onPath ? "critical" : null], x: LABEL_W - 8, y: y + 14, "text-anchor": "end" },
        `${s.step.length > 24 ? `${s.step.slice(0, 23)}…` : s.step} ${glyph(s.status)}`,
        svg("title", {}, `${s.step}: ${label(s.status)}${onPath ? " (critical path)" : ""}`)));
    if (!s.attempts.length) {
      row.append(svg("text", { x: LABEL_W + 4, y: y + 14, class: `st-${s.status}`, fill: "currentColor" },
        s.carried_over ? "carried over" : label(s.status)));
    }
    s.attempts.forEach((a, k) => {
      const start = new Date(a.started_at).getTime();
      const end = a.finished_at ? new Date(a.finished_at).getTime() : now;
      const last = k === s.attempts.length - 1;
      const bx = x(start);
      const bw = Math.max(2, x(end) - bx);
      let title = `${s.step}, attempt ${a.attempt}: ${label(a.status)}, ${duration(end - start)}`;
      if (a.exit_code !== null) title += `, exit ${a.exit_code}`;
      if (a.status === "lost") title += " (the daemon died; started again, not counted as a retry)";
      if (a.message) title += `\n${a.message}`;
      const bar = svg("g", {
        class: ["bar", `st-${a.status}`, onPath && last ? "critical" : null], "data-step": s.step,
        "data-attempt": a.attempt, "data-status": a.status, "data-critical": onPath && last ? "true" : null,
      }, svg("rect", { x: bx.toFixed(1), y: y + 3, width: bw.toFixed(1), height: ROW - 6, rx: 2 }), svg("title", {}, title));
      if (s.attempts.length > 1 && bw > 22) {
        bar.append(svg("text", { x: bx + 3, y: y + 14, fill: "#fff" }, `#${a.attempt}`));
      }
      row.append(bar);
    });
    return row;
  });

  const defs = svg("defs", {}, svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, fill: "#fbefff" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8250df", "stroke-width": 3 })));
  return svg("svg", {
    class: "gantt", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": `Gantt chart of ${steps.length} steps over ${duration(t1 - t0)}`,
  }, defs, axis, rows);
}

// The critical path of a run as it happened: from the step that ended last,
// back through the upstream step that ended last, to a step with none.
export function criticalPath(steps, dependsOn) {
  const end = new Map();
  for (const s of steps) {
    const last = s.attempts[s.attempts.length - 1];
    if (last) end.set(s.step, last.finished_at ? new Date(last.finished_at).getTime() : Infinity);
  }
  const path = new Set();
  let current = [...end.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  while (current && !path.has(current)) {
    path.add(current);
    const ups = (dependsOn.get(current) || []).filter((u) => end.has(u));
    current = ups.sort((a, b) => end.get(b) - end.get(a))[0];
  }
  return path;
}
