"""Helpers for the integration tests: a scratch project (config, jobs.d,
secrets) and the real nightshift binary run against it."""

import itertools
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.error
import urllib.request

NIGHTSHIFT = os.path.abspath(os.environ.get("NIGHTSHIFT_BIN") or sys.argv[1])

# ctest runs each suite twice: on SQLite, and with NIGHTSHIFT_TEST_STATE=mysql
# with the run store in a fresh database on the test MariaDB server.
STATE = os.environ.get("NIGHTSHIFT_TEST_STATE", "sqlite")
if STATE not in ("sqlite", "mysql"):
    raise SystemExit(f"NIGHTSHIFT_TEST_STATE={STATE!r}: expected sqlite or mysql")


class Project:
    """A temporary folder with nightshift.yaml, jobs.d/ and var/."""

    def __init__(self, workers=4, pools=None, extra_config=""):
        server = mysql_server() if STATE == "mysql" else None  # fails before making anything
        self.dir = tempfile.mkdtemp(prefix="nightshift-it-")
        os.makedirs(os.path.join(self.dir, "jobs.d"))
        os.makedirs(os.path.join(self.dir, "secrets"))
        self.database = None  # the MySQL database of the run store, if any
        state = "state: sqlite:var/nightshift.db"
        if server:
            host, port, user, password = server
            self.database = create_mysql_database("nightshift_it")
            self.write("secrets/STATE_DB_PASSWORD", password + "\n")
            state = (f"state: mysql://{user}@{host}:{port}/{self.database}\n"
                     'state_password: "${secret:STATE_DB_PASSWORD}"')
        pools_text = "{ " + ", ".join(f"{k}: {v}" for k, v in (pools or {}).items()) + " }"
        self.write("nightshift.yaml", textwrap.dedent(f"""\
            jobs_dir: jobs.d
            log_dir: var/logs
            workers: {workers}
            pools: {pools_text}
            secrets_dir: secrets
            """) + state + "\n" + extra_config)

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
        """Runs SQL with ? params on the run store; a list of tuples either way."""
        if self.database is not None:
            return mysql_query(self.database, sql, *params)
        # A daemon may be writing: wait for its lock rather than fail.
        db = sqlite3.connect(self.path("var", "nightshift.db"), timeout=30)
        try:
            rows = db.execute(sql, params).fetchall()
            db.commit()  # an UPDATE counts, as it does on MySQL (autocommit)
            return rows
        finally:
            db.close()

    def step_states(self, run_id):
        return dict(self.query("SELECT step, state FROM run_steps WHERE run_id = ?", run_id))

    def log(self, job, run_id, step, attempt=1):
        with open(self.path("var", "logs", job, str(run_id), f"{step}.{attempt}.log")) as f:
            return f.read()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.database is not None:
            drop_mysql_database(self.database)
            self.database = None


class ProjectTest(unittest.TestCase):
    """A test case with a fresh Project in self.project."""

    project_args = {}

    def setUp(self):
        self.project = Project(**self.project_args)

    def tearDown(self):
        self.project.cleanup()

    def assertRunOk(self, result):
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


# --- the daemon: `nightshift serve` on 127.0.0.1, and HTTP helpers ---

# No proxy from the environment may stand between the tests and 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Answer:
    """An HTTP answer: status, headers (case-insensitive), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise AssertionError(f"HTTP {self.status}: not JSON: {self.text[:500]!r}") from None

    def __repr__(self):
        return f"<HTTP {self.status} {self.text[:300]!r}>"


def http(method, url, headers=None, body=None, timeout=30):
    """One request; an error status is an Answer too, not an exception."""
    if body is None and method == "POST":
        body = b""  # Content-Length: 0
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as r:
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, e.headers, e.read())


def free_port():
    """A port free on 127.0.0.1 right now (another process may take it before
    the daemon binds it: Daemon.start retries on "Address already in use")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A job that fires every 2 s, runs every missed fire time (catchup: all) and
# lets 5 runs overlap: fire times are easy to count across restarts.
TICK_JOB = """\
job: tick
schedule: "*/2 * * * * *"
catchup: all
max_active_runs: 5
steps:
  s: { shell: 'true' }
"""


