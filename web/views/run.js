// The run page (#/runs/{id}, #/runs/{id}/steps/{step}[/{attempt}]): the run's
// facts and actions, a Gantt chart of every attempt, the step table, and the
// log of the selected step (followed while it runs). Live: step events change
// the table and the bars at once; the details are fetched again shortly after.
// The Gantt and the table draw only the rows in view; a filter by name or
// state narrows both (a 2,000-step run's failed step is one choice away).
import { ApiError, getJson, path } from "../api.js";
import { append, attr, clear, h, select } from "../dom.js";
import { ACTIVE, BAD, ago, badge, duration, elapsed, glyph, label, localIso } from "../format.js";
import { criticalPath, ganttChart } from "../charts/gantt.js";
import { cancelRun, confirmButton, rerun } from "./actions.js";
import { logViewer } from "./log.js";
import { stepTable } from "./step_table.js";

// What the state filter matches.
const FILTERS = [["", "any state"], ["attention", "not succeeded"], ["failed", "failed or timed out"],
  ["running", "running or waiting"], ["succeeded", "succeeded"], ["upstream_failed", "upstream failed"]];

function matches(s, filter) {
  if (filter.text && !s.step.toLowerCase().includes(filter.text.toLowerCase())) return false;
  switch (filter.status) {
    case "": return true;
    case "attention": return s.status !== "succeeded";
    case "failed": return s.status === "failed" || s.status === "timed_out";
    case "running": return ACTIVE.has(s.status) || s.status === "pending";
    default: return s.status === filter.status;
  }
}

