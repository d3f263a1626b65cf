"""The store is the truth, also when it fails (DESIGN.md, issue #9): while the
SQLite store cannot be written, no step starts or settles, /readyz answers 503,
/status names the error and nightshift_store_up is 0; once it can be written
again the run goes on and finishes, every step run exactly once. A store file
deleted or replaced under the daemon stops it.

The failure is a real one: the daemon runs in a mount namespace of its own with
its state folder on a small tmpfs, which the test fills up (disk full) and then
empties, from inside that namespace (nsenter). Needs root, as the test setup is."""

import os
import subprocess
import time

from harness import NIGHTSHIFT, STATE, Daemon, ProjectTest, main, wait_for
from daemon_test import metric_value

LAYERS = 6
WIDTH = 4


def big_job():
    lines = ["job: chain", "steps:"]
    for layer in range(LAYERS):
        for i in range(WIDTH):
            deps = f", depends_on: [s{layer - 1}_{i}]" if layer else ""
            lines.append(f"  s{layer}_{i}: {{ shell: 'echo $NIGHTSHIFT_STEP >> started; sleep 0.3'{deps} }}")
    return "\n".join(lines) + "\n"


class StoreFailureTest(ProjectTest):
    def setUp(self):
        if STATE != "sqlite":
            self.skipTest("the SQLite store's file is what fails here")
        super().setUp()
        os.makedirs(self.project.path("state"))
        self.project.write("nightshift.yaml", "jobs_dir: jobs.d\nlog_dir: var/logs\nworkers: 2\n"
                           "state: sqlite:state/nightshift.db\nshutdown_grace: 5s\n")
        self.project.write("jobs.d/chain.yaml", big_job())
        state = self.project.path("state")
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   f'mount -t tmpfs -o size=16m nightshift-test "{state}" && exec "$0" "$@"']
        self.daemon = Daemon(self.project, wrapper=wrapper)
        self.daemon.start()

    def tearDown(self):
        self.daemon.stop(quiet=True)
        super().tearDown()

    def inside(self, command):
        """Runs a shell command in the daemon's mount namespace."""
        return subprocess.run(["nsenter", "-t", str(self.daemon.pid), "-m", "sh", "-c", command],
                              capture_output=True, text=True, timeout=60)

    def started(self):
        with open(self.project.path("started")) as f:
            return f.read().split()

    def test_a_full_disk_stops_the_run_until_it_has_room_again(self):
        filler = self.project.path("state", "filler")
        run_id = self.daemon.post("/jobs/chain/rerun").json["run_id"]
        wait_for(lambda: any(s["status"] == "succeeded" for s in self.daemon.run_json(run_id)["steps"]),
                 60, "a first step to succeed")

        self.inside(f'dd if=/dev/zero of="{filler}" bs=64k 2>/dev/null; true')
        # Writes fail: the daemon says so, and nothing moves on meanwhile.
        wait_for(lambda: self.daemon.get("/readyz").status == 503, 60, "/readyz to answer 503")
        status = self.daemon.get_json("/status")
        self.assertFalse(status["store"]["ok"], status)
        self.assertIn("full", status["store"]["error"], status)
        self.assertEqual(metric_value(self.daemon.get("/metrics").text, "nightshift_store_up"), 0)
        # The steps running at the failure end by themselves; none may start
        # meanwhile (each step's first act is a line in `started`).
        time.sleep(1)
        started = self.started()
        time.sleep(2)
        self.assertEqual(self.started(), started)
        self.assertEqual(self.daemon.run_json(run_id)["status"], "running")

        self.assertEqual(self.inside(f'rm "{filler}"').returncode, 0)
        run = self.daemon.wait_for_run(run_id, timeout=120)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(self.daemon.get("/readyz").status, 200)
        self.assertEqual(metric_value(self.daemon.get("/metrics").text, "nightshift_store_up"), 1)
        self.assertEqual(sorted(self.started()), sorted(s["step"] for s in run["steps"]))
        for step in run["steps"]:
            attempts = [(a["attempt"], a["status"]) for a in step["attempts"]]
            self.assertEqual(attempts, [(1, "succeeded")], step)  # none twice, none skipped
        log = self.daemon.log()
        self.assertEqual(log.count("store write failed"), 1, log[-3000:])
        self.assertEqual(log.count("store writes succeed again"), 1, log[-3000:])

    def test_sigterm_while_writes_fail_stops_within_shutdown_grace(self):
        self.assertEqual(self.daemon.post("/jobs/chain/rerun").status, 202)
        wait_for(lambda: os.path.exists(self.project.path("started")), 60, "a first step to start")
        self.inside(f'dd if=/dev/zero of="{self.project.path("state", "filler")}" bs=64k '
                    '2>/dev/null; true')
        wait_for(lambda: self.daemon.get("/readyz").status == 503, 60, "/readyz to answer 503")
        # shutdown_grace is 5 s; the ends that wait for the store do not hold it longer.
        self.assertEqual(self.daemon.stop(timeout=30), 0, self.daemon.log()[-3000:])
        self.assertIn("stopped while store writes failed", self.daemon.log())

    def assertStopsSaying(self, words):
        """A write now finds the store gone: the daemon stops with exit 1, saying so.

        The rerun's run is that write: it is never committed, so the answer is
        503 (not a run id nobody will find), sent before the daemon goes."""
        answer = self.daemon.post("/jobs/chain/rerun")
        self.assertEqual(answer.status, 503, answer.body)
        self.assertIn("has not committed the new run", answer.json["error"])
        wait_for(lambda: not self.daemon.running(), 60, "the daemon to stop")
        self.assertEqual(self.daemon.proc.returncode, 1, self.daemon.log()[-3000:])
        self.assertIn(words, self.daemon.log())

    def test_a_store_file_deleted_under_the_daemon_stops_it(self):
        self.inside(f'rm "{self.project.path("state", "nightshift.db")}"')
        self.assertStopsSaying("was deleted under the daemon")

    def test_a_store_file_replaced_under_the_daemon_stops_it(self):
        db = self.project.path("state", "nightshift.db")
        self.inside(f'cp "{db}" "{db}.new" && mv "{db}.new" "{db}"')
        self.assertStopsSaying("was replaced under the daemon")


if __name__ == "__main__":
    main()
