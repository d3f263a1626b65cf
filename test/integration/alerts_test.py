"""The alert rules of deploy/prometheus against a live daemon: a real
Prometheus (Debian's `prometheus`) scrapes the daemon every second with
deploy/prometheus/nightshift-rules.yml loaded and evaluated every second. A
failing job makes NightshiftJobFailed fire, a job that never succeeds
NightshiftJobNoRecentSuccess, a missed deadline NightshiftDeadlineMissed; a
healthy job makes none fire. Every query of the Grafana board is accepted by
that Prometheus and names only metrics the daemon exports. Time bounds only
catch hangs (the deadline part waits for the next minute boundary)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from harness import DaemonTest, failing_job_with_deadline, free_port, http, main, wait_for

DEPLOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy")
RULES = os.path.join(DEPLOY, "prometheus", "nightshift-rules.yml")
BOARD = os.path.join(DEPLOY, "grafana", "nightshift.json")

# Metric names every Prometheus has on its own, which a board may use too.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# PromQL words that look like metric names in a query.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "by",
    "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "time",
    "clamp_min", "clamp_max", "le", "job", "instance", "step", "pool", "outcome", "status",
    "offset", "bool", "topk", "bottomk", "label_replace", "vector", "scalar", "abs", "delta",
    "deriv", "changes", "resets", "absent", "sort", "sort_desc", "timestamp", "inf", "nan",
    "count_values", "quantile", "stddev", "stdvar", "group", "round", "ceil", "floor",
    "webhook", "version", "max_over_time", "min_over_time", "avg_over_time", "last_over_time",
}


class Prometheus:
    """`prometheus` on a free port of 127.0.0.1, scraping one target."""

    def __init__(self, target, rules):
        self.dir = tempfile.mkdtemp(prefix="nightshift-prom-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            # As deploy/prometheus/prometheus.yml, with a 1 s cadence.
            f.write(f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{json.dumps(rules)}]
scrape_configs:
  - job_name: nightshift
    honor_labels: true
    static_configs:
      - targets: [{json.dumps(target)}]
""")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_for(self._ready, 60, "prometheus to be ready", interval=0.2)

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log_text()}")
        try:
            return http("GET", f"{self.url}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def api(self, path, **params):
        answer = http("GET", f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        return answer.status, answer.json

    def firing(self):
        """{(alertname, job)} of the alerts firing now."""
        status, body = self.api("alerts")
        assert status == 200, body
        return {(a["labels"]["alertname"], a["labels"].get("job"))
                for a in body["data"]["alerts"] if a["state"] == "firing"}

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def board_queries():
    """Every PromQL expression of the Grafana board (panels in rows too)."""
    with open(BOARD) as f:
        board = json.load(f)
    queries = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append(target["expr"])
            walk(panel.get("panels", []))

    walk(board["panels"])
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            queries.append(query)
    return queries


def metric_names(query):
    """The metric names a PromQL query uses (identifiers that are not
    functions, keywords, label names or inside quotes/brackets)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)          # strings
    text = re.sub(r"\[[^\]]*\]", "", text)                    # range selectors
    text = re.sub(r"\$\{?\w+\}?", "", text)                   # Grafana variables
    text = re.sub(r"(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)                     # label matchers
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    names -= {"label_values", "query_result"}
    return {n for n in names if n not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?", n)}


def exported_names(metrics_text):
    """The metric names in a Prometheus text exposition, histograms with their
    _bucket, _sum and _count."""
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


class AlertsTest(DaemonTest):
    # A webhook nobody listens on: its notifications_total series exist from the start.
    project_args = {"extra_config": "shutdown_grace: 2s\n"
                                    "notify: { pager: { url: 'http://127.0.0.1:9/hook' } }\n"}

    def setUp(self):
        super().setUp()
        self.prometheus = None

    def tearDown(self):
        if self.prometheus:
            if self._outcome.result.failures or self._outcome.result.errors:
                print(self.prometheus.log_text())
            self.prometheus.stop()
        super().tearDown()

    def test_alerts_fire_in_a_real_prometheus(self):
        # Fires 10 s before the next minute boundary at least 15 s away (this
        # test waits up to a minute).
        late, deadline = failing_job_with_deadline("late", 15, 10)
        self.project.write("jobs.d/late.yaml", late)
        self.project.job("broken", """\
            job: broken
            steps:
              s: { shell: 'exit 3' }
            """)
        # Every 2 s, never succeeding: 1.5 x its interval is 3 s.
        self.project.job("flaky", """\
            job: flaky
            schedule: "*/2 * * * * *"
            steps:
              s: { shell: 'exit 1' }
            """)
        self.project.job("healthy", """\
            job: healthy
            schedule: "*/2 * * * * *"
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        self.prometheus = Prometheus(f"127.0.0.1:{self.daemon.port}", os.path.abspath(RULES))
        run_id = self.daemon.post("/jobs/broken/rerun").json["run_id"]
        self.assertEqual(self.daemon.wait_for_run(run_id)["status"], "failed")

        wait_for(lambda: {("NightshiftJobFailed", "broken"),
                          ("NightshiftJobNoRecentSuccess", "flaky")} <= self.prometheus.firing(),
                 60, "NightshiftJobFailed for broken and NightshiftJobNoRecentSuccess for flaky")
        wait_for(lambda: ("NightshiftDeadlineMissed", "late") in self.prometheus.firing(),
                 deadline - time.time() + 30, "NightshiftDeadlineMissed for late")
        firing = self.prometheus.firing()
        self.assertFalse({alert for alert in firing if alert[1] == "healthy"}, firing)
        for alert in ("NightshiftDown", "NightshiftStoreDown", "NightshiftReloadRefused"):
            self.assertNotIn(alert, {name for name, _ in firing})

    def project_text(self):
        with open(self.project.path("nightshift.yaml")) as f:
            return "".join(line for line in f if not line.startswith("pools:"))

    def test_every_board_query_is_valid_and_uses_exported_metrics(self):
        # Each family has series once a scheduled job with a deadline and a
        # pooled step has run.
        self.project.write("nightshift.yaml", self.project_text() + "pools: { db: 1 }\n")
        self.project.job("hello", """\
            job: hello
            schedule: "*/2 * * * * *"
            deadline: "06:00"
            steps:
              s: { shell: 'true', pool: db }
            """)
        self.daemon.start()
        # A deadline is watched from the first fire on.
        metrics = wait_for(lambda: (lambda t: t if "nightshift_job_deadline_missed{" in t and
                                    "nightshift_job_runs_total{" in t else None)(
                                        self.daemon.get("/metrics").text),
                           30, "a scheduled run of hello to finish")
        exported = exported_names(metrics) | PROMETHEUS_OWN
        self.prometheus = Prometheus(f"127.0.0.1:{self.daemon.port}", os.path.abspath(RULES))
        queries = board_queries()
        self.assertGreater(len(queries), 5)
        for query in queries:
            with self.subTest(query=query):
                unknown = metric_names(query) - exported
                self.assertFalse(unknown, f"not exported by the daemon: {unknown}")
                # Grafana's variables as Grafana would fill them in.
                expr = (query.replace("$__rate_interval", "1m").replace("$__interval", "1m")
                        .replace("$__range", "1h").replace("$job", "hello")
                        .replace("$instance", f"127.0.0.1:{self.daemon.port}"))
                if expr.startswith("label_values("):
                    continue  # Grafana's own function, not PromQL
                status, body = self.prometheus.api("query", query=expr)
                self.assertEqual(status, 200, f"{expr}: {body}")
        # The alert rules too (Prometheus loaded them: they parse).
        def evaluated_rules():
            status, body = self.prometheus.api("rules")
            self.assertEqual(status, 200, body)
            rules = [r for g in body["data"]["groups"] for r in g["rules"]]
            return rules if all(r["health"] != "unknown" for r in rules) else None

        rules = wait_for(evaluated_rules, 30, "every rule to be evaluated once")
        self.assertEqual(len(rules), 10, [r["name"] for r in rules])
        for rule in rules:
            with self.subTest(rule=rule["name"]):
                self.assertEqual(rule["health"], "ok", rule)
                unknown = metric_names(rule["query"]) - exported
                self.assertFalse(unknown, f"not exported by the daemon: {unknown}")


if __name__ == "__main__":
    main()
