// The buttons that change things: rerun (whole, from a step, failed only, for
// a date), cancel, and pause/unpause or backfill when the daemon has them.
// Each POST goes through api.post (token asked once); the answer or the API's
// error is shown as a message.
import { ApiError, path, post } from "../api.js";
import { h } from "../dom.js";

export async function rerun(ctx, job, query, button) {
  if (button) button.disabled = true;
  try {
    const answer = await post(path(["jobs", job, "rerun"], query));
    const what = query.from ? ` from ${query.from}` : query.failed ? " of the failed steps" : "";
    ctx.notify(h("span", {}, `run `, h("a", { href: `#/runs/${answer.run_id}` }, `#${answer.run_id}`),
      ` of ${job}${what}${query.date ? ` for ${query.date}` : ""} created`));
    return answer.run_id;
  } catch (e) {
    ctx.notify(e instanceof ApiError ? e.message : String(e), "error");
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

// A two-step button: the first click arms it for a few seconds, the second
// acts. No modal dialog, and no run cancelled by a stray click.
export function confirmButton(text, armedText, act, attrs = {}) {
  let timer = null;
  const button = h("button", { type: "button", class: "danger", ...attrs }, text);
  button.addEventListener("click", async () => {
    if (!timer) {
      button.textContent = armedText;
      timer = setTimeout(() => { timer = null; button.textContent = text; }, 5000);
      return;
    }
    clearTimeout(timer);
    timer = null;
    button.textContent = text;
    button.disabled = true;
    try {
      await act();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export async function cancelRun(ctx, runId) {
  try {
    await post(path(["runs", String(runId), "cancel"]));
    ctx.notify(`run #${runId}: cancelling`);
  } catch (e) {
    ctx.notify(e.message, "error");
  }
}

// Pause or unpause, when GET /status lists it: redrawn with the job's state.
export function pauseButton(ctx, job, paused) {
  if (!ctx.actions.has(paused ? "unpause" : "pause")) return null;
  return h("button", { type: "button", "data-action": paused ? "unpause" : "pause", onclick: async (e) => {
    e.target.disabled = true;
    try {
      await post(path(["jobs", job, paused ? "unpause" : "pause"]));
      ctx.notify(`${job} ${paused ? "unpaused" : "paused"}`);
    } catch (error) {
      ctx.notify(error.message, "error");
    } finally {
      e.target.disabled = false;
    }
  } }, paused ? "Unpause" : "Pause");
}

// The backfill form, when GET /status lists it. Made once per page and never
// redrawn: a run or job event must not wipe the dates being typed.
export function backfillControls(ctx, job) {
  if (!ctx.actions.has("backfill")) return null;
  const from = h("input", { type: "date", "aria-label": "backfill from" });
  const to = h("input", { type: "date", "aria-label": "backfill to" });
  return h("span", { class: "toolbar" }, "Backfill ", from, " to ", to, h("button", { type: "button", "data-action": "backfill", onclick: async () => {
    try {
      const answer = await post(path(["jobs", job, "backfill"], { from: from.value, to: to.value }));
      ctx.notify(`${answer.run_ids.length} backfill runs created`);
    } catch (error) {
      ctx.notify(error.message, "error");
    }
  } }, "Backfill"));
}
