"""Nightshift on MySQL/MariaDB through the real binary: the kpi example's SQL
steps on the test server checked against independent queries, a timed-out
query killed on the server, a wrong password, and a store outage in the middle
of a run. (The engine and daemon suites also run with `state: mysql://`: see
test/CMakeLists.txt.)"""

import concurrent.futures
import os
import shutil
import subprocess
import tempfile
import textwrap
import time

import harness
from harness import DaemonTest, Project, ProjectTest, mysql_query, mysql_server, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_MARIADB = os.path.join(REPO, "scripts", "test-mariadb")


def mysql_connection(name, database, server_dir=None, extra=""):
    """A connection entry of nightshift.yaml for DATABASE on a test server."""
    host, port, user, _ = mysql_server(server_dir)
    return (f"  {name}: {{ driver: mysql, host: {host}, port: {port}, user: {user}, "
            f"database: {database}, password: \"${{secret:DB_PASSWORD}}\"{extra} }}\n")


def write_password(project, server_dir=None):
    project.write("secrets/DB_PASSWORD", mysql_server(server_dir)[3] + "\n")


def running_queries(like):
    """Queries running on the test server whose text matches LIKE."""
    return mysql_query(None, "SELECT ID, INFO FROM information_schema.PROCESSLIST "
                             "WHERE INFO LIKE ? AND ID <> CONNECTION_ID()", like)


