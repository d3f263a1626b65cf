// A run's Gantt chart: one row per step (in DAG order), one bar per attempt
// from its start to its end (or now, while it runs). Retries sit side by side
// on their step's row, lost attempts are hatched, and the bars of the critical
// path (the chain of steps that decided when the run ended) are outlined.
// Every bar carries data-step, data-attempt and data-status. The chart has a
// scroll box of its own, its time axis on top, and only the rows in view are
// drawn (windowed.js): the SVG says how many steps and bars it holds in all
// (data-steps, data-bars).
import { h, svg } from "../dom.js";
import { duration, glyph, label } from "../format.js";
import { windowed } from "../windowed.js";

const ROW = 20;
const LABEL_W = 170;
const PLOT_W = 760;
const AXIS_H = 22;
const WIDTH = LABEL_W + PLOT_W + 10;

function niceStep(span) {
  const target = span / 6;
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000,
    900000, 1800000, 3600000, 7200000, 10800000, 21600000, 43200000, 86400000];
  return steps.find((s) => s >= target) || steps[steps.length - 1];
}

// The time span of all attempts: [t0, t1] in ms.
function span(steps, now) {
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const s of steps) {
    for (const a of s.attempts) {
      t0 = Math.min(t0, new Date(a.started_at).getTime());
      t1 = Math.max(t1, a.finished_at ? new Date(a.finished_at).getTime() : now);
    }
  }
  if (t0 === Infinity) t0 = now;
  return [t0, Math.max(t0 + 1000, t1)];
}

function rowOf(s, i, x, onPath, now) {
  const y = i * ROW;
  const row = svg("g", { class: "row", "data-row": s.step },
    svg("rect", { class: "rowbg", x: 0, y, width: WIDTH, height: ROW }),
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
}

// The chart, empty until show(): { element, show(steps, critical, all, now), reveal(step) }.
export function ganttChart() {
  const axis = svg("svg", { class: "gantt gantt-axis", width: WIDTH, height: AXIS_H, "aria-hidden": "true" });
  const grid = svg("g", { class: "axis" });
  const tail = svg("g", { class: "end" });
  const layer = svg("g", { class: "rows" }, tail);
  const defs = svg("defs", {}, svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, fill: "#fbefff" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8250df", "stroke-width": 3 })));
  const body = svg("svg", { class: "gantt", role: "img", width: WIDTH }, defs, grid, layer);
  const element = h("div", { class: "gantt-box" }, axis, body);
  let shown = [];
  let critical = new Set();
  let x = () => 0;
  let now = Date.now();
  const list = windowed({
    box: element, container: layer, tail, rowHeight: ROW, fixed: true, offset: () => AXIS_H,
    make: (i) => rowOf(shown[i], i, x, critical.has(shown[i].step), now),
  });

  return {
    element,
    // steps: those to draw, in order; critical: a Set of step names; all:
    // every step of the run (the time scale is theirs, so a filter does not
    // stretch the bars).
    show(steps, criticalSteps, all = steps, at = Date.now()) {
      shown = steps;
      critical = criticalSteps;
      now = at;
      const [t0, t1] = span(all, now);
      x = (t) => LABEL_W + ((t - t0) / (t1 - t0)) * PLOT_W;
      const height = steps.length * ROW + 4;
      const tick = niceStep(t1 - t0);
      const lines = [];
      const labels = [];
      for (let t = 0; t <= t1 - t0; t += tick) {
        const px = x(t0 + t);
        lines.push(svg("line", { x1: px, x2: px, y1: 0, y2: height }));
        labels.push(svg("text", { x: px + 2, y: 14 }, `+${duration(t)}`));
      }
      grid.replaceChildren(...lines);
      axis.replaceChildren(svg("g", { class: "axis" }, labels));
      const bars = steps.reduce((n, s) => n + s.attempts.length, 0);
      for (const [key, value] of Object.entries({
        height, viewBox: `0 0 ${WIDTH} ${height}`, "data-steps": steps.length, "data-bars": bars,
        "aria-label": `Gantt chart of ${steps.length} steps (${bars} attempts) over ${duration(t1 - t0)}`,
      })) body.setAttribute(key, value);
      list.show(steps.length);
    },
    reveal(step) {
      list.reveal(shown.findIndex((s) => s.step === step));
    },
  };
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
