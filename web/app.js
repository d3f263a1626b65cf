// The dashboard: a hash router over three views (overview, job, run), the
// live event stream, and the daemon's status line. No framework, no build
// step: ES modules served by the daemon itself.
import { getJson, setAuthRequired } from "./api.js";
import { clear, h } from "./dom.js";
import { refreshAgo } from "./format.js";
import { overviewView } from "./views/overview.js";
import { jobView } from "./views/job.js";
import { runView } from "./views/run.js";

const main = document.getElementById("view");
const liveBadge = document.getElementById("live");
const statusLine = document.getElementById("daemon-status");
const messages = document.getElementById("messages");

let view = null;
let controller = null;
let actions = new Set(["rerun", "cancel"]);

// --- messages: the API's words, or what the page did ---

export function notify(text, kind = "info") {
  const item = h("p", { class: ["message", kind], role: kind === "error" ? "alert" : "status" },
    text, " ", h("button", { type: "button", class: "link", onclick: () => item.remove(),
                             "aria-label": "dismiss" }, "×"));
  messages.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 8000);
  while (messages.children.length > 4) messages.firstChild.remove();
}

// --- live events: GET /events ---

// The events of the last minute, so that a view can replay those that came
// while it was fetching (its snapshot may predate them).
const recent = [];
const RECENT_MS = 60000;

function replay(since, onEvent) {
  for (const e of recent) if (e.t >= since) onEvent(e.type, e.data);
}

function dispatch(type, data) {
  const t = performance.now();
  recent.push({ t, type, data });
  while (recent.length && recent[0].t < t - RECENT_MS) recent.shift();
  if (view && view.onEvent) view.onEvent(type, data);
}

let source = null;
let retry = null;  // the timer of a reconnection after the stream closed for good
let everConnected = false;
let missed = false;  // the stream broke: the view may have missed changes

function setLive(state, title) {
  liveBadge.dataset.state = state;
  liveBadge.textContent = state === "live" ? "● live" : state === "connecting" ? "○ connecting" : "○ offline";
  liveBadge.title = title;
}

function connect() {
  setLive("connecting", "connecting to /events");
  source = new EventSource("events");
  source.onopen = () => {
    setLive("live", "updates arrive as the daemon stores them");
    if (everConnected && missed) {
      refreshView();
      refreshStatus();
    }
    everConnected = true;
    missed = false;
  };
  for (const type of ["run", "step", "job"]) {
    source.addEventListener(type, (e) => {
      try {
        dispatch(type, JSON.parse(e.data));
      } catch (error) {
        notify(`a bad event from the daemon: ${error.message}`, "error");
      }
    });
  }
  // The daemon dropped us as a slow reader: what we show may be stale.
  source.addEventListener("lost", () => refreshView());
  source.onerror = () => {
    missed = true;
    setLive("offline", "the daemon is not reachable; reconnecting by itself");
    // A network error is retried by the browser; an answer that is not an
    // event stream (a daemon shutting down answers 503) closes it for good.
    if (source.readyState === EventSource.CLOSED) {
      source = null;
      retry = setTimeout(connect, 2000);
    }
  };
}

// A page kept in the browser's back/forward cache would keep its stream
// open; a browser opens 6 connections to a host at most, so after a few such
// pages every request of the dashboard in another page waits for a minute.
// The stream is closed when the page is hidden, and opened again (with a
// refresh: events were missed meanwhile) if the page is shown from the cache.
window.addEventListener("pagehide", () => {
  clearTimeout(retry);
  if (source) source.close();
  source = null;
});
window.addEventListener("pageshow", (e) => {
  if (!e.persisted || source) return;
  missed = true;
  connect();
});

// --- the daemon's status line ---

async function refreshStatus() {
  try {
    const status = await getJson("status");
    setAuthRequired(status.auth_required);
    actions = new Set(status.actions || []);
    const pools = Object.entries(status.pools || {})
      .map(([name, p]) => `${name} ${p.in_use}/${p.size}`).join(", ");
    const parts = [`${status.jobs_loaded} jobs`, `${status.steps_running} steps running`,
      `${status.steps_ready} ready`, `${status.workers} workers`];
    if (pools) parts.push(`pools: ${pools}`);
    clear(statusLine).append(parts.join(" · "));
    if (!status.store.ok) statusLine.append(h("strong", { class: "bad" }, ` · store unavailable: ${status.store.error}`));
    if (status.config_errors.length) {
      statusLine.append(h("strong", { class: "bad", title: status.config_errors.join("\n") },
        ` · the last reload was refused: ${status.config_errors[0]}`));
    }
    statusLine.title = `nightshift ${status.version}`;
  } catch (e) {
    clear(statusLine).append(h("strong", { class: "bad" }, e.message));
  }
}

// --- routing: #/ , #/jobs/{job}, #/runs/{id}, #/runs/{id}/steps/{step}[/{attempt}] ---

function parse(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "jobs" && parts.length === 2) return { name: "job", job: parts[1] };
  if (parts[0] === "runs" && /^\d+$/.test(parts[1] || "")) {
    return { name: "run", id: Number(parts[1]), step: parts[2] === "steps" ? parts[3] : null,
             attempt: parts[4] ? Number(parts[4]) : null };
  }
  return { name: "overview" };
}

function context() {
  return {
    signal: controller.signal,
    actions,
    notify,
    replay,
    navigate: (hash) => { location.hash = hash; },
  };
}

function route() {
  const target = parse(location.hash);
  // A new step of the same run keeps the run view (its Gantt, its table).
  if (view && view.name === "run" && target.name === "run" && view.id === target.id) {
    view.select(target.step, target.attempt);
    return;
  }
  if (controller) controller.abort();
  if (view && view.dispose) view.dispose();
  controller = new AbortController();
  const ctx = context();
  view = target.name === "job" ? jobView(target.job, ctx)
    : target.name === "run" ? runView(target.id, target.step, target.attempt, ctx)
    : overviewView(ctx);
  view.name = target.name;
  view.id = target.id;
  clear(main).append(view.element);
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === "#/" && target.name === "overview");
  }
  refreshView();
  main.focus({ preventScroll: true });
}

function refreshView() {
  if (view) view.refresh().catch((e) => { if (e.name !== "AbortError") notify(e.message, "error"); });
}

window.addEventListener("hashchange", route);
setInterval(() => refreshAgo(), 15000);
setInterval(refreshStatus, 10000);
refreshStatus().then(() => {
  route();
  connect();
});
