"""Step logs through the real daemon (issue #12, #9): the step's secrets are
*** in the log file and in GET .../log, however the step writes them; a long
log comes back byte for byte, also while it is being written (follow=true),
from disk a piece at a time, so many clients that do not read cost little
memory; a log folder that exists already is not reused; a log that could not
be written whole (a full disk, a real one on a tmpfs) is said on the attempt,
in the daemon's log and in a metric."""

import os
import random
import socket
import subprocess
import time

from harness import NIGHTSHIFT, STATE, Daemon, DaemonTest, ProjectTest, main, wait_for
from daemon_test import metric_value

SECRET = "tok3n-Wq8zR2pL"
BIG = 13_500_000  # the size of the log in issue #12's measurement


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def write_random_file(path, size, seed):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


class LogsTest(DaemonTest):
    project_args = {"extra_config": "shutdown_grace: 2s\n"}

    def setUp(self):
        super().setUp()
        self.project.write("secrets/TOKEN", SECRET + "\n")
        go = self.project.path("go")
        self.go = go
        # Printed whole, on stderr, inside a word, split across two writes with
        # a pause between them (two reads of the pipe), and as the last bytes.
        self.project.job("leak", f"""\
            job: leak
            env: {{ TOKEN: "${{secret:TOKEN}}" }}
            steps:
              s:
                shell: |
                  echo "token=$TOKEN"
                  echo "on stderr: $TOKEN" >&2
                  echo "word${{TOKEN}}word"
                  printf 'split: %s' "$(printf %s "$TOKEN" | cut -c1-6)"
                  while [ ! -e {go} ]; do sleep 0.05; done
                  printf '%s\\n' "$(printf %s "$TOKEN" | cut -c7-)"
                  printf 'last: %s' "$TOKEN"
            """)

    def rerun(self, job):
        answer = self.daemon.post(f"/jobs/{job}/rerun")
        self.assertEqual(answer.status, 202, answer)
        return answer.json["run_id"]

    def test_a_secret_the_step_prints_is_masked_in_the_file_the_api_and_the_daemon_log(self):
        self.daemon.start()
        run_id = self.rerun("leak")
        log_file = self.project.path("var", "logs", "leak", str(run_id), "s.1.log")
        def read_log():
            try:
                with open(log_file) as f:
                    return f.read()
            except FileNotFoundError:
                return ""
        wait_for(lambda: "split: " in read_log(), 30,
                 "the first half of the split secret to be written")
        # The first half waits in the daemon: it could be the secret's start.
        with open(log_file) as f:
            self.assertNotIn("tok3n-", f.read())
        followed = self.daemon.open(f"/runs/{run_id}/steps/s/log?follow=true")
        with open(self.go, "w"):
            pass
        run = self.daemon.wait_for_run(run_id)
        self.assertEqual(run["status"], "succeeded", run)
        expected = "token=***\non stderr: ***\nword***word\nsplit: ***\nlast: ***"
        with open(log_file) as f:
            self.assertEqual(f.read(), expected)
        self.assertEqual(self.daemon.get(f"/runs/{run_id}/steps/s/log").text, expected)
        with followed:
            self.assertEqual(followed.read().decode(), expected)
        for where, text in (("daemon log", self.daemon.log()),
                            ("run JSON", self.daemon.get(f"/runs/{run_id}").text),
                            ("job JSON", self.daemon.get("/jobs/leak").text),
                            ("metrics", self.daemon.get("/metrics").text)):
            self.assertNotIn(SECRET, text, where)
            self.assertNotIn(SECRET[:6] + SECRET[6:], text, where)

    def test_a_short_secret_is_not_masked_and_the_daemon_says_so_by_name(self):
        self.project.write("secrets/PIN", "42\n")
        self.project.job("pin", """\
            job: pin
            steps:
              s: { shell: 'echo "pin $PIN"', env: { PIN: "${secret:PIN}" } }
            """)
        self.daemon.start()
        run = self.daemon.wait_for_run(self.rerun("pin"))
        self.assertEqual(self.project.log("pin", run["run_id"], "s"), "pin 42\n")
        log = self.daemon.log()
        self.assertIn("env PIN: the value of ${secret:PIN} is shorter than 4 bytes and is not "
                      "masked in the step's log", log)

    def test_a_long_log_comes_back_byte_for_byte(self):
        data = self.project.path("data.bin")
        write_random_file(data, BIG, seed=12)
        # The secret is given but never printed: the mask passes everything else.
        self.project.job("big", f"""\
            job: big
            env: {{ TOKEN: "${{secret:TOKEN}}" }}
            steps:
              s: {{ command: [cat, "{data}"] }}
            """)
        self.daemon.start()
        run = self.daemon.wait_for_run(self.rerun("big"), timeout=120)
        self.assertEqual(run["status"], "succeeded", run)
        with open(data, "rb") as f:
            expected = f.read()
        answer = self.daemon.get(f"/runs/{run['run_id']}/steps/s/log", timeout=120)
        self.assertEqual(answer.status, 200)
        self.assertEqual(len(answer.body), len(expected))
        self.assertTrue(answer.body == expected, "the log differs from what the step wrote")
        with self.daemon.open(f"/runs/{run['run_id']}/steps/s/log?follow=true", timeout=120) as r:
            self.assertTrue(r.read() == expected, "the followed log differs")
        # The client command reads the streamed answer as well.
        for extra in ([], ["--follow"]):
            cli = subprocess.run([NIGHTSHIFT, "logs", str(run["run_id"]), "s", "--url",
                                  self.daemon.url, *extra], capture_output=True, timeout=120)
            self.assertEqual(cli.returncode, 0, cli.stderr)
            self.assertTrue(cli.stdout == expected, f"nightshift logs {extra} differs")

    def test_a_log_being_written_streams_whole_with_follow(self):
        data = self.project.path("data.bin")
        write_random_file(data, 4_000_000, seed=9)
        # 40 pieces of 100,000 bytes with a pause between them, then it waits for `go`.
        self.project.job("slowbig", f"""\
            job: slowbig
            steps:
              s:
                shell: |
                  i=0
                  while [ $i -lt 40 ]; do
                    dd if={data} bs=100000 skip=$i count=1 status=none
                    sleep 0.02
                    i=$((i+1))
                  done
                  while [ ! -e {self.go} ]; do sleep 0.05; done
            """)
        self.daemon.start()
        run_id = self.rerun("slowbig")
        log_file = self.project.path("var", "logs", "slowbig", str(run_id), "s.1.log")
        wait_for(lambda: os.path.exists(log_file) and os.path.getsize(log_file) > 0, 30,
                 "the step to write")
        with self.daemon.open(f"/runs/{run_id}/steps/s/log?follow=true", timeout=120) as r:
            first = r.read(1000)
            self.assertEqual(self.daemon.run_json(run_id)["status"], "running")
            wait_for(lambda: os.path.getsize(log_file) == 4_000_000, 60, "the whole output")
            with open(self.go, "w"):
                pass
            body = first + r.read()
        with open(data, "rb") as f:
            self.assertTrue(body == f.read(), "the followed log differs from what the step wrote")

    def test_clients_that_do_not_read_a_long_log_cost_little_memory(self):
        data = self.project.path("data.bin")
        write_random_file(data, BIG, seed=3)
        self.project.job("big", f"""\
            job: big
            steps:
              s: {{ command: [cat, "{data}"] }}
            """)
        self.daemon.start()
        run_id = self.daemon.wait_for_run(self.rerun("big"), timeout=120)["run_id"]
        before = rss_kib(self.daemon.pid)
        clients = []
        try:
            for i in range(30):
                s = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=30)
                # A small receive buffer: the daemon cannot hand its answer to the kernel.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                follow = "?follow=true" if i % 2 else ""
                s.sendall(f"GET /runs/{run_id}/steps/s/log{follow} HTTP/1.1\r\n"
                          f"Host: x\r\n\r\n".encode())
                # Its first bytes: the daemon is answering it now (and, before
                # streaming, held the whole log by then).
                self.assertTrue(s.recv(1024))
                clients.append(s)
            after = rss_kib(self.daemon.pid)
        finally:
            for s in clients:
                s.close()
        grown = after - before
        # 30 whole copies would be 400 MB; a piece each is ~2 MB. ASan's
        # allocator adds redzones and keeps freed pieces in quarantine.
        limit_mib = 150 if os.environ.get("NIGHTSHIFT_SANITIZE") else 30
        self.assertLess(grown, limit_mib * 1024, f"RSS {before} KiB -> {after} KiB")


