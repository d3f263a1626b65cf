// The run page (#/runs/{id}, #/runs/{id}/steps/{step}[/{attempt}]): the run's
// facts and actions, a Gantt chart of every attempt, the step table, and the
// log of the selected step (followed while it runs). Live: step events change
// the table and the bars at once; the details are fetched again shortly after.
import { ApiError, getJson, path } from "../api.js";
import { append, attr, clear, h } from "../dom.js";
import { ACTIVE, BAD, ago, badge, duration, elapsed, glyph, label, localIso } from "../format.js";
import { criticalPath, ganttChart } from "../charts/gantt.js";
import { cancelRun, confirmButton, rerun } from "./actions.js";
import { logViewer } from "./log.js";

export function runView(id, step, attempt, ctx) {
  let run = null;
  let definition = null;     // the job as defined now (for the DAG order and edges)
  let latestRunId = null;
  let selectedStep = step;
  let selectedAttempt = attempt;  // null: the latest
  let log = null;
  let pending = null;
  let ticker = null;
  const header = h("div");
  const ganttBox = h("div", { class: "scroll" });
  const tableBox = h("div", { class: "scroll" });
  const logBox = h("div");
  const element = h("section", { "aria-labelledby": "run-title" }, header,
    h("h2", {}, "Timeline"),
    h("div", { class: "legend" }, h("span", {}, "one bar per attempt; retries side by side"),
      h("span", { class: "critical-key" }, "critical path"), h("span", { class: "st-lost" }, "hatched: lost (the daemon died)")),
    ganttBox, logBox, h("h2", {}, "Steps"), tableBox);

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
      failedSteps.length ? h("p", {}, "Failed: ", failedSteps.map((s, i) => [i ? ", " : "",
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

  function renderGantt() {
    const deps = new Map((definition ? definition.steps : []).map((s) => [s.step, s.depends_on]));
    clear(ganttBox).append(ganttChart(order(), criticalPath(run.steps, deps)));
  }

  function renderTable() {
    const rows = order().map((s) => h("tr", { "data-step": s.step, "data-status": s.status, class: s.step === selectedStep ? "selected" : null },
      h("td", {}, h("a", { href: `#/runs/${run.run_id}/steps/${encodeURIComponent(s.step)}` }, s.step)),
      h("td", {}, badge(s.status), s.carried_over ? h("span", { class: "muted small" }, " carried over") : null),
      h("td", { class: "num", title: s.attempts.map((a) => `#${a.attempt} ${label(a.status)}`).join(", ") }, s.attempts.length),
      h("td", { class: "num" }, s.exit_code ?? "–"),
      h("td", { class: "num" }, duration(elapsed(s.started_at, s.finished_at))),
      h("td", { class: "hide-narrow" }, ago(s.started_at)),
      h("td", {}, h("button", { type: "button", class: "small", "data-action": "rerun-from", title: `rerun ${s.step} and its downstream for ${run.date}`,
                                onclick: (e) => rerun(ctx, run.job, { date: run.date, from: s.step }, e.target) }, "rerun from here"))));
    clear(tableBox).append(h("table", { class: "steps" },
      h("thead", {}, h("tr", {}, ["step", "status", "attempts", "exit", "duration", "started", ""].map((t, i) => h("th", { class: i === 5 ? "hide-narrow" : null }, t)))),
      h("tbody", {}, rows)));
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
    renderGantt();
    renderTable();
    renderLog(false);
    clearInterval(ticker);
    // Running bars grow with the clock (small runs only; big ones on events).
    if (ACTIVE.has(run.status) && run.steps.length <= 300) ticker = setInterval(renderGantt, 1000);
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
    render();
    if (selectedStep) logBox.scrollIntoView({ block: "nearest" });
    ctx.replay(since, apply);
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
      const tr = tableBox.querySelector(`tr${attr("data-step", data.step)}`);
      if (tr) {
        tr.dataset.status = data.status;
        tr.children[1].replaceChildren(badge(data.status));
      }
      const bar = ganttBox.querySelector(`.bar${attr("data-step", data.step)}${attr("data-attempt", data.attempt)}`);
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
      for (const tr of tableBox.querySelectorAll("tr[data-step]")) tr.classList.toggle("selected", tr.dataset.step === newStep);
      renderLog(true);
      if (newStep) logBox.scrollIntoView({ block: "nearest" });
    },
    dispose() {
      clearTimeout(pending);
      clearInterval(ticker);
      if (log) log.dispose();
    },
  };
}