export function runView(id, step, attempt, ctx) {
  let run = null;
  let definition = null;     // the job as defined now (for the DAG order and edges)
  let latestRunId = null;
  let selectedStep = step;
  let selectedAttempt = attempt;  // null: the latest
  let log = null;
  let pending = null;
  let ticker = null;
  const filter = { text: "", status: "" };
  const header = h("div");
  const gantt = ganttChart();
  const table = stepTable(ctx);
  const logBox = h("div");
  const count = h("span", { class: "muted small", role: "status" });
  const filterText = h("input", { type: "search", placeholder: "filter steps by name", "aria-label": "filter steps by name", "data-filter": "text",
                                  oninput: (e) => { filter.text = e.target.value; renderSteps(); } });
  const filterStatus = select({ "aria-label": "filter steps by state", "data-filter": "status", onchange: (e) => { filter.status = e.target.value; renderSteps(); } }, FILTERS, "");
  const filters = h("div", { class: "toolbar" }, filterText, filterStatus, count);
  const element = h("section", { "aria-labelledby": "run-title" }, header, filters,
    h("h2", {}, "Timeline"),
    h("div", { class: "legend" }, h("span", {}, "one bar per attempt; retries side by side"),
      h("span", { class: "critical-key" }, "critical path"), h("span", { class: "st-lost" }, "hatched: lost (the daemon died)")),
    gantt.element, logBox, h("h2", {}, "Steps"), table.element);

  function order() {
    const index = new Map((definition ? definition.topological_order : []).map((s, i) => [s, i]));
    return [...run.steps].sort((a, b) => (index.get(a.step) ?? 1e9) - (index.get(b.step) ?? 1e9));
  }

  function renderHeader() {
    const active = ACTIVE.has(run.status);
    const job = run.job;
    const failedSteps = run.steps.filter((s) => BAD.has(s.status) && s.status !== "upstream_failed");
    append(clear(header), [
      h("p", { class: "small" }, h("a", { href: "#/" }, "Jobs"), " / ", h("a", { href: `#/jobs/${encodeURIComponent(job)}` }, job), ` / run #${run.run_id}`),
      h("h1", { id: "run-title", "data-run": run.run_id, "data-status": run.status },
        `${job} for ${run.date} `, badge(run.status)),
      h("div", { class: "facts" },
        h("span", {}, "run ", h("b", {}, `#${run.run_id}`)), h("span", {}, "trigger ", h("b", {}, run.trigger)),
        h("span", {}, "scheduled ", h("b", { title: localIso(new Date(run.scheduled_at)) }, run.scheduled_at.replace("T", " "))),
        h("span", {}, "started ", h("b", {}, ago(run.started_at))), h("span", {}, "finished ", h("b", {}, ago(run.finished_at))),
        h("span", {}, "duration ", h("b", {}, duration(elapsed(run.started_at, run.finished_at))))),
      failedSteps.length ? h("p", { class: "failed-steps" }, "Failed: ", failedSteps.map((s, i) => [i ? ", " : "",
        h("a", { href: `#/runs/${run.run_id}/steps/${encodeURIComponent(s.step)}` }, s.step), ` (${label(s.status)}${s.exit_code !== null ? `, exit ${s.exit_code}` : ""})`])) : null,
      h("div", { class: "toolbar" },
        h("button", { type: "button", class: "primary", "data-action": "rerun", title: `a new run of ${job} for ${run.date}, every step`,
                      onclick: (e) => rerun(ctx, job, { date: run.date }, e.target) }, `Rerun ${run.date}`),
        // failed=true works on the job's latest run: offered only there.
        run.run_id === latestRunId && !active && run.status !== "succeeded"
          ? h("button", { type: "button", "data-action": "rerun-failed", onclick: (e) => rerun(ctx, job, { failed: "true" }, e.target) }, "Rerun failed steps") : null,
        selectedStep ? h("button", { type: "button", "data-action": "rerun-from", title: `${selectedStep} and everything downstream of it, the rest carried over`,
                                     onclick: (e) => rerun(ctx, job, { date: run.date, from: selectedStep }, e.target) }, `Rerun from ${selectedStep}`) : null,
        active && ctx.actions.has("cancel") ? confirmButton("Cancel run", "Click again to cancel", () => cancelRun(ctx, run.run_id), { "data-action": "cancel" }) : null)]);
  }

  // The steps in DAG order, those the filter leaves: the Gantt's rows and the table's.
  let ordered = [];
  let critical = new Set();

  function renderGantt() {
    gantt.show(ordered.filter((s) => matches(s, filter)), critical, ordered);
  }

  function renderSteps() {
    const shown = ordered.filter((s) => matches(s, filter));
    gantt.show(shown, critical, ordered);
    table.show(run, shown, selectedStep);
    count.textContent = shown.length === ordered.length ? `${ordered.length} steps` : `${shown.length} of ${ordered.length} steps`;
  }

  function logHead(s, want) {
    const attempts = s.attempts.map((a) => h("a", {
      href: `#/runs/${run.run_id}/steps/${encodeURIComponent(s.step)}/${a.attempt}`, class: ["button", `st-${a.status}`],
      "aria-current": a.attempt === want ? "true" : null,
    }, `#${a.attempt} ${glyph(a.status)} ${label(a.status)}`));
    return h("div", { class: "log-head" }, h("h2", {}, `Log of ${s.step}`, want ? `, attempt ${want}` : ""), attempts,
      h("a", { href: `#/runs/${run.run_id}`, class: "small" }, "close"));
  }

  function renderLog(force) {
    if (!selectedStep) {
      if (log) log.dispose();
      log = null;
      clear(logBox);
      return;
    }
    const s = run.steps.find((x) => x.step === selectedStep);
    if (!s) {
      clear(logBox).append(h("p", { class: "bad" }, `run ${run.run_id} has no step '${selectedStep}'`));
      return;
    }
    const want = selectedAttempt || s.attempt;
    const running = s.status === "running" && want === s.attempt;
    // The same attempt: only its head is redrawn (a followed log keeps what
    // it read), unless it was read as finished and now runs again.
    if (!force && log && log.attempt === want && log.step === s.step && !(running && !log.follow)) {
      log.panel.dataset.status = s.status;
      log.panel.firstChild.replaceWith(logHead(s, want));
      return;
    }
    if (log) log.dispose();
    log = null;
    const panel = h("div", { class: "log-panel", "data-step": s.step, "data-status": s.status }, logHead(s, want));
    clear(logBox).append(panel);
    if (!want) {
      panel.append(h("p", { class: "muted" }, s.carried_over ? "carried over from an earlier run: no log in this run" : `not started (${label(s.status)}): no log yet`));
      return;
    }
    const viewer = logViewer(ctx, run.run_id, s.step, want, running);
    log = { ...viewer, panel, attempt: want, step: s.step, follow: running };
    panel.append(viewer.element);
    if (running) viewer.done.then(() => later());
  }

  function render() {
    renderHeader();
    const deps = new Map((definition ? definition.steps : []).map((s) => [s.step, s.depends_on]));
    ordered = order();
    critical = criticalPath(run.steps, deps);
    renderSteps();
    renderLog(false);
    clearInterval(ticker);
    // Running bars grow with the clock (only the rows in view are drawn again).
    if (ACTIVE.has(run.status)) ticker = setInterval(renderGantt, 1000);
  }

  async function refresh() {
    const since = performance.now();
    run = await getJson(path(["runs", String(id)]), ctx.signal);
    // The definition (once) and the job's latest run, both at a time.
    const wanted = definition ? Promise.resolve(definition) : getJson(path(["jobs", run.job]), ctx.signal).catch((e) => {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      return null;  // a job no longer defined: run order
    });
    const [defined, latest] = await Promise.all([wanted,
      getJson(path(["jobs", run.job, "runs"], { limit: 1 }), ctx.signal).catch(() => ({ runs: [] }))]);
    definition = defined;
    latestRunId = latest.runs.length ? latest.runs[0].run_id : null;
    const first = !ordered.length;
    render();
    if (selectedStep && first) reveal(selectedStep);
    ctx.replay(since, apply);
  }

  // A selected step: its row in view in the Gantt and the table, and its log.
  function reveal(step) {
    // A step the filter hides (a link, a deep link): the filter gives way.
    const s = ordered.find((x) => x.step === step);
    if (s && !matches(s, filter)) {
      filter.text = filterText.value = "";
      filter.status = filterStatus.value = "";
      renderSteps();
    }
    gantt.reveal(step);
    table.select(step);
    logBox.scrollIntoView({ block: "nearest" });
  }

  function later() {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh().catch((e) => { if (e.name !== "AbortError") ctx.notify(e.message, "error"); });
    }, run && run.steps.length > 300 ? 2000 : 250);
  }

  // An event onto the page at once; the details (times, attempts) follow by a fetch.
  function apply(type, data) {
    if (data.run_id !== id || !run) return;
    if (type === "run") {
      run.status = data.status;
      const title = header.querySelector("h1");
      if (title) title.dataset.status = data.status;
    } else if (type === "step") {
      const s = run.steps.find((x) => x.step === data.step);
      if (s) s.status = data.status;
      table.update(data.step, data.status);
      const bar = gantt.element.querySelector(`.bar${attr("data-step", data.step)}${attr("data-attempt", data.attempt)}`);
      if (bar) {
        bar.dataset.status = data.status;
        bar.classList.forEach((c) => { if (c.startsWith("st-")) bar.classList.remove(c); });
        bar.classList.add(`st-${data.status}`);
      }
      // A new attempt of the step whose latest log is shown: show that one.
      if (data.step === selectedStep && !selectedAttempt && data.status === "running" && s) s.attempt = data.attempt;
    }
    later();
  }

  return {
    element,
    refresh,
    onEvent: apply,
    select(newStep, newAttempt) {
      selectedStep = newStep;
      selectedAttempt = newAttempt;
      if (!run) return;
      renderHeader();
      renderLog(true);
      if (newStep) reveal(newStep);
      else table.select(null);
    },
    dispose() {
      clearTimeout(pending);
      clearInterval(ticker);
      if (log) log.dispose();
    },
  };
}
