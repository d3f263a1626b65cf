"""Owners of runs and attempts, for real: a daemon started beside a working
`nightshift run` on the same store leaves the run alone (each step runs once),
and the run of a `nightshift run` killed with -9 is taken over and finished by
the daemon (at its start, or by its periodic look while it runs). Runs on
SQLite and, again, on the test MariaDB (ctest sets NIGHTSHIFT_TEST_STATE)."""

import os
import signal
import time

from harness import Daemon, DaemonTest, main, pid_alive, wait_for

# Each step appends "PID ATTEMPT" to its marker file when it starts (the PID is
# its process group's: steps run in groups of their own), then works a while.
JOB = """\
    job: load
    steps:
      load:
        shell: 'echo "$$ $NIGHTSHIFT_ATTEMPT" >> load.started; sleep {work}; echo loaded'
        kill_grace: 1s
      report:
        depends_on: [load]
        shell: 'echo "$$ $NIGHTSHIFT_ATTEMPT" >> report.started; sleep 2; echo reported'
    """

FAST_STOP = {"extra_config": "shutdown_grace: 2s\n"}


def starts(project, step):
    """The (pid, attempt) of each start of `step`, in order."""
    try:
        with open(project.path(f"{step}.started")) as f:
            return [tuple(int(x) for x in line.split()) for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


class OwnersTest(DaemonTest):
    project_args = FAST_STOP

    def setUp(self):
        super().setUp()
        self.runner = None  # the `nightshift run` process
        self.orphans = []   # step process groups a killed `run` left behind

    def tearDown(self):
        if self.runner is not None and self.runner.poll() is None:
            self.runner.kill()
            self.runner.wait()
        for pgid in self.orphans:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        super().tearDown()

    def start_run(self):
        """Starts `nightshift run load`; returns its run id once step load runs."""
        self.runner = self.project.start("run", "load")
        wait_for(lambda: starts(self.project, "load") or self.runner.poll() is not None, 30,
                 "step load to start")
        if self.runner.poll() is not None:
            self.fail("nightshift run ended before its step started: %s%s" % self.runner.communicate())
        return self.project.query("SELECT run_id FROM runs WHERE job = 'load'")[0][0]

    def attempts(self, run_id):
        return self.project.query("SELECT step, attempt, state, counts_as_retry FROM attempts "
                                  "WHERE run_id = ? ORDER BY step, attempt", run_id)

    def test_a_daemon_started_beside_a_working_run_leaves_its_steps_alone(self):
        self.project.job("load", JOB.format(work=4))
        run_id = self.start_run()
        self.daemon.start()  # recovery runs now, with `load` at work under the other process

        # The daemon shows the run as it is, running, and does not touch it.
        run = self.daemon.run_json(run_id)
        self.assertEqual(run["status"], "running", run)
        steps = {s["step"]: s for s in run["steps"]}
        self.assertEqual(steps["load"]["status"], "running", run)
        jobs = {j["job"]: j for j in self.daemon.get_json("/jobs")["jobs"]}
        self.assertEqual(jobs["load"]["last_run"]["status"], "running", jobs["load"])
        self.assertIn(f"run {run_id} of job load is running under another live process",
                      self.daemon.log())

        # A second daemon start while the run is between or in its steps: the same.
        wait_for(lambda: starts(self.project, "report") or self.runner.poll() is not None, 60,
                 "step report to start")
        self.daemon.stop()
        self.daemon.start()

        out, err = self.runner.communicate(timeout=120)
        self.assertEqual(self.runner.returncode, 0, out + err)
        self.assertEqual([a for _, a in starts(self.project, "load")], [1])
        self.assertEqual([a for _, a in starts(self.project, "report")], [1])
        self.assertEqual(self.attempts(run_id),
                         [("load", 1, "succeeded", 0), ("report", 1, "succeeded", 0)])
        run = self.daemon.run_json(run_id)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertNotIn("was lost", self.daemon.log())

    def test_a_killed_run_is_taken_over_at_the_next_daemon_start(self):
        self.project.job("load", JOB.format(work=3))
        run_id = self.start_run()
        self.runner.kill()  # SIGKILL: nothing of it runs any more, its lock goes
        self.runner.wait()
        # Its step goes on as an orphan, as after any kill -9; it is not ours to
        # count (nothing will record its end), so it is stopped here.
        (pgid, _), = starts(self.project, "load")
        self.orphans.append(pgid)
        os.killpg(pgid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pgid), 30, "the orphaned step to end")
        self.assertEqual(self.attempts(run_id), [("load", 1, "running", 0)])

        self.daemon.start()
        run = self.daemon.wait_for_run(run_id, timeout=60)
        self.assertEqual(run["status"], "succeeded", run)
        # As after a daemon's kill -9: lost, started again at once, no retry used.
        self.assertEqual(self.attempts(run_id), [("load", 1, "lost", 0), ("load", 2, "succeeded", 0),
                                                 ("report", 1, "succeeded", 0)])
        self.assertEqual([a for _, a in starts(self.project, "load")], [1, 2])
        self.assertIn("was lost with its owner", self.daemon.log())

    def test_a_run_killed_while_the_daemon_runs_is_taken_over_by_its_periodic_look(self):
        self.project.job("load", JOB.format(work=3))
        self.daemon.start()
        run_id = self.start_run()
        self.assertEqual(self.daemon.run_json(run_id)["status"], "running")
        self.runner.kill()
        self.runner.wait()
        (pgid, _), = starts(self.project, "load")
        self.orphans.append(pgid)
        os.killpg(pgid, signal.SIGKILL)
        # The daemon looks every 30 s: within a minute, whatever the phase.
        run = self.daemon.wait_for_run(run_id, timeout=90)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(self.attempts(run_id), [("load", 1, "lost", 0), ("load", 2, "succeeded", 0),
                                                 ("report", 1, "succeeded", 0)])
        self.assertEqual([a for _, a in starts(self.project, "load")], [1, 2])


if __name__ == "__main__":
    main()
