"""Helpers for the integration tests: a scratch project (config, jobs.d,
secrets) and the real nightshift binary run against it."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import unittest

NIGHTSHIFT = os.path.abspath(os.environ.get("NIGHTSHIFT_BIN") or sys.argv[1])


class Project:
    """A temporary folder with nightshift.yaml, jobs.d/ and var/."""

    def __init__(self, workers=4, pools=None, extra_config=""):
        self.dir = tempfile.mkdtemp(prefix="nightshift-it-")
        os.makedirs(os.path.join(self.dir, "jobs.d"))
        os.makedirs(os.path.join(self.dir, "secrets"))
        pools_text = "{ " + ", ".join(f"{k}: {v}" for k, v in (pools or {}).items()) + " }"
        self.write("nightshift.yaml", textwrap.dedent(f"""\
            jobs_dir: jobs.d
            state: sqlite:var/nightshift.db
            log_dir: var/logs
            workers: {workers}
            pools: {pools_text}
            secrets_dir: secrets
            """) + extra_config)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)

    def job(self, name, text):
        self.write(os.path.join("jobs.d", name + ".yaml"), textwrap.dedent(text))

    def run(self, *args, timeout=300):
        """Runs `nightshift ARGS --config ...`; returns the CompletedProcess."""
        return subprocess.run([NIGHTSHIFT, *args, "--config", self.path("nightshift.yaml")],
                              capture_output=True, text=True, timeout=timeout, cwd=self.dir)

    def start(self, *args):
        return subprocess.Popen([NIGHTSHIFT, *args, "--config", self.path("nightshift.yaml")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=self.dir)

    def query(self, sql, *params):
        db = sqlite3.connect(self.path("var", "nightshift.db"))
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def step_states(self, run_id):
        return dict(self.query("SELECT step, state FROM run_steps WHERE run_id = ?", run_id))

    def log(self, job, run_id, step, attempt=1):
        with open(self.path("var", "logs", job, str(run_id), f"{step}.{attempt}.log")) as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class ProjectTest(unittest.TestCase):
    """A test case with a fresh Project in self.project."""

    project_args = {}

    def setUp(self):
        self.project = Project(**self.project_args)

    def tearDown(self):
        self.project.cleanup()

    def assertRunOk(self, result):
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


def main():
    # ctest passes the binary as the first argument.
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


def pid_alive(pid):
    """True while the process exists and is not a zombie waiting to be reaped
    (orphans are reaped by PID 1, which may take a moment or, in containers, never)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


__all__ = ["Project", "ProjectTest", "main", "pid_alive", "signal", "subprocess"]
