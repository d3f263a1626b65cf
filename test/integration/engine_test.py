"""The engine through `nightshift run`: real processes, the SQLite store."""

import os
import random
import time

from harness import NIGHTSHIFT, Project, ProjectTest, Terminal, main, pid_alive, signal


def intervals(folder):
    """Each step's (start_ns, end_ns) from the files the steps wrote."""
    out = {}
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as f:
            lines = f.read().split("\n")
        out[name] = [tuple(map(int, line.split())) for line in lines if line]
    return out


def max_overlap(spans):
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = best = 0
    for _, delta in events:
        running += delta
        best = max(best, running)
    return best


class RandomDagTest(ProjectTest):
    project_args = {"workers": 4, "pools": {"db": 2}}

    def test_random_200_step_dag(self):
        rng = random.Random(20261125)
        out = self.project.path("out")
        os.makedirs(out)
        lines = ["job: random", "steps:"]
        deps = {}
        pooled = set()
        for i in range(200):
            name = f"s{i:03d}"
            parents = sorted(rng.sample(range(i), min(i, rng.randint(0, 3))))
            deps[name] = [f"s{p:03d}" for p in parents]
            lines.append(f"  {name}:")
            if deps[name]:
                lines.append(f"    depends_on: [{', '.join(deps[name])}]")
            if rng.random() < 0.3:
                lines.append("    pool: db")
                pooled.add(name)
            # Appends, so a step that ran twice would show two lines.
            lines.append(f"    shell: 's=$(date +%s%N); sleep 0.01; "
                         f"echo \"$s $(date +%s%N)\" >> {out}/{{{{ step }}}}'")
        self.project.write("jobs.d/random.yaml", "\n".join(lines) + "\n")

        result = self.project.run("run", "random")
        self.assertRunOk(result)
        spans = intervals(out)
        self.assertEqual(sorted(spans), sorted(deps))
        for name, runs in spans.items():
            self.assertEqual(len(runs), 1, f"{name} ran {len(runs)} times")
        for name, parents in deps.items():
            for parent in parents:
                self.assertGreaterEqual(spans[name][0][0], spans[parent][0][1],
                                        f"{name} started before {parent} ended")
        self.assertLessEqual(max_overlap([r[0] for r in spans.values()]), 4)
        self.assertLessEqual(max_overlap([spans[n][0] for n in pooled]), 2)
        states = self.project.step_states(1)
        self.assertEqual(set(states.values()), {"succeeded"})
        self.assertEqual(self.project.query("SELECT status FROM runs WHERE run_id = 1"), [("succeeded",)])


class OutcomeTest(ProjectTest):
    def test_failure_semantics(self):
        self.project.job("kpi", """\
            job: kpi
            steps:
              extract_a: { shell: 'echo broken >&2; exit 3' }
              extract_b: { shell: 'true' }
              aggregate: { shell: 'true', depends_on: [extract_a, extract_b] }
              load: { shell: 'true', depends_on: [aggregate] }
              report_b: { shell: 'true', depends_on: [extract_b] }
              notify: { shell: 'echo notified', depends_on: [load], run_if: all_done }
            """)
        result = self.project.run("run", "kpi", "--date", "2026-11-24")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertEqual(self.project.step_states(1), {
            "extract_a": "failed", "extract_b": "succeeded", "aggregate": "upstream_failed",
            "load": "upstream_failed", "report_b": "succeeded", "notify": "succeeded"})
        self.assertEqual(self.project.query("SELECT exit_code FROM attempts WHERE step = 'extract_a'"), [(3,)])
        self.assertEqual(self.project.log("kpi", 1, "extract_a"), "broken\n")
        self.assertEqual(self.project.log("kpi", 1, "notify"), "notified\n")
        self.assertIn("run 1 of kpi for 2026-11-24: failed", result.stdout)

    def test_retries_have_their_own_attempts_and_logs(self):
        self.project.job("flaky", """\
            job: flaky
            steps:
              s:
                retries: 2
                retry_delay: 100ms
                shell: 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -ge 3 ]'
            """)
        self.assertRunOk(self.project.run("run", "flaky"))
        self.assertEqual(self.project.query("SELECT attempt, state FROM attempts ORDER BY attempt"),
                         [(1, "failed"), (2, "failed"), (3, "succeeded")])
        for attempt in (1, 2, 3):
            self.assertEqual(self.project.log("flaky", 1, "s", attempt), f"attempt {attempt}\n")

    def test_timeout_kills_the_whole_process_group(self):
        pidfile = self.project.path("grandchild.pid")
        self.project.job("slow", f"""\
            job: slow
            steps:
              s:
                timeout: 1s
                kill_grace: 1s
                shell: 'sh -c "sleep 1000" & echo $! > {pidfile}; wait'
            """)
        result = self.project.run("run", "slow")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(self.project.step_states(1), {"s": "timed_out"})
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertFalse(pid_alive(pid), "the step's grandchild survived its timeout")

    def test_templates_and_nightshift_variables_reach_the_process(self):
        self.project.job("env", """\
            job: env
            schedule: "10 0 * * *"
            timezone: Asia/Tokyo
            env: { WHERE: "dmp-{{ date_nodash }}" }
            steps:
              show:
                command: [sh, -c, 'echo "$NIGHTSHIFT_DATE $NIGHTSHIFT_RUN_ID $NIGHTSHIFT_JOB $NIGHTSHIFT_STEP $NIGHTSHIFT_ATTEMPT $WHERE $1 $2"', x, "{{ yesterday }}", "{{ date | add_days(-30) }}"]
            """)
        self.assertRunOk(self.project.run("run", "env", "--date", "2026-03-01"))
        self.assertEqual(self.project.log("env", 1, "show"),
                         "2026-03-01 1 env show 1 dmp-20260301 2026-02-28 2026-01-30\n")
        self.assertEqual(self.project.query("SELECT scheduled_at_text, date FROM runs"),
                         [("2026-03-01T00:10:00+09:00", "2026-03-01")])

    def test_from_reruns_the_step_and_its_downstream(self):
        out = self.project.path("ran")
        self.project.job("chain", f"""\
            job: chain
            steps:
              a: {{ shell: 'echo a >> {out}' }}
              b: {{ shell: 'echo b >> {out}', depends_on: [a] }}
              c: {{ shell: 'echo c >> {out}', depends_on: [b] }}
              d: {{ shell: 'echo d >> {out}', depends_on: [a] }}
            """)
        self.assertRunOk(self.project.run("run", "chain", "--from", "b"))
        with open(out) as f:
            self.assertEqual(sorted(f.read().split()), ["b", "c"])

    def test_ctrl_c_cancels_and_kills_the_steps(self):
        pidfile = self.project.path("step.pid")
        self.project.job("long", f"""\
            job: long
            steps:
              s: {{ shell: 'echo $$ > {pidfile}; exec sleep 1000' }}
              after: {{ shell: 'true', depends_on: [s] }}
            """)
        proc = self.project.start("run", "long")
        deadline = time.time() + 30
        while not os.path.exists(pidfile) or os.path.getsize(pidfile) == 0:
            self.assertLess(time.time(), deadline, "the step never started")
            time.sleep(0.05)
        with open(pidfile) as f:
            pid = int(f.read())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, out + err)
        self.assertEqual(self.project.step_states(1), {"s": "cancelled", "after": "cancelled"})
        self.assertEqual(self.project.query("SELECT status FROM runs"), [("cancelled",)])
        self.assertFalse(pid_alive(pid))


