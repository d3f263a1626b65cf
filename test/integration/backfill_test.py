"""Backfill (issue #13) through the real daemon and `nightshift backfill`: five
days make five runs (trigger backfill) with the right dates, started oldest
first and never more than max_active_runs at once (read from the stored start
and end times, not timed); --missing-only fills only the holes (a date whose
run failed before the data fix, and dates never run); the 422 and 400 cases."""

import datetime
import subprocess

from harness import NIGHTSHIFT, DaemonTest, main, wait_for


def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class BackfillTest(DaemonTest):
    def cli(self, *args):
        return subprocess.run([NIGHTSHIFT, *args, "--url", self.daemon.url],
                              capture_output=True, text=True, timeout=300)

    def kpi_job(self, max_active_runs):
        # The step records its date; it fails for 2026-11-03 until the data is fixed.
        out = self.project.path("dates")
        fixed = self.project.path("fixed")
        self.project.job("kpi", f"""\
            job: kpi
            schedule: "10 0 * * *"
            timezone: Asia/Tokyo
            max_active_runs: {max_active_runs}
            steps:
              load: {{ shell: 'test "{{{{ date }}}}" != 2026-11-03 || test -e {fixed}; r=$?; sleep 0.2; echo "{{{{ date }}}} $r" >> {out}; exit $r' }}
            """)

    def test_five_days_make_five_runs_oldest_first_under_max_active_runs(self):
        self.kpi_job(max_active_runs=2)
        self.project.write("fixed", "")
        self.daemon.start()
        result = self.cli("backfill", "kpi", "--from", "2026-11-01", "--to", "2026-11-05", "--wait")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("5 backfill runs queued", result.stdout)
        self.assertIn("backfill: 5 of 5 runs succeeded", result.stdout)

        runs = sorted(self.daemon.get_json("/jobs/kpi/runs")["runs"], key=lambda r: r["run_id"])
        self.assertEqual([r["date"] for r in runs],
                         ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"])
        self.assertEqual({r["trigger"] for r in runs}, {"backfill"})
        self.assertEqual([r["scheduled_at"] for r in runs],
                         [f"2026-11-0{d}T00:10:00+09:00" for d in range(1, 6)])
        self.assertEqual({r["status"] for r in runs}, {"succeeded"})
        starts = [instant(r["started_at"]) for r in runs]
        self.assertEqual(starts, sorted(starts), "oldest first")
        for start in starts:
            active = [r for r in runs
                      if instant(r["started_at"]) <= start < instant(r["finished_at"])]
            self.assertLessEqual(len(active), 2, [r["run_id"] for r in active])
        with open(self.project.path("dates")) as f:
            self.assertEqual(sorted(f.read().split("\n")[:-1]),
                             [f"2026-11-0{d} 0" for d in range(1, 6)])

    def test_missing_only_fills_only_the_holes(self):
        self.kpi_job(max_active_runs=5)
        for date in ("2026-11-02", "2026-11-04"):
            self.assertRunOk(self.project.run("run", "kpi", "--date", date))
        self.assertEqual(self.project.run("run", "kpi", "--date", "2026-11-03").returncode, 1)
        self.project.write("fixed", "")  # the late data fix
        self.daemon.start()
        answer = self.daemon.post("/jobs/kpi/backfill?from=2026-11-01&to=2026-11-05&missing_only=true")
        self.assertEqual(answer.status, 202, answer.text)
        ids = answer.json["run_ids"]
        self.assertEqual([self.daemon.wait_for_run(i)["date"] for i in ids],
                         ["2026-11-01", "2026-11-03", "2026-11-05"])
        for i in ids:
            self.assertEqual(self.daemon.run_json(i)["status"], "succeeded")
        # Now every date has its succeeded run: nothing to fill.
        result = self.cli("backfill", "kpi", "--from", "2026-11-01", "--to", "2026-11-05",
                          "--missing-only")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("no run queued", result.stdout)
        self.assertEqual(len(self.daemon.get_json("/jobs/kpi/runs")["runs"]), 6)

    def test_a_reversed_range_and_over_a_thousand_runs_are_422(self):
        self.kpi_job(max_active_runs=1)
        self.project.job("tick", """\
            job: tick
            schedule: "0 * * * * *"
            steps:
              s: { shell: 'true' }
            """)
        self.project.job("manual", """\
            job: manual
            paused: true
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        answer = self.daemon.post("/jobs/kpi/backfill?from=2026-11-05&to=2026-11-01")
        self.assertEqual(answer.status, 422)
        self.assertEqual(answer.json["error"], "from 2026-11-05 is after to 2026-11-01")
        result = self.cli("backfill", "tick", "--from", "2026-11-01", "--to", "2026-11-01")
        self.assertEqual(result.returncode, 1)
        self.assertIn("would make more than 1000 runs", result.stderr)
        self.assertEqual(self.daemon.post("/jobs/kpi/backfill?from=2026-11-01").status, 400)
        self.assertEqual(self.daemon.post("/jobs/nope/backfill?from=2026-11-01&to=2026-11-02").status, 404)
        self.assertEqual(self.daemon.get_json("/jobs/kpi/runs")["runs"], [])
        # A job without schedule: one run per date, at 00:00 local; a paused job may be backfilled.
        answer = self.daemon.post("/jobs/manual/backfill?from=2026-11-01&to=2026-11-02")
        self.assertEqual([self.daemon.wait_for_run(i)["scheduled_at"] for i in answer.json["run_ids"]],
                         ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"])


if __name__ == "__main__":
    main()
