#!/usr/bin/env python3
"""Webhooks (DESIGN.md `notify`): the real daemon POSTs to a local receiver
(Python's http.server on 127.0.0.1, stopped at the end of each test) a payload
for each event, retries a receiver that answers 500, and never shows a secret
URL or header in its log or /metrics."""

import http.server
import json
import ssl
import subprocess
import threading
import time

from daemon_test import metric_value
from harness import Daemon, DaemonTest, failing_job_with_deadline, main, wait_for

SECRET_PATH = "hook-7f3e9c2ad1b04e55"   # the secret part of a webhook URL
SECRET_TOKEN = "tok-55b1e0c3f9a24d87"   # a secret header value


class Receiver:
    """An HTTP server on a free port of 127.0.0.1 that records every POST and
    answers each path with the status given for it (default 200)."""

    def __init__(self, tls=None):
        """`tls`: (certificate file, key file) to answer HTTPS instead."""
        self.scheme = "https" if tls else "http"
        self.requests = []  # (path, headers, parsed JSON body), in arrival order
        self.statuses = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                    status = receiver.statuses.get(self.path, 200)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def posts(self, path):
        with self.lock:
            return [body for p, _, body in self.requests if p == path]

    def headers(self, path):
        with self.lock:
            return [headers for p, headers, _ in self.requests if p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class NotifyTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.receiver = Receiver()

    def tearDown(self):
        super().tearDown()
        self.receiver.stop()

    def configure(self, webhooks):
        """Appends a `notify:` with `webhooks` (name: flow mapping text) to the config."""
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("shutdown_grace: 2s\nnotify:\n")
            for name, text in webhooks.items():
                f.write(f"  {name}: {text}\n")

    def wait_posts(self, path, count, timeout=60):
        return wait_for(lambda: (lambda p: p if len(p) >= count else None)(self.receiver.posts(path)),
                        timeout, f"{count} POSTs to {path} (got {self.receiver.posts(path)})")

    def rerun(self, job):
        answer = self.daemon.post(f"/jobs/{job}/rerun")
        self.assertEqual(answer.status, 202, answer.text)
        return self.daemon.wait_for_run(answer.json["run_id"])

    def assert_no_secret_shown(self):
        for where, text in (("the daemon's log", self.daemon.log()),
                            ("/metrics", self.daemon.get("/metrics").text),
                            ("/status", self.daemon.get("/status").text)):
            self.assertNotIn(SECRET_PATH, where + ": " + text)
            self.assertNotIn(SECRET_TOKEN, where + ": " + text)

    def test_each_run_event_reaches_json_and_slack_webhooks(self):
        self.project.write("secrets/HOOK_URL", self.receiver.url(f"/json/{SECRET_PATH}") + "\n")
        self.project.write("secrets/HOOK_TOKEN", SECRET_TOKEN + "\n")
        self.configure({
            "ops_json": '{ url: "${secret:HOOK_URL}", format: json }',
            "ops_slack": ('{ url: "%s", format: slack, events: [run_failed, run_recovered], '
                          'headers: { X-Token: "${secret:HOOK_TOKEN}" } }' % self.receiver.url("/slack")),
            "unused": '{ url: "%s" }' % self.receiver.url("/unused"),
        })
        self.project.job("flip", """\
            job: flip
            notify: [ops_json, ops_slack]
            steps:
              first: { shell: 'true' }
              check: { shell: 'test -e flag', depends_on: [first] }
            """)
        self.daemon.start()
        json_path = f"/json/{SECRET_PATH}"

        failed = self.rerun("flip")
        self.assertEqual(failed["status"], "failed")
        [body] = self.wait_posts(json_path, 1)
        self.assertEqual(body, {
            "event": "run_failed", "job": "flip", "run_id": failed["run_id"], "date": failed["date"],
            "status": "failed", "scheduled_at": failed["scheduled_at"],
            "started_at": failed["started_at"], "finished_at": failed["finished_at"],
            "failed_steps": ["check"], "url": f"{self.daemon.url}/#/runs/{failed['run_id']}"})
        [slack] = self.wait_posts("/slack", 1)
        self.assertEqual(list(slack), ["text"])
        self.assertIn(f"job flip run {failed['run_id']} for {failed['date']} failed.", slack["text"])
        self.assertIn("Failed steps: check.", slack["text"])
        self.assertEqual(self.receiver.headers("/slack")[0]["X-Token"], SECRET_TOKEN)
        self.assertEqual(self.receiver.headers("/slack")[0]["Content-Type"], "application/json")

        # Steps run in the config's folder, where `test -e flag` looks.
        open(self.project.path("flag"), "w").close()
        recovered = self.rerun("flip")
        self.assertEqual(recovered["status"], "succeeded", recovered)
        posts = self.wait_posts(json_path, 2)
        self.assertEqual(posts[1]["event"], "run_recovered")
        self.assertEqual(posts[1]["run_id"], recovered["run_id"])
        self.assertEqual(posts[1]["status"], "succeeded")
        self.assertEqual(posts[1]["failed_steps"], [])
        slack = self.wait_posts("/slack", 2)
        self.assertIn(f"run {recovered['run_id']} for {recovered['date']} recovered", slack[1]["text"])

        # A success after a success is run_succeeded, which ops_slack does not take.
        again = self.rerun("flip")
        posts = self.wait_posts(json_path, 3)
        self.assertEqual((posts[2]["event"], posts[2]["run_id"]), ("run_succeeded", again["run_id"]))
        metrics = self.daemon.get("/metrics").text
        self.assertEqual(metric_value(metrics, "nightshift_notifications_total",
                                      webhook="ops_json", outcome="sent"), 3)
        self.assertEqual(metric_value(metrics, "nightshift_notifications_total",
                                      webhook="ops_slack", outcome="sent"), 2)
        self.assertEqual(metric_value(metrics, "nightshift_notifications_total",
                                      webhook="unused", outcome="failed"), 0)
        self.assertEqual(len(self.receiver.posts("/slack")), 2)
        self.assertEqual(self.receiver.posts("/unused"), [])
        self.assert_no_secret_shown()

    def test_a_failing_receiver_is_tried_three_times_and_the_run_goes_on(self):
        self.project.write("secrets/HOOK_URL", self.receiver.url(f"/fail/{SECRET_PATH}"))
        self.receiver.statuses[f"/fail/{SECRET_PATH}"] = 500
        self.configure({"broken": '{ url: "${secret:HOOK_URL}", events: [run_succeeded] }'})
        self.project.job("ok", """\
            job: ok
            notify: all
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        run = self.rerun("ok")
        self.assertEqual(run["status"], "succeeded")
        self.wait_posts(f"/fail/{SECRET_PATH}", 3)
        metrics = wait_for(
            lambda: (lambda m: m if metric_value(m, "nightshift_notifications_total", webhook="broken",
                                                 outcome="failed") == 1 else None)(
                self.daemon.get("/metrics").text),
            60, "the notification to count as failed")
        self.assertEqual(metric_value(metrics, "nightshift_notifications_total",
                                      webhook="broken", outcome="sent"), 0)
        self.assertEqual(len(self.receiver.posts(f"/fail/{SECRET_PATH}")), 3)  # no fourth try
        log = self.daemon.log()
        self.assertIn(f"webhook broken: run_succeeded of run {run['run_id']} (job ok): try 1 of 3 "
                      "failed: HTTP 500; trying again in 1s", log)
        self.assertIn("try 3 of 3 failed: HTTP 500", log)
        # Meanwhile the daemon went on: another run is not held up by the webhook.
        self.assertEqual(self.rerun("ok")["status"], "succeeded")
        self.assert_no_secret_shown()
        self.assertEqual(self.daemon.stop(), 0)
        self.assertNotIn(SECRET_PATH, self.daemon.log())

    def test_an_https_webhook_is_sent_only_to_a_server_the_machine_trusts(self):
        # A certificate for 127.0.0.1 that no system store holds; the daemon
        # trusts it only where OpenSSL is told to (SSL_CERT_FILE), as an
        # operator adds a private CA.
        cert, key = self.project.path("cert.pem"), self.project.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        self.receiver.stop()
        self.receiver = Receiver(tls=(cert, key))
        self.configure({"secure": '{ url: "%s", events: [run_succeeded] }' % self.receiver.url("/tls")})
        self.project.job("ok", """\
            job: ok
            notify: all
            steps:
              s: { shell: 'true' }
            """)
        self.daemon = Daemon(self.project, wrapper=["env", f"SSL_CERT_FILE={cert}"])
        self.daemon.start()
        run = self.rerun("ok")
        [post] = self.wait_posts("/tls", 1)
        self.assertEqual((post["event"], post["run_id"]), ("run_succeeded", run["run_id"]))
        self.assertEqual(self.daemon.stop(), 0)

        # Without it the certificate is refused: nothing arrives, three tries fail.
        self.daemon = Daemon(self.project)
        self.daemon.start()
        self.rerun("ok")
        wait_for(lambda: metric_value(self.daemon.get("/metrics").text, "nightshift_notifications_total",
                                      webhook="secure", outcome="failed") == 1,
                 60, "the notification to an untrusted server to count as failed")
        self.assertEqual(len(self.receiver.posts("/tls")), 1)
        self.assertIn("try 3 of 3 failed: SSLServerVerification", self.daemon.log())

    def test_a_deadline_missed_while_nothing_runs(self):
        self.configure({"pager": '{ url: "%s", events: [deadline_missed, run_failed] }'
                                 % self.receiver.url("/pager")})
        late, deadline = failing_job_with_deadline("late", 15, 10)
        self.project.write("jobs.d/late.yaml", late + "notify: [pager]\n")
        self.daemon.start()
        [failed] = self.wait_posts("/pager", 1, timeout=deadline - time.time() + 30)
        self.assertEqual(failed["event"], "run_failed")
        # The run has failed and nothing runs: the deadline still passes, and says so.
        self.assertLess(time.time(), deadline, "the run should have failed before its deadline")
        posts = self.wait_posts("/pager", 2, timeout=deadline - time.time() + 30)
        self.assertGreaterEqual(time.time(), deadline - 1)
        missed = posts[1]
        self.assertEqual(missed["event"], "deadline_missed")
        self.assertEqual(missed["job"], "late")
        self.assertEqual(missed["run_id"], failed["run_id"])
        self.assertEqual(missed["status"], "failed")
        self.assertEqual(missed["failed_steps"], ["s"])
        self.assertEqual(missed["deadline"],
                         time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(deadline)))
        self.assertTrue(self.daemon.get_json("/jobs")["jobs"][0]["deadline_missed"])


if __name__ == "__main__":
    main()
