// How states, times and durations read on the page. Every status is shown as
// text (or a glyph with the text in its title and label) as well as a colour,
// so that the page reads without colour too.
import { h } from "./dom.js";

const GLYPHS = {
  succeeded: "✓", failed: "✗", timed_out: "⧗", cancelled: "⊘", upstream_failed: "↑",
  lost: "?", running: "▶", queued: "…", ready: "…", pending: "·", never: "–",
};

// Final step states that mean something went wrong.
export const BAD = new Set(["failed", "timed_out", "upstream_failed", "lost", "cancelled"]);
export const ACTIVE = new Set(["running", "queued", "ready"]);

export function glyph(status) {
  return GLYPHS[status] || "•";
}

export function label(status) {
  return String(status || "never").replace("_", " ");
}

// A status badge: the glyph and the word, coloured by the state.
export function badge(status, extra) {
  return h("span", { class: ["badge", `st-${status || "never"}`, extra] },
    h("span", { "aria-hidden": "true" }, glyph(status || "never")), " ", label(status));
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

// ISO 8601 in the browser's time zone, with its offset: 2026-12-03T09:35:31+09:00.
export function localIso(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export function relative(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  let text;
  if (abs < 5) return "just now";
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 2) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} days`;
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

// <time> reading "3 min ago", the exact local time with offset on hover. The
// app refreshes every [data-ago] element now and then.
export function ago(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: localIso(date), "data-ago": "" }, relative(date));
}

export function refreshAgo(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[data-ago]"))
    el.textContent = relative(new Date(el.getAttribute("datetime")), now);
}

// A time given in a job's zone ("2026-12-04T00:10:00+09:00"): shown as it is
// (the job's wall clock), UTC on hover.
export function zoned(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  return h("time", { datetime: iso, title: new Date(iso).toISOString().replace(".000Z", "Z") + " (UTC)" },
    iso.replace("T", " "));
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.round(s % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

// From started_at to finished_at, or to now while it runs; null when not started.
export function elapsed(started, finished, now = Date.now()) {
  if (!started) return null;
  return (finished ? new Date(finished).getTime() : now) - new Date(started).getTime();
}
