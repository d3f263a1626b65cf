// The run page's step table: state, attempts, exit code, duration, start and
// a rerun from each step. It has a scroll box of its own and draws only the
// rows in view (windowed.js); the table says how many rows it holds in all
// (data-rows, aria-rowcount). The arrow keys move between the rows' links.
import { attr, h } from "../dom.js";
import { ago, badge, duration, elapsed, label } from "../format.js";
import { windowedTable } from "../windowed.js";
import { rerun } from "./actions.js";

const COLUMNS = ["step", "status", "attempts", "exit", "duration", "started", ""];
const ROW_GUESS = 35;  // px, until the drawn rows are measured

export function stepTable(ctx) {
  let run = null;
  let shown = [];
  let selected = null;
  const body = h("tbody");
  const head = h("thead", {}, h("tr", { "aria-rowindex": 1 },
    COLUMNS.map((t, i) => h("th", { class: [`col-${i}`, i === 5 ? "hide-narrow" : null] }, t))));
  const table = h("table", { class: "steps" }, head, body);
  const element = h("div", { class: "steps-box" }, table);

  function row(i) {
    const s = shown[i];
    return h("tr", { "data-step": s.step, "data-status": s.status, "aria-rowindex": i + 2, class: s.step === selected ? "selected" : null },
      h("td", {}, h("a", { href: `#/runs/${run.run_id}/steps/${encodeURIComponent(s.step)}`, title: s.step }, s.step)),
      h("td", {}, badge(s.status), s.carried_over ? h("span", { class: "muted small" }, " carried over") : null),
      h("td", { class: "num", title: s.attempts.map((a) => `#${a.attempt} ${label(a.status)}`).join(", ") }, s.attempts.length),
      h("td", { class: "num" }, s.exit_code ?? "–"),
      h("td", { class: "num" }, duration(elapsed(s.started_at, s.finished_at))),
      h("td", { class: "hide-narrow" }, ago(s.started_at)),
      h("td", {}, h("button", { type: "button", class: "small", "data-action": "rerun-from", title: `rerun ${s.step} and its downstream for ${run.date}`,
                                onclick: (e) => rerun(ctx, run.job, { date: run.date, from: s.step }, e.target) }, "rerun from here")));
  }

  const list = windowedTable({ box: element, body, head, columns: COLUMNS.length, rowHeight: ROW_GUESS, make: row });

  // Up and down move to the same cell's link or button of the row beside.
  body.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const tr = e.target.closest("tr[data-index]");
    if (!tr) return;
    const i = Number(tr.dataset.index) + (e.key === "ArrowDown" ? 1 : -1);
    if (i < 0 || i >= shown.length) return;
    e.preventDefault();
    list.reveal(i);
    const cell = [...tr.children].indexOf(e.target.closest("td"));
    const next = list.row(i);
    const target = next && (next.children[cell].querySelector("a, button") || next.querySelector("a"));
    if (target) target.focus();
  });

  return {
    element,
    // steps: the rows to show, in order (a filter may leave some out).
    show(newRun, steps, step) {
      run = newRun;
      shown = steps;
      selected = step;
      table.dataset.rows = steps.length;
      table.dataset.steps = run.steps.length;
      table.setAttribute("aria-rowcount", steps.length + 1);
      list.show(steps.length);
    },
    select(step) {
      selected = step;
      for (const tr of body.querySelectorAll("tr[data-step]")) tr.classList.toggle("selected", tr.dataset.step === step);
      if (step) list.reveal(shown.findIndex((s) => s.step === step));
    },
    // A step event: the row, when drawn, says so at once.
    update(step, status) {
      const tr = body.querySelector(`tr${attr("data-step", step)}`);
      if (!tr) return;
      tr.dataset.status = status;
      tr.children[1].replaceChildren(badge(status));
    },
  };
}
