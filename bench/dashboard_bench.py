#!/usr/bin/python3
"""Dashboard benchmarks (issue #10), timed by Chromium itself:

    bench/dashboard_bench.py [--nightshift build/daemon/nightshift] [--nightshift-old PATH]
                             [--runs 5] [--render-only] [--quick]

One daemon (test/integration/harness.py's Daemon, SQLite store) holds 1,000
jobs: 998 generated one-step jobs that each ran once (some failed), `big` (a
2,000-step DAG: 20 layers of 100 `true`, bigdag_test's job) that ran once,
and `gate`, whose step runs until the script creates its gate file. Debian's
headless Chromium is driven through chromedriver and python3-selenium as
test/integration/dashboard_test.py does (its Browser class).

1. The overview (`#/`) with 1,000 jobs, 2. the run page of the 2,000-step
   run (`#/runs/{id}`) and its job page (`#/jobs/big`: the graph's 2,000
   nodes and the grid, informative), each loaded afresh (about:blank first). A script
   injected before the page's own (CDP Page.addScriptToEvaluateOnNewDocument)
   watches the DOM with a MutationObserver and stamps performance.now() (ms
   since navigation start, Navigation Timing's origin) when the view holds
   its data: 1,000 job rows (or, windowed, the rows in view of a table that
   says it holds 1,000: data-rows); the Gantt and the step table of 2,000 steps (all
   2,000 bars and rows, or, windowed, the rows in view of a chart and a
   table that say they hold 2,000: data-bars, data-rows). "painted"
   is the first task after the next animation frame (style, layout and paint
   done). The split: Navigation Timing (document, DOMContentLoaded, load) and
   Resource Timing of the API fetches (when the last one's answer was read).
3. A state change to the page: a run of `gate` is opened (run page, then job
   page), its step seen running; the script creates the gate file, the step
   succeeds and is stored. A MutationObserver stamps Date.now() when the
   row (run page) or grid cell (job page) says `succeeded`; that is compared
   with the /events message's `at` (the daemon's clock when it published the
   stored change) and with the store's finished_at of the attempt: the same
   machine's clock on both sides, at 1 ms resolution. A second EventSource in
   the page stamps the message's arrival, to split transport from rendering.
   The overview is timed the same way on the job's row (informative).

Each figure is the median of --runs tries after one untimed warm-up. With
--nightshift-old (e.g. main's binary: the dashboard is built into it), the
render times are taken of both, a try of each in turn on the same store (the
daemon is restarted on the same port with the other binary). Markdown
report on stdout, progress on stderr. Not a test: ctest does not run it.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from benchlib import REPO, binaries_line, median, progress, snapshot_binary

RENDER_GOAL_MS = 1000
LIVE_GOAL_MS = 200
GENERATED = 998           # + big + gate = 1,000 jobs
SETUP_TIMEOUT = 900       # seconds for the runs the pages show to end
PAGE_TIMEOUT = 120

# Stamps, in the page, when the view first holds what `want` lists:
# [{name, selector, count} or {name, any: [{selector, count}, ...]}]; then the first task after the next frame.
WATCH_RENDER = """
(() => {
  const want = %s;
  const marks = window.__marks = {};
  const holds = (w) => (w.any || [w]).some((c) => document.querySelectorAll(c.selector).length >= c.count);
  const check = () => {
    for (const w of want) {
      if (w.name in marks || !holds(w)) continue;
      marks[w.name] = performance.now();
      requestAnimationFrame(() => setTimeout(() => { marks[w.name + ":painted"] = performance.now(); }, 0));
    }
    if (want.every((w) => w.name in marks)) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, attributes: true });
})();
"""

# Stamps Date.now() when `selector` first matches, and when the /events
# message for (run, step, status) arrives on a second stream.
WATCH_LIVE = """
const [selector, runId, step, status] = arguments;
const live = window.__live = { dom: null, painted: null, arrived: null, at: null };
const observer = new MutationObserver(() => {
  if (live.dom === null && document.querySelector(selector)) {
    live.dom = Date.now();
    observer.disconnect();
    requestAnimationFrame(() => setTimeout(() => { live.painted = Date.now(); }, 0));
  }
});
observer.observe(document, { childList: true, subtree: true, attributes: true });
const source = window.__benchSource = new EventSource("events");
source.addEventListener("step", (e) => {
  const data = JSON.parse(e.data);
  if (live.arrived === null && data.run_id === runId && data.step === step && data.status === status) {
    live.arrived = Date.now();
    live.at = Date.parse(data.at);
    source.close();
  }
});
return new Promise((resolve) => { source.onopen = () => resolve(true); });
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build", "daemon", "nightshift"))
    parser.add_argument("--nightshift-old", default=None, metavar="PATH",
                        help="a second binary (e.g. main's) whose render times are taken beside")
    parser.add_argument("--runs", type=int, default=5, help="timed tries per figure (after a warm-up)")
    parser.add_argument("--render-only", action="store_true", help="only the render times (1 and 2)")
    parser.add_argument("--quick", action="store_true", help="100 jobs, a 200-step run, 2 tries: checks the script only")
    return parser.parse_args()