def failing_job_with_deadline(name, margin, lead):
    """A job that fails, fired `lead` seconds before its deadline, which is the
    next minute boundary at least `margin` seconds away (deadlines are minutes
    of the day). Returns its YAML and the deadline (seconds since the epoch)."""
    now = time.time()
    deadline = (int(now) // 60 + 1) * 60
    if deadline - now < margin:
        deadline += 60
    fire = time.gmtime(deadline - lead)
    return (f"job: {name}\n"
            f'schedule: "{fire.tm_sec} {fire.tm_min} {fire.tm_hour} * * *"\n'
            f'deadline: "{time.strftime("%H:%M", time.gmtime(deadline))}"\n'
            "steps:\n"
            "  s: { shell: 'exit 1' }\n"), deadline


def wait_for(predicate, timeout, message, interval=0.05):
    """Polls until predicate() is truthy and returns its value; fails after
    `timeout` seconds (a bound that only catches hangs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)


class Terminal:
    """A command with its stdout on a pseudo-terminal, as a person runs it (a
    progress line is drawn only there); what it wrote is in .output."""

    def __init__(self, args, cwd=None):
        main_fd, child_fd = pty.openpty()
        self.fd = main_fd
        self.output = b""
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=child_fd,
                                        stderr=subprocess.PIPE, cwd=cwd)
        os.close(child_fd)

    def read_some(self):
        """Reads what is there (up to 0.2 s); returns all output so far."""
        ready, _, _ = select.select([self.fd], [], [], 0.2)
        try:
            if ready:
                self.output += os.read(self.fd, 65536)
        except OSError:  # EIO: the terminal's other end has closed
            pass
        return self.output

    def wait(self, timeout):
        """Reads until the command exits; its exit status."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.read_some()
        code = self.process.wait(timeout=10)
        self.read_some()
        return code

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stderr.close()
        os.close(self.fd)


class Daemon:
    """`nightshift serve` on a free port of 127.0.0.1, for one Project. Its
    stderr goes to daemon.log in the project (appended across restarts). It is
    stopped by its PID only."""

    START_TIMEOUT = 20

    def __init__(self, project, *args, wrapper=()):
        self.project = project
        self.args = args
        self.wrapper = list(wrapper)  # argv run before the binary (it must exec it)
        self.proc = None
        self.port = None
        self.log_path = project.path("daemon.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def _set_listen(self, port):
        config = self.project.path("nightshift.yaml")
        with open(config) as f:
            lines = [line for line in f.read().splitlines(True) if not line.startswith("listen:")]
        with open(config, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\n" + "".join(lines))

    def start(self, port=None):
        """Starts the daemon and waits until GET /healthz answers 200; on
        `port` when given (a restart that clients must find again), else on a
        free one."""
        assert not self.running(), "the daemon is running already"
        for _ in range(5):
            self.port = port or free_port()
            self._set_listen(self.port)
            offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            with open(self.log_path, "ab") as err:
                self.proc = subprocess.Popen(
                    [*self.wrapper, NIGHTSHIFT, "serve", "--config",
                     self.project.path("nightshift.yaml"), *self.args],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=self.project.dir)
            deadline = time.monotonic() + self.START_TIMEOUT
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if http("GET", self.url + "/healthz", timeout=2).status == 200:
                        return self
                except OSError:
                    pass  # not listening yet
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.stop(quiet=True)
                raise AssertionError(f"the daemon did not answer /healthz within "
                                     f"{self.START_TIMEOUT} s:\n{self.log()[offset:]}")
            started = self.log()[offset:]
            if "Address already in use" not in started:
                raise AssertionError(f"the daemon exited with {self.proc.returncode} at start:\n{started}")
        raise AssertionError("no free port after 5 tries")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30, quiet=False):
        """Sends `sig`, waits up to `timeout` s for the exit, then SIGKILL;
        returns the exit status (negative: killed by that signal). Unless
        `quiet`, a daemon that needed the SIGKILL fails the test."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if not quiet:
                    raise AssertionError(f"the daemon did not exit within {timeout} s of "
                                         f"signal {sig}:\n{self.log()[-3000:]}") from None
        return self.proc.returncode

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # HTTP on this daemon: paths like "/jobs/kpi".
    def get(self, path, headers=None, timeout=30):
        return http("GET", self.url + path, headers, timeout=timeout)

    def post(self, path, token=None, headers=None, body=None, timeout=30):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return http("POST", self.url + path, headers, body, timeout=timeout)

    def open(self, path, timeout=30):
        """GET whose body is read as it comes (a followed log): the response
        object, to use in a with statement."""
        return _OPENER.open(self.url + path, timeout=timeout)

    def get_json(self, path):
        """GET that must answer 200; its parsed JSON."""
        answer = self.get(path)
        if answer.status != 200:
            raise AssertionError(f"GET {path}: {answer!r}")
        return answer.json

    def run_json(self, run_id):
        return self.get_json(f"/runs/{run_id}")

    def wait_for_run(self, run_id, timeout=60, statuses=("succeeded", "failed", "cancelled")):
        """Waits until the run's status is one of `statuses`; returns the run."""
        return wait_for(lambda: (lambda r: r if r["status"] in statuses else None)(self.run_json(run_id)),
                        timeout, f"run {run_id} to reach {statuses}", interval=0.1)


class DaemonTest(ProjectTest):
    """A ProjectTest with a Daemon (not started) in self.daemon, stopped in tearDown."""

    daemon_args = ()

    def setUp(self):
        super().setUp()
        self.daemon = Daemon(self.project, *self.daemon_args)

    def tearDown(self):
        if self.daemon.running():
            # shutdown_grace may be long: a daemon that does not leave soon is killed.
            self.daemon.stop(timeout=10, quiet=True)
        if _failed(self):
            sys.stderr.write(f"\n--- daemon log of {self.id()} ---\n{self.daemon.log()[-6000:]}\n")
        super().tearDown()


def _failed(test):
    """True when the test that is tearing down has failed or raised."""
    outcome = getattr(test, "_outcome", None)
    result = getattr(outcome, "result", None)
    if result is None:
        return False
    return any(t is test for t, _ in result.failures + result.errors)


# --- the test MariaDB server (scripts/test-mariadb, ctest fixture "mariadb") ---

def mysql_server(directory=None):
    """(host, port, user, password) of the test server, from the files in
    DIRECTORY (default $NIGHTSHIFT_TEST_MYSQL_DIR); fails (not skips) when
    there is none."""
    directory = directory or os.environ.get("NIGHTSHIFT_TEST_MYSQL_DIR")
    if not directory:
        raise AssertionError("NIGHTSHIFT_TEST_MYSQL_DIR is not set: this test needs the test MariaDB "
                             "server; run it through ctest (fixture mariadb) or start one with "
                             "`scripts/test-mariadb start DIR` and set NIGHTSHIFT_TEST_MYSQL_DIR=DIR")
    values = []
    for name in ("port", "user", "password"):
        path = os.path.join(directory, name)
        try:
            with open(path) as f:
                values.append(f.read().strip())
        except OSError as e:
            raise AssertionError(f"cannot read {path} (NIGHTSHIFT_TEST_MYSQL_DIR): {e}; "
                                 "is the test MariaDB server started?") from None
    port, user, password = values
    return "127.0.0.1", int(port), user, password


def sql_literal(value):
    """VALUE as a MySQL literal (the default sql_mode, where backslash escapes)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\0", "\\0")
    return "'" + text + "'"


def bind_params(sql, params):
    """SQL with each ? outside quotes replaced by the next param as a literal,
    as sqlite3 binds them."""
    params = list(params)
    pieces = re.split(r"""('(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*"|`[^`]*`|\?)""", sql)
    out = []
    for piece in pieces:
        if piece == "?":
            if not params:
                raise ValueError(f"more ? than params in: {sql}")
            piece = sql_literal(params.pop(0))
        out.append(piece)
    if params:
        raise ValueError(f"more params than ? in: {sql}")
    return "".join(out)


_BATCH_ESCAPES = {"t": "\t", "n": "\n", "\\": "\\", "0": "\0", "r": "\r"}
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def _batch_value(field):
    """One field of `mariadb --batch` output as the value sqlite3 would give:
    NULL as None, an integer as int (SQLite results are compared with ints)."""
    if field in ("NULL", "\\N"):
        return None  # --batch prints NULL; a string 'NULL' reads as None too
    if _INTEGER.fullmatch(field):
        return int(field)
    # --batch escapes tab, newline, backslash and NUL in values.
    return re.sub(r"\\(.)", lambda m: _BATCH_ESCAPES.get(m.group(1), m.group(0)), field)


def mysql_query(database, sql, *params, server_dir=None):
    """Runs SQL (one or more statements; ? params as in sqlite3) with the
    `mariadb` client on the test server (or the one of SERVER_DIR), in
    DATABASE ("" or None: none). Returns the rows as a list of tuples; an
    error raises AssertionError."""
    host, port, user, password = mysql_server(server_dir)
    args = ["mariadb", "--no-defaults", "-h", host, "-P", str(port), "-u", user, "--batch",
            "--skip-column-names", "--default-character-set=utf8mb4"]
    if database:
        args += ["-D", database]
    # The password goes in the environment, never on the command line (ps);
    # the SQL on stdin, so no length limit.
    result = subprocess.run(args, input=bind_params(sql, params), capture_output=True, text=True,
                            encoding="utf-8", env=dict(os.environ, MYSQL_PWD=password), timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"mysql_query in {database!r}: {result.stderr.strip()}\nSQL: {sql}")
    if not result.stdout:
        return []
    # One line a row (a row of one empty string is an empty line: keep it).
    return [tuple(_batch_value(f) for f in line.split("\t"))
            for line in result.stdout.removesuffix("\n").split("\n")]


_DATABASE_COUNTER = itertools.count(1)


def create_mysql_database(prefix="t"):
    """A new database on the test server, named for no one else; returns its name."""
    name = f"{prefix}_{os.getpid()}_{next(_DATABASE_COUNTER)}_{os.urandom(3).hex()}"
    mysql_query(None, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def drop_mysql_database(name):
    mysql_query(None, f"DROP DATABASE IF EXISTS `{name}`")


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


__all__ = ["Answer", "Daemon", "DaemonTest", "NIGHTSHIFT", "Project", "ProjectTest", "STATE",
           "create_mysql_database", "drop_mysql_database", "free_port", "http", "main", "mysql_query",
           "mysql_server", "pid_alive", "signal", "subprocess", "wait_for"]