ONCE_JOB = """\
    job: once
    steps:
      s: { shell: 'echo "run $NIGHTSHIFT_RUN_ID"' }
    """


class LogFolderTest(ProjectTest):
    project_args = {"extra_config": "shutdown_grace: 2s\n"}

    def test_a_store_reset_under_a_kept_log_dir_numbers_runs_past_its_folders(self):
        if STATE != "sqlite":
            self.skipTest("resets the SQLite store's file")
        self.project.job("once", ONCE_JOB)
        daemon = Daemon(self.project).start()
        try:
            for expected in (1, 2):
                run = daemon.wait_for_run(daemon.post("/jobs/once/rerun").json["run_id"])
                self.assertEqual((run["run_id"], run["status"]), (expected, "succeeded"), run)
        finally:
            daemon.stop()
        # The store is reset; log_dir is kept. The new store's first run is 3,
        # not 1 (whose folder holds the old run 1's log, never overwritten).
        for name in os.listdir(self.project.path("var")):
            if name.startswith("nightshift.db"):
                os.remove(self.project.path("var", name))
        daemon = Daemon(self.project).start()
        try:
            run = daemon.wait_for_run(daemon.post("/jobs/once/rerun").json["run_id"])
            self.assertEqual((run["run_id"], run["status"]), (3, "succeeded"), run)
            self.assertEqual(daemon.get("/runs/3/steps/s/log").text, "run 3\n")
            self.assertEqual(daemon.get("/runs/1").status, 404)
        finally:
            daemon.stop()
        self.assertEqual(self.project.log("once", 1, "s"), "run 1\n")
        # `nightshift run` numbers past the folders the same way.
        self.assertRunOk(self.project.run("run", "once"))
        self.assertEqual(self.project.log("once", 4, "s"), "run 4\n")

    def test_a_run_id_whose_log_folder_appeared_meanwhile_fails_its_steps_and_overwrites_nothing(self):
        # Another store's daemon writing to the same log_dir: a folder can
        # still appear for an id this store has not given yet.
        self.project.job("once", ONCE_JOB)
        daemon = Daemon(self.project).start()
        try:
            os.makedirs(self.project.path("var", "logs", "once", "1"))
            with open(self.project.path("var", "logs", "once", "1", "s.1.log"), "w") as f:
                f.write("another store's run 1\n")
            run = daemon.wait_for_run(daemon.post("/jobs/once/rerun").json["run_id"])
            self.assertEqual((run["run_id"], run["status"]), (1, "failed"), run)
            attempts = run["steps"][0]["attempts"]
            self.assertEqual(len(attempts), 1, attempts)
            self.assertIn("exists already", attempts[0]["message"])
            self.assertIn("a log is never overwritten", attempts[0]["message"])
            self.assertEqual(self.project.log("once", 1, "s"), "another store's run 1\n")
            self.assertEqual(daemon.get("/healthz").status, 200)
        finally:
            daemon.stop()


