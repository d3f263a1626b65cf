"""The daemon (`nightshift serve`) for real: its HTTP API, schedules, catch-up,
max_active_runs, drain, crash recovery, metrics and the client commands, on
127.0.0.1 with the SQLite store. Fire times come from seconds schedules, never
from waiting for midnight; time bounds only catch hangs."""

import datetime
import json
import os
import re
import select
import shutil
import socket
import subprocess
import time

from harness import (NIGHTSHIFT, TICK_JOB, Daemon, DaemonTest, Terminal, failing_job_with_deadline,
                     main, pid_alive, signal, wait_for)

SECRET = "s3cr3t-hunter2"

# shutdown_grace short by default, so that tearing down a daemon with a step
# still running does not wait a minute.
FAST_STOP = {"extra_config": "shutdown_grace: 2s\n"}


def metric_value(text, name, **labels):
    """The value of the sample `name` with exactly `labels` (in any order) in
    a Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        found, _, rest = series.partition("{")
        if found != name:
            continue
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if pairs == labels:
            return float(value)
    return None


def read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def read_pid(path):
    """The pid a step wrote to `path`, once it is there."""
    lines = read_lines(path)
    return int(lines[0]) if lines else None


class ApiTest(DaemonTest):
    project_args = FAST_STOP

    def setUp(self):
        super().setUp()
        self.project.write("secrets/DB_PASSWORD", SECRET + "\n")
        self.project.job("hello", """\
            job: hello
            description: says hello
            env: { ENV: prd, DB_PASSWORD: "${secret:DB_PASSWORD}" }
            steps:
              a: { shell: 'echo hello' }
              b:
                depends_on: [a]
                env: { TOKEN: "${secret:DB_PASSWORD}", PLAIN: visible }
                shell: 'echo ${#TOKEN}'
            """)
        self.project.job("nightly", """\
            job: nightly
            schedule: "10 0 * * *"
            timezone: Asia/Tokyo
            deadline: "06:00"
            steps:
              s: { shell: 'true' }
            """)
        self.project.job("quick", """\
            job: quick
            max_active_runs: 10
            steps:
              s: { shell: 'true' }
            """)
        pidfile = self.project.path("slow.pid")
        self.pidfile = pidfile
        # The step's real work is a grandchild: cancel must kill the whole group.
        self.project.job("slow", f"""\
            job: slow
            max_active_runs: 1
            steps:
              s:
                kill_grace: 1s
                shell: 'sh -c "sleep 30" & echo $! > {pidfile}; wait'
            """)

    def rerun(self, job, query=""):
        answer = self.daemon.post(f"/jobs/{job}/rerun{query}")
        self.assertEqual(answer.status, 202, answer)
        self.assertEqual(list(answer.json), ["run_id"], answer)
        return answer.json["run_id"]

    def test_health_readiness_metrics_and_status(self):
        self.daemon.start()
        answer = self.daemon.get("/healthz")
        self.assertEqual(answer.status, 200, answer)
        answer = self.daemon.get("/readyz")
        self.assertEqual(answer.status, 200, answer)
        self.assertIs(answer.json["ready"], True)

        answer = self.daemon.get("/metrics")
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                        answer.headers["Content-Type"])
        self.assertIn("nightshift_build_info{", answer.text)
        self.assertEqual(metric_value(answer.text, "nightshift_jobs_loaded"), 4)
        self.assertEqual(metric_value(answer.text, "nightshift_config_reload_success"), 1)

        status = self.daemon.get_json("/status")
        for key in ("version", "uptime_seconds", "config_errors", "store", "steps_running"):
            self.assertIn(key, status)
        self.assertRegex(status["version"], r"^\d+\.\d+")
        self.assertGreaterEqual(status["uptime_seconds"], 0)
        self.assertEqual(status["config_errors"], [])
        self.assertIs(status["store"]["ok"], True)
        self.assertEqual(status["steps_running"], 0)

    def test_jobs_list_and_definition_hide_secrets(self):
        self.daemon.start()
        answer = self.daemon.get("/jobs")
        self.assertEqual(answer.status, 200, answer)
        jobs = {j["job"]: j for j in answer.json["jobs"]}
        self.assertEqual(sorted(jobs), ["hello", "nightly", "quick", "slow"])
        for job in jobs.values():
            for key in ("job", "description", "schedule", "timezone", "next_run", "deadline",
                        "deadline_missed", "paused", "last_run"):
                self.assertIn(key, job)
            self.assertIs(job["paused"], False)
            self.assertIsNone(job["last_run"])
        nightly = jobs["nightly"]
        self.assertEqual(nightly["schedule"], "10 0 * * *")
        self.assertEqual(nightly["timezone"], "Asia/Tokyo")
        self.assertRegex(nightly["next_run"], r"^\d{4}-\d\d-\d\dT00:10:00\+09:00$")
        self.assertEqual(nightly["deadline"], "06:00")
        self.assertIs(nightly["deadline_missed"], False)
        self.assertIsNone(jobs["hello"]["schedule"])
        self.assertIsNone(jobs["hello"]["next_run"])
        self.assertEqual(jobs["hello"]["description"], "says hello")

        answer = self.daemon.get("/jobs/hello")
        self.assertEqual(answer.status, 200, answer)
        self.assertNotIn(SECRET, answer.text)
        job = answer.json
        self.assertEqual(job["env"], {"ENV": "prd", "DB_PASSWORD": "***"})
        steps = {s["step"]: s for s in job["steps"]}
        self.assertEqual(steps["b"]["depends_on"], ["a"])
        self.assertEqual(steps["b"]["env"], {"TOKEN": "***", "PLAIN": "visible"})

        # The secret reaches the step, and still no answer about the run shows it.
        run_id = self.rerun("hello")
        run = self.daemon.wait_for_run(run_id)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(self.project.log("hello", run_id, "b"), f"{len(SECRET)}\n")
        for path in ("/jobs", "/jobs/hello", "/jobs/hello/runs", f"/runs/{run_id}", "/status"):
            self.assertNotIn(SECRET, self.daemon.get(path).text, path)

        # /jobs shows the last run as a summary: its steps counted by state, not listed.
        jobs = {j["job"]: j for j in self.daemon.get_json("/jobs")["jobs"]}
        last = jobs["hello"]["last_run"]
        self.assertEqual((last["run_id"], last["job"], last["status"]),
                         (run_id, "hello", "succeeded"), last)
        for key in ("trigger", "scheduled_at", "date", "created_at", "started_at", "finished_at"):
            self.assertEqual(last[key], run[key], key)
        self.assertEqual(last["step_counts"], {"succeeded": 2}, last)
        self.assertNotIn("steps", last)
        for name in ("nightly", "quick", "slow"):
            self.assertIsNone(jobs[name]["last_run"], name)

        answer = self.daemon.get("/jobs/nope")
        self.assertEqual(answer.status, 404, answer)
        self.assertIn("error", answer.json)

    def test_run_history_pages_newest_first(self):
        self.daemon.start()
        ids = [self.rerun("quick") for _ in range(5)]
        for run_id in ids:
            self.daemon.wait_for_run(run_id)
        self.assertEqual(ids, sorted(ids))

        def page(query):
            answer = self.daemon.get(f"/jobs/quick/runs{query}")
            self.assertEqual(answer.status, 200, answer)
            return [r["run_id"] for r in answer.json["runs"]]

        newest_first = ids[::-1]
        self.assertEqual(page(""), newest_first)
        self.assertEqual(page("?limit=2"), newest_first[:2])
        self.assertEqual(page(f"?limit=2&before={newest_first[1]}"), newest_first[2:4])
        self.assertEqual(page(f"?limit=2&before={newest_first[3]}"), newest_first[4:])
        self.assertEqual(page(f"?before={ids[0]}"), [])
        run = self.daemon.get_json("/jobs/quick/runs?limit=1")["runs"][0]
        for key in ("run_id", "job", "trigger", "scheduled_at", "date", "status", "created_at",
                    "started_at", "finished_at", "steps"):
            self.assertIn(key, run)
        self.assertEqual(self.daemon.get("/jobs/nope/runs").status, 404)

    def test_rerun_run_detail_and_log(self):
        self.daemon.start()
        run_id = self.rerun("hello")
        run = self.daemon.wait_for_run(run_id)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(run["job"], "hello")
        self.assertEqual(run["trigger"], "manual")
        self.assertRegex(run["scheduled_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
        self.assertRegex(run["date"], r"^\d{4}-\d\d-\d\d$")
        for key in ("created_at", "started_at", "finished_at"):
            self.assertIsNotNone(run[key], key)
        steps = {s["step"]: s for s in run["steps"]}
        self.assertEqual(sorted(steps), ["a", "b"])
        for name, step in steps.items():
            self.assertEqual((step["status"], step["attempt"], step["exit_code"]), ("succeeded", 1, 0), step)
            self.assertIsNotNone(step["started_at"])
            self.assertIsNotNone(step["finished_at"])
            self.assertEqual([(a["attempt"], a["status"]) for a in step["attempts"]], [(1, "succeeded")])

        answer = self.daemon.get(f"/runs/{run_id}/steps/a/log")
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.headers["Content-Type"].startswith("text/plain"), answer.headers)
        self.assertEqual(answer.text, "hello\n")
        self.assertEqual(self.daemon.get(f"/runs/{run_id}/steps/a/log?attempt=1").text, "hello\n")
        self.assertEqual(self.daemon.get(f"/runs/{run_id}/steps/nope/log").status, 404)
        self.assertEqual(self.daemon.get(f"/runs/{run_id}/steps/a/log?attempt=2").status, 404)

        # from=b carries a over as done and runs b only.
        from_id = self.rerun("hello", "?from=b")
        run = self.daemon.wait_for_run(from_id)
        self.assertEqual(run["status"], "succeeded", run)
        steps = {s["step"]: s for s in run["steps"]}
        self.assertIs(steps["a"]["carried_over"], True)
        self.assertEqual(steps["a"]["attempt"], 0)
        self.assertEqual(steps["b"]["attempt"], 1)

        answer = self.daemon.post("/jobs/hello/rerun?from=nope")
        self.assertEqual(answer.status, 404, answer)
        self.assertIn("nope", answer.json["error"])
        answer = self.daemon.post("/jobs/nope/rerun")
        self.assertEqual(answer.status, 404, answer)
        self.assertIn("error", answer.json)
        for path in ("/runs/99999", "/runs/abc"):
            self.assertEqual(self.daemon.get(path).status, 404, path)
        self.assertEqual(self.daemon.post("/runs/99999/cancel").status, 404)
        self.assertEqual(self.daemon.get("/runs/99999/steps/a/log").status, 404)

    def test_max_active_runs_refuses_a_rerun_and_cancel_kills_the_process_group(self):
        self.daemon.start()
        run_id = self.rerun("slow")
        answer = self.daemon.post("/jobs/slow/rerun")
        self.assertEqual(answer.status, 409, answer)
        self.assertIn("error", answer.json)
        pid = wait_for(lambda: read_pid(self.pidfile), 20, "the slow step to start")
        self.assertEqual(self.daemon.run_json(run_id)["status"], "running")

        answer = self.daemon.post(f"/runs/{run_id}/cancel")
        self.assertEqual(answer.status, 202, answer)
        run = self.daemon.wait_for_run(run_id, timeout=20)
        self.assertEqual(run["status"], "cancelled", run)
        self.assertEqual(run["steps"][0]["status"], "cancelled", run)
        wait_for(lambda: not pid_alive(pid), 10, "the step's grandchild to die with its group")
        self.assertEqual(self.project.query("SELECT state FROM attempts WHERE run_id = ?", run_id),
                         [("cancelled",)])
        # The attempt says who stopped it.
        attempt = run["steps"][0]["attempts"][0]
        self.assertEqual(attempt["message"], "run cancelled through the API; "
                         "cancelled: nightshift sent SIGTERM to the process group", attempt)
        # An ended run cannot be cancelled again; the slot is free for a new run.
        self.assertEqual(self.daemon.post(f"/runs/{run_id}/cancel").status, 409)
        self.rerun("slow")

    def test_follow_streams_the_log_until_the_attempt_ends(self):
        go = self.project.path("go")
        self.project.job("talk", f"""\
            job: talk
            steps:
              s:
                shell: 'echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second; sleep 0.3; echo third'
            """)
        self.daemon.start()
        run_id = self.rerun("talk")
        wait_for(lambda: self.daemon.get(f"/runs/{run_id}/steps/s/log").text == "first\n", 20,
                 "the first line")

        with self.daemon.open(f"/runs/{run_id}/steps/s/log?follow=true") as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.readline(), b"first\n")
            # The step waits for `go`: the answer is streaming while the attempt runs.
            self.assertEqual(self.project.query("SELECT state FROM attempts WHERE run_id = ?", run_id),
                             [("running",)])
            with open(go, "w"):
                pass
            rest = r.read()
        self.assertEqual(rest, b"second\nthird\n")
        # The stream ends only once the attempt has ended in the store.
        state = self.project.query("SELECT state FROM attempts WHERE run_id = ?", run_id)
        self.assertEqual(state, [("succeeded",)])
        # Following an ended attempt answers its whole log at once.
        answer = self.daemon.get(f"/runs/{run_id}/steps/s/log?follow=true", timeout=10)
        self.assertEqual(answer.text, "first\nsecond\nthird\n")

    def test_wrong_method_answers_405_with_allow(self):
        self.daemon.start()
        for path in ("/jobs/hello/rerun", "/runs/1/cancel", "/reload"):
            answer = self.daemon.get(path)
            self.assertEqual(answer.status, 405, f"GET {path}: {answer!r}")
            self.assertEqual(answer.headers["Allow"], "POST", path)
        for path in ("/healthz", "/jobs", "/jobs/hello", "/status", "/metrics", "/runs/1"):
            answer = self.daemon.post(path)
            self.assertEqual(answer.status, 405, f"POST {path}: {answer!r}")
            self.assertEqual(answer.headers["Allow"], "GET", path)
        self.assertEqual(self.daemon.get("/no/such/thing").status, 404)

    def test_reload_refuses_a_broken_job_set_and_keeps_the_old_one(self):
        self.daemon.start()
        answer = self.daemon.post("/reload")
        self.assertEqual(answer.status, 200, answer)

        self.project.job("extra", """\
            job: extra
            steps:
              s: { shell: 'true' }
            """)
        self.assertEqual(self.daemon.post("/reload").status, 200)
        self.assertIn("extra", [j["job"] for j in self.daemon.get_json("/jobs")["jobs"]])

        broken = """\
            job: broken
            steps:
              s: { shell: 'true', depends_on: [missing] }
            """
        self.project.job("broken", broken)
        answer = self.daemon.post("/reload")
        self.assertEqual(answer.status, 422, answer)
        self.assertIn("broken.yaml:", answer.text)
        self.assertEqual(sorted(j["job"] for j in self.daemon.get_json("/jobs")["jobs"]),
                         ["extra", "hello", "nightly", "quick", "slow"])
        run = self.daemon.wait_for_run(self.rerun("hello"))
        self.assertEqual(run["status"], "succeeded", run)
        errors = self.daemon.get_json("/status")["config_errors"]
        self.assertTrue(errors and "broken.yaml" in errors[0], errors)
        metrics = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(metrics, "nightshift_config_reload_success"), 0)
        self.assertIn("reload refused", self.daemon.log())

        self.project.job("broken", broken.replace("depends_on: [missing]", "retries: 1"))
        answer = self.daemon.post("/reload")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(self.daemon.get_json("/status")["config_errors"], [])
        self.assertEqual(metric_value(self.daemon.get("/metrics").text, "nightshift_config_reload_success"), 1)
        self.assertIn("broken", [j["job"] for j in self.daemon.get_json("/jobs")["jobs"]])

        # A running run keeps the definition it started with.
        go = self.project.path("go")
        job = """\
            job: versioned
            steps:
              a: {{ shell: 'while [ ! -e {go} ]; do sleep 0.05; done' }}
              b: {{ shell: 'echo {version}', depends_on: [a] }}
            """
        self.project.job("versioned", job.format(go=go, version="v1"))
        self.assertEqual(self.daemon.post("/reload").status, 200)
        first = self.rerun("versioned")
        wait_for(lambda: self.daemon.run_json(first)["steps"][0]["status"] == "running", 20, "step a to run")
        self.project.job("versioned", job.format(go=go, version="v2"))
        self.assertEqual(self.daemon.post("/reload").status, 200)
        self.assertIn("echo v2", self.daemon.get("/jobs/versioned").text)
        with open(go, "w"):
            pass
        self.assertEqual(self.daemon.wait_for_run(first)["status"], "succeeded")
        self.assertEqual(self.project.log("versioned", first, "b"), "v1\n")
        second = self.rerun("versioned")
        self.assertEqual(self.daemon.wait_for_run(second)["status"], "succeeded")
        self.assertEqual(self.project.log("versioned", second, "b"), "v2\n")

        # SIGHUP reloads the same way.
        os.remove(self.project.path("jobs.d", "extra.yaml"))
        self.daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "extra" not in [j["job"] for j in self.daemon.get_json("/jobs")["jobs"]],
                 10, "SIGHUP to drop the removed job")


class AuthTest(DaemonTest):
    project_args = {"extra_config": "shutdown_grace: 2s\nauth: { tokens_file: tokens }\n"}

    def setUp(self):
        super().setUp()
        self.project.write("tokens", "# operators\nright-token\nother-token\n")
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'true' }
            """)

    def test_every_post_needs_a_valid_token_and_gets_need_none(self):
        self.daemon.start()
        for path in ("/jobs/hello/rerun", "/reload", "/runs/1/cancel"):
            answer = self.daemon.post(path)
            self.assertEqual(answer.status, 401, f"{path}: {answer!r}")
            self.assertEqual(self.daemon.post(path, token="wrong-token").status, 403, path)
            self.assertEqual(self.daemon.post(path, headers={"Authorization": "Basic cmlnaHQ="}).status,
                             401, path)
        answer = self.daemon.post("/jobs/hello/rerun", token="right-token")
        self.assertEqual(answer.status, 202, answer)
        self.daemon.wait_for_run(answer.json["run_id"])
        self.assertEqual(self.daemon.post("/jobs/hello/rerun", token="other-token").status, 202)
        self.assertEqual(self.daemon.post("/reload", token="right-token").status, 200)
        for path in ("/healthz", "/jobs", "/jobs/hello", "/jobs/hello/runs", "/status", "/metrics"):
            self.assertEqual(self.daemon.get(path).status, 200, path)

    def test_the_client_sends_the_token(self):
        self.daemon.start()
        self.project.write("token", "right-token\n")
        env = {k: v for k, v in os.environ.items() if k != "NIGHTSHIFT_TOKEN"}
        result = subprocess.run([NIGHTSHIFT, "rerun", "hello", "--wait", "--url", self.daemon.url],
                                capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("401", result.stderr)
        result = subprocess.run([NIGHTSHIFT, "rerun", "hello", "--wait", "--url", self.daemon.url,
                                 "--token-file", self.project.path("token")],
                                capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("right-token", result.stdout + result.stderr)


class ScheduleTest(DaemonTest):
    project_args = FAST_STOP

    def test_a_seconds_schedule_fires_on_time(self):
        # catchup: all, so a fire time the daemon woke late for still gets its run.
        self.project.write("jobs.d/tick.yaml", TICK_JOB)
        self.daemon.start()
        rows = wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(self.project.query(
            "SELECT scheduled_at, created_at, triggered_by FROM runs WHERE job = 'tick' "
            "ORDER BY scheduled_at")), 15, "three runs of a */2 seconds schedule")
        fires = [r[0] for r in rows]
        self.assertEqual(len(set(fires)), len(fires), rows)
        self.assertIn("schedule", [r[2] for r in rows])
        self.assertEqual(fires, list(range(fires[0], fires[0] + 2 * len(fires), 2)),
                         "fire times are the even seconds, none missed")
        for scheduled_at, created_at, trigger in rows:
            self.assertEqual(scheduled_at % 2, 0, rows)
            self.assertIn(trigger, ("schedule", "catchup"))
            self.assertGreaterEqual(created_at, scheduled_at * 1000, "a run created before its fire time")
            self.assertLess(created_at, scheduled_at * 1000 + 5000, "a run created long after its fire time")
        runs = self.daemon.get_json("/jobs/tick/runs")["runs"]
        self.assertTrue(all(r["scheduled_at"].endswith(("+00:00", "Z")) for r in runs), runs)
        first = self.daemon.wait_for_run(runs[-1]["run_id"])
        self.assertEqual(first["status"], "succeeded", first)
        next_run = self.daemon.get_json("/jobs")["jobs"][0]["next_run"]
        self.assertRegex(next_run, r"T\d\d:\d\d:[0-5][02468]\+00:00$")


class CatchupTest(DaemonTest):
    project_args = FAST_STOP

    def test_missed_fire_times_follow_catchup_across_a_stop(self):
        for mode in ("none", "latest", "all"):
            self.project.job(mode, f"""\
                job: {mode}
                schedule: "*/2 * * * * *"
                catchup: {mode}
                max_active_runs: 10
                steps:
                  s: {{ shell: 'true' }}
                """)
        self.daemon.start()
        wait_for(lambda: self.project.query(
            "SELECT COUNT(DISTINCT job) FROM runs WHERE status = 'succeeded'")[0][0] == 3,
            15, "a finished run of every job")
        self.assertEqual(self.daemon.stop(), 0)
        watermarks = dict(self.project.query("SELECT job, scheduled_through FROM job_watermarks"))
        before = {job: n for job, n in self.project.query("SELECT job, MAX(run_id) FROM runs GROUP BY job")}
        time.sleep(7)  # three or four fire times go by while it is down
        down_until = time.time()
        self.daemon.start()
        up = time.time()

        def caught_up(job):
            return [r[0] for r in self.project.query(
                "SELECT scheduled_at FROM runs WHERE job = ? AND triggered_by = 'catchup' "
                "ORDER BY scheduled_at", job)]

        def missed_runs(job):
            # Every run the restart made for a fire time from the downtime.
            return self.project.query(
                "SELECT scheduled_at, triggered_by FROM runs WHERE job = ? AND run_id > ? "
                "AND scheduled_at <= ?", job, before[job], int(down_until))

        self.assertEqual(caught_up("none"), [])
        self.assertEqual(missed_runs("none"), [])

        latest = caught_up("latest")
        self.assertEqual(len(latest), 1, latest)
        # The latest fire time at or before the restart.
        self.assertEqual(latest[0] % 2, 0)
        self.assertGreater(latest[0], watermarks["latest"])
        self.assertGreaterEqual(latest[0], int(down_until) - 2)
        self.assertLessEqual(latest[0], up)

        every = caught_up("all")
        self.assertGreaterEqual(len(every), 3, every)
        first_missed = watermarks["all"] + 2 - watermarks["all"] % 2
        self.assertEqual(every, list(range(first_missed, first_missed + 2 * len(every), 2)),
                         f"every fire time after the watermark {watermarks['all']}, once")
        self.assertGreaterEqual(every[-1], int(down_until) - 2)
        self.assertLessEqual(every[-1], up)
        self.assertEqual([t for t, in self.project.query(
            "SELECT triggered_by FROM runs WHERE job = 'all' AND run_id > ? AND scheduled_at <= ?",
            before["all"], every[-1])], ["catchup"] * len(every))
        for mode in ("latest", "all"):
            for run_id, in self.project.query(
                    "SELECT run_id FROM runs WHERE job = ? AND triggered_by = 'catchup'", mode):
                self.assertEqual(self.daemon.wait_for_run(run_id)["status"], "succeeded")


class QueueTest(DaemonTest):
    project_args = FAST_STOP

    def test_scheduled_runs_over_max_active_runs_queue_and_run_one_at_a_time(self):
        out = self.project.path("spans")
        # Each run takes longer than the time between two fire times.
        self.project.job("busy", f"""\
            job: busy
            schedule: "*/2 * * * * *"
            catchup: all
            max_active_runs: 1
            steps:
              s: {{ shell: 's=$(date +%s%N); sleep 3; echo "$s $(date +%s%N)" >> {out}' }}
            """)
        self.daemon.start()
        seen_queued = False
        deadline = time.monotonic() + 30
        while True:
            runs = self.daemon.get_json("/jobs/busy/runs")["runs"]
            statuses = [r["status"] for r in runs]
            self.assertLessEqual(statuses.count("running"), 1, runs)
            for r in runs:
                if r["status"] == "queued":
                    seen_queued = True
                    self.assertIsNone(r["started_at"], r)
            if seen_queued and statuses.count("succeeded") >= 2:
                break
            self.assertLess(time.monotonic(), deadline, f"two runs done and one queued: {statuses}")
            time.sleep(0.1)

        done = self.project.query("SELECT run_id, scheduled_at, started_at, finished_at FROM runs "
                                  "WHERE job = 'busy' AND status = 'succeeded' ORDER BY started_at")
        self.assertGreaterEqual(len(done), 2)
        for earlier, later in zip(done, done[1:]):
            self.assertGreaterEqual(later[2], earlier[3], f"runs overlapped: {done}")
            self.assertGreater(later[1], earlier[1], f"queued runs start oldest first: {done}")
        spans = sorted(tuple(map(int, line.split())) for line in read_lines(out))
        for (_, end), (start, _) in zip(spans, spans[1:]):
            self.assertGreaterEqual(start, end, f"two steps of the job ran at once: {spans}")

    def test_a_cancelled_queued_run_ends_with_its_steps_and_the_queue_goes_on(self):
        self.project.job("busy", """\
            job: busy
            schedule: "*/2 * * * * *"
            max_active_runs: 1
            steps:
              a: { shell: 'sleep 30', kill_grace: 1s }
              b: { shell: 'true', depends_on: [a] }
            """)
        self.daemon.start()

        def runs(status):
            return [r for r in self.daemon.get_json("/jobs/busy/runs")["runs"] if r["status"] == status]

        queued = wait_for(lambda: runs("queued"), 15, "a queued run")[-1]["run_id"]
        running = runs("running")[0]["run_id"]
        answer = self.daemon.post(f"/runs/{queued}/cancel")
        self.assertEqual(answer.status, 202, answer)
        run = self.daemon.wait_for_run(queued, timeout=10)
        self.assertEqual(run["status"], "cancelled", run)
        self.assertIsNone(run["started_at"], run)
        self.assertIsNotNone(run["finished_at"], run)
        # A cancelled run has no step left waiting to run.
        self.assertEqual([(s["step"], s["status"], s["attempt"]) for s in run["steps"]],
                         [("a", "cancelled", 0), ("b", "cancelled", 0)])
        self.assertEqual(self.project.query("SELECT COUNT(*) FROM attempts WHERE run_id = ?", queued), [(0,)])
        self.assertEqual(self.daemon.post(f"/runs/{queued}/cancel").status, 409)

        self.assertEqual(self.daemon.post(f"/runs/{running}/cancel").status, 202)
        self.assertEqual(self.daemon.wait_for_run(running, timeout=20)["status"], "cancelled")
        # The next fire time's run starts once the slot is free.
        wait_for(lambda: [r for r in runs("running") if r["run_id"] > queued], 15,
                 "a later run to start")
        metrics = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(metrics, "nightshift_job_runs_total", job="busy", status="cancelled"), 2)


