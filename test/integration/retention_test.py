#!/usr/bin/env python3
"""Retention (DESIGN.md `retention: { runs, logs }`): the real daemon prunes
finished runs older than `runs` (with their steps and attempts) and log
folders older than `logs` shortly after it starts, and leaves the rest: newer
runs, and an unfinished run however old. Runs are made old by stopping the
daemon and moving finished_at back in the store (SQLite, or MySQL with
NIGHTSHIFT_TEST_STATE=mysql) and the log files' times back on disk."""

import os
import shutil
import time

from daemon_test import metric_value
from harness import DaemonTest, main, wait_for

DAY = 24 * 3600


def age(path, days):
    """Sets the modification time of `path` and everything in it `days` days back."""
    when = time.time() - days * DAY
    for root, _, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(root, name), (when, when))
        os.utime(root, (when, when))


class RetentionTest(DaemonTest):
    def tearDown(self):
        runner = getattr(self, "runner", None)
        if runner and runner.poll() is None:
            runner.terminate()  # its step is stopped with it (kill_grace)
            runner.wait(30)
        super().tearDown()

    def logs(self, job, run_id):
        return self.project.path("var", "logs", job, str(run_id))

    def test_old_finished_runs_and_log_folders_go_and_the_rest_stays(self):
        self.project.job("daily", """\
            job: daily
            steps:
              s: { shell: 'echo hi' }
            """)
        self.project.job("slow", """\
            job: slow
            steps:
              s: { shell: 'sleep 600' }
            """)
        self.daemon.start()
        runs = []
        for _ in range(4):
            answer = self.daemon.post("/jobs/daily/rerun")
            self.assertEqual(answer.status, 202, answer.text)
            runs.append(self.daemon.wait_for_run(answer.json["run_id"])["run_id"])
        self.assertEqual(self.daemon.stop(), 0)

        # An unfinished run, owned by a live `nightshift run` beside the daemon.
        self.runner = self.project.start("run", "slow")
        slow = wait_for(lambda: self.project.query(
            "SELECT run_id FROM runs WHERE job = 'slow' AND status = 'running'"), 30,
            "the slow run to start")[0][0]
        wait_for(lambda: os.path.exists(os.path.join(self.logs("slow", slow), "s.1.log")), 30,
                 "the slow run's log")

        ten_days_ago_ms = int((time.time() - 10 * DAY) * 1000)
        self.project.query("UPDATE runs SET finished_at = ? WHERE run_id IN (?, ?)",
                           ten_days_ago_ms, runs[0], runs[1])
        self.project.query("UPDATE runs SET created_at = ?, started_at = ? WHERE run_id = ?",
                           ten_days_ago_ms, ten_days_ago_ms, slow)
        age(self.logs("daily", runs[0]), 10)
        age(self.logs("daily", runs[1]), 10)
        age(self.logs("daily", runs[2]), 4)   # its run stays (finished now), its logs go
        age(self.logs("slow", slow), 10)       # unfinished: stays
        orphan = self.logs("gone", 999)        # a folder whose run is no longer in the store
        os.makedirs(orphan)
        with open(os.path.join(orphan, "s.1.log"), "w") as f:
            f.write("old\n")
        age(orphan, 10)
        os.makedirs(self.project.path("var", "logs", "daily", "notes"))  # not a run's: left alone

        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("retention: { runs: 5d, logs: 3d }\n")
        self.daemon.start()
        metrics = wait_for(
            lambda: (lambda m: m if metric_value(m, "nightshift_retention_pruned_total",
                                                 kind="log_folders") == 4 else None)(
                self.daemon.get("/metrics").text),
            90, "retention to remove 4 log folders")
        self.assertEqual(metric_value(metrics, "nightshift_retention_pruned_total", kind="runs"), 2)

        listed = [r["run_id"] for r in self.daemon.get_json("/jobs/daily/runs")["runs"]]
        self.assertEqual(listed, [runs[3], runs[2]])
        for gone in runs[:2]:
            self.assertEqual(self.daemon.get(f"/runs/{gone}").status, 404)
            for table in ("runs", "run_steps", "attempts"):
                self.assertEqual(self.project.query(
                    f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", gone), [(0,)], table)
            self.assertFalse(os.path.exists(self.logs("daily", gone)))
        self.assertFalse(os.path.exists(self.logs("daily", runs[2])))
        self.assertEqual(self.daemon.run_json(runs[2])["status"], "succeeded")
        self.assertTrue(os.path.exists(os.path.join(self.logs("daily", runs[3]), "s.1.log")))
        self.assertFalse(os.path.exists(orphan))
        self.assertTrue(os.path.isdir(self.project.path("var", "logs", "daily", "notes")))
        # However old, the unfinished run and its log stay.
        self.assertEqual(self.daemon.run_json(slow)["status"], "running")
        self.assertTrue(os.path.exists(os.path.join(self.logs("slow", slow), "s.1.log")))
        log = self.daemon.log()
        self.assertIn("retention: pruned 2 runs finished more than 5d ago", log)
        self.assertIn("retention: removed 4 run log folders last written more than 3d ago", log)


if __name__ == "__main__":
    main()