class LogDiskFullTest(ProjectTest):
    """log_dir on a 1 MiB tmpfs in the daemon's own mount namespace (needs root)."""

    def test_a_log_that_could_not_be_written_whole_is_said_and_counted(self):
        if os.geteuid() != 0:
            self.skipTest("mounts a tmpfs")
        os.makedirs(self.project.path("var", "logs"))
        self.project.job("loud", """\
            job: loud
            steps:
              s: { shell: 'head -c 3000000 /dev/zero; echo done' }
            """)
        logs = self.project.path("var", "logs")
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   f'mount -t tmpfs -o size=1m nightshift-logs "{logs}" && exec "$0" "$@"']
        daemon = Daemon(self.project, wrapper=wrapper).start()
        try:
            run = daemon.wait_for_run(daemon.post("/jobs/loud/rerun").json["run_id"])
            # The step did its work: a full log disk does not fail it.
            self.assertEqual(run["status"], "succeeded", run)
            steps = {s["step"]: s for s in run["steps"]}
            message = steps["s"]["attempts"][0]["message"]
            self.assertTrue(message.startswith("the log is incomplete: cannot write '"), message)
            self.assertIn("No space left on device", message)
            metrics = daemon.get("/metrics").text
            self.assertEqual(metric_value(metrics, "nightshift_log_write_errors_total"), 1)
            log = daemon.log()
            warnings = [line for line in log.splitlines() if "log is incomplete" in line]
            self.assertEqual(len(warnings), 1, log[-3000:])
            self.assertIn(" warning ", warnings[0])
        finally:
            daemon.stop(quiet=True)


if __name__ == "__main__":
    main()