class KpiExampleTest(ProjectTest):
    """examples/mysql: the kpi job in MySQL's dialect on the seed's data."""

    project_args = {"pools": {"source_db": 2}}

    def setUp(self):
        super().setUp()
        with open(os.path.join(REPO, "examples", "mysql", "seed.sql")) as f:
            mysql_query(None, f.read())
        shutil.rmtree(self.project.path("jobs.d"))
        shutil.copytree(os.path.join(REPO, "examples", "mysql", "jobs.d"), self.project.path("jobs.d"))
        write_password(self.project)
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("connections:\n" + mysql_connection("dmp_source", "dmp") +
                    mysql_connection("warehouse", "dmp_warehouse"))

    def tearDown(self):
        mysql_query(None, "DROP DATABASE IF EXISTS dmp; DROP DATABASE IF EXISTS dmp_warehouse")
        super().tearDown()

    def test_example_config_is_valid(self):
        result = subprocess.run([harness.NIGHTSHIFT, "check", "--config",
                                 os.path.join(REPO, "examples", "mysql", "nightshift.yaml")],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_extract_aggregate_and_load_match_independent_queries(self):
        date = mysql_query(None, "SELECT CURRENT_DATE()")[0][0]
        result = self.project.run("run", "kpi", "--date", date)
        self.assertRunOk(result)
        yesterday = mysql_query(None, "SELECT CURRENT_DATE() - INTERVAL 1 DAY")[0][0]

        # The extract: the seed's registrations of the 30 days up to the date, row for row.
        expected = mysql_query("dmp", "SELECT registration_id FROM registration WHERE lesson_date > "
                                      "(DATE(?) - INTERVAL 30 DAY) AND lesson_date <= DATE(?) "
                                      "ORDER BY registration_id", date, date)
        extracted = mysql_query("dmp", "SELECT registration_id FROM registration_recent "
                                       "ORDER BY registration_id")
        self.assertEqual(extracted, expected)
        self.assertEqual(len(extracted), 30 * 200)

        # The aggregate, computed here straight from the source tables.
        independent = mysql_query("dmp", """
            SELECT (SELECT COUNT(*) FROM lesson WHERE lesson_date = ?),
                   (SELECT SUM(minutes) FROM lesson WHERE lesson_date = ?),
                   (SELECT COUNT(DISTINCT student_id) FROM lesson WHERE lesson_date = ?),
                   (SELECT SUM(amount - refunded) FROM sales WHERE paid_on = ?),
                   (SELECT COUNT(*) FROM registration WHERE lesson_date <= ?
                      AND lesson_date > DATE(?) - INTERVAL 30 DAY)""",
                                  yesterday, yesterday, yesterday, yesterday, date, date)
        row = mysql_query("dmp", "SELECT lessons, lesson_minutes, active_students, revenue, "
                                 "registrations_30d FROM kpi_daily WHERE day = ?", yesterday)
        self.assertEqual(row, independent)
        self.assertEqual(row[0][0], 400)
        # The load: the same row in the warehouse.
        self.assertEqual(mysql_query("dmp_warehouse", "SELECT * FROM kpi_daily"),
                         mysql_query("dmp", "SELECT * FROM kpi_daily"))

        run_id = self.project.query("SELECT MAX(run_id) FROM runs")[0][0]
        log = self.project.log("kpi", run_id, "extract_registration")
        self.assertIn("CREATE TABLE registration_recent LIKE registration", log)
        self.assertIn("-- 6000 rows affected", log)

        # Every step is idempotent: a second run gives the same rows.
        self.assertRunOk(self.project.run("run", "kpi", "--date", date))
        self.assertEqual(mysql_query("dmp", "SELECT registration_id FROM registration_recent "
                                            "ORDER BY registration_id"), expected)
        self.assertEqual(mysql_query("dmp_warehouse", "SELECT lessons, lesson_minutes, active_students, "
                                                      "revenue, registrations_30d FROM kpi_daily"),
                         independent)


class CopyExampleTest(ProjectTest):
    """examples/copy: rows copied between two servers with mysqldump | mysql
    (here two databases of the test server, reached through the option files
    the recipe uses), idempotent, and a failed dump leaves the target alone."""

    def setUp(self):
        super().setUp()
        with open(os.path.join(REPO, "examples", "mysql", "seed.sql")) as f:
            mysql_query(None, f.read())
        mysql_query(None, "DROP DATABASE IF EXISTS dmp_copy; CREATE DATABASE dmp_copy")
        shutil.rmtree(self.project.path("jobs.d"))
        shutil.copytree(os.path.join(REPO, "examples", "copy", "jobs.d"), self.project.path("jobs.d"))
        host, port, user, password = mysql_server()
        for name in ("source", "target"):
            self.write_cnf(name, host, port, user, password)
        write_password(self.project)
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("connections:\n" + mysql_connection("source", "dmp"))
        self.date = mysql_query(None, "SELECT CURRENT_DATE()")[0][0]
        self.window = ("lesson_date > DATE(?) - INTERVAL 30 DAY AND lesson_date <= DATE(?)",
                       self.date, self.date)

    def tearDown(self):
        mysql_query(None, "DROP DATABASE IF EXISTS dmp; DROP DATABASE IF EXISTS dmp_warehouse; "
                          "DROP DATABASE IF EXISTS dmp_copy")
        super().tearDown()

    def write_cnf(self, name, host, port, user, password):
        self.project.write(f"secrets/{name}.cnf",
                           f"[client]\nhost={host}\nport={port}\nuser={user}\npassword={password}\n")

    def rows(self, database):
        where, *params = self.window
        return mysql_query(database, f"SELECT * FROM registration WHERE {where} "
                                     "ORDER BY registration_id", *params)

    def test_example_config_is_valid(self):
        for example in ("copy", "bigquery"):
            result = subprocess.run([harness.NIGHTSHIFT, "check", "--config",
                                     os.path.join(REPO, "examples", example, "nightshift.yaml")],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, example + ": " + result.stdout + result.stderr)

    def test_copies_the_window_and_the_day_and_a_rerun_replaces_them(self):
        self.assertRunOk(self.project.run("run", "copy_recent", "--date", self.date))
        source = self.rows("dmp")
        self.assertEqual(len(source), 30 * 200)
        self.assertEqual(self.rows("dmp_copy"), source)
        yesterday = mysql_query(None, "SELECT CURRENT_DATE() - INTERVAL 1 DAY")[0][0]
        by_course = mysql_query("dmp", "SELECT lesson_date, course, COUNT(*) FROM registration "
                                       "WHERE lesson_date = ? GROUP BY lesson_date, course "
                                       "ORDER BY course", yesterday)
        self.assertTrue(by_course)
        self.assertEqual(mysql_query("dmp_copy", "SELECT * FROM course_day ORDER BY course"), by_course)

        # The source changes; the target has a stray row in the window and an
        # older one outside it. A rerun makes the window the source's again
        # and leaves the rest of the target alone.
        mysql_query("dmp", "DELETE FROM registration WHERE lesson_date = ? LIMIT 5", yesterday)
        mysql_query("dmp_copy", "INSERT INTO registration (registration_id, student_id, course, "
                                "lesson_date) VALUES (900001, 1, 'stray', ?), "
                                "(900002, 1, 'old', DATE(?) - INTERVAL 90 DAY)", yesterday, self.date)
        self.assertRunOk(self.project.run("run", "copy_recent", "--date", self.date))
        self.assertEqual(self.rows("dmp_copy"), self.rows("dmp"))
        self.assertEqual(len(self.rows("dmp_copy")), 30 * 200 - 5)
        self.assertEqual(mysql_query("dmp_copy", "SELECT course FROM registration "
                                                 "WHERE registration_id = 900002"), [("old",)])

    def test_a_failed_dump_fails_the_step_and_leaves_the_target_as_it_was(self):
        self.assertRunOk(self.project.run("run", "copy_recent", "--date", self.date))
        before = self.rows("dmp_copy")
        path = self.project.path("jobs.d", "copy_recent.yaml")
        with open(path) as f:
            text = f.read()
        self.assertIn("retries: 2", text)
        self.project.write("jobs.d/copy_recent.yaml", text.replace("retries: 2", "retries: 0"))
        host, port, user, _ = mysql_server()
        self.write_cnf("source", host, port, user, "not the password")

        result = self.project.run("run", "copy_recent", "--date", self.date, "--from", "copy_registration")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        run_id = self.project.query("SELECT MAX(run_id) FROM runs")[0][0]
        self.assertEqual(self.project.step_states(run_id)["copy_registration"], "failed")
        self.assertIn("Access denied", self.project.log("copy_recent", run_id, "copy_registration"))
        # The DELETE reached the target before the dump failed; it was never committed.
        self.assertEqual(self.rows("dmp_copy"), before)


class SqlStepTest(ProjectTest):
    """SQL steps on the test server, one database per test."""

    def setUp(self):
        super().setUp()
        self.database = harness.create_mysql_database("sqlstep")
        write_password(self.project)
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("connections:\n" + mysql_connection("db", self.database, extra=", connect_timeout: 5s"))

    def tearDown(self):
        harness.drop_mysql_database(self.database)
        super().tearDown()

    def marker(self, what):
        """A statement text only this test runs (an alias: comments around a
        statement are not sent), to find it in the server's process list."""
        return f"SLEEP(120) AS {what}_{self.database}"

    def test_a_timeout_kills_the_query_on_the_server(self):
        marker = self.marker("timeout")
        self.project.job("slow", f"""\
            job: slow
            steps:
              wait:
                connection: db
                timeout: 3s
                sql: SELECT {marker}
            """)
        process = self.project.start("run", "slow")
        try:
            wait_for(lambda: running_queries(f"%{marker}%"), 30, "the query to run on the server")
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        self.assertEqual(process.returncode, 1, out + err)
        self.assertEqual(self.project.step_states(1), {"wait": "timed_out"})
        # KILL QUERY came from a second connection: nothing of it is left running.
        wait_for(lambda: not running_queries(f"%{marker}%"), 10, "the killed query to be gone")
        self.assertIn("timed out", self.project.log("slow", 1, "wait"))

    def test_cancel_through_the_api_kills_the_query_on_the_server(self):
        marker = self.marker("cancel")
        self.project.job("slow", f"""\
            job: slow
            steps:
              wait: {{ connection: db, sql: SELECT {marker} }}
            """)
        with open(self.project.path("nightshift.yaml"), "a") as f:
            f.write("shutdown_grace: 2s\n")
        daemon = harness.Daemon(self.project).start()
        try:
            run_id = daemon.post("/jobs/slow/rerun").json["run_id"]
            wait_for(lambda: running_queries(f"%{marker}%"), 30, "the query to run on the server")
            self.assertEqual(daemon.post(f"/runs/{run_id}/cancel").status, 202)
            run = daemon.wait_for_run(run_id, timeout=30)
            self.assertEqual(run["status"], "cancelled", run)
            self.assertEqual(run["steps"][0]["status"], "cancelled", run)
            wait_for(lambda: not running_queries(f"%{marker}%"), 10, "the killed query to be gone")
        finally:
            daemon.stop()

    def test_a_wrong_password_names_the_server_but_not_the_password(self):
        self.project.write("secrets/DB_PASSWORD", "wrong-password-8731\n")
        self.project.job("j", """\
            job: j
            steps:
              s: { connection: db, sql: SELECT 1 }
            """)
        result = self.project.run("run", "j")
        self.assertEqual(result.returncode, 1)
        log = self.project.log("j", 1, "s")
        host, port, user, _ = mysql_server()
        self.assertIn(f"{user}@{host}:{port}/{self.database}", log)
        self.assertIn("Access denied", log)
        for text in (log, result.stdout, result.stderr):
            self.assertNotIn("wrong-password-8731", text)


class StoreOutageTest(DaemonTest):
    """The run store's own server goes away for 14 s in the middle of a run."""

    def setUp(self):
        self.server_dir = tempfile.mkdtemp(prefix="nightshift-outage-")
        subprocess.run([TEST_MARIADB, "start", self.server_dir], check=True, capture_output=True)
        super().setUp()
        host, port, user, password = mysql_server(self.server_dir)
        mysql_query(None, "CREATE DATABASE history", server_dir=self.server_dir)
        self.project.write("secrets/STATE_DB_PASSWORD", password + "\n")
        self.project.write("nightshift.yaml", textwrap.dedent(f"""\
            jobs_dir: jobs.d
            log_dir: var/logs
            workers: 1
            secrets_dir: secrets
            state: mysql://{user}@{host}:{port}/history
            state_password: "${{secret:STATE_DB_PASSWORD}}"
            """))

    def tearDown(self):
        super().tearDown()
        subprocess.run([TEST_MARIADB, "stop", self.server_dir], capture_output=True)
        shutil.rmtree(self.server_dir, ignore_errors=True)

    def history(self, sql, *params):
        return mysql_query("history", sql, *params, server_dir=self.server_dir)

    def test_the_run_finishes_and_its_history_is_complete(self):
        self.project.job("nightly", """\
            job: nightly
            steps:
              extract: { shell: "sleep 0.2" }
              aggregate: { shell: "sleep 4", depends_on: [extract] }
              load_a: { shell: "echo a", depends_on: [aggregate] }
              load_b: { shell: "echo b", depends_on: [aggregate] }
              notify: { shell: "echo done", depends_on: [load_a, load_b] }
            """)
        # Fires during the outage too: the scheduler then waits for the store as well.
        self.project.job("tick", """\
            job: tick
            schedule: "*/2 * * * * *"
            catchup: all
            steps:
              noop: { shell: "true" }
            """)
        self.daemon.start()
        answer = self.daemon.post("/jobs/nightly/rerun")
        self.assertEqual(answer.status, 202, answer.text)
        run_id = answer.json["run_id"]
        wait_for(lambda: os.path.exists(self.project.path("var", "logs", "nightly", str(run_id),
                                                          "aggregate.1.log")),
                 30, "aggregate to start")

        # aggregate ends while the server is down: its end waits for the store.
        outage = subprocess.Popen([TEST_MARIADB, "outage", self.server_dir, "14"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(6)  # aggregate has ended, tick has fired: both wait for the store
            self.assertTrue(self.daemon.running())
            # The executor and the scheduler both wait for the store; HTTP still
            # answers, while the server is down (the outage is not over yet).
            self.assertEqual(self.daemon.get("/healthz", timeout=30).status, 200)
            self.assertIsNone(outage.poll(), "/healthz answered only after the outage")
            # A read gives up after a few seconds with 503 rather than hang,
            # and the daemon says it is not ready (both asked at once).
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                run, ready = pool.map(lambda path: self.daemon.get(path, timeout=30),
                                      [f"/runs/{run_id}", "/readyz"])
            self.assertEqual(run.status, 503, run.text)
            self.assertIn("store unavailable", run.json["error"])
            self.assertEqual((ready.status, ready.json["store_ok"]), (503, False), ready.text)
            self.assertIsNone(outage.poll(), "the reads gave up only after the outage")
        finally:
            output = outage.communicate(timeout=120)[0]
        self.assertEqual(outage.returncode, 0, output)

        run = self.daemon.wait_for_run(run_id, timeout=120)
        self.assertEqual(run["status"], "succeeded", run)
        self.assertEqual(self.daemon.get("/readyz").status, 200)
        steps = dict(self.history("SELECT step, state FROM run_steps WHERE run_id = ?", run_id))
        self.assertEqual(steps, {s: "succeeded" for s in
                                 ("extract", "aggregate", "load_a", "load_b", "notify")})
        attempts = self.history("SELECT step, attempt, state, finished_at IS NOT NULL FROM attempts "
                                "WHERE run_id = ? ORDER BY step", run_id)
        self.assertEqual(attempts, [(s, 1, "succeeded", 1) for s in
                                    ("aggregate", "extract", "load_a", "load_b", "notify")])
        self.assertEqual(self.history("SELECT COUNT(*), MIN(status) FROM runs WHERE job = 'nightly'"),
                         [(1, "succeeded")])
        # Every fire time of tick, those of the outage included, has its one run.
        # (The scheduler's writes wait in the store writer's queue until it takes them.)
        fires = lambda: [row[0] for row in self.history(
            "SELECT scheduled_at FROM runs WHERE job = 'tick' ORDER BY scheduled_at")]
        wait_for(lambda: len(fires()) >= 8, 30, "tick's runs of the outage")
        fires = fires()
        self.assertEqual(fires, list(range(fires[0], fires[-1] + 1, 2)), fires)
        metrics = self.daemon.get("/metrics").text
        errors = [line for line in metrics.splitlines() if line.startswith("nightshift_store_errors_total")]
        self.assertTrue(errors and float(errors[0].split()[-1]) >= 1, errors)
        log = self.daemon.log()
        # One line when writes start failing, one when they work again.
        self.assertEqual(log.count("store write failed, retrying until it succeeds"), 1, log)
        self.assertEqual(log.count("store writes succeed again"), 1, log)


if __name__ == "__main__":
    harness.main()
