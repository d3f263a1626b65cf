// The overview (#/): every job with its last run, next run and deadline state;
// failed and late jobs first; a filter by name and status; a sparkline of
// recent durations for the rows on screen. The table draws only the rows in
// view (windowed.js): a thousand jobs cost a screen's worth of rows.
import { getJson, path } from "../api.js";
import { attr, clear, h, select } from "../dom.js";
import { ACTIVE, BAD, ago, badge, duration, elapsed, glyph, label, zoned } from "../format.js";
import { durationBars } from "../charts/bars.js";
import { windowedTable } from "../windowed.js";

const FILTER_KEY = "nightshift.overview.filter";

// The order of attention: failed or late first, then running, then the rest.
function rank(job) {
  const status = job.last_run ? job.last_run.status : "never";
  if (BAD.has(status) && status !== "cancelled") return 0;
  if (job.deadline_missed) return 0;
  if (ACTIVE.has(status)) return 1;
  if (status === "cancelled") return 2;
  return 3;
}

// What the status filter matches: the last run's status, "late", "paused".
function matches(job, filter) {
  const status = job.last_run ? job.last_run.status : "never";
  if (filter.text && !`${job.job} ${job.description || ""}`.toLowerCase().includes(filter.text.toLowerCase())) return false;
  if (!filter.status) return true;
  if (filter.status === "late") return job.deadline_missed;
  if (filter.status === "paused") return job.paused;
  if (filter.status === "attention") return rank(job) === 0;
  return status === filter.status;
}

function stepCounts(counts) {
  return h("span", { class: "counts" }, Object.entries(counts || {}).map(([state, n]) =>
    h("span", { class: `st-${state}`, title: `${n} ${label(state)}` }, `${glyph(state)}${n}`)));
}