class DrainTest(DaemonTest):
    def start_sleeper(self, seconds, grace):
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write(f"shutdown_grace: {grace}\n")
        pidfile = self.project.path("sleep.pid")
        self.project.job("sleeper", f"""\
            job: sleeper
            steps:
              s: {{ shell: 'sleep {seconds} & echo $! > {pidfile}; wait; echo slept' }}
            """)
        self.daemon.start()
        answer = self.daemon.post("/jobs/sleeper/rerun")
        self.assertEqual(answer.status, 202, answer)
        pid = wait_for(lambda: read_pid(pidfile), 20, "the step to start")
        return answer.json["run_id"], pid

    def test_sigterm_waits_for_the_running_step(self):
        run_id, _ = self.start_sleeper(3, "30s")
        self.assertEqual(self.daemon.stop(signal.SIGTERM, timeout=30), 0)
        self.assertEqual(self.project.step_states(run_id), {"s": "succeeded"})
        self.assertEqual(self.project.query("SELECT status FROM runs WHERE run_id = ?", run_id),
                         [("succeeded",)])
        self.assertEqual(self.project.log("sleeper", run_id, "s"), "slept\n")

    def test_a_reload_while_draining_does_not_keep_the_daemon_alive(self):
        self.project.job("daily", """\
            job: daily
            schedule: "10 0 * * *"
            steps:
              s: { shell: 'true' }
            """)
        run_id, _ = self.start_sleeper(2, "30s")
        self.daemon.send_signal(signal.SIGTERM)
        wait_for(lambda: "draining" in self.daemon.log(), 10, "the drain to start")
        answer = self.daemon.post("/reload")
        self.assertIn(answer.status, (200, 503), answer)
        # Once the step is done nothing is left to wait for (the daily job's
        # next fire time is hours away).
        self.assertEqual(self.daemon.stop(signal.SIGTERM, timeout=20), 0)
        self.assertEqual(self.project.step_states(run_id), {"s": "succeeded"})

    def test_sigterm_cancels_the_step_when_shutdown_grace_is_over(self):
        run_id, pid = self.start_sleeper(30, "1s")
        started = time.monotonic()
        code = self.daemon.stop(signal.SIGTERM, timeout=20)
        self.assertLess(time.monotonic() - started, 15, "the daemon ignored shutdown_grace")
        self.assertEqual(code, 0)
        self.assertEqual(self.project.step_states(run_id), {"s": "cancelled"})
        self.assertEqual(self.project.query("SELECT state FROM attempts WHERE run_id = ?", run_id),
                         [("cancelled",)])
        wait_for(lambda: not pid_alive(pid), 10, "the step's process to die")

    def test_sigterm_after_sigterm_until_the_exit_still_exits_0(self):
        # A supervisor that repeats SIGTERM (or a person) must never turn the
        # clean end of a drain into a death by signal, whenever it comes: also
        # after the drain, while the daemon tears down.
        run_id, _ = self.start_sleeper(1, "30s")
        proc = self.daemon.proc
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                break
            time.sleep(0.002)
        self.assertEqual(self.daemon.stop(timeout=5), 0)
        self.assertEqual(self.project.step_states(run_id), {"s": "succeeded"})

    def test_a_second_ctrl_c_stops_the_steps_without_waiting_out_the_grace(self):
        run_id, pid = self.start_sleeper(30, "60s")
        self.daemon.send_signal(signal.SIGINT)
        wait_for(lambda: "draining" in self.daemon.log(), 10, "the drain to start")
        time.sleep(0.5)
        self.assertTrue(self.daemon.running(), "one SIGINT must wait for the step")
        # Within stop()'s 20 s, so well before the 60 s grace.
        self.assertEqual(self.daemon.stop(signal.SIGINT, timeout=20), 0)
        self.assertEqual(self.project.step_states(run_id), {"s": "cancelled"})
        wait_for(lambda: not pid_alive(pid), 10, "the step's process to die")


