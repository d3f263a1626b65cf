// The job page (#/jobs/{job}): the run grid (steps x runs, newest run first),
// the DAG coloured by the selected run, recent durations, the definition, and
// the job's actions. Live: a step event recolours its cell and node at once;
// a new run adds its column. The grid draws only the rows (steps) in view
// (windowed.js): a 2,000-step job's grid costs a screen's worth of cells.
import { getJson, path } from "../api.js";
import { append, attr, clear, h } from "../dom.js";
import { ACTIVE, badge, duration, elapsed, glyph, label, zoned } from "../format.js";
import { dagChart } from "../charts/dag.js";
import { durationBars } from "../charts/bars.js";
import { windowedTable } from "../windowed.js";
import { backfillControls, pauseButton, rerun } from "./actions.js";

// Runs in the grid: as many as stay light (each run carries all its steps).
function runLimit(steps) {
  return Math.max(5, Math.min(30, Math.floor(20000 / Math.max(steps, 1))));
}

function cellTitle(step, run, s) {
  if (!s) return `${step}: not in run ${run.run_id}`;
  let text = `${step} — ${label(s.status)} in run ${run.run_id} (${run.date})`;
  if (s.attempt > 1) text += `, attempt ${s.attempt}`;
  if (s.exit_code !== null && s.exit_code !== undefined) text += `, exit ${s.exit_code}`;
  if (s.carried_over) text += ", carried over";
  const d = elapsed(s.started_at, s.finished_at);
  if (d !== null) text += `, ${duration(d)}`;
  return text;
}

function setCell(td, step, status) {
  td.className = `st-${status}`;
  td.dataset.status = status;
  const a = td.firstChild;
  a.textContent = glyph(status);
  a.setAttribute("aria-label", `${step}: ${label(status)}`);
}

