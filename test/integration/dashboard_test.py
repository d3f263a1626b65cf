"""The dashboard in a real browser: Debian's headless Chromium, driven by
chromedriver through python3-selenium, against the real daemon (harness.py).

What a person on call does is what the test does: the overview lists the jobs
with their status; the job page shows the run grid and the DAG (one node per
step, one edge per dependency); a rerun clicked in the page asks for the token
once (kept in sessionStorage, never in a URL); the new run's cells change
state live from /events, without a reload; the run page shows one Gantt bar
per attempt (a retried step has two); a step's log is shown, and a running
one grows in the page. A cancel clicked on a run page stops its running step:
the page shows it cancelled live, the store agrees, and the step's processes
are gone. A 2,000-step job's pages render, and the live stream
comes back by itself after the daemon restarts. No console error, and no
request leaves the daemon's origin. Screenshots of each view are written
under the build folder ($NIGHTSHIFT_SCREENSHOT_DIR) for a person to look at.

The browser is a dependency like any other (scripts/install-deps installs
it): when it is missing the test fails, unless NIGHTSHIFT_SKIP_BROWSER_TESTS=1
says to skip it. Steps that must stay running wait for a gate file the test
creates, so no state is caught by timing; time bounds only catch hangs."""

import datetime
import json
import os
import re
import shutil
import sys
import time
import unittest
import urllib.parse

from harness import DaemonTest, main, pid_alive, wait_for

TOKEN = "dash-token-0123456789"
SKIP_ENV = "NIGHTSHIFT_SKIP_BROWSER_TESTS"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = os.environ.get("NIGHTSHIFT_SCREENSHOT_DIR")
# Generous: only a hung page or daemon hits these.
PAGE_TIMEOUT = 60
LIVE_TIMEOUT = 30

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    MISSING = None
except ImportError as e:  # reported per test below, as a failure or a loud skip
    MISSING = f"python3-selenium is not importable by {sys.executable} ({e})"
if not MISSING:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not os.access(program, os.X_OK):
            MISSING = f"{program} is not installed"


def require_browser(test):
    if MISSING is None:
        return
    if os.environ.get(SKIP_ENV) == "1":
        sys.stderr.write(f"\n*** SKIPPED: the dashboard's browser tests: {MISSING} ({SKIP_ENV}=1) ***\n")
        raise unittest.SkipTest(MISSING)
    test.fail(f"{MISSING}: run scripts/install-deps (chromium, chromium-driver, python3-selenium), "
              f"or set {SKIP_ENV}=1 to skip the browser tests")


def pipe_job(gates):
    """extract -> {flaky, broken}; flaky -> slow; {slow, broken} -> load.
    flaky fails its first attempt and succeeds on the retry; broken fails;
    slow runs until the gate file of its run exists."""
    return f"""\
        job: pipe
        description: a small pipeline for the dashboard test
        env: {{ DB_PASSWORD: "${{secret:DB_PASSWORD}}" }}
        steps:
          extract: {{ shell: 'echo extracting', description: pulls the rows }}
          flaky:
            depends_on: [extract]
            retries: 1
            retry_delay: 100ms
            shell: 'echo try $NIGHTSHIFT_ATTEMPT; [ "$NIGHTSHIFT_ATTEMPT" = 2 ]'
          broken: {{ depends_on: [extract], shell: 'echo boom >&2; exit 3' }}
          slow:
            depends_on: [flaky]
            shell: 'echo started; while [ ! -e {gates}/gate-$NIGHTSHIFT_RUN_ID ]; do sleep 0.05; done; echo done'
          load: {{ depends_on: [slow, broken], shell: 'true' }}
        """


PIPE_EDGES = {("extract", "flaky"), ("extract", "broken"), ("flaky", "slow"), ("slow", "load"),
              ("broken", "load")}