class ProgressTest(ProjectTest):
    def run_on_terminal(self, job):
        """`nightshift run JOB` on a pseudo-terminal: (exit status, output)."""
        terminal = Terminal([NIGHTSHIFT, "run", job, "--config", self.project.path("nightshift.yaml")],
                            cwd=self.project.dir)
        try:
            return terminal.wait(timeout=60), terminal.output.decode()
        finally:
            terminal.close()

    def test_a_terminal_gets_a_progress_line_and_a_pipe_plain_lines(self):
        self.project.job("three", """\
            job: three
            steps:
              a: { shell: 'sleep 0.2' }
              b: { shell: 'exit 3', depends_on: [a] }
              c: { shell: 'true', depends_on: [b] }
            """)
        piped = self.project.run("run", "three")
        self.assertEqual(piped.returncode, 1, piped.stdout + piped.stderr)
        self.assertNotIn("steps done", piped.stdout)
        self.assertNotIn("\x1b", piped.stdout)

        # Now there is a history of a and b: not of c, which never ran, so no
        # expected time yet.
        code, text = self.run_on_terminal("three")
        self.assertEqual(code, 1, text)
        self.assertIn("\r\x1b[K0/3 steps done, 1 running, 0 failed", text)
        self.assertIn("1/3 steps done, 1 running, 0 failed", text)
        # b failed and c is upstream_failed: both done, both counted as failed.
        self.assertIn("3/3 steps done, 0 running, 2 failed", text)
        self.assertNotIn(" of about ", text)
        # The progress line is erased before the summary.
        self.assertRegex(text, r"\r\x1b\[Krun \d+ of three for .*: failed")

    def test_the_expected_time_comes_from_the_history(self):
        self.project.job("two", """\
            job: two
            steps:
              a: { shell: 'true' }
              b: { shell: 'true', depends_on: [a] }
            """)
        self.assertRunOk(self.project.run("run", "two"))
        code, text = self.run_on_terminal("two")
        self.assertEqual(code, 0, text)
        self.assertRegex(text, r"2/2 steps done, 0 running, 0 failed, \S+ of about \S+")


class SecretTest(ProjectTest):
    SECRET = "hunter2-7f3a9c-never-printed"

    def test_a_secret_reaches_the_process_and_nothing_else(self):
        self.project.write("secrets/DB_PASSWORD", self.SECRET + "\n")
        self.project.job("secret", f"""\
            job: secret
            env: {{ DB_PASSWORD: "${{secret:DB_PASSWORD}}" }}
            steps:
              check: {{ shell: '[ "$DB_PASSWORD" = "{self.SECRET[:7]}"-7f3a9c-never-printed ] && echo matched' }}
              fail: {{ shell: 'exit 1', depends_on: [check] }}
            """)
        result = self.project.run("run", "secret")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(self.project.log("secret", 1, "check"), "matched\n")
        self.assertNotIn(self.SECRET, result.stdout + result.stderr)
        for root, _, files in os.walk(self.project.path("var")):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(self.SECRET.encode(), f.read(), os.path.join(root, name))
        if self.project.database:  # the run store is on the MySQL server: every row of it
            for table in ("runs", "run_steps", "attempts", "job_watermarks", "schema_version"):
                rows = self.project.query(f"SELECT * FROM {table}")
                self.assertNotIn(self.SECRET, repr(rows), table)


if __name__ == "__main__":
    main()
