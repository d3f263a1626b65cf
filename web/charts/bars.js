// Run durations as bars, oldest left: one bar a run, its height the run's
// duration, its colour (and title) the run's status. Used small in the
// overview (a sparkline) and large on the job page.
import { svg } from "../dom.js";
import { duration, elapsed, label } from "../format.js";

export function durationBars(runs, { width = 120, height = 24, axis = false } = {}) {
  const ordered = [...runs].reverse();  // the API answers newest first
  const values = ordered.map((r) => elapsed(r.started_at, r.finished_at));
  const max = Math.max(1, ...values.filter((v) => v !== null));
  const left = axis ? 60 : 0;
  const bottom = axis ? 18 : 0;
  const plotW = width - left;
  const plotH = height - bottom;
  const step = plotW / Math.max(ordered.length, 1);
  const bars = ordered.map((run, i) => {
    const v = values[i];
    const barH = v === null ? 2 : Math.max(2, (v / max) * (plotH - 2));
    return svg("rect", {
      class: `st-${run.status}`, fill: "currentColor", "data-run": run.run_id,
      x: (left + i * step + step * 0.15).toFixed(1), y: (plotH - barH).toFixed(1),
      width: Math.max(1, step * 0.7).toFixed(1), height: barH.toFixed(1),
    }, svg("title", {}, `run ${run.run_id} for ${run.date}: ${label(run.status)}, ${duration(v)}`));
  });
  const parts = [bars];
  if (axis) {
    parts.push(
      svg("line", { x1: left, x2: width, y1: plotH, y2: plotH, stroke: "#d8dee4" }),
      svg("text", { x: left - 6, y: 10, "text-anchor": "end", class: "muted", "font-size": 11, fill: "#5b636d" }, duration(max)),
      svg("text", { x: left - 6, y: plotH, "text-anchor": "end", "font-size": 11, fill: "#5b636d" }, "0"),
      svg("text", { x: left, y: height - 4, "font-size": 11, fill: "#5b636d" }, "oldest"),
      svg("text", { x: width, y: height - 4, "text-anchor": "end", "font-size": 11, fill: "#5b636d" }, "newest"));
  }
  return svg("svg", {
    class: axis ? "durations" : "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `durations of the last ${ordered.length} runs, longest ${duration(max)}`,
  }, parts);
}