export function jobView(job, ctx) {
  let definition = null;
  let runs = [];
  let selected = null;       // the run the graph shows
  let pinned = false;        // chosen by the user: a new run does not take over
  let dag = null;
  let pending = null;
  const header = h("div");
  const gridBox = h("div", { class: "grid-box" });
  const gridHead = h("thead");
  const gridBody = h("tbody");
  const gridTable = h("table", { class: "grid", "aria-label": "runs by step; newest run first" }, gridHead, gridBody);
  const noRuns = h("p", { class: "muted" }, "no runs yet");
  let byRun = [];
  const grid = windowedTable({ box: gridBox, body: gridBody, head: gridHead, columns: 1, rowHeight: 24,
                               make: (i) => gridRow(definition.topological_order[i]) });
  const graphNote = h("p", { class: "muted small" });
  const graphBox = h("div");
  const chartBox = h("div", { class: "scroll" });
  const definitionBox = h("details", { class: "definition" }, h("summary", {}, "Definition (secrets shown as ***)"));
  const element = h("section", { "aria-labelledby": "job-title" },
    header,
    h("h2", {}, "Runs"), gridBox,
    h("h2", {}, "Graph"), graphNote, graphBox,
    h("h2", {}, "Durations"), chartBox,
    definitionBox);

  // The header's inputs (a date to rerun, the backfill form) are made once and
  // stay in place: the header is redrawn on run and job events, and what the
  // user is typing must survive that.
  const top = h("div");
  const rerunDate = h("input", { type: "date", "aria-label": "date to rerun", required: true });
  const forDate = h("button", { type: "button", onclick: (e) => {
    if (!rerunDate.value) return ctx.notify("pick a date to rerun", "error");
    rerun(ctx, job, { date: rerunDate.value }, e.target);
  } }, "Rerun for date");
  const failedSlot = h("span");
  const pauseSlot = h("span");
  let backfill = null;
  const toolbar = h("div", { class: "toolbar" },
    h("button", { type: "button", class: "primary", "data-action": "rerun",
                  onclick: (e) => rerun(ctx, job, {}, e.target) }, "Rerun"),
    failedSlot, rerunDate, forDate, pauseSlot);
  header.append(top, toolbar);

  function renderHeader() {
    const latest = runs[0];
    append(clear(top), [
      h("p", { class: "small" }, h("a", { href: "#/" }, "Jobs"), " / ", job),
      h("h1", { id: "job-title" }, job, " ", badge(latest ? latest.status : "never"),
        definition.deadline_missed ? [" ", badge("late", "st-late")] : null, definition.paused ? [" ", badge("paused")] : null),
      definition.description ? h("p", { class: "description" }, definition.description) : null,
      h("div", { class: "facts" },
        h("span", {}, "schedule ", h("b", {}, definition.schedule ? `${definition.schedule} (${definition.timezone})` : "manual only")),
        definition.schedule ? h("span", {}, "next run ", h("b", {}, zoned(definition.next_run))) : null,
        definition.deadline ? h("span", {}, "deadline ", h("b", {}, definition.deadline), definition.deadline_missed ? h("strong", { class: "bad" }, " missed") : null) : null,
        h("span", {}, "catch-up ", h("b", {}, definition.catchup)),
        h("span", {}, "max active runs ", h("b", {}, definition.max_active_runs)),
        h("span", {}, "file ", h("b", {}, definition.file)))]);
    append(clear(failedSlot), [latest && latest.status !== "succeeded" && !ACTIVE.has(latest.status)
      ? h("button", { type: "button", "data-action": "rerun-failed", title: `only the steps of run #${latest.run_id} that did not succeed`,
                      onclick: (e) => rerun(ctx, job, { failed: "true" }, e.target) }, "Rerun failed steps") : null]);
    append(clear(pauseSlot), [pauseButton(ctx, job, definition.paused)]);
    if (!backfill && (backfill = backfillControls(ctx, job))) toolbar.append(backfill);
  }

  function gridRow(step) {
    const tr = h("tr", {}, h("th", { class: "step", scope: "row", title: step }, step));
    runs.forEach((run, i) => {
      const s = byRun[i].get(step);
      if (!s) {
        tr.append(h("td", { title: cellTitle(step, run, s) }));
        return;
      }
      tr.append(h("td", { class: [`st-${s.status}`, s.carried_over ? "carried" : null], "data-run": run.run_id,
                          "data-step": step, "data-status": s.status },
        h("a", { href: `#/runs/${run.run_id}/steps/${encodeURIComponent(step)}`, title: cellTitle(step, run, s),
                 "aria-label": `${step}: ${label(s.status)}` }, glyph(s.status))));
    });
    return tr;
  }

  function renderGrid() {
    const steps = definition.topological_order;
    const head = h("tr", {}, h("th", { class: "step" }, "step \\ run"));
    for (const run of runs) {
      head.append(h("th", { class: ["run", run.run_id === selected ? "selected" : null], "data-run": run.run_id, "data-status": run.status, scope: "col" },
        h("a", { href: `#/runs/${run.run_id}`, title: `run ${run.run_id} for ${run.date} (${run.trigger}): ${label(run.status)}` },
          h("span", { class: `st-${run.status}` }, glyph(run.status)), h("br"), run.date.slice(5)),
        h("button", { type: "button", class: "link small", title: `colour the graph by run ${run.run_id}`,
                      "aria-pressed": String(run.run_id === selected), onclick: () => { pinned = true; select(run.run_id); } }, "◉")));
    }
    gridHead.replaceChildren(head);
    grid.columns(runs.length + 1);
    byRun = runs.map((r) => new Map(r.steps.map((s) => [s.step, s])));
    gridTable.dataset.rows = steps.length;
    gridTable.dataset.runs = runs.length;
    gridTable.setAttribute("aria-rowcount", steps.length + 1);
    // The table stays in the box (its scroll position and focus with it).
    const shown = runs.length ? gridTable : noRuns;
    if (gridBox.firstChild !== shown) clear(gridBox).append(shown);
    grid.show(runs.length ? steps.length : 0);
  }

  function select(runId) {
    selected = runId;
    const run = runs.find((r) => r.run_id === runId);
    const states = new Map(run ? run.steps.map((s) => [s.step, s.status]) : []);
    for (const s of definition.steps) dag.setStatus(s.step, states.get(s.step) || "pending");
    for (const th of gridBox.querySelectorAll("th.run")) {
      const on = Number(th.dataset.run) === runId;
      th.classList.toggle("selected", on);
      th.querySelector("button").setAttribute("aria-pressed", String(on));
    }
    append(clear(graphNote), [run ? [`coloured by run `, h("a", { href: `#/runs/${run.run_id}` }, `#${run.run_id}`),
      ` for ${run.date} (${label(run.status)}); ${definition.steps.length} steps. Drag to pan, wheel or +/- to zoom; a node opens its log.`]
      : `${definition.steps.length} steps; no run yet.`]);
    graphBox.dataset.run = runId ?? "";
  }

  function renderDefinition() {
    if (definitionBox.dataset.rendered) return;
    definitionBox.dataset.rendered = "1";
    const env = (vars) => Object.entries(vars).map(([k, v]) => h("div", {}, h("code", {}, `${k}=${v}`)));
    const body = (s) => s.command ? h("pre", {}, JSON.stringify(s.command)) : h("pre", {}, s.shell ?? s.sql);
    append(definitionBox, [
      Object.keys(definition.env).length ? h("p", {}, "job env: ", env(definition.env)) : null,
      h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, ["step", "kind", "runs", "depends on", "retries", "timeout", "pool / connection", "env", "run if"].map((t) => h("th", {}, t)))),
        h("tbody", {}, definition.steps.map((s) => h("tr", {},
          h("td", {}, h("b", {}, s.step), s.description ? h("div", { class: "description" }, s.description) : null),
          h("td", {}, s.kind), h("td", {}, body(s)), h("td", {}, s.depends_on.join(", ")),
          h("td", { class: "num" }, `${s.retries} (${s.retry_delay})`), h("td", {}, s.timeout ?? "–"),
          h("td", {}, [s.pool, s.connection].filter(Boolean).join(" / ") || "–"), h("td", {}, env(s.env)), h("td", {}, s.run_if))))))]);
  }
  definitionBox.addEventListener("toggle", () => { if (definitionBox.open) renderDefinition(); });

  async function fetchRuns() {
    const limit = runLimit(definition.steps.length);
    runs = limit <= definition.runs.length && definition.runs.length
      ? definition.runs.slice(0, limit)
      : (await getJson(path(["jobs", job, "runs"], { limit }), ctx.signal)).runs;
  }

  function renderRuns() {
    if (!pinned || !runs.some((r) => r.run_id === selected)) selected = runs.length ? runs[0].run_id : null;
    renderHeader();
    renderGrid();
    select(selected);
    clear(chartBox).append(runs.length ? durationBars(runs, { width: Math.max(320, Math.min(900, runs.length * 30 + 60)), height: 140, axis: true })
      : h("p", { class: "muted" }, "no runs yet"));
  }

  async function refresh() {
    const since = performance.now();
    if (!definition) {
      definition = await getJson(path(["jobs", job]), ctx.signal);
      dag = dagChart(definition.steps, { onSelect: (step) => selected && ctx.navigate(`#/runs/${selected}/steps/${encodeURIComponent(step)}`) });
      clear(graphBox).append(dag.element);
    } else {
      definition = await getJson(path(["jobs", job]), ctx.signal);
    }
    await fetchRuns();
    renderRuns();
    ctx.replay(since, apply);
  }

  async function refreshRuns() {
    const since = performance.now();
    definition.runs = (await getJson(path(["jobs", job, "runs"], { limit: 10 }), ctx.signal)).runs;
    await fetchRuns();
    renderRuns();
    ctx.replay(since, apply);
  }

  function later() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refreshRuns().catch((e) => { if (e.name !== "AbortError") ctx.notify(e.message, "error"); });
    }, 250);
  }

  // An event onto what is shown; true when it needed no fetch.
  function apply(type, data) {
    if (data.job !== job) return;
    const run = runs.find((r) => r.run_id === data.run_id);
    if (type === "job") {
      // Reloaded: the steps may have changed, so the graph is drawn anew.
      definition = null;
      refresh().catch((e) => { if (e.name !== "AbortError") ctx.notify(e.message, "error"); });
      return;
    }
    if (!run) {
      later();
      return;
    }
    if (type === "run") {
      run.status = data.status;
      const th = gridBox.querySelector(`th.run${attr("data-run", data.run_id)}`);
      if (th) {
        th.dataset.status = data.status;
        const mark = th.querySelector("a span");
        mark.className = `st-${data.status}`;
        mark.textContent = glyph(data.status);
      }
      if (!ACTIVE.has(data.status)) later();  // durations and header
      return;
    }
    const s = run.steps.find((x) => x.step === data.step);
    if (s) {
      s.status = data.status;
      s.attempt = data.attempt;
    }
    const td = gridBox.querySelector(`td${attr("data-run", data.run_id)}${attr("data-step", data.step)}`);
    if (td) setCell(td, data.step, data.status);
    if (data.run_id === selected) dag.setStatus(data.step, data.status);
  }

  return {
    element,
    refresh,
    onEvent: (type, data) => { if (definition) apply(type, data); },
    dispose: () => clearTimeout(pending),
  };
}