def generated_job(i):
    zones = ["UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York"]
    deadline = f'deadline: "0{i % 9}:30"\n' if i % 3 == 0 else ""
    fails = i % 17 == 0  # some failed jobs, ranked first
    return (f"job: job{i:04d}\n"
            f"description: generated job {i} for the dashboard benchmark\n"
            f'schedule: "{i % 60} {i % 24} * * *"\ntimezone: {zones[i % len(zones)]}\n{deadline}'
            f"steps:\n  only: {{ shell: '{'exit 1' if fails else 'true'}' }}\n")


class Bench:
    def __init__(self, args, harness, Browser, big_job_yaml, steps):
        self.args = args
        self.harness = harness
        self.big_steps = steps
        self.jobs = (GENERATED if not args.quick else 98) + 2
        p = self.project = harness.Project(workers=8, extra_config="shutdown_grace: 2s\n")
        self.gates = p.path("gates")
        os.makedirs(self.gates)
        for i in range(self.jobs - 2):
            p.write(f"jobs.d/job{i:04d}.yaml", generated_job(i))
        p.write("jobs.d/big.yaml", big_job_yaml)
        p.job("gate", f"""\
            job: gate
            description: a step that runs until its gate file exists
            steps:
              wait: {{ shell: 'while [ ! -e {self.gates}/gate-$NIGHTSHIFT_RUN_ID ]; do sleep 0.01; done' }}
            """)
        self.daemon = harness.Daemon(p)
        self.Browser = Browser
        self.browser = None
        self.script_id = None

    def close(self):
        try:
            if self.browser:
                self.browser.quit()
        finally:
            try:
                self.daemon.stop(timeout=20, quiet=True)
            finally:
                self.project.cleanup()

    def rerun(self, job):
        answer = self.daemon.post(f"/jobs/{job}/rerun")
        if answer.status != 202:
            raise SystemExit(f"POST /jobs/{job}/rerun: {answer!r}")
        return answer.json["run_id"]

    def setup(self):
        d = self.daemon
        d.start()
        started = time.monotonic()
        self.big_run = self.rerun("big")
        run = d.wait_for_run(self.big_run, timeout=SETUP_TIMEOUT)
        if run["status"] != "succeeded" or len(run["steps"]) != len(self.big_steps):
            raise SystemExit(f"the big run ended {run['status']} with {len(run['steps'])} steps")
        progress(f"the {len(self.big_steps)}-step run took {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        runs = [self.rerun(f"job{i:04d}") for i in range(self.jobs - 2)]
        for run_id in runs:
            d.wait_for_run(run_id, timeout=SETUP_TIMEOUT)
        progress(f"{len(runs)} one-step runs took {time.monotonic() - started:.0f} s")
        listed = len(d.get_json("/jobs")["jobs"])
        if listed != self.jobs:
            raise SystemExit(f"GET /jobs lists {listed} jobs, not {self.jobs}")
        self.browser = self.Browser(d.url)

    # --- 1 and 2: a view loaded afresh until it holds its data ---

    def load(self, fragment, want):
        b = self.browser
        b.open_blank()
        before = self.cpu_metrics()
        if self.script_id:
            b.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": self.script_id})
        self.script_id = b.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_RENDER % json.dumps(want)})["identifier"]
        b.open(fragment)
        names = [w["name"] + ":painted" for w in want]
        self.harness.wait_for(lambda: b.js("return window.__marks && arguments[0].every((n) => n in window.__marks)", names),
                              PAGE_TIMEOUT, f"{fragment} to render")
        timing = b.js("""
            const nav = performance.getEntriesByType("navigation")[0];
            const api = performance.getEntriesByType("resource").filter((r) => r.initiatorType === "fetch");
            return { marks: window.__marks, document: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
                     load: nav.loadEventEnd,
                     api: api.map((r) => ({ name: r.name, start: r.startTime, end: r.responseEnd })) };""")
        after = self.cpu_metrics()
        # The renderer's main-thread time by kind (CDP Performance.getMetrics), in ms.
        timing["cpu"] = {k: (after[k] - before.get(k, 0)) * 1000 for k in after}
        b.collect()  # drains the logs chromedriver keeps
        return timing

    def cpu_metrics(self):
        d = self.browser.driver
        d.execute_cdp_cmd("Performance.enable", {})
        wanted = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "TaskDuration")
        return {m["name"]: m["value"] for m in d.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
                if m["name"] in wanted}

    def use(self, binary):
        """Restarts the daemon with `binary` (same store, same port) unless it runs it."""
        if self.harness.NIGHTSHIFT == binary:
            return
        port = self.daemon.port
        self.daemon.stop(timeout=30)
        self.harness.NIGHTSHIFT = binary
        self.daemon.start(port=port)

    def render(self, fragment, want, key):
        """{binary: tries}: a try of each binary in turn, after a warm-up of each."""
        binaries = [self.args.nightshift] + ([self.args.nightshift_old] if self.args.nightshift_old else [])
        for binary in binaries:
            self.use(binary)
            self.load(fragment, want)  # warm-up
        tries = {binary: [] for binary in binaries}
        for n in range(self.args.runs * len(binaries)):
            binary = binaries[n % len(binaries)]
            self.use(binary)
            t = self.load(fragment, want)
            # The API answers the view waited for: those that ended before it rendered.
            before = [a for a in t["api"] if a["end"] <= t["marks"][key]]
            t["api_end"] = max((a["end"] for a in before), default=float("nan"))
            t["api_names"] = [a["name"].split("/", 3)[-1] for a in before]
            tries[binary].append(t)
            if t["marks"][key] > 5 * RENDER_GOAL_MS:
                progress("  slow: " + ", ".join(f"{a['name'].split('/', 3)[-1]} {a['start']:.0f}-{a['end']:.0f}" for a in t["api"]))
            progress(f"  {'old ' if binary != binaries[0] else ''}{fragment} try {n // len(binaries) + 1}: data {t['marks'][key]:.0f} ms, painted "
                     f"{t['marks'][key + ':painted']:.0f} ms (last API answer {t['api_end']:.0f} ms; main thread: "
                     + ", ".join(f"{k.replace('Duration', '')} {v:.0f}" for k, v in t["cpu"].items()) + ")")
        self.use(binaries[0])
        return tries

    # --- 3: a stored state change to the page ---

    def live_try(self, fragment, selector, prepare=None):
        d, b = self.daemon, self.browser
        run_id = self.rerun("gate")
        self.harness.wait_for(lambda: {s["step"]: s["status"] for s in d.run_json(run_id)["steps"]}.get("wait") == "running",
                              PAGE_TIMEOUT, "the gate step to run")
        b.open_blank()
        b.open(fragment(run_id))
        if prepare:
            prepare(b)
        self.harness.wait_for(lambda: b.js("return document.querySelector(arguments[0]) !== null",
                                           selector(run_id, "running")), PAGE_TIMEOUT, "the running step on the page")
        self.harness.wait_for(lambda: b.js("return document.getElementById('live').dataset.state") == "live",
                              PAGE_TIMEOUT, "the page's live stream")
        b.js(WATCH_LIVE, selector(run_id, "succeeded"), run_id, "wait", "succeeded")
        self.project.write(f"gates/gate-{run_id}", "")
        self.harness.wait_for(lambda: b.js("const l = window.__live; return l.painted !== null && l.arrived !== null"),
                              PAGE_TIMEOUT, "the change on the page")
        live = b.js("return window.__live")
        run = d.wait_for_run(run_id)
        attempt = run["steps"][0]
        live["finished_at"] = datetime.datetime.fromisoformat(attempt["finished_at"].replace("Z", "+00:00")).timestamp() * 1000
        b.js("sessionStorage.clear()")  # a filter prepare() set
        b.collect()
        return live

    def live(self, name, fragment, selector, prepare=None):
        self.live_try(fragment, selector, prepare)  # warm-up
        tries = []
        for n in range(self.args.runs):
            t = self.live_try(fragment, selector, prepare)
            tries.append(t)
            progress(f"  {name} try {n + 1}: event at -> DOM {t['dom'] - t['at']:.0f} ms "
                     f"(arrived {t['arrived'] - t['at']:.0f} ms, painted {t['painted'] - t['at']:.0f} ms; "
                     f"finished_at -> DOM {t['dom'] - t['finished_at']:.0f} ms)")
        return tries


