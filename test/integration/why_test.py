"""`nightshift why` (issue #13): what a job waits for, through the real daemon
(GET /jobs/{job}/why): a running step, steps waiting on it, a run queued
behind max_active_runs; then, idle, that it runs only when asked. A gate file
keeps the step running, so no state is caught by timing."""

import os
import subprocess

from harness import NIGHTSHIFT, DaemonTest, main, wait_for


class WhyTest(DaemonTest):
    # The gated step never ends by itself: the drain at the end cancels it.
    project_args = {"workers": 1, "extra_config": "shutdown_grace: 1s\n"}

    def why(self, job="gated"):
        result = subprocess.run([NIGHTSHIFT, "why", job, "--url", self.daemon.url],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def manual_why(self):
        return self.why("manual")

    def test_why_names_the_running_step_the_waiting_ones_and_the_queued_run(self):
        gate = self.project.path("gate")
        self.project.job("gated", f"""\
            job: gated
            schedule: "*/2 * * * * *"
            max_active_runs: 1
            steps:
              a: {{ shell: 'while [ ! -e {gate} ]; do sleep 0.05; done' }}
              b: {{ shell: 'true', depends_on: [a] }}
            """)
        self.project.job("manual", """\
            job: manual
            steps:
              only: { shell: 'true' }
            """)
        self.daemon.start()
        # The first fire's run holds the only slot; the next fire's run queues.
        runs = lambda status: [r["run_id"] for r in self.daemon.get_json("/jobs/gated/runs")["runs"]
                               if r["status"] == status]
        first = wait_for(lambda: (runs("running") or [None])[0], 30, "a first run")
        second = wait_for(lambda: (runs("queued") or [None])[-1], 30, "a queued run")
        wait_for(lambda: any(s["status"] == "running" for s in self.daemon.run_json(first)["steps"]),
                 30, "step a to run")

        text = self.why()
        self.assertTrue(text.startswith("gated: running\n"), text)
        self.assertIn(f"step a of run {first} is running (attempt 1)", text)
        self.assertIn(f"1 step of run {first} waits on upstream steps: a", text)
        self.assertIn(f"run {second} is queued: max_active_runs (1) is reached by run {first}", text)
        answer = self.daemon.get_json("/jobs/gated/why")
        self.assertEqual({r["reason"] for r in answer["reasons"]},
                         {"running", "upstream", "max_active_runs"})

        self.assertIn("it has no schedule", self.manual_why())

        unknown = subprocess.run([NIGHTSHIFT, "why", "nope", "--url", self.daemon.url],
                                 capture_output=True, text=True, timeout=60)
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("unknown job 'nope'", unknown.stderr)


if __name__ == "__main__":
    main()
