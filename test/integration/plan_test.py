"""`nightshift plan` (issue #13): a job's waves, critical path and expected
makespan from its history, read from the store with --config and asked of the
daemon with --url (GET /jobs/{job}/plan) — the same answer either way."""

import re
import subprocess

from harness import NIGHTSHIFT, DaemonTest, main

JOB = """\
    job: nightly
    steps:
      extract: { shell: 'sleep 0.2' }
      slow: { shell: 'sleep 0.6', depends_on: [extract] }
      quick: { shell: 'sleep 0.1', depends_on: [extract] }
      load: { shell: 'true', depends_on: [slow, quick] }
      never: { shell: 'exit 1', depends_on: [load] }
    """


def seconds(text):
    """"850ms", "1.2s" as seconds."""
    number, unit = re.fullmatch(r"([\d.]+)(ms|s)", text).groups()
    return float(number) / (1000 if unit == "ms" else 1)


class PlanTest(DaemonTest):
    project_args = {"workers": 2}

    def test_plan_from_the_store_and_from_the_daemon(self):
        self.project.job("nightly", JOB)
        before = self.project.run("plan", "nightly")
        self.assertRunOk(before)
        self.assertIn("no successful attempt yet (counted as taking no time): "
                      "extract, slow, quick, load, never", before.stdout)
        for _ in range(2):
            self.assertEqual(self.project.run("run", "nightly", "--date", "2026-12-01").returncode, 1)

        local = self.project.run("plan", "nightly")
        self.assertRunOk(local)
        text = local.stdout
        self.assertIn("plan of nightly with 2 workers\n", text)
        self.assertIn("  wave 1: extract\n  wave 2: slow, quick\n  wave 3: load\n  wave 4: never\n", text)
        path = re.search(r"critical path: (.*) = (\S+)\n", text)
        self.assertIsNotNone(path, text)
        self.assertEqual(re.findall(r"(\w+) \(", path.group(1)), ["extract", "slow", "load", "never"])
        self.assertIn("never (no history)", path.group(1))
        makespan = seconds(re.search(r"expected makespan: (\S+)\n", text).group(1))
        self.assertGreaterEqual(makespan, 0.8)  # extract then slow, at the least
        self.assertEqual(makespan, seconds(path.group(2)))  # 2 workers: the path decides
        self.assertIn("no successful attempt yet (counted as taking no time): never\n", text)

        self.daemon.start()
        remote = subprocess.run([NIGHTSHIFT, "plan", "nightly", "--url", self.daemon.url],
                                capture_output=True, text=True, timeout=60)
        self.assertRunOk(remote)
        self.assertEqual(remote.stdout, text)
        plan = self.daemon.get_json("/jobs/nightly/plan")
        self.assertEqual(plan["critical_path"], ["extract", "slow", "load", "never"])
        self.assertEqual(plan["steps_without_history"], ["never"])

        unknown = self.project.run("plan", "nope")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("unknown job 'nope'", unknown.stderr)


if __name__ == "__main__":
    main()
