#!/usr/bin/env python3
"""MySQL/MariaDB benchmarks, each side by side with a peer in the same run.

    bench/mysql_bench.py [--nightshift build/daemon/nightshift]
                         [--store-bench build/bench/store_bench] [--runs 5] [--rows 1000000]

1. Run-store state transitions per second (start_attempt, finish_attempt,
   set_step_state: each a committed write) on the MySQL store and on the
   SQLite store, by build/bench/store_bench, alternated run by run.
2. A 1,000,000-row extract, `CREATE TABLE dst LIKE src; INSERT INTO dst
   SELECT * FROM src`, run by `nightshift run` (a one-step sql job, the whole
   process timed: start-up, SQLite store writes, log) and by the `mysql`
   command-line client (`mariadb`), alternated; median wall times and the ratio.

The server is a private MariaDB started by scripts/test-mariadb (its own
datadir, a free port on 127.0.0.1, innodb_flush_log_at_trx_commit=2 -- a
commit reaches the OS, not the disk, the same durability as the SQLite store's
WAL with synchronous=NORMAL), stopped by PID at the end. Markdown on stdout,
progress on stderr. Python 3 standard library only; never part of the tests.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

from benchlib import REPO, binaries_line, loadavg, median, progress, snapshot_binary, write
from engine_bench import job_yaml, layered_dag

TEST_MARIADB = os.path.join(REPO, "scripts", "test-mariadb")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build/daemon/nightshift"))
    parser.add_argument("--store-bench", default=os.path.join(REPO, "build/bench/store_bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--transitions", type=int, default=15_000)
    parser.add_argument("--only", default="store,extract",
                        help="from store,extract,dag (default: %(default)s); dag: the 2,000-step "
                             "DAG of `true` through `nightshift run` on the MySQL store and on "
                             "SQLite, alternated, each store keeping its history, a warm-up first")
    parser.add_argument("--nightshift-old", default=None, metavar="PATH",
                        help="a baseline build, alternated with the new one in the dag part")
    parser.add_argument("--layers", type=int, default=20, help="the DAG's layers of 100")
    args = parser.parse_args(argv)
    args.nightshift = os.path.abspath(args.nightshift)
    if args.nightshift_old:
        args.nightshift_old = os.path.abspath(args.nightshift_old)
    args.only = set(args.only.split(","))
    args.store_bench = os.path.abspath(args.store_bench)
    for tool in (args.nightshift, args.store_bench):
        if not os.access(tool, os.X_OK):
            sys.exit(f"mysql_bench: {tool} missing: cmake --build build")
    if not shutil.which("mariadb"):
        sys.exit("mysql_bench: the mariadb client is missing: scripts/install-deps")
    return args


class Server:
    """A private MariaDB; `client(database)` is the command line of its client."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "mariadb")
        subprocess.run([TEST_MARIADB, "start", self.dir], check=True, stdout=subprocess.DEVNULL)
        read = lambda name: open(os.path.join(self.dir, name)).read().strip()
        self.port, self.user, self.password = int(read("port")), read("user"), read("password")
        self.env = dict(os.environ, MYSQL_PWD=self.password)

    def client(self, database=None):
        args = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(self.port), "-u", self.user]
        return args + ([database] if database else [])

    def sql(self, text, database=None):
        subprocess.run(self.client(database), input=text, text=True, check=True, env=self.env)

    def stop(self):
        subprocess.run([TEST_MARIADB, "stop", self.dir], stdout=subprocess.DEVNULL)


def store_transitions(args, server, tmp):
    """Transitions/s of each store, one store_bench process a run, alternated."""
    rates = {"mysql": [], "sqlite (WAL, synchronous=NORMAL)": []}
    for i in range(args.runs):
        database = f"store_{i}"
        server.sql(f"CREATE DATABASE {database}")
        url = f"mysql://{server.user}@127.0.0.1:{server.port}/{database}"
        out = subprocess.run([args.store_bench, str(args.transitions), tmp, url], check=True,
                             capture_output=True, text=True,
                             env=dict(os.environ, NIGHTSHIFT_BENCH_MYSQL_PASSWORD=server.password)).stdout
        for line in out.splitlines():
            m = re.match(r"(.+?)\s+\d+ transitions in .*: +(\d+) transitions/s", line)
            if m and m.group(1) in rates:
                rates[m.group(1)].append(int(m.group(2)))
        progress(f"store run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]}/s" for k, v in rates.items()))
    return {k: median(v) for k, v in rates.items()}