class CrashTest(DaemonTest):
    project_args = FAST_STOP

    def test_a_second_daemon_on_the_same_store_is_refused(self):
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        second = Daemon(self.project)
        second.log_path = self.project.path("second.log")
        with self.assertRaises(AssertionError) as refused:
            second.start()
        self.assertIn("another nightshift daemon is serving from this store", str(refused.exception))
        self.assertEqual(second.proc.returncode, 1)
        self.assertEqual(self.daemon.get("/healthz").status, 200)  # the first goes on

    def test_kill_9_mid_run_then_restart_finishes_the_run(self):
        marker = self.project.path("b.started")
        self.project.job("chain", f"""\
            job: chain
            steps:
              a: {{ shell: 'echo a >> a.ran' }}
              b:
                depends_on: [a]
                shell: 'echo "$NIGHTSHIFT_ATTEMPT" >> b.ran; touch {marker}; sleep 3; echo b done'
              c: {{ shell: 'echo c >> c.ran', depends_on: [b] }}
            """)
        self.project.job("tick", """\
            job: tick
            schedule: "*/2 * * * * *"
            catchup: all
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        answer = self.daemon.post("/jobs/chain/rerun")
        self.assertEqual(answer.status, 202, answer)
        run_id = answer.json["run_id"]
        wait_for(lambda: os.path.exists(marker), 20, "step b to start")
        self.daemon.kill9()
        self.assertEqual(self.project.query("SELECT step, attempt, state FROM attempts WHERE run_id = ? "
                                            "AND step = 'b'", run_id), [("b", 1, "running")])

        self.daemon.start()
        restarted = int(time.time() * 1000)
        run = self.daemon.wait_for_run(run_id, timeout=30)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(read_lines(self.project.path("a.ran")), ["a"])
        self.assertEqual(read_lines(self.project.path("c.ran")), ["c"])
        self.assertEqual(self.project.query(
            "SELECT attempt, state, counts_as_retry FROM attempts WHERE run_id = ? AND step = 'b' "
            "ORDER BY attempt", run_id), [(1, "lost", 0), (2, "succeeded", 0)])
        self.assertEqual(self.project.log("chain", run_id, "b", 2), "b done\n")
        self.assertIn("2", read_lines(self.project.path("b.ran")))
        self.assertEqual(self.project.query("SELECT COUNT(*) FROM runs WHERE job = 'chain'"), [(1,)])
        # The scheduled job across the crash: every fire time has one run, none
        # is lost (catchup: all) and none made twice.
        wait_for(lambda: self.project.query("SELECT COUNT(*) FROM runs WHERE job = 'tick' AND created_at > ?",
                                            restarted)[0][0], 10, "a fire after the restart")
        fires = [t for t, in self.project.query("SELECT scheduled_at FROM runs WHERE job = 'tick' ORDER BY 1")]
        self.assertEqual(fires, list(range(fires[0], fires[-1] + 2, 2)))
        steps = {s["step"]: s for s in run["steps"]}
        self.assertEqual([a["status"] for a in steps["b"]["attempts"]], ["lost", "succeeded"])
        self.assertEqual(steps["a"]["attempt"], 1)
        self.assertEqual(steps["c"]["attempt"], 1)
        # The restarted daemon counts the lost attempt in its metrics.
        metrics = self.daemon.get("/metrics").text
        self.assertIn('nightshift_step_attempts_total{job="chain",outcome="lost",step="b"} 1', metrics)


class DeadlineTest(DaemonTest):
    project_args = FAST_STOP

    def test_a_restart_between_fire_time_and_deadline_keeps_watching_it(self):
        # Fires 4 s before the next minute boundary at least 8 s away (this
        # test waits up to a minute).
        late, deadline = failing_job_with_deadline("late", 8, 4)
        self.project.write("jobs.d/late.yaml", late)
        now = time.time()
        self.daemon.start()
        wait_for(lambda: self.project.query("SELECT run_id FROM runs WHERE status = 'failed'"),
                 deadline - now + 10, "the fire time's run to fail")
        self.assertLess(time.time(), deadline - 1, "too late to restart before the deadline")
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        self.assertIs(self.daemon.get_json("/jobs/late")["deadline_missed"], False)

        def missed():
            return self.daemon.get_json("/jobs")["jobs"][0]["deadline_missed"]

        wait_for(missed, deadline - time.time() + 10, "the deadline of the run from before the restart")
        metrics = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(metrics, "nightshift_job_deadline_missed", job="late"), 1)
        # A restart keeps what is already missed.
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        wait_for(missed, 10, "the missed deadline after a restart")


class MetricsTest(DaemonTest):
    project_args = dict(FAST_STOP, pools={"db": 2})

    def test_promtool_accepts_the_metrics(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.fail("promtool is missing: it comes from Debian's `prometheus` package "
                      "(scripts/install-deps installs it)")
        self.project.job("ok", """\
            job: ok
            steps:
              s: { shell: 'true' }
            """)
        self.project.job("bad", """\
            job: bad
            steps:
              s: { shell: 'exit 3', retries: 1, retry_delay: 100ms }
            """)
        go = self.project.path("go")
        self.project.job("pooled", f"""\
            job: pooled
            schedule: "10 0 * * *"
            timezone: Asia/Tokyo
            steps:
              s: {{ shell: 'while [ ! -e {go} ]; do sleep 0.05; done', pool: db }}
            """)
        self.daemon.start()
        text = self.daemon.get("/metrics").text
        # Known series are there from the start, at 0.
        self.assertEqual(metric_value(text, "nightshift_pool_slots_in_use", pool="db"), 0, text)
        self.assertEqual(metric_value(text, "nightshift_steps_running"), 0)
        self.assertEqual(metric_value(text, "nightshift_jobs_loaded"), 3)
        next_run = self.daemon.get_json("/jobs/pooled")["next_run"]
        self.assertEqual(metric_value(text, "nightshift_job_next_run_timestamp_seconds", job="pooled"),
                         datetime.datetime.fromisoformat(next_run).timestamp())
        self.assertIsNone(metric_value(text, "nightshift_job_next_run_timestamp_seconds", job="ok"))
        # A daily schedule's usual interval is a day; a manual-only job has none.
        self.assertEqual(metric_value(text, "nightshift_job_schedule_interval_seconds", job="pooled"), 86400)
        self.assertIsNone(metric_value(text, "nightshift_job_schedule_interval_seconds", job="ok"))

        pooled = self.daemon.post("/jobs/pooled/rerun").json["run_id"]
        wait_for(lambda: metric_value(self.daemon.get("/metrics").text, "nightshift_steps_running") == 1,
                 20, "the pooled step to run")
        text = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(text, "nightshift_pool_slots_in_use", pool="db"), 1, text)
        self.assertEqual(self.daemon.get_json("/status")["pools"], {"db": {"size": 2, "in_use": 1}})
        with open(go, "w"):
            pass
        self.assertEqual(self.daemon.wait_for_run(pooled)["status"], "succeeded")
        for job, status in (("ok", "succeeded"), ("bad", "failed")):
            answer = self.daemon.post(f"/jobs/{job}/rerun")
            self.assertEqual(answer.status, 202, answer)
            self.assertEqual(self.daemon.wait_for_run(answer.json["run_id"])["status"], status)
        text = self.daemon.get("/metrics").text
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr + "\n" + text)
        self.assertEqual(metric_value(text, "nightshift_job_runs_total", job="ok", status="succeeded"), 1, text)
        self.assertEqual(metric_value(text, "nightshift_job_runs_total", job="bad", status="failed"), 1)
        self.assertEqual(metric_value(text, "nightshift_job_last_run_success", job="ok"), 1)
        self.assertEqual(metric_value(text, "nightshift_job_last_run_success", job="bad"), 0)
        self.assertEqual(metric_value(text, "nightshift_step_attempts_total", job="bad", step="s",
                                      outcome="failed"), 2)
        self.assertEqual(metric_value(text, "nightshift_step_attempts_total", job="ok", step="s",
                                      outcome="succeeded"), 1)
        self.assertEqual(metric_value(text, "nightshift_job_run_duration_seconds_count", job="bad"), 1)
        self.assertEqual(metric_value(text, "nightshift_config_reload_success"), 1)
        for name in ("nightshift_job_run_duration_seconds_bucket", "nightshift_step_duration_seconds_bucket",
                     "nightshift_job_last_success_timestamp_seconds", "nightshift_steps_running",
                     "nightshift_store_errors_total", "process_resident_memory_bytes",
                     "process_cpu_seconds_total", "process_start_time_seconds"):
            self.assertIn(name, text)


class ClientTest(DaemonTest):
    project_args = FAST_STOP

    def client(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if k != "NIGHTSHIFT_TOKEN"}
        return subprocess.run([NIGHTSHIFT, *args, "--url", self.daemon.url], capture_output=True,
                              text=True, timeout=timeout, env=env)

    def test_client_commands_against_the_daemon(self):
        self.project.job("good", """\
            job: good
            schedule: "10 0 * * *"
            steps:
              s: { shell: 'echo all good' }
            """)
        self.project.job("bad", """\
            job: bad
            steps:
              s: { shell: 'echo oops; exit 4' }
            """)
        pidfile = self.project.path("slow.pid")
        self.project.job("slow", f"""\
            job: slow
            steps:
              s: {{ shell: 'echo started; sleep 30 & echo $! > {pidfile}; wait', kill_grace: 1s }}
            """)
        self.daemon.start()

        result = self.client("rerun", "good", "--wait")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("run 1 queued", result.stdout)
        self.assertIn("run 1 succeeded", result.stdout)
        result = self.client("rerun", "bad", "--wait")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("run 2 failed", result.stdout)
        result = self.client("rerun", "nope")
        self.assertEqual(result.returncode, 1)
        self.assertIn("404", result.stderr)

        result = self.client("status")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertIn("JOB", lines[0])
        for job, last in (("good", "1 succeeded"), ("bad", "2 failed"), ("slow", "-")):
            row = [line for line in lines if line.split()[0] == job]
            self.assertEqual(len(row), 1, result.stdout)
            self.assertIn(last, row[0])
        result = self.client("status", "bad")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("run 2", result.stdout)
        self.assertIn("failed", result.stdout)
        self.assertIn("exit 4", result.stdout)
        self.assertEqual(self.client("status", "nope").returncode, 1)

        result = self.client("logs", "1", "s")
        self.assertEqual((result.returncode, result.stdout), (0, "all good\n"), result.stderr)
        result = self.client("logs", "2", "s", "--follow", timeout=30)
        self.assertEqual((result.returncode, result.stdout), (0, "oops\n"), result.stderr)
        self.assertEqual(self.client("logs", "2", "nope").returncode, 1)

        result = self.client("rerun", "slow")
        self.assertEqual(result.returncode, 0, result.stderr)
        run_id = int(result.stdout.split()[1])
        pid = wait_for(lambda: read_pid(pidfile), 20, "the slow step to start")
        follow = subprocess.Popen([NIGHTSHIFT, "logs", str(run_id), "s", "--follow", "--url", self.daemon.url],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([follow.stdout], [], [], 20)
            self.assertTrue(ready, "logs --follow printed nothing")
            self.assertEqual(follow.stdout.readline(), "started\n")
            self.assertIsNone(follow.poll(), "logs --follow ended while the step runs")
            result = self.client("cancel", str(run_id))
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn(f"cancel requested for run {run_id}", result.stdout)
            # The followed attempt ends with the cancel, and so does the follow.
            out, err = follow.communicate(timeout=30)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        self.assertEqual(follow.returncode, 0, err)
        self.assertEqual(out, "")
        self.assertEqual(self.daemon.wait_for_run(run_id, timeout=20)["status"], "cancelled")
        wait_for(lambda: not pid_alive(pid), 10, "the cancelled step to die")
        self.assertEqual(self.client("cancel", str(run_id)).returncode, 1)

        url = self.daemon.url
        self.assertEqual(self.daemon.stop(), 0)
        result = subprocess.run([NIGHTSHIFT, "rerun", "good", "--url", url], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("cannot reach", result.stderr)


class WaitTest(DaemonTest):
    """`rerun --wait` follows the run through GET /events: across a daemon that
    is killed and comes back, and, on a terminal, with a progress line."""

    def test_rerun_wait_rides_out_a_restart_and_shows_progress_on_a_terminal(self):
        gate = self.project.path("gate")
        self.project.job("gated", f"""\
            job: gated
            steps:
              a: {{ shell: 'while [ ! -e {gate} ]; do sleep 0.05; done' }}
              b: {{ shell: 'true', depends_on: [a] }}
            """)
        self.daemon.start()
        port = self.daemon.port
        # A pseudo-terminal, so that the progress line is drawn as for a person.
        waiting = Terminal([NIGHTSHIFT, "rerun", "gated", "--wait", "--url", self.daemon.url])
        try:
            # The change's line, then the progress line under it (two writes).
            wait_for(lambda: b"running          a" in waiting.read_some() and
                     b"0/2 steps done, 1 running, 0 failed" in waiting.output, 30,
                     "the wait to show step a running, and the progress line")
            self.daemon.kill9()
            self.daemon.start(port=port)
            open(gate, "w").close()
            code = waiting.wait(timeout=60)
            self.assertEqual(code, 0, waiting.output + waiting.process.stderr.read())
            output = waiting.output
        finally:
            waiting.close()
        text = output.decode()
        # The attempt lost with the daemon runs again; the wait saw it through
        # (running, or already succeeded when it was back on the stream).
        self.assertRegex(text, r"(running|succeeded) +a \(attempt 2\)")
        self.assertIn("succeeded        b", text)
        self.assertIn("2/2 steps done, 0 running, 0 failed", text)
        self.assertRegex(text, r"run \d+ succeeded")


class StartupTest(DaemonTest):
    daemon_args = ("--log-format", "json")
    project_args = FAST_STOP

    def test_json_log_lines(self):
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'exit 2' }
            """)
        self.daemon.start()
        run = self.daemon.wait_for_run(self.daemon.post("/jobs/hello/rerun").json["run_id"])
        self.assertEqual(run["status"], "failed")
        self.assertEqual(self.daemon.stop(), 0)
        lines = [json.loads(line) for line in self.daemon.log().splitlines()]
        for line in lines:
            self.assertEqual(sorted(line), ["level", "message", "time"], line)
        messages = [line["message"] for line in lines]
        self.assertIn("run 1 hello.s: attempt 1 failed (exit 2)", messages)
        self.assertIn("stopped", messages)

    def test_a_port_in_use_or_a_broken_job_stops_the_start(self):
        # Daemon.start relies on this message to retry with another port.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with open(self.project.path("nightshift.yaml"), "a") as f:
                f.write(f"listen: 127.0.0.1:{port}\n")
            result = self.project.run("serve", timeout=30)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("Address already in use", result.stderr)

        self.project.job("broken", """\
            job: broken
            steps:
              s: { shell: 'true', depends_on: [nope] }
            """)
        result = self.project.run("serve", timeout=30)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertRegex(result.stderr, r"jobs\.d/broken\.yaml:\d+:\d+: ")


