// A step's log (GET /runs/{id}/steps/{step}/log). A running attempt is
// followed (follow=true) and grows as it is written; a finished one is read a
// page at a time, never whole: with HTTP Range when the route answers 206, else
// by reading the stream up to the page's end and dropping the connection.
import { path } from "../api.js";
import { h } from "../dom.js";

export const PAGE_BYTES = 256 * 1024;
// What a followed log keeps on screen (characters); older lines are dropped.
const FOLLOW_KEEP = 1024 * 1024;

async function errorText(response) {
  const text = await response.text();
  try {
    return JSON.parse(text).error || text;
  } catch {
    return text || `HTTP ${response.status}`;
  }
}

export function logViewer(ctx, run, step, attempt, follow) {
  const url = path(["runs", String(run), "steps", step, "log"], { attempt });
  const pre = h("pre", { class: "log", tabindex: 0, "aria-label": `log of ${step}, attempt ${attempt}`, "data-step": step, "data-attempt": attempt });
  const state = h("span", { class: "muted small", role: "status" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const element = h("div", { class: "log-body" }, pre, h("div", { class: "toolbar" }, more, state,
    h("a", { href: url, target: "_blank", rel: "noopener", class: "small" }, "raw log")));
  const abort = new AbortController();
  ctx.signal.addEventListener("abort", () => abort.abort());
  const decoder = new TextDecoder("utf-8");
  let offset = 0;        // bytes shown so far
  let ranges = null;     // null: not known yet; true: the route answers 206
  let total = null;      // from Content-Range, when known

  function show(text) {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text);
    if (follow && pre.textContent.length > FOLLOW_KEEP) {
      pre.textContent = `[… earlier output not shown: open the raw log …]\n${pre.textContent.slice(-FOLLOW_KEEP / 2)}`;
    }
    if (follow && atEnd) pre.scrollTop = pre.scrollHeight;
  }

  // Reads the body, skipping `skip` bytes, until `limit` bytes were shown
  // (Infinity: to the end). True when the log goes on past what was read.
  async function read(response, skip, limit) {
    const reader = response.body.getReader();
    let shown = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        show(decoder.decode());
        return false;
      }
      let bytes = value;
      if (skip > 0) {
        const drop = Math.min(skip, bytes.length);
        skip -= drop;
        bytes = bytes.subarray(drop);
      }
      const over = shown + bytes.length > limit;
      const take = over ? bytes.subarray(0, limit - shown) : bytes;
      shown += take.length;
      offset += take.length;
      show(decoder.decode(take, { stream: true }));
      if (over) {
        reader.cancel().catch(() => {});
        return true;
      }
    }
  }

  async function page() {
    more.hidden = true;
    state.textContent = "loading…";
    const headers = ranges === false ? {} : { Range: `bytes=${offset}-${offset + PAGE_BYTES - 1}` };
    const response = await fetch(url, { headers, signal: abort.signal });
    if (response.status === 416) {  // nothing past the end
      state.textContent = "end of log";
      return;
    }
    if (!response.ok) throw new Error(await errorText(response));
    let goesOn;
    if (response.status === 206) {
      ranges = true;
      const range = /\/(\d+)$/.exec(response.headers.get("Content-Range") || "");
      if (range) total = Number(range[1]);
      await read(response, 0, Infinity);
      goesOn = total !== null ? offset < total : false;
    } else {
      ranges = false;
      goesOn = await read(response, offset, PAGE_BYTES);
    }
    more.hidden = !goesOn;
    state.textContent = goesOn
      ? `showing the first ${Math.round(offset / 1024)} KB${total ? ` of ${Math.round(total / 1024)} KB` : ""}`
      : `${offset} bytes, end of log`;
    if (!pre.textContent) state.textContent = "the log is empty";
  }

  async function followLog() {
    state.textContent = "following: the log grows as the step writes it";
    element.dataset.follow = "true";
    const response = await fetch(path(["runs", String(run), "steps", step, "log"], { attempt, follow: "true" }), { signal: abort.signal });
    if (!response.ok) throw new Error(await errorText(response));
    await read(response, 0, Infinity);
    element.dataset.follow = "ended";
    state.textContent = "the attempt has ended";
  }

  more.addEventListener("click", () => page().catch(fail));
  function fail(e) {
    if (e.name === "AbortError") return;
    state.textContent = "";
    pre.append(h("span", { class: "bad" }, e.message));
  }
  const done = (follow ? followLog() : page()).catch(fail);

  return { element, done, dispose: () => abort.abort() };
}
