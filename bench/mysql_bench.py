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

from benchlib import REPO, median, progress, snapshot_binary, write

TEST_MARIADB = os.path.join(REPO, "scripts", "test-mariadb")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build/daemon/nightshift"))
    parser.add_argument("--store-bench", default=os.path.join(REPO, "build/bench/store_bench"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--transitions", type=int, default=15_000)
    args = parser.parse_args(argv)
    args.nightshift = os.path.abspath(args.nightshift)
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


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="nightshift-mysql-bench-") as tmp:
        snapshot_binary(args, tmp)
        server = Server(tmp)
        try:
            rates = store_transitions(args, server, tmp)
            extract_times = extract(args, server, tmp)
        finally:
            server.stop()
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
