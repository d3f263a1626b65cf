"""A soak of crashes (issue #12): the daemon is killed with SIGKILL 20 times,
at random moments, while a 100-step DAG with retries runs and a job fires
every 2 seconds; it is started again after each kill. Afterwards:

- the DAG's run succeeded, and every step has exactly one succeeded attempt;
- every other attempt is either the one failure the step was written to have
  or `lost` (interrupted by a kill);
- every time a step's process ran, the store has that attempt: no attempt
  ran twice, and none ran that the store does not know (persist before act);
- no fire time of the ticking job has two runs.

The moments are random; the seed is printed, and NIGHTSHIFT_SOAK_SEED replays
one. The time it takes is bounded by the kills (about 0.2 to 1.2 s apart) and
the DAG's work (100 steps of 0.3 s on 2 workers); time bounds only catch hangs."""

import collections
import os
import random
import sys
import time

from harness import TICK_JOB, DaemonTest, main

KILLS = 20
LAYERS = 10
WIDTH = 10
# Steps that fail their first real try and succeed on the next (retries: 2).
FAILS_ONCE = {f"s{layer}_{i}" for layer in range(LAYERS) for i in range(WIDTH) if (layer * WIDTH + i) % 9 == 4}


def soak_job_yaml():
    lines = ["job: soak", "defaults: { retries: 2, retry_delay: 1s }", "steps:"]
    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"s{layer}_{i}"
            deps = [f"s{layer - 1}_{j}" for j in (i, (i + 1) % WIDTH)] if layer else []
            # Each process says which attempt it is as it starts: the record of
            # what really ran, to hold the store against.
            script = 'echo "$NIGHTSHIFT_STEP $NIGHTSHIFT_ATTEMPT" >> ran; sleep 0.3'
            if name in FAILS_ONCE:
                # Fails on the first attempt that got to run at all (a lost one may not have).
                script += f'; grep -qx {name} failed || {{ echo {name} >> failed; exit 3; }}'
            depends = f", depends_on: [{', '.join(deps)}]" if deps else ""
            lines.append(f"  {name}: {{ shell: '{script}'{depends} }}")
    return "\n".join(lines) + "\n"


class SoakTest(DaemonTest):
    project_args = {"workers": 2, "extra_config": "shutdown_grace: 2s\n"}

    def test_twenty_kills_lose_nothing_and_run_nothing_twice(self):
        seed = int(os.environ.get("NIGHTSHIFT_SOAK_SEED", random.randrange(1 << 30)))
        print(f"\nsoak seed: {seed} (NIGHTSHIFT_SOAK_SEED replays it)", file=sys.stderr)
        rng = random.Random(seed)
        self.project.write("jobs.d/soak.yaml", soak_job_yaml())
        self.project.write("jobs.d/tick.yaml", TICK_JOB)
        self.daemon.start()
        answer = self.daemon.post("/jobs/soak/rerun")
        self.assertEqual(answer.status, 202, answer)
        run_id = answer.json["run_id"]

        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.2))
            self.daemon.kill9()
            self.daemon.start(port=self.daemon.port)

        run = self.daemon.wait_for_run(run_id, timeout=240)
        self.assertEqual(run["status"], "succeeded", self.summary(run))

        attempts = collections.defaultdict(dict)
        for step, attempt, state in self.project.query(
                "SELECT step, attempt, state FROM attempts WHERE run_id = ?", run_id):
            attempts[step][attempt] = state
        self.assertEqual(len(attempts), LAYERS * WIDTH)
        for step, by_number in attempts.items():
            states = [by_number[n] for n in sorted(by_number)]
            self.assertEqual(states.count("succeeded"), 1, f"{step}: {states}")
            self.assertEqual(states[-1], "succeeded", f"{step}: {states}")
            others = [s for s in states[:-1] if s != "lost"]
            if step not in FAILS_ONCE:
                self.assertEqual(others, [], f"{step}: {states}")
            elif others != ["failed"]:
                # Its failing try was cut off by a kill (lost), after it had
                # noted that it failed once: the next one succeeds.
                self.assertEqual(others, [], f"{step}: {states}")
                self.assertIn("lost", states, f"{step}: {states}")

        with open(self.project.path("ran")) as f:
            ran = [tuple(line.split()) for line in f.read().splitlines()]
        twice = [entry for entry, n in collections.Counter(ran).items() if n > 1]
        self.assertEqual(twice, [], "attempts whose process ran more than once")
        unknown = [(step, n) for step, n in ran if int(n) not in attempts.get(step, {})]
        self.assertEqual(unknown, [], "processes that ran for attempts the store does not have")

        doubled = self.project.query(
            "SELECT scheduled_at, COUNT(*) FROM runs WHERE job = 'tick' "
            "AND triggered_by IN ('schedule', 'catchup') GROUP BY scheduled_at HAVING COUNT(*) > 1")
        self.assertEqual(doubled, [], "fire times of `tick` with two runs")
        lost = sum(states == "lost" for by_number in attempts.values() for states in by_number.values())
        print(f"soak: {KILLS} kills, {lost} attempts lost and run again, "
              f"{len(ran)} processes for {LAYERS * WIDTH} steps", file=sys.stderr)

    def summary(self, run):
        return {s["step"]: (s["status"], s["attempt"], s.get("error") or s.get("message")) for s in run["steps"] if s["status"] != "succeeded"}


if __name__ == "__main__":
    main()
