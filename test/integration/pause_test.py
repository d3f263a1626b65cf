"""Pause and unpause (issue #13) through the real daemon: a paused job does not
fire, also after a restart; unpaused it fires again, the fire times it missed
following its catchup. `paused: true` in a job file is only the state of a job
the store has not seen. A second every-second job keeps firing throughout: its
runs show that time passed, so "did not fire" needs no sleep."""

import subprocess

from events_test import EventStream, short
from harness import NIGHTSHIFT, DaemonTest, main, wait_for

EVERY_SECOND = """\
    job: {name}
    schedule: "* * * * * *"
    catchup: latest
    max_active_runs: 5
    steps:
      s: {{ shell: 'true' }}
"""


class PauseTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.project.job("clock", EVERY_SECOND.format(name="clock"))

    def cli(self, *args):
        return subprocess.run([NIGHTSHIFT, *args, "--url", self.daemon.url],
                              capture_output=True, text=True, timeout=60)

    def runs(self, job):
        return self.daemon.get_json(f"/jobs/{job}/runs?limit=1000")["runs"]

    def wait_for_clock(self, count=3):
        """Until the clock job has made `count` more runs: several fire times passed."""
        before = len(self.runs("clock"))
        wait_for(lambda: len(self.runs("clock")) >= before + count, 60,
                 f"{count} more runs of the clock job")

    def paused(self, job):
        return next(j["paused"] for j in self.daemon.get_json("/jobs")["jobs"] if j["job"] == job)

    def metric(self, job):
        text = self.daemon.get("/metrics").text
        line = next((l for l in text.splitlines()
                     if l.startswith(f'nightshift_job_paused{{job="{job}"}}')), None)
        return line and float(line.split()[-1])

    def test_pause_stops_an_every_second_job_and_unpause_resumes_it_across_a_restart(self):
        self.project.job("tick", EVERY_SECOND.format(name="tick"))
        self.daemon.start()
        wait_for(lambda: len(self.runs("tick")) >= 2, 60, "the tick job to fire")
        self.assertEqual(self.metric("tick"), 0)
        stream = EventStream(self.daemon)
        try:
            result = self.cli("pause", "tick")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(result.stdout, "tick paused\n")
            stream.until(lambda e: short(e) == "job tick paused")
        finally:
            stream.close()
        # Answered once stored: no run of tick is made from here on.
        count = len(self.runs("tick"))
        self.assertTrue(self.paused("tick"))
        self.assertEqual(self.metric("tick"), 1)
        why = self.daemon.get_json("/jobs/tick/why")
        self.assertIn("paused", [r["reason"] for r in why["reasons"]])
        self.wait_for_clock()
        self.assertEqual(len(self.runs("tick")), count)

        # A restart keeps the pause: no catch-up, no fire.
        port = self.daemon.port
        self.daemon.stop()
        self.daemon.start(port=port)
        self.assertTrue(self.paused("tick"))
        self.assertEqual(self.metric("tick"), 1)
        self.wait_for_clock()
        self.assertEqual(len(self.runs("tick")), count)
        # Manual runs of a paused job are allowed.
        self.assertEqual(self.daemon.post("/jobs/tick/rerun").status, 202)
        wait_for(lambda: len(self.runs("tick")) == count + 1, 60, "the manual run")

        result = self.cli("unpause", "tick")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "tick unpaused\n")
        self.assertFalse(self.paused("tick"))
        self.assertEqual(self.metric("tick"), 0)
        # catchup: latest: one run for the fire times missed while paused, then the schedule.
        wait_for(lambda: len(self.runs("tick")) >= count + 4, 60, "the tick job to fire again")
        triggers = [r["trigger"] for r in self.runs("tick")[:-count - 1]]
        self.assertEqual(triggers.count("catchup"), 1, triggers)
        self.assertIn("schedule", triggers)

    def test_paused_true_in_a_file_is_only_the_state_of_a_job_the_store_has_not_seen(self):
        self.project.job("tick", EVERY_SECOND.format(name="tick") + "    paused: true\n")
        self.daemon.start()
        self.assertTrue(self.paused("tick"))
        self.wait_for_clock()
        self.assertEqual(self.runs("tick"), [])
        self.assertEqual(self.daemon.post("/jobs/tick/unpause").json, {"job": "tick", "paused": False})
        wait_for(lambda: self.runs("tick"), 60, "the tick job to fire once unpaused")
        # The file still says paused: true; a reload and a restart keep the store's state.
        self.project.job("tick", EVERY_SECOND.format(name="tick") + "    paused: true\n"
                         + "    description: edited\n")
        self.assertEqual(self.daemon.post("/reload").status, 200)
        self.assertFalse(self.paused("tick"))
        port = self.daemon.port
        self.daemon.stop()
        self.daemon.start(port=port)
        self.assertFalse(self.paused("tick"))
        count = len(self.runs("tick"))
        wait_for(lambda: len(self.runs("tick")) > count, 60, "the tick job to fire after the restart")

    def test_pause_of_an_unknown_job_is_a_404_and_the_cli_says_so(self):
        self.daemon.start()
        self.assertEqual(self.daemon.post("/jobs/nope/pause").status, 404)
        result = self.cli("unpause", "nope")
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown job 'nope'", result.stderr)


if __name__ == "__main__":
    main()