EXTRACT = "DROP TABLE IF EXISTS dst; CREATE TABLE dst LIKE src; INSERT INTO dst SELECT * FROM src;"


def extract(args, server, tmp):
    """Median seconds of the extract through nightshift and through the client."""
    progress(f"seeding {args.rows:,} rows")
    server.sql("CREATE DATABASE extract")
    server.sql(textwrap.dedent(f"""\
        CREATE TABLE src (registration_id BIGINT PRIMARY KEY, student_id INT NOT NULL,
                          course VARCHAR(32) NOT NULL, lesson_date DATE NOT NULL);
        INSERT INTO src SELECT seq, seq * 17 % 5000, CONCAT('course-', seq % 12),
                               DATE('2026-01-01') + INTERVAL (seq % 365) DAY
          FROM seq_1_to_{args.rows};"""), "extract")

    project = os.path.join(tmp, "project")
    write(os.path.join(project, "secrets", "DB_PASSWORD"), server.password + "\n")
    write(os.path.join(project, "nightshift.yaml"), textwrap.dedent(f"""\
        jobs_dir: jobs.d
        state: sqlite:var/nightshift.db
        log_dir: var/logs
        workers: 2
        secrets_dir: secrets
        connections:
          source: {{ driver: mysql, host: 127.0.0.1, port: {server.port}, user: {server.user},
                    database: extract, password: "${{secret:DB_PASSWORD}}" }}
        """))
    write(os.path.join(project, "jobs.d", "extract.yaml"), textwrap.dedent(f"""\
        job: extract
        steps:
          registration_recent:
            connection: source
            sql: "{EXTRACT}"
        """))

    times = {"nightshift": [], "mysql client": []}
    for i in range(args.runs):
        for name in (("nightshift", "mysql client") if i % 2 == 0 else ("mysql client", "nightshift")):
            if name == "nightshift":
                command = [args.nightshift, "run", "extract", "--config",
                           os.path.join(project, "nightshift.yaml")]
            else:
                command = server.client("extract") + ["-e", EXTRACT]
            begin = time.monotonic()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=server.env)
            times[name].append(time.monotonic() - begin)
        progress(f"extract run {i + 1}/{args.runs}: " +
                 ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    count = subprocess.run(server.client("extract") + ["-N", "-e", "SELECT COUNT(*) FROM dst"],
                           check=True, capture_output=True, text=True, env=server.env).stdout.strip()
    if int(count) != args.rows:
        sys.exit(f"mysql_bench: dst has {count} rows, expected {args.rows}")
    return {k: median(v) for k, v in times.items()}


def dag_project(root, server, database, steps):
    """A project whose store is `database` on the server (or SQLite when database is None)."""
    if database:
        server.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        write(os.path.join(root, "secrets", "STATE_DB_PASSWORD"), server.password + "\n")
        state = (f"state: mysql://{server.user}@127.0.0.1:{server.port}/{database}\n"
                 f'state_password: "${{secret:STATE_DB_PASSWORD}}"\nsecrets_dir: secrets\n')
    else:
        state = "state: sqlite:var/nightshift.db\n"
    write(os.path.join(root, "nightshift.yaml"),
          f"jobs_dir: jobs.d\n{state}log_dir: var/logs\nworkers: 2\npools: {{}}\n")
    write(os.path.join(root, "jobs.d", "dag.yaml"), job_yaml("dag", steps, ["true"]))
    return root


def last_run_check(server, root, database, count):
    """Fails unless the newest run of the store succeeded with `count` succeeded attempts."""
    query = ("SELECT r.status, (SELECT COUNT(*) FROM attempts a WHERE a.run_id = r.run_id AND "
             "a.state = 'succeeded') FROM runs r ORDER BY r.run_id DESC LIMIT 1")
    if database:
        out = subprocess.run(server.client(database) + ["-N", "-B", "-e", query], check=True,
                             capture_output=True, text=True, env=server.env).stdout.split()
    else:
        import sqlite3
        db = sqlite3.connect(os.path.join(root, "var", "nightshift.db"))
        out = [str(x) for x in db.execute(query).fetchone()]
        db.close()
    if out != ["succeeded", str(count)]:
        raise RuntimeError(f"{root}: the newest run is {out}, not succeeded with {count}")


def dag(args, server, tmp):
    """The 2,000-step DAG on the MySQL store and on SQLite (per binary), alternated round by
    round after one warm-up round; every store keeps its history. Median wall times."""
    steps = layered_dag(args.layers, 100)
    contenders = {}
    binaries = [("new", args.nightshift)]
    if args.nightshift_old:
        binaries.append(("old", args.nightshift_old))
    for name, binary in binaries:
        for store in ("mysql", "sqlite"):
            database = f"dag_{name}" if store == "mysql" else None
            root = dag_project(os.path.join(tmp, f"dag-{name}-{store}"), server, database, steps)
            contenders[f"{name} {store}"] = (binary, root, database)
    times = {key: [] for key in contenders}
    load = [loadavg()]
    for i in range(args.runs + 1):
        label = "warm-up" if i == 0 else f"{i}/{args.runs}"
        for key, (binary, root, database) in contenders.items():
            begin = time.monotonic()
            subprocess.run([binary, "run", "dag", "--config", os.path.join(root, "nightshift.yaml")],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=root)
            wall = time.monotonic() - begin
            last_run_check(server, root, database, len(steps))
            if i:
                times[key].append(wall)
            progress(f"dag run {label} {key}: {wall:.2f} s (load {loadavg()})")
    load.append(loadavg())
    return {"steps": len(steps), "times": times, "load": load}


def print_dag(args, result):
    """The dag part's Markdown."""
    med = {k: median(v) for k, v in result["times"].items()}
    print(f"{result['steps']:,}-step DAG of `true` (`nightshift run`, workers 2), each store "
          f"keeping its history, {args.runs} alternated runs after a warm-up round, medians; "
          f"load {result['load'][0]} -> {result['load'][1]}; {binaries_line(args)}.\n")
    print("| binary | MySQL store | SQLite store | MySQL / SQLite | runs MySQL | runs SQLite |")
    print("|---|---|---|---|---|---|")
    for name in ("new", "old"):
        if f"{name} mysql" in med:
            m, q = med[f"{name} mysql"], med[f"{name} sqlite"]
            print(f"| {name} | {m:.2f} s | {q:.2f} s | {m / q:.2f}x | "
                  + " ".join(f"{x:.2f}" for x in result["times"][f"{name} mysql"]) + " | "
                  + " ".join(f"{x:.2f}" for x in result["times"][f"{name} sqlite"]) + " |")
    print()


def main():
    args = parse_args()
    rates = extract_times = dag_result = None
    with tempfile.TemporaryDirectory(prefix="nightshift-mysql-bench-") as tmp:
        snapshot_binary(args, tmp)
        server = Server(tmp)
        try:
            if "store" in args.only:
                rates = store_transitions(args, server, tmp)
            if "extract" in args.only:
                extract_times = extract(args, server, tmp)
            if "dag" in args.only:
                dag_result = dag(args, server, tmp)
        finally:
            server.stop()
    if dag_result:
        print_dag(args, dag_result)
    if not rates or not extract_times:
        return
    mysql_rate, sqlite_rate = rates["mysql"], rates["sqlite (WAL, synchronous=NORMAL)"]
    ns, client = extract_times["nightshift"], extract_times["mysql client"]
    print(textwrap.dedent(f"""\
        ### MySQL benchmarks ({time.strftime('%Y-%m-%d')}, nightshift {args.revision}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})

        `bench/mysql_bench.py --runs {args.runs} --rows {args.rows} --transitions {args.transitions}`, medians of {args.runs} alternated runs.

        | | MySQL store | SQLite store | ratio |
        |---|---|---|---|
        | state transitions/s (each one commit) | {mysql_rate:,.0f} | {sqlite_rate:,.0f} | {mysql_rate / sqlite_rate:.2f}x |

        | {args.rows:,}-row `INSERT ... SELECT` extract | wall time | ratio |
        |---|---|---|
        | `mariadb -e '...'` (the mysql client) | {client:.2f} s | 1.00 |
        | `nightshift run extract` (whole process) | {ns:.2f} s | {ns / client:.3f}x |
        """))


if __name__ == "__main__":
    main()