def process_group(pid):
    """The process group of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[2])


def group_members(group):
    """The live processes (not zombies: an orphan's reaper may be slow) of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and process_group(entry) == group and pid_alive(entry):
                members.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass  # gone meanwhile
    return members


def read_pid(path):
    """The PID a step wrote to `path`, once it is there whole."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


class Browser:
    """Headless Chromium with its console and network logs collected."""

    def __init__(self, origin):
        self.origin = origin
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-default-apps", "--disable-sync"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(PAGE_TIMEOUT)
        self.driver.set_page_load_timeout(PAGE_TIMEOUT)
        self.console = []
        self.requests = []

    def collect(self):
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])

    def open(self, fragment=""):
        self.driver.get(f"{self.origin}/{fragment}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css, timeout=PAGE_TIMEOUT):
        return wait_for(lambda: (self.all(css) or [None])[0], timeout, f"an element {css}")

    def click(self, css, timeout=PAGE_TIMEOUT):
        """Clicks the first match; a live update may redraw it between the
        look-up and the click, so a stale element is looked up again."""
        def attempt():
            try:
                self.one(css, timeout).click()
                return True
            except StaleElementReferenceException:
                return False
        wait_for(attempt, timeout, f"a click on {css}")

    def text(self, css):
        """The text of the first match, or "" (also when it is redrawn meanwhile)."""
        try:
            found = self.all(css)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            return ""

    def attribute(self, css, name):
        """The attribute of the first match, or None (also when it is re-rendered meanwhile)."""
        try:
            found = self.all(css)
            return found[0].get_attribute(name) if found else None
        except StaleElementReferenceException:
            return None

    def wait_attribute(self, css, name, value, timeout=LIVE_TIMEOUT):
        wait_for(lambda: self.attribute(css, name) == value, timeout,
                 f"{css} to have {name}={value!r} (has {self.attribute(css, name)!r})")

    def screenshot(self, name):
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            self.driver.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))

    def quit(self):
        self.driver.quit()


class DashboardTest(DaemonTest):
    project_args = {"extra_config": "auth: { tokens_file: tokens }\nshutdown_grace: 2s\n"}

    def setUp(self):
        require_browser(self)
        super().setUp()
        self.gates = self.project.path("gates")
        os.makedirs(self.gates)
        self.project.write("tokens", TOKEN + "\n")
        self.project.write("secrets/DB_PASSWORD", "hunter2-secret\n")
        self.browser = None

    def tearDown(self):
        if self.browser:
            try:
                self.browser.screenshot(f"{self._testMethodName}-last")
            finally:
                self.browser.quit()
        super().tearDown()

    def start_browser(self):
        self.browser = Browser(self.daemon.url)
        return self.browser

    def open_gate(self, run_id):
        self.project.write(f"gates/gate-{run_id}", "")

    def enter_token(self):
        """Answers the token prompt an action opens."""
        dialog = self.browser.one("#token-dialog[open]")
        dialog.find_element(By.CSS_SELECTOR, "input").send_keys(TOKEN)
        dialog.find_element(By.CSS_SELECTOR, "button[value='ok']").click()

    def step_status(self, run_id, step):
        return {s["step"]: s["status"] for s in self.daemon.run_json(run_id)["steps"]}[step]

    def rerun(self, job, **query):
        target = f"/jobs/{job}/rerun" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        answer = self.daemon.post(target, token=TOKEN)
        self.assertEqual(answer.status, 202, answer)
        return answer.json["run_id"]

    def assert_clean(self, allow_network_errors=False, refused=0):
        """No console error (but for `refused` answers 409 that the test
        provoked); every request went to the daemon's origin."""
        b = self.browser
        b.collect()
        errors = [e for e in b.console if e["level"] == "SEVERE"]
        conflicts = [e for e in errors if e.get("source") == "network" and "409" in e["message"]]
        self.assertEqual(len(conflicts), refused, conflicts)
        errors = [e for e in errors if e not in conflicts]
        if allow_network_errors:
            # While the daemon is down, the browser reports what it could not reach.
            errors = [e for e in errors if "ERR_CONNECTION_REFUSED" not in e["message"]
                      and "ERR_EMPTY_RESPONSE" not in e["message"]]
        self.assertEqual(errors, [], "console errors")
        self.assertTrue(b.requests, "the performance log recorded no request")
        # data: URLs are the browser's own (the date input's icon): nothing is fetched.
        foreign = [u for u in b.requests if not u.startswith((self.daemon.url + "/", "data:"))]
        self.assertEqual(foreign, [], "requests to another host")
        self.assertFalse([u for u in b.requests if TOKEN in u], "the token appeared in a URL")

    def test_views_actions_live_updates_and_logs(self):
        p = self.project
        p.job("pipe", pipe_job(self.gates))
        p.job("hello", """\
            job: hello
            steps:
              hi: { shell: 'echo hi' }
            """)
        p.job("idle", """\
            job: idle
            schedule: "10 0 * * *"
            timezone: Asia/Tokyo
            deadline: "06:00"
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        d = self.daemon
        first = self.rerun("pipe")
        self.open_gate(first)
        self.assertEqual(d.wait_for_run(first)["status"], "failed")
        self.assertEqual(d.wait_for_run(self.rerun("hello"))["status"], "succeeded")
        b = self.start_browser()

        # --- the overview: every job with its status, failed first ---
        b.open()
        b.one("tr[data-job='idle']")
        rows = {r.get_attribute("data-job"): r for r in b.all("tr[data-job]")}
        self.assertEqual(set(rows), {"pipe", "hello", "idle"})
        self.assertEqual(rows["pipe"].get_attribute("data-status"), "failed")
        self.assertEqual(rows["pipe"].get_attribute("data-run"), str(first))
        self.assertEqual(rows["hello"].get_attribute("data-status"), "succeeded")
        self.assertEqual(rows["idle"].get_attribute("data-status"), "never")
        self.assertIn("failed", rows["pipe"].text)  # as text, not only as a colour
        self.assertEqual(b.all("tr[data-job]")[0].get_attribute("data-job"), "pipe")
        # Times: "… ago" with the exact local time and its offset on hover; the
        # next run in the job's zone, UTC on hover.
        ago = b.one("tr[data-job='hello'] time[data-ago]")
        self.assertRegex(ago.text, r"ago|just now")
        self.assertRegex(ago.get_attribute("title"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
        next_run = b.one("tr[data-job='idle'] time:not([data-ago])")
        self.assertRegex(next_run.text, r"^\d{4}-\d\d-\d\d 00:10:00\+09:00$")
        self.assertRegex(next_run.get_attribute("title"), r"^\d{4}-\d\d-\d\dT15:10:00Z \(UTC\)$")
        b.screenshot("overview")

        # --- the job page: grid cells and graph edges as the store has them ---
        b.open("#/jobs/pipe")
        b.one(f"td[data-run='{first}'][data-step='load']")
        stored = {s["step"]: s["status"] for s in d.run_json(first)["steps"]}
        cells = {c.get_attribute("data-step"): c.get_attribute("data-status")
                 for c in b.all(f"td[data-run='{first}'][data-step]")}
        self.assertEqual(cells, stored)
        self.assertEqual(len(b.all("td[data-run][data-step]")), 5)  # one run of 5 steps
        nodes = {n.get_attribute("data-step"): n.get_attribute("data-status") for n in b.all(".node[data-step]")}
        self.assertEqual(nodes, stored)
        edges = {(e.get_attribute("data-from"), e.get_attribute("data-to")) for e in b.all("[data-from][data-to]")}
        self.assertEqual(edges, PIPE_EDGES)
        self.assertEqual(len(b.all("[data-from][data-to]")), len(PIPE_EDGES))
        # The graph's nodes are one Tab stop; the arrow keys follow the edges.
        self.assertEqual(len(b.all(".node[tabindex='0']")), 1)
        focused = "return document.activeElement.dataset.step"
        b.one(".node[data-step='extract']").send_keys(Keys.ARROW_RIGHT)
        wait_for(lambda: b.js(focused) in ("flaky", "broken"), PAGE_TIMEOUT, "a downstream node focused")
        b.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
        wait_for(lambda: b.js(focused) in ("slow", "load"), PAGE_TIMEOUT, "the next downstream node focused")
        b.driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
        wait_for(lambda: b.js(focused) in ("flaky", "broken"), PAGE_TIMEOUT, "back upstream")
        self.assertEqual(len(b.all(".node[tabindex='0']")), 1)
        # The definition shows where a secret goes, never the secret.
        b.click("details.definition summary")
        wait_for(lambda: "DB_PASSWORD=***" in b.text("details.definition"), PAGE_TIMEOUT, "the definition's env")
        self.assertNotIn("hunter2", b.driver.page_source)
        b.screenshot("job")

        # --- a rerun clicked in the page: the token is asked once ---
        b.js("window.notReloaded = 'yes'")
        b.click("button[data-action='rerun']")
        self.enter_token()
        second = wait_for(lambda: (lambda runs: runs[0]["run_id"] if runs and runs[0]["run_id"] != first else None)(
            d.get_json("/jobs/pipe/runs?limit=1")["runs"]), LIVE_TIMEOUT, "the rerun's run")
        self.assertEqual(b.js("return sessionStorage.getItem('nightshift.token')"), TOKEN)
        self.assertNotIn(TOKEN, b.driver.current_url)
        # The new run's column appears and its cells change as the steps do.
        slow = f"td[data-run='{second}'][data-step='slow']"
        b.wait_attribute(slow, "data-status", "running")
        wait_for(lambda: self.step_status(second, "slow") == "running", LIVE_TIMEOUT, "slow running")
        b.wait_attribute(f".node[data-step='slow']", "data-status", "running")
        # A rerun the API refuses (max_active_runs): its words are on the page.
        b.click("button[data-action='rerun']")
        wait_for(lambda: "max_active_runs" in b.text(".message.error"), LIVE_TIMEOUT, "the API's error")
        self.assertIn("job 'pipe' has 1 active run(s)", b.text(".message.error"))
        self.open_gate(second)
        b.wait_attribute(slow, "data-status", "succeeded")
        b.wait_attribute(f".node[data-step='slow']", "data-status", "succeeded")
        self.assertEqual(b.js("return window.notReloaded"), "yes", "the page was reloaded")
        self.assertEqual(d.wait_for_run(second)["status"], "failed")  # broken fails again
        b.wait_attribute(f"td[data-run='{second}'][data-step='load']", "data-status", "upstream_failed")
        self.assertEqual(len(b.all("td[data-run][data-step]")), 10)

        # A second action asks for no token: it is kept for the tab.
        b.click(f"th.run[data-run='{second}'] a")
        b.one(f"h1[data-run='{second}']")
        b.click("button[data-action='rerun-failed']")
        third = wait_for(lambda: (lambda runs: runs[0]["run_id"] if runs[0]["run_id"] != second else None)(
            d.get_json("/jobs/pipe/runs?limit=1")["runs"]), LIVE_TIMEOUT, "the failed-steps rerun")
        self.assertFalse(b.all("#token-dialog[open]"), "the token was asked twice")

        # --- the run page: one Gantt bar per attempt, the retried step twice ---
        b.open(f"#/runs/{second}")
        b.one(".bar[data-step='slow']")
        run = d.run_json(second)
        attempts = {(s["step"], a["attempt"], a["status"]) for s in run["steps"] for a in s["attempts"]}
        bars = {(g.get_attribute("data-step"), int(g.get_attribute("data-attempt")), g.get_attribute("data-status"))
                for g in b.all(".bar[data-attempt]")}
        self.assertEqual(bars, attempts)
        self.assertEqual(sorted(a for s, a, _ in bars if s == "flaky"), [1, 2])
        self.assertEqual({s for s, a, st in bars if s == "flaky" and st == "failed"}, {"flaky"})
        critical = {g.get_attribute("data-step") for g in b.all(".bar[data-critical='true']")}
        self.assertEqual(critical, {"extract", "flaky", "slow"})  # slow ended last, after flaky's retry
        rows = {r.get_attribute("data-step"): r.get_attribute("data-status") for r in b.all("table.steps tr[data-step]")}
        self.assertEqual(rows, {s["step"]: s["status"] for s in run["steps"]})
        b.screenshot("run")

        # A finished step's log, opened from the step table.
        b.click("table.steps tr[data-step='broken'] a")
        wait_for(lambda: "boom" in b.text("pre.log[data-step='broken']"), PAGE_TIMEOUT, "broken's log")
        self.assertIn(f"#/runs/{second}/steps/broken", b.driver.current_url)

        # --- a running step's log grows in the page ---
        self.assertEqual(d.wait_for_run(third)["status"], "failed")
        fourth = self.rerun("pipe")
        wait_for(lambda: self.step_status(fourth, "slow") == "running", LIVE_TIMEOUT, "slow running")
        b.open(f"#/runs/{fourth}/steps/slow")
        b.one(".log-body[data-follow='true']")
        wait_for(lambda: "started" in b.text("pre.log[data-step='slow']"), PAGE_TIMEOUT, "the followed log")
        self.assertNotIn("done", b.text("pre.log[data-step='slow']"))
        self.open_gate(fourth)
        wait_for(lambda: "done" in b.text("pre.log[data-step='slow']"), LIVE_TIMEOUT, "the log to grow")
        b.one(".log-body[data-follow='ended']", LIVE_TIMEOUT)
        b.screenshot("run-log")
        self.assertEqual(d.wait_for_run(fourth)["status"], "failed")

        # A narrow window (a phone on call): no view is wider than the
        # window; wide parts (grid, graph, Gantt, tables) scroll in their boxes.
        b.driver.set_window_size(390, 844)
        width = "return [document.documentElement.scrollWidth, window.innerWidth]"
        for fragment, ready, name in (("#/", "tr[data-job='pipe']", "overview"),
                                      ("#/jobs/pipe", f"td[data-run='{fourth}'][data-step='slow']", "job"),
                                      (f"#/runs/{second}/steps/broken", "pre.log[data-step='broken']", "run")):
            b.open(fragment)
            b.one(ready)
            wait_for(lambda: (lambda w: w[0] <= w[1])(b.js(width)), PAGE_TIMEOUT,
                     f"the {name} page to fit a narrow window (scroll width, window: {b.js(width)})")
            b.screenshot(f"narrow-{name}")
        self.assertNotIn("hunter2", b.driver.page_source)

        self.assert_clean(refused=1)

    def test_a_cancel_clicked_in_the_page_stops_the_running_step(self):
        # `wait` writes its PID and runs until a gate file that is never created.
        self.project.job("hold", f"""\
            job: hold
            steps:
              wait: {{ shell: 'echo $$ > {self.gates}/pid-$NIGHTSHIFT_RUN_ID; while [ ! -e {self.gates}/gate-$NIGHTSHIFT_RUN_ID ]; do sleep 0.05; done' }}
              after: {{ depends_on: [wait], shell: 'true' }}
            """)
        self.daemon.start()
        d = self.daemon
        run_id = self.rerun("hold")
        pid = wait_for(lambda: read_pid(os.path.join(self.gates, f"pid-{run_id}")), LIVE_TIMEOUT,
                       "wait to write its PID")
        wait_for(lambda: self.step_status(run_id, "wait") == "running", LIVE_TIMEOUT, "wait running")
        group = process_group(pid)
        self.assertTrue(group_members(group), "the step's process group is not there")

        b = self.start_browser()
        b.open(f"#/runs/{run_id}")
        b.wait_attribute("table.steps tr[data-step='wait']", "data-status", "running")
        b.wait_attribute(f"h1[data-run='{run_id}']", "data-status", "running")
        b.wait_attribute("#live", "data-state", "live")
        b.js("window.notReloaded = 'yes'")
        # Two clicks: the first arms the button, the second cancels (the token is asked then).
        cancel = "button[data-action='cancel']"
        b.click(cancel)
        wait_for(lambda: "again" in b.text(cancel), PAGE_TIMEOUT, "the cancel button armed")
        b.click(cancel)
        self.enter_token()

        # The page follows from /events, without a reload.
        b.wait_attribute("table.steps tr[data-step='wait']", "data-status", "cancelled")
        b.wait_attribute(".bar[data-step='wait'][data-attempt='1']", "data-status", "cancelled")
        b.wait_attribute(f"h1[data-run='{run_id}']", "data-status", "cancelled")
        self.assertEqual(b.js("return window.notReloaded"), "yes", "the page was reloaded")
        wait_for(lambda: not b.all(cancel), PAGE_TIMEOUT, "the cancel button gone from a finished run")
        # The store says the same, and the step's processes are gone (not even a zombie).
        run = d.wait_for_run(run_id)
        self.assertEqual(run["status"], "cancelled")
        stored = {s["step"]: s["status"] for s in run["steps"]}
        self.assertEqual(stored["wait"], "cancelled")
        self.assertNotEqual(stored["after"], "succeeded")
        wait_for(lambda: not group_members(group), LIVE_TIMEOUT, f"the step's process group {group} to be gone")
        self.assertFalse(pid_alive(pid), f"the step's shell {pid} is still there")
        rows = {r.get_attribute("data-step"): r.get_attribute("data-status") for r in b.all("table.steps tr[data-step]")}
        self.assertEqual(rows, stored)
        b.screenshot("run-cancelled")
        self.assert_clean()

    def test_pause_unpause_and_backfill_clicked_in_the_job_page(self):
        # A daily job that never fires during the test: what appears is what the clicks made.
        self.project.job("daily", """\
            job: daily
            schedule: "0 3 * * *"
            catchup: none
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        d = self.daemon
        b = self.start_browser()
        b.open("#/jobs/daily")
        b.wait_attribute("#live", "data-state", "live")
        b.js("window.notReloaded = 'yes'")
        # Dates typed before the pause: the job events that follow redraw the
        # header, and must not wipe them.
        b.js("""document.querySelector("input[aria-label='backfill from']").value = arguments[0];
                document.querySelector("input[aria-label='backfill to']").value = arguments[1];
                document.querySelector("input[aria-label='date to rerun']").value = arguments[1];""",
             "2026-11-01", "2026-11-03")

        b.click("button[data-action='pause']")
        self.enter_token()
        wait_for(lambda: d.get_json("/jobs/daily")["paused"], LIVE_TIMEOUT, "the job paused in the store")
        b.one("button[data-action='unpause']", LIVE_TIMEOUT)  # the page follows the job event
        self.assertTrue(b.all("#job-title .badge.st-paused"), "no paused badge on the job page")
        b.screenshot("job-paused")
        b.click("button[data-action='unpause']")  # the token is kept for the session: no prompt
        wait_for(lambda: not d.get_json("/jobs/daily")["paused"], LIVE_TIMEOUT, "the job unpaused")
        b.one("button[data-action='pause']", LIVE_TIMEOUT)

        self.assertEqual(b.js("""return ["backfill from", "backfill to", "date to rerun"].map(
                                   (l) => document.querySelector(`input[aria-label='${l}']`).value);"""),
                         ["2026-11-01", "2026-11-03", "2026-11-03"], "the typed dates were wiped by a redraw")

        # Three days back: three runs, trigger backfill, oldest first; the grid shows them.
        b.click("button[data-action='backfill']")
        wait_for(lambda: "3 backfill runs created" in b.text("#messages"), LIVE_TIMEOUT,
                 f"the page to say what the backfill made (says {b.text('#messages')!r})")
        runs = d.get_json("/jobs/daily/runs")["runs"]
        self.assertEqual(sorted((r["date"], r["trigger"]) for r in runs),
                         [("2026-11-01", "backfill"), ("2026-11-02", "backfill"), ("2026-11-03", "backfill")])
        for run in runs:
            d.wait_for_run(run["run_id"])
            b.wait_attribute(f"table.grid [data-run='{run['run_id']}'][data-step='s']", "data-status", "succeeded")
        self.assertEqual(b.js("return window.notReloaded"), "yes", "the page was reloaded")
        b.screenshot("job-backfilled")
        self.assert_clean()

    def test_a_newcomer_finds_the_failed_step_reads_its_log_reruns_it_and_sees_it_succeed(self):
        """Issue #10's "done when", by clicks only: the overview shows last
        night's failed job first; its page, the failed run; the run page, the
        failed step and its log; "Rerun from" it (the token asked in the
        prompt); the new run's link in the message; the step there running,
        then succeeded, live."""
        marker = self.project.path("gates/fixed")
        self.project.job("nightly", f"""\
            job: nightly
            description: the nightly KPI load
            steps:
              extract: {{ shell: 'echo extracted' }}
              aggregate:
                depends_on: [extract]
                shell: 'if [ -e {marker} ]; then echo fixed; while [ ! -e {self.gates}/gate-$NIGHTSHIFT_RUN_ID ]; do sleep 0.05; done; echo aggregated; else echo "missing table registration_recent" >&2; exit 4; fi'
              load: {{ depends_on: [aggregate], shell: 'echo loaded' }}
            """)
        self.project.job("hello", """\
            job: hello
            steps:
              hi: { shell: 'echo hi' }
            """)
        self.daemon.start()
        d = self.daemon
        yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
        self.assertEqual(d.wait_for_run(self.rerun("hello"))["status"], "succeeded")
        night = self.rerun("nightly", date=yesterday)
        self.assertEqual(d.wait_for_run(night)["status"], "failed")
        b = self.start_browser()

        b.open()
        b.one("tr[data-job='hello']")
        first_row = b.all("tr[data-job]")[0]
        self.assertEqual(first_row.get_attribute("data-job"), "nightly")
        self.assertIn("failed", first_row.text)
        b.js("window.notReloaded = 'yes'")
        b.click("tr[data-job='nightly'] a[href='#/jobs/nightly']")
        b.one(f"th.run[data-run='{night}'][data-status='failed']")
        b.click(f"th.run[data-run='{night}'] a")
        b.one(f"h1[data-run='{night}'][data-status='failed']")
        self.assertIn(yesterday, b.text("h1"))
        b.click("p.failed-steps a")
        wait_for(lambda: "missing table registration_recent" in b.text("pre.log[data-step='aggregate']"),
                 PAGE_TIMEOUT, "the failed step's log")
        self.assertIn("exit 4", b.text("p.failed-steps"))
        b.screenshot("newcomer-failed-step")

        self.project.write("gates/fixed", "")  # what the person on call fixed
        b.click(".toolbar button[data-action='rerun-from']")
        self.enter_token()
        second = wait_for(lambda: (lambda runs: runs[0]["run_id"] if runs and runs[0]["run_id"] != night else None)(
            d.get_json("/jobs/nightly/runs?limit=1")["runs"]), LIVE_TIMEOUT, "the rerun's run")
        b.click(f".message a[href='#/runs/{second}']")
        b.one(f"h1[data-run='{second}']")
        self.assertIn(yesterday, b.text("h1"))
        b.wait_attribute("table.steps tr[data-step='aggregate']", "data-status", "running")
        b.wait_attribute("#live", "data-state", "live")
        extract = next(s for s in d.run_json(second)["steps"] if s["step"] == "extract")
        self.assertTrue(extract.get("carried_over"), extract)  # from the failed run: not run again
        self.open_gate(second)
        b.wait_attribute("table.steps tr[data-step='aggregate']", "data-status", "succeeded")
        b.wait_attribute(".bar[data-step='aggregate'][data-attempt='1']", "data-status", "succeeded")
        b.wait_attribute("table.steps tr[data-step='load']", "data-status", "succeeded")
        b.wait_attribute(f"h1[data-run='{second}']", "data-status", "succeeded")
        self.assertEqual(b.js("return window.notReloaded"), "yes", "the page was reloaded")
        run = d.wait_for_run(second)
        self.assertEqual(run["status"], "succeeded")
        self.assertEqual(run["date"], yesterday)
        b.screenshot("newcomer-rerun-succeeded")
        self.assert_clean()

    def test_a_2000_step_job_renders_and_stays_responsive(self):
        from bigdag_test import ALL_STEPS, LAYERS, WIDTH, big_job_yaml
        self.project.write("jobs.d/big.yaml", big_job_yaml())
        self.daemon.start()
        run_id = self.rerun("big")
        self.assertEqual(self.daemon.wait_for_run(run_id, timeout=150)["status"], "succeeded")
        order = self.daemon.get_json("/jobs/big")["topological_order"]
        b = self.start_browser()

        started = time.monotonic()
        b.open("#/jobs/big")
        count = "return document.querySelectorAll(arguments[0]).length"  # not 2,000 WebDriver handles a poll
        wait_for(lambda: b.js(count, ".node[data-step]") == len(ALL_STEPS), PAGE_TIMEOUT, "2,000 graph nodes")
        # The grid draws the rows in view only, and says how many it holds.
        b.one(f"table.grid[data-rows='{len(ALL_STEPS)}'][data-runs='1'] td[data-run='{run_id}'][data-step]")
        shown = time.monotonic() - started
        self.assertEqual(b.js(count, "[data-from][data-to]"), (LAYERS - 1) * (2 * WIDTH - 1))
        self.assertTrue(0 < b.js(count, "td[data-run][data-step]") < 200)
        b.js("const box = document.querySelector('.grid-box'); box.scrollTop = box.scrollHeight")
        b.one(f"td[data-run='{run_id}'][data-step='{order[-1]}'][data-status='succeeded']")
        self.assertTrue(0 < b.js(count, "td[data-run][data-step]") < 200)
        # Usable: zooming answers (the page is not busy for good).
        view_box = "return document.querySelector('svg.dag').getAttribute('viewBox')"  # WebDriver's own getter misses SVG's camel case
        before = b.js(view_box)
        self.assertTrue(before)
        b.click(".graph-controls button")
        wait_for(lambda: b.js(view_box) != before, PAGE_TIMEOUT, "the zoom")
        b.screenshot("big-job")

        started = time.monotonic()
        b.open(f"#/runs/{run_id}")
        # The run page draws the rows in view only; the chart and the table
        # say what they hold in all.
        b.one(f"svg.gantt[data-steps='{len(ALL_STEPS)}'][data-bars='{len(ALL_STEPS)}']")
        b.one(f"table.steps[data-rows='{len(ALL_STEPS)}'] tr[data-step]")
        run_shown = time.monotonic() - started
        b.screenshot("big-run")
        drawn = b.js("return [...document.querySelectorAll('.bar[data-attempt]')].map((e) => e.dataset.step)")
        self.assertTrue(0 < len(drawn) < 200, f"{len(drawn)} bars drawn of {len(ALL_STEPS)}")
        self.assertEqual(drawn, order[:len(drawn)])
        rows = "return [...document.querySelectorAll('table.steps tr[data-step]')].map((e) => e.dataset.step)"
        self.assertEqual(b.js(rows), order[:len(b.js(rows))])
        self.assertLess(len(b.js(rows)), 200)
        # Every row is reachable: scrolled to the end, the last step's bar and row are there.
        for box in (".gantt-box", ".steps-box"):
            b.js(f"const box = document.querySelector('{box}'); box.scrollTop = box.scrollHeight")
        b.one(f".bar[data-step='{order[-1]}'][data-attempt='1'][data-status='succeeded']")
        b.one(f"table.steps tr[data-step='{order[-1]}'][data-status='succeeded']")
        self.assertLess(b.js(count, ".bar[data-attempt]"), 200)
        # By the keyboard: the arrow keys walk down the table's links, the window follows.
        for box in (".gantt-box", ".steps-box"):
            b.js(f"document.querySelector('{box}').scrollTop = 0")
        b.one(f"table.steps tr[data-step='{order[0]}'] a").send_keys(Keys.ARROW_DOWN * 80)
        focused = "return document.activeElement.closest('tr') && document.activeElement.closest('tr').dataset.step"
        wait_for(lambda: b.js(focused) == order[80], PAGE_TIMEOUT, f"the focus on {order[80]} (is on {b.js(focused)})")
        # And Tab: a link and a button a row, the window moving along.
        for _ in range(60):
            b.driver.switch_to.active_element.send_keys(Keys.TAB)
        wait_for(lambda: b.js(focused) == order[110], PAGE_TIMEOUT, f"the focus on {order[110]} (is on {b.js(focused)})")
        self.assertEqual(b.js("return document.activeElement.tagName"), "A")
        # By the filter: one step of 2,000, in both the chart and the table.
        b.one("input[data-filter='text']").send_keys(order[1234])
        wait_for(lambda: b.js(count, "table.steps tr[data-step]") == 1, PAGE_TIMEOUT, "the filtered table")
        b.one(f"table.steps[data-rows='1'] tr[data-step='{order[1234]}']")
        self.assertEqual(b.js(count, ".bar[data-attempt]"), 1)
        b.one(f"svg.gantt[data-steps='1'] .bar[data-step='{order[1234]}']")
        # A deep link to a step far down shows its row and bar.
        b.open(f"#/runs/{run_id}/steps/{order[1900]}")
        b.one(f"table.steps tr.selected[data-step='{order[1900]}']")
        b.one(f".bar[data-step='{order[1900]}']")
        wait_for(lambda: b.all(f"pre.log[data-step='{order[1900]}']"), PAGE_TIMEOUT, "its log")
        print(f"\n2,000 steps: job page {shown:.2f} s, run page {run_shown:.2f} s (seen by the test, "
              f"through WebDriver; informative only)", file=sys.stderr)
        self.assert_clean()

    def test_the_overview_of_many_jobs_draws_the_rows_in_view(self):
        for i in range(300):
            self.project.job(f"job{i:03d}", f"""\
                job: job{i:03d}
                steps:
                  s: {{ shell: '{'exit 1' if i == 250 else 'true'}' }}
                """)
        self.daemon.start()
        failed = self.rerun("job250")
        self.assertEqual(self.daemon.wait_for_run(failed)["status"], "failed")
        b = self.start_browser()
        b.open()
        b.one("table.jobs[data-rows='300'][data-jobs='300'] tr[data-job]")
        count = "return document.querySelectorAll(arguments[0]).length"
        self.assertTrue(0 < b.js(count, "tr[data-job]") < 150, b.js(count, "tr[data-job]"))
        self.assertEqual(b.all("tr[data-job]")[0].get_attribute("data-job"), "job250")  # failed first
        b.js("const box = document.querySelector('.jobs-box'); box.scrollTop = box.scrollHeight")
        b.one("tr[data-job='job299'][data-status='never']")
        self.assertTrue(0 < b.js(count, "tr[data-job]") < 150, b.js(count, "tr[data-job]"))
        b.one("input[type='search']").send_keys("job123")
        b.one("table.jobs[data-rows='1'] tr[data-job='job123']")
        self.assertEqual(b.js(count, "tr[data-job]"), 1)
        b.screenshot("many-jobs")
        self.assert_clean()

    def test_the_live_stream_comes_back_after_the_daemon_restarts(self):
        self.project.job("pipe", pipe_job(self.gates))
        self.daemon.start()
        port = self.daemon.port
        b = self.start_browser()
        b.open("#/jobs/pipe")
        b.one(".node[data-step='slow']")
        b.wait_attribute("#live", "data-state", "live")
        b.js("window.notReloaded = 'yes'")

        self.daemon.stop()
        b.wait_attribute("#live", "data-state", "offline")
        self.daemon.start(port=port)
        b.wait_attribute("#live", "data-state", "live")
        run_id = self.rerun("pipe")
        b.wait_attribute(f"td[data-run='{run_id}'][data-step='slow']", "data-status", "running")
        self.open_gate(run_id)
        b.wait_attribute(f"td[data-run='{run_id}'][data-step='slow']", "data-status", "succeeded")
        self.assertEqual(b.js("return window.notReloaded"), "yes", "the page was reloaded")
        self.assert_clean(allow_network_errors=True)


if __name__ == "__main__":
    main()