class HostileClientTest(DaemonTest):
    project_args = FAST_STOP

    def send_raw(self, data, read=True):
        """Sends bytes on a fresh connection; returns what the daemon answered
        before closing (b"" if it just closed)."""
        with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=15) as s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # it may close on us mid-way: that is an answer too
            answer = b""
            while read:
                try:
                    piece = s.recv(65536)
                except ConnectionResetError:
                    break
                if not piece:
                    break
                answer += piece
            return answer

    def test_bad_requests_never_take_the_daemon_down(self):
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        def status(answer):
            return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/1.1 ") else answer[:100]

        self.assertEqual(status(self.send_raw(bytes(range(256)) * 4 + b"\r\n\r\n")), "400")
        self.assertEqual(status(self.send_raw(b"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n")), "400")
        self.assertEqual(status(self.send_raw(b"GET /runs/%zz HTTP/1.1\r\n\r\n")), "400")
        self.assertEqual(status(self.send_raw(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")), "431")
        # 2 MB bodies: refused once the limit is passed (the daemon may also
        # close before this side has read the answer).
        big = b"x" * (2 * 1024 * 1024)
        for head in (b"POST /reload HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(big),
                     b"POST /jobs/hello/rerun HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n"):
            self.assertIn(status(self.send_raw(head + big)), ("413", b""))
        self.assertEqual(self.project.query("SELECT COUNT(*) FROM runs"), [(0,)])
        # Two requests in one write both get their answer.
        answer = self.send_raw(b"GET /healthz HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n")
        self.assertEqual(answer.count(b"HTTP/1.1 200 OK"), 2, answer)
        # Half a request, then gone.
        self.send_raw(b"POST /reload HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc", read=False)
        self.assertTrue(self.daemon.running(), self.daemon.log()[-2000:])
        self.assertEqual(self.daemon.get("/healthz").status, 200)
        self.assertEqual(len(self.daemon.get_json("/jobs")["jobs"]), 1)


# A limit on the daemon's address space, far above what it uses (about 0.5 GB
# of it, mostly malloc arenas of its threads): a reload that read a device
# without bound would fail against it quickly instead of eating the machine.
ADDRESS_SPACE_KB = 2 * 1024 * 1024


class HostileJobsDirTest(DaemonTest):
    """Entries of jobs_dir that are not plain job files: each makes a reload
    answer 422 in bounded time, naming the file and the cause, and the jobs in
    force stay (a run in flight goes on, /healthz and /jobs answer)."""

    project_args = FAST_STOP

    def setUp(self):
        super().setUp()
        # Not for a sanitizer build: it reserves terabytes of address space.
        with open(NIGHTSHIFT, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if not sanitized:
            self.daemon = Daemon(self.project, wrapper=[
                "sh", "-c", f'ulimit -v {ADDRESS_SPACE_KB} && exec "$0" "$@"'])
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'while [ ! -e go ]; do sleep 0.05; done' }
            """)

    def jobs_dir(self, name):
        return self.project.path("jobs.d", name)

    def write_bytes(self, name, data):
        with open(self.jobs_dir(name), "wb") as f:
            f.write(data)

    def make_socket(self, name):
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(self.jobs_dir(name))

    def remove(self, name):
        path = self.jobs_dir(name)
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.remove(path)

    def assert_set_in_force(self):
        self.assertEqual(self.daemon.get("/healthz").status, 200)
        # get_json parses the body as strict UTF-8 JSON.
        self.assertEqual([j["job"] for j in self.daemon.get_json("/jobs")["jobs"]], ["hello"])

    def test_every_kind_of_entry_is_refused_by_a_reload_and_the_old_set_stays(self):
        self.daemon.start()
        run_id = self.daemon.post("/jobs/hello/rerun").json["run_id"]
        wait_for(lambda: self.daemon.run_json(run_id)["steps"][0]["status"] == "running", 20,
                 "the step to run")
        ok = b"job: x\nsteps:\n  s: { shell: 'true' }\n"
        # name: (how to make it, what the error says after "NAME:LINE:COL: ")
        kinds = {
            "fifo.yaml": (lambda n: os.mkfifo(self.jobs_dir(n)),
                          "1:1: cannot read job file: it is a FIFO, not a regular file"),
            "to_fifo.yaml": (lambda n: (os.mkfifo(self.project.path("a_fifo")),
                                        os.symlink(self.project.path("a_fifo"), self.jobs_dir(n))),
                             "1:1: cannot read job file: it is a FIFO, not a regular file"),
            "zero.yaml": (lambda n: os.symlink("/dev/zero", self.jobs_dir(n)),
                          "1:1: cannot read job file: it is a character device, not a regular file"),
            "urandom.yml": (lambda n: os.symlink("/dev/urandom", self.jobs_dir(n)),
                            "1:1: cannot read job file: it is a character device, not a regular file"),
            "dir.yaml": (lambda n: os.mkdir(self.jobs_dir(n)),
                         "1:1: cannot read job file: it is a directory"),
            "dangling.yaml": (lambda n: os.symlink("nowhere", self.jobs_dir(n)),
                              "1:1: cannot read job file: dangling symlink (its target 'nowhere' is missing)"),
            "loop.yaml": (lambda n: os.symlink(n, self.jobs_dir(n)),
                          "1:1: cannot read job file: symlink loop (too many levels of symbolic links)"),
            "socket.yaml": (self.make_socket,
                            "1:1: cannot read job file: it is a socket, not a regular file"),
            "big.yaml": (lambda n: self.write_bytes(n, b"#" * (1024 * 1024 + 1)),
                         "1:1: cannot read job file: it is larger than 1 MiB (1048577 bytes), "
                         "the limit for a job file"),
            "latin1.yaml": (lambda n: self.write_bytes(n, ok.replace(b"job: x", b"job: x\ndescription: \xe9t\xe9")),
                            "2:14: invalid UTF-8 (byte 0xE9): the file must be UTF-8 text"),
            "nul.yaml": (lambda n: self.write_bytes(n, ok + b"\0job: y\n"),
                         "4:1: NUL byte: the file must be UTF-8 text"),
            "two.yaml": (lambda n: self.write_bytes(n, ok + b"---\njob: y\n"),
                         "4:1: a second YAML document starts here: a file holds exactly one"),
            "empty.yaml": (lambda n: self.write_bytes(n, b""),
                           "1:1: job file is empty (expected 'job:' and 'steps:')"),
            "timeout0.yaml": (lambda n: self.write_bytes(n, ok.replace(b"'true'", b"'true', timeout: 0s")),
                              "3:32: 'timeout' must be more than 0 (leave it out for no timeout)"),
        }
        # One at a time; the first failure ends the test (a reload that hangs
        # would make every later one wait out its timeout too).
        for name, (make, message) in kinds.items():
            make(name)
            answer = self.daemon.post("/reload", timeout=30)
            self.assertEqual(answer.status, 422, (name, answer))
            self.assertEqual(answer.json["errors"], [f"{self.jobs_dir(name)}:{message}"])
            self.assert_set_in_force()
            self.remove(name)
        # A name that is not UTF-8 still gives JSON answers.
        bad_name = os.fsencode(self.jobs_dir("bad-")) + b"\xff.yaml"
        os.mkfifo(bad_name)
        answer = self.daemon.post("/reload", timeout=30)
        self.assertEqual(answer.status, 422, answer)
        self.assertIn("bad-\ufffd.yaml:1:1: cannot read job file: it is a FIFO", answer.json["errors"][0])
        self.assertIn("bad-\ufffd.yaml", self.daemon.get_json("/status")["config_errors"][0])
        self.assert_set_in_force()
        os.remove(bad_name)

        # SIGHUP, with every kind at once: refused as a whole, every file named.
        for name, (make, _) in kinds.items():
            if name != "to_fifo.yaml":  # its FIFO is there already
                make(name)
        os.symlink(self.project.path("a_fifo"), self.jobs_dir("to_fifo.yaml"))
        self.daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: f"reload refused ({len(kinds)} errors)" in self.daemon.log(), 30,
                 "SIGHUP to refuse the set")
        errors = self.daemon.get_json("/status")["config_errors"]
        self.assertEqual(sorted(errors), sorted(f"{self.jobs_dir(n)}:{m}" for n, (_, m) in kinds.items()))
        metrics = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(metrics, "nightshift_config_reload_success"), 0)
        self.assert_set_in_force()

        # The run that was in flight all along goes on and ends well.
        self.assertEqual(self.daemon.run_json(run_id)["status"], "running")
        with open(self.project.path("go"), "w"):
            pass
        self.assertEqual(self.daemon.wait_for_run(run_id)["status"], "succeeded")

        # Without them, the directory loads again.
        for name in kinds:
            self.remove(name)
        self.assertEqual(self.daemon.post("/reload", timeout=30).status, 200)
        self.assertEqual(self.daemon.get_json("/status")["config_errors"], [])


if __name__ == "__main__":
    main()