export function overviewView(ctx) {
  const saved = JSON.parse(sessionStorage.getItem(FILTER_KEY) || "{}");
  const filter = { text: saved.text || "", status: saved.status || "" };
  let jobs = [];
  let shown = [];
  const body = h("tbody");
  const empty = h("p", { class: "muted", hidden: true });
  const box = h("div", { class: "jobs-box" });
  const summary = h("p", { class: "muted" });
  const sparks = new Map();  // job -> runs, fetched once visible
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) if (entry.isIntersecting) loadSpark(entry.target);
  });

  function saveFilter() {
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filter));
    render();
  }
  const search = h("input", { type: "search", placeholder: "filter by name", "aria-label": "filter jobs by name",
                              value: filter.text, oninput: (e) => { filter.text = e.target.value; saveFilter(); } });
  const status = select({ "aria-label": "filter jobs by status", onchange: (e) => { filter.status = e.target.value; saveFilter(); } },
    [["", "any status"], ["attention", "failed or late"], ["failed", "failed"], ["late", "late"], ["running", "running"],
     ["queued", "queued"], ["succeeded", "succeeded"], ["cancelled", "cancelled"], ["never", "never run"], ["paused", "paused"]],
    filter.status);

  const element = h("section", { "aria-labelledby": "overview-title" },
    h("h1", { id: "overview-title" }, "Jobs"), summary,
    h("div", { class: "toolbar" }, search, status),
    box, empty);
  const head = h("thead", {}, h("tr", { "aria-rowindex": 1 }, h("th", {}, "Job"), h("th", {}, "Status"), h("th", {}, "Last run"),
    h("th", { class: "hide-narrow" }, "Steps"), h("th", {}, "Next run"), h("th", { class: "hide-narrow" }, "Deadline"),
    h("th", { class: "hide-narrow" }, "Durations")));
  const table = h("table", { class: "jobs" }, head, body);
  box.append(table);
  const list = windowedTable({ box, body, head, columns: 7, rowHeight: 60, make: (i) => row(shown[i], i) });

  async function loadSpark(cell) {
    observer.unobserve(cell);
    const name = cell.dataset.spark;
    try {
      if (!sparks.has(name)) sparks.set(name, (await getJson(path(["jobs", name, "runs"], { limit: 30 }), ctx.signal)).runs);
      clear(cell).append(durationBars(sparks.get(name)));
    } catch (e) {
      if (e.name !== "AbortError") clear(cell).append(h("span", { class: "muted", title: e.message }, "–"));
    }
  }

  function row(job, i) {
    const last = job.last_run;
    const status = last ? last.status : "never";
    const attention = rank(job) === 0;
    const sparkCell = h("td", { class: "hide-narrow", "data-spark": job.job });
    if (sparks.has(job.job)) sparkCell.append(durationBars(sparks.get(job.job)));
    else observer.observe(sparkCell);
    return h("tr", { class: attention ? "attention" : null, "data-job": job.job, "data-status": status, "aria-rowindex": i + 2,
                     "data-run": last ? last.run_id : null },
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.job)}` }, job.job),
        job.description ? h("div", { class: "description" }, job.description) : null),
      h("td", {}, badge(status), job.deadline_missed ? [" ", badge("late", "st-late")] : null,
        job.paused ? [" ", badge("paused")] : null),
      h("td", {}, last ? [h("a", { href: `#/runs/${last.run_id}` }, `${last.date}`), " ",
        h("span", { class: "muted small" }, `#${last.run_id} ${last.trigger}`), h("br"),
        h("span", { class: "small" }, ago(last.finished_at || last.started_at || last.created_at),
          " · ", duration(elapsed(last.started_at, last.finished_at)))] : h("span", { class: "muted" }, "never")),
      h("td", { class: "hide-narrow" }, last ? stepCounts(last.step_counts) : null),
      h("td", {}, job.schedule ? [zoned(job.next_run), h("div", { class: "muted small" }, `${job.schedule} (${job.timezone})`)]
        : h("span", { class: "muted" }, "manual only")),
      h("td", { class: "hide-narrow" }, job.deadline ? [job.deadline, job.deadline_missed ? h("strong", { class: "bad" }, " missed") : null]
        : h("span", { class: "muted" }, "–")),
      sparkCell);
  }

  function render() {
    shown = jobs.filter((j) => matches(j, filter))
      .sort((a, b) => rank(a) - rank(b) || a.job.localeCompare(b.job));
    table.dataset.rows = shown.length;
    table.dataset.jobs = jobs.length;
    table.setAttribute("aria-rowcount", shown.length + 1);
    list.show(shown.length);
    empty.hidden = shown.length > 0;
    empty.textContent = jobs.length ? "no job matches the filter" : "no jobs loaded";
    const failed = jobs.filter((j) => rank(j) === 0).length;
    const running = jobs.filter((j) => j.last_run && ACTIVE.has(j.last_run.status)).length;
    clear(summary).append(`${jobs.length} jobs · `, h("span", { class: failed ? "bad" : "" }, `${failed} failed or late`),
      ` · ${running} running` + (shown.length !== jobs.length ? ` · ${shown.length} shown` : ""));
  }

  let pending = null;
  async function refresh() {
    jobs = (await getJson("jobs", ctx.signal)).jobs;
    render();
  }

  return {
    element,
    refresh,
    // A run changed: its job's row moves. Many events come at once: one fetch.
    onEvent(type, data) {
      if (type === "step") {
        const tr = element.querySelector(`tr${attr("data-job", data.job)}${attr("data-run", data.run_id)}`);
        if (!tr) return;
      }
      if (type === "run") {
        sparks.delete(data.job);
        // The shown last run changed state: its row says so at once; the
        // rest (order, times, counts) follows from the fetch below.
        const tr = element.querySelector(`tr${attr("data-job", data.job)}${attr("data-run", data.run_id)}`);
        if (tr && tr.dataset.status !== data.status) {
          tr.dataset.status = data.status;
          tr.children[1].firstChild.replaceWith(badge(data.status));
        }
      }
      if (pending) return;
      pending = setTimeout(() => {
        pending = null;
        refresh().catch((e) => { if (e.name !== "AbortError") ctx.notify(e.message, "error"); });
      }, 300);
    },
    dispose() {
      observer.disconnect();
      clearTimeout(pending);
    },
  };
}