def row(name, values, goal=None, unit="ms"):
    m = median(values)
    verdict = "" if goal is None else (" met" if m < goal else " **missed**")
    spread = f"{min(values):.0f}–{max(values):.0f}"
    return f"| {name} | {m:.0f} {unit} | {spread} |{' < ' + str(goal) + ' ' + unit + verdict if goal else ' –'} |"


def report(args, bench, overviews, runpages, jobpages, live_run, live_job, live_overview):
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
    overview, runpage, jobpage = overviews[args.nightshift], runpages[args.nightshift], jobpages[args.nightshift]
    out = [f"Dashboard benchmark, {datetime.date.today()}, revision {args.revision} "
           f"(binary {args.binary_sha}), {os.cpu_count()} cores, {platform.machine()}, {chromium}",
           f"binaries: {binaries_line(args)}",
           f"`uptime` at the start: {args.uptime_start}", f"`uptime` at the end: {uptime}", "",
           f"Medians of {args.runs} tries after a warm-up (min–max beside). Render times are ms since "
           "navigation start (performance.now()).", "",
           "| what | median | range | goal |", "| --- | --- | --- | --- |"]
    n = bench.jobs
    steps = len(bench.big_steps)
    out.append(row(f"overview, {n} jobs: {n} rows in the DOM", [t["marks"]["rows"] for t in overview]))
    out.append(row(f"overview, {n} jobs: painted", [t["marks"]["rows:painted"] for t in overview], RENDER_GOAL_MS))
    out.append(row(f"run page, {steps} steps: bars and rows in the DOM", [t["marks"]["run"] for t in runpage]))
    out.append(row(f"run page, {steps} steps: painted", [t["marks"]["run:painted"] for t in runpage], RENDER_GOAL_MS))
    out.append(row(f"job page, {steps} steps (graph and grid): painted", [t["marks"]["job:painted"] for t in jobpage]))
    if args.nightshift_old:
        old_overview, old_runpage = overviews[args.nightshift_old], runpages[args.nightshift_old]
        old_jobpage = jobpages[args.nightshift_old]
        out.append(row(f"old: overview, {n} jobs: painted", [t["marks"]["rows:painted"] for t in old_overview], RENDER_GOAL_MS))
        out.append(row(f"old: run page, {steps} steps: bars and rows in the DOM", [t["marks"]["run"] for t in old_runpage]))
        out.append(row(f"old: run page, {steps} steps: painted", [t["marks"]["run:painted"] for t in old_runpage], RENDER_GOAL_MS))
        out.append(row(f"old: job page, {steps} steps (graph and grid): painted", [t["marks"]["job:painted"] for t in old_jobpage]))
    for name, tries in (("run page (step row)", live_run), ("job page (grid cell)", live_job)) if live_run else ():
        out.append(row(f"stored -> {name}: event `at` to DOM", [t["dom"] - t["at"] for t in tries], LIVE_GOAL_MS))
        out.append(row(f"stored -> {name}: store finished_at to DOM", [t["dom"] - t["finished_at"] for t in tries]))
        out.append(row(f"stored -> {name}: event `at` to painted", [t["painted"] - t["at"] for t in tries]))
    if live_overview:
        out.append(row(f"stored -> overview of {n} jobs (job row): event `at` to DOM",
                       [t["dom"] - t["at"] for t in live_overview]))
    out += ["", "Where the time goes (medians):", "",
            "| view | document read | DOMContentLoaded | load | last API answer | data in DOM | painted "
            "| main thread: layout | style | script | all tasks |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    views = [("overview", overview, "rows"), ("run page", runpage, "run"), ("job page", jobpage, "job")]
    if args.nightshift_old:
        views += [("old: overview", old_overview, "rows"), ("old: run page", old_runpage, "run"),
                  ("old: job page", old_jobpage, "job")]
    for name, tries, key in views:
        cpu = " | ".join(f"{median([t['cpu'][k] for t in tries]):.0f}"
                         for k in ("LayoutDuration", "RecalcStyleDuration", "ScriptDuration", "TaskDuration"))
        out.append(f"| {name} | {median([t['document'] for t in tries]):.0f} | {median([t['dcl'] for t in tries]):.0f} | "
                   f"{median([t['load'] for t in tries]):.0f} | {median([t['api_end'] for t in tries]):.0f} | "
                   f"{median([t['marks'][key] for t in tries]):.0f} | {median([t['marks'][key + ':painted'] for t in tries]):.0f} "
                   f"| {cpu} |")
    out += ["", f"API answers the overview waited for: {', '.join(overview[-1]['api_names'])}; "
            f"the run page: {', '.join(runpage[-1]['api_names'])}"]
    if not live_run:
        return "\n".join(out)
    out += ["", "| live change | event `at` -> arrived in the page | arrived -> DOM | DOM -> painted |",
            "| --- | --- | --- | --- |"]
    for name, tries in (("run page", live_run), ("job page", live_job), ("overview", live_overview)):
        out.append(f"| {name} | {median([t['arrived'] - t['at'] for t in tries]):.0f} ms | "
                   f"{median([t['dom'] - t['arrived'] for t in tries]):.0f} ms | "
                   f"{median([t['painted'] - t['dom'] for t in tries]):.0f} ms |")
    return "\n".join(out)


def main():
    args = parse_args()
    if args.quick:
        args.runs = 2
    args.uptime_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="nightshift-dashbench-")
    snapshot_binary(args, tmp)
    os.environ["NIGHTSHIFT_BIN"] = args.nightshift
    sys.path.insert(0, os.path.join(REPO, "test", "integration"))
    import harness
    import bigdag_test
    import dashboard_test
    if dashboard_test.MISSING:
        raise SystemExit(f"{dashboard_test.MISSING}: run scripts/install-deps")
    big_yaml, steps = bigdag_test.big_job_yaml(), bigdag_test.ALL_STEPS
    if args.quick:  # 2 layers of 100
        big_yaml = "\n".join(line for line in big_yaml.splitlines() if not line.startswith(("  s0", "  s1")) or
                             line.startswith(("  s00_", "  s01_"))) + "\n"
        steps = frozenset(s for s in steps if s.startswith(("s00_", "s01_")))

    class Browser(dashboard_test.Browser):
        def open_blank(self):
            self.driver.get("about:blank")

    bench = Bench(args, harness, Browser, big_yaml, steps)
    try:
        bench.setup()
        progress("the overview")
        overview = bench.render("#/", [{"name": "rows", "any": [
            {"selector": "tr[data-job]", "count": bench.jobs},
            {"selector": f"table.jobs[data-rows='{bench.jobs}'] tr[data-job]", "count": 1}]}], "rows")
        progress("the run page")
        n = len(steps)
        runpage = bench.render(f"#/runs/{bench.big_run}", [
            {"name": "run", "any": [{"selector": ".bar[data-attempt]", "count": n},
                                    {"selector": f"svg.gantt[data-bars='{n}'] .bar[data-attempt]", "count": 1}]},
            {"name": "table", "any": [{"selector": "table.steps tr[data-step]", "count": n},
                                      {"selector": f"table.steps[data-rows='{n}'] tr[data-step]", "count": 1}]}], "run")
        for tries in runpage.values():  # the view holds its data once both are there
            for t in tries:
                t["marks"]["run"] = max(t["marks"]["run"], t["marks"]["table"])
                t["marks"]["run:painted"] = max(t["marks"]["run:painted"], t["marks"]["table:painted"])
        progress("the job page")
        jobpage = bench.render("#/jobs/big", [
            {"name": "job", "selector": ".node[data-step]", "count": n},
            {"name": "grid", "any": [{"selector": "td[data-run][data-step]", "count": n},
                                     {"selector": f"table.grid[data-rows='{n}'] td[data-step]", "count": 1}]}], "job")
        for tries in jobpage.values():
            for t in tries:
                t["marks"]["job"] = max(t["marks"]["job"], t["marks"]["grid"])
                t["marks"]["job:painted"] = max(t["marks"]["job:painted"], t["marks"]["grid:painted"])
        live_run = live_job = live_overview = None
        if not args.render_only:
            progress("a state change to the run page")
            live_run = bench.live("run page", lambda r: f"#/runs/{r}",
                                  lambda r, s: f"table.steps tr[data-step='wait'][data-status='{s}']")
            progress("a state change to the job page")
            live_job = bench.live("job page", lambda r: "#/jobs/gate",
                                  lambda r, s: f"td[data-run='{r}'][data-step='wait'][data-status='{s}']")
            progress("a state change to the overview")
            # The overview draws the rows in view: the job is found by its name first.
            live_overview = bench.live("overview", lambda r: "#/",
                                       lambda r, s: f"tr[data-job='gate'][data-run='{r}'][data-status='{s}']",
                                       lambda b: b.one("input[type='search']").send_keys("gate"))
    finally:
        bench.close()
        subprocess.run(["rm", "-rf", tmp])
    print(report(args, bench, overview, runpage, jobpage, live_run, live_job, live_overview))


if __name__ == "__main__":
    main()
