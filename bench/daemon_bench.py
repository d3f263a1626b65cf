#!/usr/bin/env python3
"""Daemon benchmarks: trigger latency, idle RSS, HTTP under load.

    bench/daemon_bench.py [--nightshift build/daemon/nightshift] [--quick]

1. Trigger latency: a job scheduled every second ("* * * * * *") whose one
   step is a tiny static program that prints CLOCK_REALTIME with its first
   instructions (no libc, no loader; /bin/date +%s%N when there is no C
   compiler). Over 100 fires: process start - scheduled_at, p50 and p99,
   split with the store's timestamps, beside the daemon's own
   nightshift_schedule_delay_seconds histogram from /metrics.
2. Idle RSS: VmRSS of `nightshift serve` 3 s after it answers /healthz, with
   the example jobs, then with 1,000 generated jobs of 10 steps.
3. HTTP: wrk -t2 -c50 --latency on /healthz and /jobs, idle and while
   2,000-step runs (20 layers of 100 `true`) execute back to back; the CPU
   time of the daemon, its steps, wrk and everything else in each window.

When a goal is missed, the report says why from what was measured (the
latency split, the memory map, the CPU split, and a perf or strace profile of
the daemon under wrk) in an HTML comment on top of the Markdown report printed
on stdout (progress on stderr). Every daemon listens on 127.0.0.1 only and is
stopped by its PID; every loop is bounded in count and time. Everything lives
in a temporary folder under $TMPDIR, removed at the end. Python 3 standard
library only (plus wrk, and cc for the stamp program); never part of the test
suite.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zoneinfo

from benchlib import REPO, binaries_line, loadavg, median, progress, snapshot_binary, write
LATENCY_GOAL_MS = 5.0       # p99, fire time -> step process start
RSS_EXAMPLE_GOAL_KIB = 15 * 1024
RSS_1000_GOAL_KIB = 40 * 1024
HEALTHZ_GOAL_RPS = 20000    # while a 2,000-step run executes
JOBS_P99_GOAL_MS = 10.0     # likewise
SETTLE = 3.0                # seconds between /healthz answering and the RSS reading
START_TIMEOUT = 240         # seconds for a daemon to answer /healthz (10,000 jobs at load 15: >60)

# No proxy from the environment may stand between this script and 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

STAMP_C = r"""
/* Prints CLOCK_REALTIME in nanoseconds, read by its very first instructions:
   no libc, no dynamic loader, no start-up code. x86-64 Linux only. */
static long sys(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
__attribute__((noreturn)) void _start(void) {
  long ts[2];
  sys(228, 0, (long)ts, 0); /* clock_gettime(CLOCK_REALTIME, ts) */
  char buf[32];
  int i = 31;
  buf[i] = '\n';
  unsigned long v = (unsigned long)ts[0] * 1000000000UL + (unsigned long)ts[1];
  do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
  sys(1, 1, (long)(buf + i), 32 - i); /* write(1, ...) */
  sys(60, 0, 0, 0);                   /* exit(0) */
  for (;;) {}
}
"""


# ---------------------------------------------------------------- setup


def parse_args(argv=None):
    """Reads the command line; --quick shrinks every workload for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build/daemon/nightshift"),
                        help="the nightshift binary (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="small workloads, one round: checks the script, not the daemon")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the perf/strace profile taken when an HTTP goal is missed")
    parser.add_argument("--nightshift-old", default=None, metavar="PATH",
                        help="a baseline build: with it, --only picks from pair-http and "
                             "pair-scale, which run both binaries alternated")
    parser.add_argument("--only", default=None,
                        help="latency,rss,http (the default without --nightshift-old), "
                             "pair-http (/jobs p99 under wrk during a 2,000-step run, and that "
                             "run's steps/s loaded and alone, each binary in turn), pair-scale "
                             "(--scale-jobs jobs x 10 steps: start-up, idle RSS and CPU)")
    parser.add_argument("--wrk-rounds", type=int, default=None,
                        help="rounds of the wrk measurements (default 3, 1 with --quick)")
    parser.add_argument("--scale-jobs", type=int, default=10_000,
                        help="generated jobs of pair-scale (default: %(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=20.0,
                        help="the idle CPU window of pair-scale (default: %(default)s)")
    args = parser.parse_args(argv)
    args.nightshift = os.path.abspath(args.nightshift)
    if args.nightshift_old:
        args.nightshift_old = os.path.abspath(args.nightshift_old)
    args.only = set((args.only or ("pair-http,pair-scale" if args.nightshift_old
                                   else "latency,rss,http")).split(","))
    args.fires = 10 if args.quick else 100
    args.rss_rounds = 1 if args.quick else 3
    args.gen_jobs = 100 if args.quick else 1000
    args.wrk_seconds = 3 if args.quick else 10
    args.wrk_rounds = args.wrk_rounds or (1 if args.quick else 3)
    if args.quick:
        args.scale_jobs = min(args.scale_jobs, 200)
        args.idle_seconds = min(args.idle_seconds, 3.0)
    args.layers, args.width = (4, 50) if args.quick else (20, 100)
    return args


def check_tools(args):
    """Exits with a hint when the binary or wrk is missing."""
    if not os.access(args.nightshift, os.X_OK):
        sys.exit(f"daemon_bench: no nightshift binary at {args.nightshift}: "
                 "cmake --build build --target nightshift")
    if not shutil.which("wrk"):
        sys.exit("daemon_bench: wrk missing: apt-get install -y wrk (or scripts/install-deps)")




def build_stamp(tmp):
    """The stamp program: (argv, description). /bin/date +%s%N without a C compiler."""
    cc = shutil.which("cc")
    if cc and os.uname().machine == "x86_64":
        src, exe = os.path.join(tmp, "stamp.c"), os.path.join(tmp, "bin", "stamp")
        write(src, STAMP_C)
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        built = subprocess.run([cc, "-O2", "-static", "-nostdlib", "-fno-stack-protector",
                                "-mgeneral-regs-only", "-fno-pie", "-no-pie", "-o", exe, src],
                               capture_output=True, text=True)
        if built.returncode == 0:
            before = time.time_ns()
            out = subprocess.run([exe], capture_output=True, text=True, timeout=10).stdout
            if out.strip().isdigit() and abs(int(out) - before) < 10**9:
                return [exe], "a static stamp program (clock_gettime as its first instruction)"
        progress("stamp program did not build or run; falling back to /bin/date")
    return (["/bin/date", "+%s%N"],
            "/bin/date +%s%N (dynamically linked: includes ld.so and libc start-up)")






def percentile(values, p):
    """The p-th percentile (nearest rank, as wrk and most tools report it)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


# ---------------------------------------------------------------- /proc


def proc_status(pid):
    """The kB fields of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, ...) and Threads."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                parts = value.split()
                if parts and parts[0].isdigit() and (len(parts) == 1 or parts[1] == "kB"):
                    fields[key] = int(parts[0])
    except OSError:
        pass
    return fields


def proc_cpu(pid):
    """(own, waited-for children) CPU seconds of a process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) / tick for x in fields[11:15])
    return utime + stime, cutime + cstime


def system_cpu():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])       # guest time is already in user
    return (total - idle) / tick, total / tick


def self_cpu():
    """CPU seconds of this Python process (all its threads)."""
    usage = os.times()
    return usage.user + usage.system


def top_mappings(pid, count=8):
    """The mappings holding the most resident memory: [(kB, name)], grouped by name."""
    totals, name = {}, None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = head[5] if len(head) > 5 else "[anon]"
                    name = os.path.basename(name) if name.startswith("/") else name
                elif head and head[0] == "Rss:":
                    totals[name] = totals.get(name, 0) + int(head[1])
    except OSError:
        return []
    return sorted(((kb, n) for n, kb in totals.items()), reverse=True)[:count]


# ---------------------------------------------------------------- the daemon


def http(method, url, timeout=10):
    """One request: (status, body bytes); an error status is an answer too."""
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with OPENER.open(request, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def free_port():
    """A port free on 127.0.0.1 right now (Daemon.start retries if it is taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """`nightshift serve` for a project folder, on a free port of 127.0.0.1.

    config is the text of nightshift.yaml without its listen line; stderr goes
    to daemon.log in the folder. Stopped by its PID only.
    """

    def __init__(self, nightshift, root, config):
        self.nightshift, self.root, self.config = nightshift, root, config
        self.proc, self.port = None, None
        self.db = os.path.join(root, "var", "nightshift.db")
        self.log_path = os.path.join(root, "daemon.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def reset(self):
        """Removes the store and the logs: the next start begins from nothing."""
        shutil.rmtree(os.path.join(self.root, "var"), ignore_errors=True)
        os.makedirs(os.path.join(self.root, "var"))

    def start(self):
        """Starts the daemon; returns the seconds until /healthz answered 200."""
        for _ in range(5):
            self.port = free_port()
            write(os.path.join(self.root, "nightshift.yaml"),
                  f"listen: 127.0.0.1:{self.port}\n{self.config}")
            offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
            began = time.perf_counter()
            with open(self.log_path, "ab") as err:
                self.proc = subprocess.Popen(
                    [self.nightshift, "serve", "--config",
                     os.path.join(self.root, "nightshift.yaml")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    cwd=self.root)
            deadline = time.monotonic() + START_TIMEOUT
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if http("GET", self.url + "/healthz", timeout=2)[0] == 200:
                        return time.perf_counter() - began
                except OSError:
                    pass  # not listening yet
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.stop()
                raise RuntimeError(f"the daemon did not answer /healthz within {START_TIMEOUT} s:"
                                   f"\n{self.log()[offset:][-3000:]}")
            if "Address already in use" not in self.log()[offset:]:
                raise RuntimeError(f"the daemon exited with {self.proc.returncode}:\n"
                                   f"{self.log()[offset:][-3000:]}")
        raise RuntimeError("no free port after 5 tries")

    def stop(self, timeout=30):
        """SIGTERM to its PID, SIGKILL to the same PID after `timeout` s; returns the status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            progress(f"daemon {self.proc.pid} still there {timeout} s after SIGTERM: SIGKILL")
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def get(self, path, timeout=10):
        return http("GET", self.url + path, timeout)

    def post(self, path, timeout=10):
        return http("POST", self.url + path, timeout)

    def query(self, sql, *params):
        """Rows of a query on the store (read-only; the daemon may be writing)."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()


def config_text(workers=2, extra=""):
    """A minimal nightshift.yaml without its listen line."""
    return (f"jobs_dir: jobs.d\nstate: sqlite:var/nightshift.db\nlog_dir: var/logs\n"
            f"workers: {workers}\npools: {{}}\nshutdown_grace: 10s\n{extra}")


def example_config():
    """The repository's nightshift.yaml without its listen line (relative paths stay relative)."""
    with open(os.path.join(REPO, "nightshift.yaml")) as f:
        return "".join(line for line in f if not line.startswith("listen:"))


def copy_example(root):
    """A project folder with a copy of the example jobs; returns its config text."""
    shutil.copytree(os.path.join(REPO, "jobs.d"), os.path.join(root, "jobs.d"))
    os.makedirs(os.path.join(root, "var"), exist_ok=True)
    return example_config()


def metric_samples(text, name):
    """{labels text: value} of one metric in Prometheus text format."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            m = re.match(re.escape(name) + r"(\{[^}]*\})?\s+(\S+)", line)
            if m:
                out[m.group(1) or ""] = float(m.group(2))
    return out


# ---------------------------------------------------------------- 1: trigger latency


def bench_latency(args, tmp):
    """A per-second job over args.fires fires (after one warm-up fire): latency figures."""
    stamp, stamp_what = build_stamp(tmp)
    root = os.path.join(tmp, "latency")
    command = "[" + ", ".join(json.dumps(a) for a in stamp) + "]"
    write(os.path.join(root, "jobs.d", "tick.yaml"),
          'job: tick\nschedule: "* * * * * *"\ncatchup: none\nsteps:\n'
          f"  stamp:\n    command: {command}\n")
    daemon = Daemon(args.nightshift, root, config_text())
    daemon.reset()
    warmup = 1
    wanted = args.fires + warmup
    load = [os.getloadavg()[0]]
    daemon.start()
    metrics = ""
    try:
        deadline = time.monotonic() + wanted + 60
        done = 0
        while time.monotonic() < deadline:
            done = daemon.query("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")[0][0]
            if done >= wanted:
                break
            time.sleep(1)
        if done < wanted:
            raise RuntimeError(f"only {done} of {wanted} per-second runs succeeded in time:\n"
                               + daemon.log()[-3000:])
        metrics = daemon.get("/metrics")[1].decode()
    finally:
        daemon.stop()
    load.append(os.getloadavg()[0])
    rows = daemon.query(
        "SELECT r.run_id, r.triggered_by, r.scheduled_at, r.created_at, r.started_at, "
        "a.started_at, r.status FROM runs r JOIN attempts a ON a.run_id = r.run_id "
        "AND a.attempt = 1 ORDER BY r.scheduled_at")
    rows = [r for r in rows if r[6] == "succeeded"][warmup:warmup + args.fires]
    fires = []
    for run_id, trigger, scheduled, created, started, attempt_start, _ in rows:
        with open(os.path.join(root, "var", "logs", "tick", str(run_id), "stamp.1.log")) as f:
            process_ns = int(f.read().split()[0])
        at_ms = scheduled * 1000
        fires.append({"run_id": run_id, "trigger": trigger, "scheduled_at": scheduled,
                      "latency": process_ns / 1e6 - at_ms,
                      "created": created - at_ms, "run_started": started - at_ms,
                      "attempt": attempt_start - at_ms,
                      "spawn": process_ns / 1e6 - attempt_start})
    seconds = [f["scheduled_at"] for f in fires]
    skipped = (seconds[-1] - seconds[0] + 1) - len(seconds) if seconds else 0
    return {"fires": fires, "stamp": stamp_what, "skipped": skipped,
            "triggers": sorted({f["trigger"] for f in fires}), "load": load,
            "histogram": schedule_delay_histogram(metrics)}


def schedule_delay_histogram(metrics):
    """The daemon's nightshift_schedule_delay_seconds: count, sum and cumulative buckets."""
    buckets = {}
    samples = metric_samples(metrics, "nightshift_schedule_delay_seconds_bucket")
    for labels, value in samples.items():
        le = re.search(r'le="([^"]+)"', labels).group(1)
        buckets[le] = int(value)
    count = metric_samples(metrics, "nightshift_schedule_delay_seconds_count").get("", 0)
    total = metric_samples(metrics, "nightshift_schedule_delay_seconds_sum").get("", 0)
    return {"count": int(count), "sum": total, "buckets": buckets}


def histogram_quantile(hist, q):
    """Prometheus's histogram_quantile (linear inside the bucket), in seconds."""
    if not hist["count"]:
        return float("nan")
    bounds = sorted((float(le), n) for le, n in hist["buckets"].items())
    rank = q * hist["count"]
    lower, below = 0.0, 0
    for upper, cumulative in bounds:
        if cumulative >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * (rank - below) / max(cumulative - below, 1)
        lower, below = upper, cumulative
    return lower


# ---------------------------------------------------------------- 2: idle RSS


def generated_jobs(root, count, steps=10):
    """count job files of `steps` steps, as bench/load_bench.cpp writes them, but with
    schedules spread over the day (Asia/Tokyo) and none within 15 minutes of now."""
    now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    first = now.hour * 60 + now.minute + 15
    span = 24 * 60 - 30  # leaves a 30-minute window around now without a fire time
    for j in range(count):
        minute = (first + j * span // count) % (24 * 60)
        lines = [f"job: job{j}", "description: generated",
                 f'schedule: "{minute % 60} {minute // 60} * * *"', "timezone: Asia/Tokyo",
                 "defaults: { retries: 2, retry_delay: 30s, timeout: 1h }", "steps:"]
        half = steps // 2
        for s in range(steps):
            lines += [f"  step{s}:", '    command: [/bin/echo, "{{ date }}", "{{ run_id }}"]']
            if s >= half:
                lines.append(f"    depends_on: [step{s - half}, step{(s + 1) % half}]")
        write(os.path.join(root, "jobs.d", f"job{j}.yaml"), "\n".join(lines) + "\n")


def rss_once(daemon, jobs_expected):
    """Starts the daemon on a fresh store, waits SETTLE s, reads its memory; stops it."""
    daemon.reset()
    startup = daemon.start()
    try:
        time.sleep(SETTLE)
        status = proc_status(daemon.pid)
        mappings = top_mappings(daemon.pid)
        metrics = daemon.get("/metrics")[1].decode()
        loaded = metric_samples(metrics, "nightshift_jobs_loaded").get("", -1)
        reported = metric_samples(metrics, "process_resident_memory_bytes")
        runs = daemon.query("SELECT COUNT(*) FROM runs")[0][0]
    finally:
        daemon.stop()
    if loaded != jobs_expected or runs:
        raise RuntimeError(f"expected {jobs_expected} jobs and no run, got {loaded} and {runs}")
    return {"startup": startup, "rss": status.get("VmRSS", 0), "hwm": status.get("VmHWM", 0),
            "anon": status.get("RssAnon", 0), "file": status.get("RssFile", 0),
            "threads": status.get("Threads", 0), "mappings": mappings,
            "metric_rss": reported.get("", 0) / 1024}


def bench_rss(args, tmp):
    """Idle RSS with the example jobs and with generated jobs, alternated round by round."""
    example_root = os.path.join(tmp, "rss-example")
    example = Daemon(args.nightshift, example_root, copy_example(example_root))
    gen_root = os.path.join(tmp, "rss-generated")
    generated_jobs(gen_root, args.gen_jobs)
    generated = Daemon(args.nightshift, gen_root, config_text(workers=0))
    example_jobs = len([n for n in os.listdir(os.path.join(example_root, "jobs.d"))
                        if n.endswith((".yaml", ".yml")) and not n.startswith(".")])
    results = {"example": [], "generated": [], "example_jobs": example_jobs,
               "generated_jobs": args.gen_jobs}
    for i in range(args.rss_rounds):
        for name, daemon, jobs in (("example", example, example_jobs),
                                   ("generated", generated, args.gen_jobs)):
            r = rss_once(daemon, jobs)
            results[name].append(r)
            progress(f"rss round {i + 1}/{args.rss_rounds} {name}: VmRSS {r['rss']} KiB "
                     f"(anon {r['anon']}, file {r['file']}), started in {r['startup']:.2f} s")
    return results


# ---------------------------------------------------------------- 3: HTTP under wrk


def layered_job(layers, width):
    """The 2,000-step job: `layers` layers of `width` `true` steps, two parents a step."""
    lines = ["job: big", "description: 20 layers of 100 true steps", "steps:"]
    for layer in range(layers):
        for i in range(width):
            lines += [f"  s{layer}_{i}:", "    command: [true]"]
            if layer:
                lines.append(f"    depends_on: [s{layer - 1}_{i}, s{layer - 1}_{(i + 1) % width}]")
    return "\n".join(lines) + "\n"


def parse_duration_ms(text):
    """wrk's 1.23ms / 456.00us / 1.02s as milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(out):
    """Requests/s, requests, p50/p90/p99 (ms), errors, non-2xx from wrk --latency output."""
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1))}
    for p in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        result[f"p{p}"] = parse_duration_ms(m.group(1)) if m else float("nan")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"requests in \S+, ([\d.]+)([KMGT]?B) read", out)
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
    result["bytes_per_request"] = (float(m.group(1)) * scale[m.group(2)] / result["requests"]
                                   if m and result["requests"] else float("nan"))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(m.group(1)) if m else 0
    return result


class RunKeeper(threading.Thread):
    """Keeps a `big` run executing: starts one, and another as soon as it ends.

    Polls the store (read-only, every 50 ms), not the API, so it adds no HTTP
    load. Stops starting runs when told to, then waits for the last one to end.
    """

    def __init__(self, daemon, limit_s):
        super().__init__(daemon=True)
        self.daemon_, self.limit = daemon, limit_s
        self.stop_event = threading.Event()
        self.runs, self.active = [], 0.0  # run ids started; seconds with a run going
        self.error = None
        self.failures = []  # runs that did not succeed, with what their steps say

    def start_run(self):
        status, body = self.daemon_.post("/jobs/big/rerun", timeout=60)
        if status != 202:
            raise RuntimeError(f"POST /jobs/big/rerun: {status} {body[:200]!r}")
        self.runs.append(json.loads(body)["run_id"])

    def run(self):
        try:
            deadline = time.monotonic() + self.limit
            while True:
                began, status = time.monotonic(), None
                while time.monotonic() < deadline:
                    status = self.daemon_.query("SELECT status FROM runs WHERE run_id = ?",
                                                self.runs[-1])[0][0]
                    if status in ("succeeded", "failed", "cancelled"):
                        break
                    time.sleep(0.05)
                self.active += time.monotonic() - began
                if status in ("failed", "cancelled"):
                    self.failures.append(run_failure(self.daemon_, self.runs[-1], status))
                elif status != "succeeded":
                    raise RuntimeError(f"run {self.runs[-1]} of big still {status} after "
                                       f"{self.limit} s")
                if self.stop_event.is_set() or time.monotonic() >= deadline:
                    break
                self.start_run()
        except Exception as e:  # reported by the main thread
            self.error = e


def run_failure(daemon, run_id, status):
    """What a run of `true` steps that did not succeed says: its failed attempts and their logs."""
    rows = daemon.query("SELECT step, attempt, state, exit_code FROM attempts WHERE run_id = ? "
                        "AND state != 'succeeded' ORDER BY started_at LIMIT 5", run_id)
    steps = []
    for step, attempt, state, exit_code in rows:
        log = os.path.join(daemon.root, "var", "logs", "big", str(run_id), f"{step}.{attempt}.log")
        try:
            with open(log, errors="replace") as f:
                text = f.read(300).strip()
        except OSError as e:
            text = f"(no log: {e.strerror})"
        steps.append(f"{step}.{attempt} {state} exit {exit_code}: {text!r}")
    states = daemon.query("SELECT state, COUNT(*) FROM run_steps WHERE run_id = ? GROUP BY state",
                          run_id)
    noted = [line for line in daemon.log().splitlines()
             if f"run {run_id} " in line and ("warn" in line or "error" in line)][:5]
    return {"run_id": run_id, "status": status, "steps": steps, "states": dict(states),
            "log": noted}


def run_wrk(args, daemon, path, busy, tmp):
    """One wrk run on path, with big runs going back to back when busy; figures and CPU split."""
    keeper = None
    if busy:
        keeper = RunKeeper(daemon, args.wrk_seconds + 300)
        keeper.start_run()  # right before wrk, as `curl -X POST .../rerun` would
    cpu0, sys0, self0 = proc_cpu(daemon.pid), system_cpu(), self_cpu()
    window_start_ms = time.time() * 1000
    if keeper:
        keeper.start()
    out_path = os.path.join(tmp, "wrk.out")
    with open(out_path, "w") as out:
        proc = subprocess.Popen(["wrk", "-t2", "-c50", f"-d{args.wrk_seconds}s", "--latency",
                                 daemon.url + path], stdout=out, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            raise
    window_end_ms = time.time() * 1000
    cpu1, sys1, self1 = proc_cpu(daemon.pid), system_cpu(), self_cpu()
    with open(out_path) as f:
        text = f.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"wrk failed:\n{text}")
    result = parse_wrk(text)
    if keeper:
        keeper.stop_event.set()
        keeper.join(300)
        if keeper.error or keeper.is_alive():
            raise RuntimeError(f"keeping big runs going: {keeper.error or 'timed out'}")
        # Steps that ended inside the wrk window: the load the daemon really had.
        result["steps_in_window"] = daemon.query(
            "SELECT COUNT(*) FROM attempts a JOIN runs r ON r.run_id = a.run_id WHERE r.job = "
            "'big' AND a.finished_at BETWEEN ? AND ?", int(window_start_ms),
            int(window_end_ms))[0][0]
        result["runs_started"] = len(keeper.runs)
        result["failures"] = keeper.failures
        for failure in keeper.failures:
            progress(f"run {failure['run_id']} of big {failure['status']}: {failure}")
    wrk_cpu = usage.ru_utime + usage.ru_stime
    own, children = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    busy_all, total = sys1[0] - sys0[0], sys1[1] - sys0[1]
    me = self1 - self0
    result["cpu"] = {"daemon": own, "steps": children, "wrk": wrk_cpu, "bench": me,
                     "other": max(0.0, busy_all - own - children - wrk_cpu - me),
                     "capacity": total, "idle": max(0.0, total - busy_all)}
    result["window"] = (window_end_ms - window_start_ms) / 1000
    return result


def service_time_ms(daemon, path, count=50):
    """Median ms of `count` sequential GETs on an otherwise idle daemon, and the body size."""
    times, size = [], 0
    for _ in range(count):
        began = time.perf_counter()
        status, body = daemon.get(path)
        times.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        size = len(body)
    return median(times), size


def bench_http(args, tmp):
    """wrk on /healthz and /jobs, idle and busy, alternated; a profile when a goal is missed."""
    root = os.path.join(tmp, "http")
    config = copy_example(root)
    write(os.path.join(root, "jobs.d", "big.yaml"), layered_job(args.layers, args.width))
    daemon = Daemon(args.nightshift, root, config)
    daemon.reset()
    daemon.start()
    results = {"rounds": [], "steps": args.layers * args.width}
    try:
        # /jobs before the big job has a run: every last_run is null.
        results["/jobs service, no run"] = service_time_ms(daemon, "/jobs")
        # One run first, alone: its duration, and /jobs then has a 2,000-step last run in
        # both conditions (GET /jobs answers every job's last run as a summary: its steps
        # counted by state in the one store query, never listed).
        began = time.monotonic()
        keeper = RunKeeper(daemon, 300)
        keeper.start_run()
        keeper.stop_event.set()
        keeper.run()
        if keeper.error or keeper.failures:
            raise RuntimeError(f"the big job's first run: {keeper.error or keeper.failures}")
        results["alone_s"] = time.monotonic() - began
        results["/jobs service"] = service_time_ms(daemon, "/jobs")
        progress(f"http: one big run alone took {results['alone_s']:.2f} s")
        results["/healthz service"] = service_time_ms(daemon, "/healthz")
        for i in range(args.wrk_rounds):
            for path in ("/healthz", "/jobs"):
                for busy in (True, False) if i % 2 == 0 else (False, True):
                    r = run_wrk(args, daemon, path, busy, tmp)
                    r.update(path=path, busy=busy)
                    results["rounds"].append(r)
                    progress(f"http round {i + 1}/{args.wrk_rounds} {path} "
                             f"{'busy' if busy else 'idle'}: {r['rps']:.0f} req/s, "
                             f"p99 {r['p99']:.2f} ms"
                             + (f", {r['steps_in_window']} steps ran" if busy else ""))
        results["summary"] = http_summary(results["rounds"])
        s = results["summary"]
        met = {"/healthz": s[("/healthz", True)]["rps"] >= HEALTHZ_GOAL_RPS,
               "/jobs": s[("/jobs", True)]["p99"] < JOBS_P99_GOAL_MS}
        missed = [path for path, ok in met.items() if not ok]
        results["profiles"] = {}
        if missed and not args.no_profile:
            for path in missed:
                progress(f"http: {path} misses its goal: profiling the daemon under wrk")
                results["profiles"][path] = profile_http(args, daemon, path, tmp)
    finally:
        daemon.stop()
    return results


def http_summary(rounds):
    """Medians per (path, busy) over the rounds."""
    summary = {}
    for path in ("/healthz", "/jobs"):
        for busy in (True, False):
            rs = [r for r in rounds if r["path"] == path and r["busy"] == busy]
            summary[(path, busy)] = {
                k: median([r[k] for r in rs])
                for k in ("rps", "p50", "p90", "p99", "bytes_per_request")}
            summary[(path, busy)]["cpu"] = {
                k: median([r["cpu"][k] for r in rs]) for k in rs[0]["cpu"]}
            summary[(path, busy)]["errors"] = sum(r["socket_errors"] + r["non2xx"] for r in rs)
            summary[(path, busy)]["window"] = median([r["window"] for r in rs])
            if busy:
                summary[(path, busy)]["steps_in_window"] = median(
                    [r["steps_in_window"] for r in rs])
    return summary


def perf_works():
    """True when `perf record` can sample software CPU clock events here."""
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(["perf", "stat", "-e", "task-clock", "true"], capture_output=True,
                           text=True)
    return probe.returncode == 0 and "not supported" not in probe.stderr


def profile_http(args, daemon, path, tmp):
    """Where the daemon's CPU goes under wrk on `path` while a big run executes.

    perf record (cpu-clock, call graphs) of the daemon's threads, its children
    included, during a wrk run; without perf, strace -c -f for the syscalls.
    """
    seconds = max(3, args.wrk_seconds // 2)
    data = os.path.join(tmp, "perf.data")
    if perf_works():
        tool = ["perf", "record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,8192",
                "-o", data,
                "-p", str(daemon.pid), "--", "sleep", str(seconds)]
    elif shutil.which("strace"):
        tool = ["strace", "-f", "-c", "-w", "-o", data, "-p", str(daemon.pid)]
    else:
        return None
    small = argparse.Namespace(**vars(args))
    small.wrk_seconds = seconds
    profiler = subprocess.Popen(tool, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # attached before the load starts
        r = run_wrk(small, daemon, path, True, tmp)
    finally:
        if tool[0] == "strace":
            profiler.send_signal(signal.SIGINT)  # strace writes its summary on detach
        try:
            profiler.wait(60)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait()
    out = {"tool": tool[0], "rps": r["rps"], "p99": r["p99"]}
    if tool[0] == "perf":
        out["by_comm"] = perf_report(data, ["--sort", "comm,dso"], 8)
        out["by_symbol"] = perf_report(data, ["--comm", "nightshift", "--sort", "sym"], 14)
        # Inclusive shares of the daemon's own frames (and the libraries' entry points).
        frames = perf_report(data, ["--comm", "nightshift", "--children", "--sort", "sym"], 400)
        keep = re.compile(r"(\[.\] )?(nightshift::|boost::json::serialize|sqlite3_step|"
                          r"date::format|__libc_sendmsg|posix_spawn|__GI___clone)")
        drop = re.compile(r"\(inlined\)|::run$|serve_command|Api::handle$|Api::route$")
        out["frames"] = [(p, t) for p, t in frames
                         if keep.match(t) and not drop.search(t)][:16]
    else:
        with open(data) as f:
            out["strace"] = f.read()
    return out


def perf_report(data, options, count):
    """The first `count` lines of a flat perf report: [(percent, text)]."""
    base = ["perf", "report", "-i", data, "--stdio", "-q", "-g", "none", "--percent-limit", "0.5"]
    if "--children" not in options:
        base.append("--no-children")
    report = subprocess.run(base + options, capture_output=True, text=True, timeout=300).stdout
    lines = []
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*)", line)
        if m:
            lines.append((float(m.group(1)), re.sub(r"\s+", " ", m.group(3)).strip()))
    return lines[:count]


# ---------------------------------------------------------------- pairs: new and old binaries


def pair_binaries(args):
    """[(name, binary)]: the new build, and the old one when given."""
    pairs = [("new", args.nightshift)]
    if args.nightshift_old:
        pairs.append(("old", args.nightshift_old))
    return pairs


def run_alone(daemon):
    """One big run with nothing else going: (seconds POST to end, the store's run span)."""
    began = time.monotonic()
    keeper = RunKeeper(daemon, 300)
    keeper.start_run()
    keeper.stop_event.set()
    keeper.run()
    if keeper.error or keeper.failures:
        raise RuntimeError(f"a big run alone: {keeper.error or keeper.failures}")
    start, end = daemon.query("SELECT started_at, finished_at FROM runs WHERE run_id = ?",
                              keeper.runs[-1])[0]
    return time.monotonic() - began, (end - start) / 1000


def bench_pair_http(args, tmp):
    """Per binary, a daemon with the example jobs and the 2,000-step job `big`; each round,
    each binary in turn (the order flips each round): one big run alone (its steps/s
    unloaded), then wrk -t2 -c50 on /jobs while big runs back to back (p99, and the steps/s
    they made in the window). The first run of each is a warm-up, so every /jobs answer has
    a 2,000-step last run and the store keeps its history across rounds."""
    steps = args.layers * args.width
    daemons = {}
    for name, binary in pair_binaries(args):
        root = os.path.join(tmp, "pair-http-" + name)
        config = copy_example(root)
        write(os.path.join(root, "jobs.d", "big.yaml"), layered_job(args.layers, args.width))
        daemons[name] = Daemon(binary, root, config)
        daemons[name].reset()
    results = {name: {"alone": [], "busy": []} for name in daemons}
    load = [loadavg()]
    try:
        for name, daemon in daemons.items():
            daemon.start()
            wall, span = run_alone(daemon)
            progress(f"pair-http {name}: warm-up run {wall:.2f} s")
        for i in range(args.wrk_rounds):
            order = list(daemons) if i % 2 == 0 else list(reversed(daemons))
            for name in order:
                daemon = daemons[name]
                wall, span = run_alone(daemon)
                results[name]["alone"].append({"wall": wall, "span": span,
                                               "rate": steps / span, "load": loadavg()})
                r = run_wrk(args, daemon, "/jobs", True, tmp)
                r["rate"] = r["steps_in_window"] / r["window"]
                r["load"] = loadavg()
                results[name]["busy"].append(r)
                progress(f"pair-http round {i + 1}/{args.wrk_rounds} {name}: alone "
                         f"{steps / span:.0f} steps/s; /jobs under wrk {r['rps']:.0f} req/s, "
                         f"p99 {r['p99']:.2f} ms, {r['rate']:.0f} steps/s (load {loadavg()})")
        if not args.no_profile and perf_works():
            for name, daemon in daemons.items():
                progress(f"pair-http {name}: perf of the daemon under wrk on /jobs")
                results[name]["profile"] = profile_http(args, daemon, "/jobs", tmp)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    load.append(loadavg())
    return {"steps": steps, "results": results, "load": load}


def task_cpu_ns(pid):
    """CPU nanoseconds of every thread of a process so far (/proc/PID/task/*/schedstat), and
    their voluntary + involuntary context switches."""
    total, switches = 0, 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except OSError:
            pass  # a thread that ended
    return total, switches


def bench_pair_scale(args, tmp):
    """Per binary, in turn, args.wrk_rounds times: a daemon with --scale-jobs generated jobs
    of 10 steps (workers 0, no fire within 15 minutes) on an empty store: seconds from the
    spawn to /healthz and to /readyz, VmRSS after SETTLE s, then its CPU over
    --idle-seconds."""
    root_jobs = os.path.join(tmp, "pair-scale-jobs")
    generated_jobs(root_jobs, args.scale_jobs)
    results = {name: [] for name, _ in pair_binaries(args)}
    for i in range(args.wrk_rounds):
        for name, binary in pair_binaries(args) if i % 2 == 0 else \
                reversed(pair_binaries(args)):
            root = os.path.join(tmp, "pair-scale-" + name)
            if not os.path.exists(os.path.join(root, "jobs.d")):
                shutil.copytree(os.path.join(root_jobs, "jobs.d"), os.path.join(root, "jobs.d"))
            daemon = Daemon(binary, root, config_text(workers=0))
            daemon.reset()
            load0 = loadavg()
            began = time.perf_counter()
            startup = daemon.start()
            try:
                deadline = time.monotonic() + START_TIMEOUT
                while daemon.get("/readyz")[0] != 200:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"/readyz not 200 within {START_TIMEOUT} s")
                    time.sleep(0.01)
                ready = time.perf_counter() - began
                time.sleep(SETTLE)
                status = proc_status(daemon.pid)
                cpu0, sw0 = task_cpu_ns(daemon.pid)
                t0 = time.monotonic()
                time.sleep(args.idle_seconds)
                cpu1, sw1 = task_cpu_ns(daemon.pid)
                t1 = time.monotonic()
                loaded = metric_samples(daemon.get("/metrics")[1].decode(),
                                        "nightshift_jobs_loaded").get("", -1)
            finally:
                daemon.stop()
            if loaded != args.scale_jobs:
                raise RuntimeError(f"{name}: {loaded} jobs loaded, not {args.scale_jobs}")
            r = {"startup": startup, "ready": ready, "rss": status.get("VmRSS", 0), "hwm": status.get("VmHWM", 0),
                 "threads": status.get("Threads", 0),
                 "idle_cpu_ms_per_s": (cpu1 - cpu0) / 1e6 / (t1 - t0),
                 "wakeups_per_s": (sw1 - sw0) / (t1 - t0), "load": (load0, loadavg())}
            results[name].append(r)
            progress(f"pair-scale {i + 1}/{args.wrk_rounds} {name}: /healthz after "
                     f"{startup:.2f} s, VmRSS {r['rss'] / 1024:.1f} MiB, idle CPU "
                     f"{r['idle_cpu_ms_per_s']:.3f} ms/s, {r['wakeups_per_s']:.1f} switches/s "
                     f"(load {loadavg()})")
    return {"jobs": args.scale_jobs, "results": results}


def report_pairs(args, pair_http, pair_scale):
    """The Markdown report of pair-http and pair-scale: medians per binary and new/old."""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"## Nightshift daemon benchmarks, binaries side by side{' (--quick)' if args.quick else ''}"
          f"\n\n{now}, {os.cpu_count()} CPUs, load average (1/5/15 min) {args.load_start_all} "
          f"at the start and {loadavg()} at the end; {args.wrk_rounds} rounds, the binaries "
          f"alternated, medians; {binaries_line(args)}.\n")
    if pair_http:
        steps = pair_http["steps"]
        print(f"`/jobs` under `wrk -t2 -c50 -d{args.wrk_seconds}s` while {steps:,}-step runs "
              f"go back to back (the previous run also {steps:,} steps), and those runs' speed "
              f"alone; load {pair_http['load'][0]} -> {pair_http['load'][1]}.\n")
        print("| binary | /jobs req/s | p50 | p99 | steps/s under wrk | steps/s alone | "
              "loaded / alone | daemon CPU-s in the window |")
        print("|---|---|---|---|---|---|---|---|")
        med = {}
        for name, r in pair_http["results"].items():
            busy, alone = r["busy"], r["alone"]
            m = {"rps": median([b["rps"] for b in busy]), "p50": median([b["p50"] for b in busy]),
                 "p99": median([b["p99"] for b in busy]),
                 "rate": median([b["rate"] for b in busy]),
                 "alone": median([a["rate"] for a in alone]),
                 "cpu": median([b["cpu"]["daemon"] for b in busy])}
            med[name] = m
            print(f"| {name} | {m['rps']:,.0f} | {m['p50']:.2f} ms | {m['p99']:.2f} ms | "
                  f"{m['rate']:.0f} | {m['alone']:.0f} | {m['rate'] / m['alone']:.2f} | "
                  f"{m['cpu']:.1f} |")
        if "old" in med:
            n, o = med["new"], med["old"]
            print(f"\nnew / old: /jobs p99 {n['p99'] / o['p99']:.3f}x, req/s "
                  f"{n['rps'] / o['rps']:.2f}x, steps/s under wrk {n['rate'] / o['rate']:.2f}x, "
                  f"steps/s alone {n['alone'] / o['alone']:.2f}x.")
        print("\nRaw rounds:\n```")
        for name, r in pair_http["results"].items():
            for a, b in zip(r["alone"], r["busy"]):
                c = b["cpu"]
                print(f"{name} alone {a['span']:.2f} s ({a['rate']:.0f} steps/s, load {a['load']}); "
                      f"/jobs {b['rps']:.0f} req/s p50 {b['p50']:.2f} p90 {b['p90']:.2f} p99 "
                      f"{b['p99']:.2f} ms, {b['bytes_per_request'] / 1024:.1f} KiB/answer, "
                      f"errors {b['socket_errors']} non-2xx {b['non2xx']}, {b['steps_in_window']} "
                      f"steps in {b['window']:.1f} s; CPU-s daemon {c['daemon']:.1f} steps "
                      f"{c['steps']:.1f} wrk {c['wrk']:.1f} other {c['other']:.1f} idle "
                      f"{c['idle']:.1f} of {c['capacity']:.1f} (load {b['load']})")
            prof = r.get("profile")
            if prof and prof["tool"] == "perf":
                print(f"{name} profile under wrk ({prof['rps']:.0f} req/s, p99 {prof['p99']:.2f} ms):")
                for p, t in prof["by_comm"][:6]:
                    print(f"  by comm,dso {p:5.1f}% {t}")
                for p, t in prof["by_symbol"][:12]:
                    print(f"  self        {p:5.1f}% {t}")
                for p, t in prof["frames"][:12]:
                    print(f"  inclusive   {p:5.1f}% {t[:150]}")
        print("```\n")
    if pair_scale:
        print(f"{pair_scale['jobs']:,} generated jobs x 10 steps (workers 0, no fire due): "
              f"spawn to /healthz (the jobs are loaded before the daemon listens), VmRSS "
              f"{SETTLE:g} s later, then CPU of all its threads over {args.idle_seconds:g} s "
              f"(/proc/PID/task/*/schedstat).\n")
        print("| binary | spawn to /healthz | to /readyz | idle VmRSS | idle CPU | context switches/s | "
              "threads |")
        print("|---|---|---|---|---|---|---|")
        for name, rs in pair_scale["results"].items():
            print(f"| {name} | {median([r['startup'] for r in rs]):.2f} s | "
                  f"{median([r['ready'] for r in rs]):.2f} s | "
                  f"{median([r['rss'] for r in rs]) / 1024:.1f} MiB | "
                  f"{median([r['idle_cpu_ms_per_s'] for r in rs]):.3f} ms/s | "
                  f"{median([r['wakeups_per_s'] for r in rs]):.1f} | "
                  f"{median([r['threads'] for r in rs]):.0f} |")
        print("\nRaw:\n```")
        for name, rs in pair_scale["results"].items():
            for r in rs:
                print(f"{name} startup {r['startup']:.2f} s VmRSS {r['rss']} KiB VmHWM {r['hwm']} "
                      f"KiB idle CPU {r['idle_cpu_ms_per_s']:.3f} ms/s switches "
                      f"{r['wakeups_per_s']:.1f}/s load {r['load'][0]} -> {r['load'][1]}")
        print("```")


# ---------------------------------------------------------------- report


def verdict(ok):
    return "met" if ok else "**missed**"


def latency_figures(lat):
    fires = lat["fires"]
    pick = lambda key: [f[key] for f in fires]  # noqa: E731
    return {k: {"p50": percentile(pick(k), 50), "p99": percentile(pick(k), 99),
                "max": max(pick(k))}
            for k in ("latency", "created", "run_started", "attempt", "spawn")}


def rss_figures(rss):
    return {name: {k: median([r[k] for r in rss[name]])
                   for k in ("rss", "hwm", "anon", "file", "startup", "threads", "metric_rss")}
            for name in ("example", "generated")}


def causes(lat, rss, http):
    """Why each missed goal is missed, from what was measured."""
    notes = []
    lf = latency_figures(lat)
    if not lf["latency"]["p99"] < LATENCY_GOAL_MS:
        worst = max(lat["fires"], key=lambda f: f["latency"])
        notes.append(
            f"Trigger latency p99 {lf['latency']['p99']:.2f} ms >= {LATENCY_GOAL_MS} ms. Split "
            f"(p50 / p99, ms after the fire time): run row created {lf['created']['p50']:.1f} / "
            f"{lf['created']['p99']:.1f} (timer wake-up and the first commits), run marked "
            f"running {lf['run_started']['p50']:.1f} / {lf['run_started']['p99']:.1f}, attempt "
            f"recorded {lf['attempt']['p50']:.1f} / {lf['attempt']['p99']:.1f}; attempt record "
            f"to process start (log file, spawn, exec) {lf['spawn']['p50']:.2f} / "
            f"{lf['spawn']['p99']:.2f}. Worst fire: run {worst['run_id']}, "
            f"{worst['latency']:.1f} ms (created {worst['created']} ms, attempt "
            f"{worst['attempt']} ms).")
    rf = rss_figures(rss)
    for name, goal in (("example", RSS_EXAMPLE_GOAL_KIB), ("generated", RSS_1000_GOAL_KIB)):
        f = rf[name]
        if not f["rss"] < goal:
            top = ", ".join(f"{n} {kb / 1024:.1f}" for kb, n in rss[name][0]["mappings"][:5])
            notes.append(
                f"Idle RSS with the {name} jobs {f['rss'] / 1024:.1f} MiB >= {goal // 1024} MB: "
                f"anonymous {f['anon'] / 1024:.1f} MiB, file-backed {f['file'] / 1024:.1f} MiB; "
                f"largest mappings (MiB): {top}.")
    s = http["summary"]
    for path, ok, what in (
            ("/healthz", s[("/healthz", True)]["rps"] >= HEALTHZ_GOAL_RPS,
             f"{s[('/healthz', True)]['rps']:,.0f} req/s < {HEALTHZ_GOAL_RPS:,}"),
            ("/jobs", s[("/jobs", True)]["p99"] < JOBS_P99_GOAL_MS,
             f"p99 {s[('/jobs', True)]['p99']:.1f} ms >= {JOBS_P99_GOAL_MS:g} ms")):
        if ok:
            continue
        busy, idle = s[(path, True)], s[(path, False)]
        c = busy["cpu"]
        rate_alone = http["steps"] / http["alone_s"]
        rate_busy = busy["steps_in_window"] / busy["window"]
        note = (f"{path} during {http['steps']:,}-step runs: {what} (idle: {idle['rps']:,.0f} "
                f"req/s, p99 {idle['p99']:.1f} ms). CPU-s in a busy window of "
                f"{c['capacity']:.0f} CPU-s: daemon {c['daemon']:.1f}, its steps "
                f"{c['steps']:.1f}, wrk {c['wrk']:.1f}, other processes {c['other']:.1f}, idle "
                f"{c['idle']:.1f}. The run made {rate_busy:.0f} steps/s under this load, "
                f"{rate_alone:.0f} steps/s alone.")
        if path == "/jobs":
            service, size = http["/jobs service"]
            before, small = http["/jobs service, no run"]
            note += (f" One /jobs answer is {size:,} bytes and takes {service:.1f} ms on an "
                     f"idle daemon (sequential GETs), against {small:,} bytes and {before:.2f} ms "
                     f"before the big job had a run: GET /jobs carries every job's last run "
                     f"with all its steps, {http['steps']:,} for the big job; with 50 "
                     f"connections on 2 cores a request waits for the ones ahead of it "
                     f"(Little's law: 50 / {busy['rps']:.0f} req/s = "
                     f"{50000 / busy['rps']:.0f} ms; wrk's p50 is {busy['p50']:.0f} ms). "
                     f"wrk read {busy['bytes_per_request'] / 1024:.0f} "
                     f"KiB an answer while runs went on (the running run's steps are mostly "
                     f"pending, without attempt times) and "
                     f"{idle['bytes_per_request'] / 1024:.0f} KiB idle (a finished run: every "
                     f"step with its times), hence the lower idle throughput. The executor "
                     f"shares the daemon's two io_context threads (Engine::run) and its one "
                     f"SQLite connection, behind one mutex (SqliteRunStore), with the HTTP "
                     f"sessions: each step transition waits behind /jobs handlers of several ms "
                     f"each, hence the run's crawl.")
        prof = http["profiles"].get(path)
        if prof and prof["tool"] == "perf":
            note += (" perf (cpu-clock, DWARF call graphs, the daemon and its children): by "
                     "command and object "
                     + "; ".join(f"{t} {p:.0f}%" for p, t in prof["by_comm"][:5])
                     + ". Inclusive, the daemon's frames: "
                     + "; ".join(f"{t.replace('[.] ', '').replace('[k] ', '')[:60]} {p:.0f}%"
                                 for p, t in prof["frames"][:10]) + ".")
        notes.append(note)
    busy = [r for r in http["rounds"] if r["busy"]]
    failures = [f for r in busy for f in r["failures"]]
    if failures:
        f = failures[0]
        notes.append(
            f"{len(failures)} of {sum(r['runs_started'] for r in busy)} runs of the big job "
            f"(`true` steps only) did not succeed under wrk. First: run {f['run_id']} "
            f"{f['status']}, step states {f['states']}, attempts {'; '.join(f['steps'])}, "
            f"daemon log {' | '.join(f['log'])}.")
    return notes


def header(args):
    quick = " (--quick: small workloads, not comparable)" if args.quick else ""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"## Nightshift daemon benchmarks{quick}\n\n"
            f"{now}, {os.cpu_count()} CPUs, load average {args.load_start:.2f} at the start and "
            f"{os.getloadavg()[0]:.2f} at the end; {args.nightshift_source} (sha256 "
            f"{args.binary_sha}, built {args.binary_mtime:%Y-%m-%d %H:%M}, tree "
            f"{args.revision}).\n")


def table(args, lat, rss, http):
    lf, rf, s = latency_figures(lat), rss_figures(rss), http["summary"]
    h, hi, j, ji = s[("/healthz", True)], s[("/healthz", False)], s[("/jobs", True)], \
        s[("/jobs", False)]
    hist = lat["histogram"]
    n = rss["generated_jobs"]
    return "\n".join([
        "| measurement | nightshift | goal |",
        "|---|---|---|",
        f"| trigger latency, fire time → step process start, p50 ({len(lat['fires'])} fires) | "
        f"{lf['latency']['p50']:.2f} ms | |",
        f"| same, p99 | {lf['latency']['p99']:.2f} ms | < {LATENCY_GOAL_MS:g} ms "
        f"{verdict(lf['latency']['p99'] < LATENCY_GOAL_MS)} |",
        f"| `nightshift_schedule_delay_seconds` (fire time → run marked running), p50 / p99 "
        f"(histogram_quantile) / mean | {1000 * histogram_quantile(hist, 0.5):.2f} / "
        f"{1000 * histogram_quantile(hist, 0.99):.2f} / "
        f"{1000 * hist['sum'] / max(hist['count'], 1):.2f} ms | |",
        f"| idle RSS, example jobs ({rss['example_jobs']}) | {rf['example']['rss'] / 1024:.1f} MiB "
        f"| < 15 MB {verdict(rf['example']['rss'] < RSS_EXAMPLE_GOAL_KIB)} |",
        f"| idle RSS, {n:,} generated jobs × 10 steps | {rf['generated']['rss'] / 1024:.1f} MiB "
        f"| < 40 MB {verdict(rf['generated']['rss'] < RSS_1000_GOAL_KIB)} |",
        f"| `/healthz`, wrk -t2 -c50, during {http['steps']:,}-step runs | {h['rps']:,.0f} req/s, "
        f"p99 {h['p99']:.2f} ms | ≥ {HEALTHZ_GOAL_RPS:,} req/s "
        f"{verdict(h['rps'] >= HEALTHZ_GOAL_RPS)} |",
        f"| `/healthz`, idle | {hi['rps']:,.0f} req/s, p99 {hi['p99']:.2f} ms | |",
        f"| `/jobs`, wrk -t2 -c50, during {http['steps']:,}-step runs | {j['rps']:,.0f} req/s, "
        f"p99 {j['p99']:.2f} ms | p99 < {JOBS_P99_GOAL_MS:g} ms "
        f"{verdict(j['p99'] < JOBS_P99_GOAL_MS)} |",
        f"| `/jobs`, idle | {ji['rps']:,.0f} req/s, p99 {ji['p99']:.2f} ms | |",
    ])


def raw_lines(lat, rss, http):
    lines = []
    lf = latency_figures(lat)
    lines.append(f"latency: step program {lat['stamp']}; {len(lat['fires'])} fires after 1 "
                 f"warm-up fire, triggers {','.join(lat['triggers'])}, {lat['skipped']} fire "
                 f"seconds without a run; load average {lat['load'][0]:.2f} -> "
                 f"{lat['load'][1]:.2f}")
    for key, what in (("latency", "fire time -> process start"),
                      ("created", "fire time -> run row created_at"),
                      ("run_started", "fire time -> run started_at"),
                      ("attempt", "fire time -> attempt started_at"),
                      ("spawn", "attempt started_at -> process start")):
        f = lf[key]
        lines.append(f"latency {what:38} p50 {f['p50']:7.2f} ms  p99 {f['p99']:7.2f} ms  "
                     f"max {f['max']:7.2f} ms")
    lines.append("latency all fires (ms): " + " ".join(f"{f['latency']:.2f}"
                                                     for f in lat["fires"]))
    hist = lat["histogram"]
    lines.append(f"schedule_delay_seconds: count {hist['count']} sum {hist['sum']:.4f} s; "
                 "buckets (cumulative) " + " ".join(f"le={le}:{n}" for le, n in
                                                    sorted(hist["buckets"].items(),
                                                           key=lambda x: float(x[0]))))
    for name in ("example", "generated"):
        for r in rss[name]:
            lines.append(f"rss {name:9} VmRSS {r['rss']} KiB (anon {r['anon']}, file "
                         f"{r['file']}), VmHWM {r['hwm']} KiB, metric "
                         f"{r['metric_rss']:.0f} KiB, {r['threads']} threads, ready in "
                         f"{r['startup']:.2f} s")
        lines.append(f"rss {name:9} largest mappings (KiB): " + ", ".join(
            f"{n} {kb}" for kb, n in rss[name][0]["mappings"]))
    lines.append(f"http: one {http['steps']}-step run alone {http['alone_s']:.2f} s; "
                 f"sequential GET service time (median of 50, idle): /healthz "
                 f"{http['/healthz service'][0]:.2f} ms ({http['/healthz service'][1]} B), "
                 f"/jobs {http['/jobs service'][0]:.2f} ms ({http['/jobs service'][1]:,} B), "
                 f"/jobs before any run {http['/jobs service, no run'][0]:.2f} ms "
                 f"({http['/jobs service, no run'][1]:,} B)")
    for r in http["rounds"]:
        c = r["cpu"]
        extra = (f", {r['runs_started']} runs started, {r['steps_in_window']} steps ended in "
                 f"the window") if r["busy"] else ""
        lines.append(
            f"wrk {r['path']:8} {'busy' if r['busy'] else 'idle'} {r['rps']:9.0f} req/s  "
            f"p50 {r['p50']:6.2f} p90 {r['p90']:6.2f} p99 {r['p99']:6.2f} ms  "
            f"{r['bytes_per_request'] / 1024:6.1f} KiB/answer  "
            f"errors {r['socket_errors']} non-2xx {r['non2xx']}  CPU-s daemon {c['daemon']:.1f} "
            f"steps {c['steps']:.1f} wrk {c['wrk']:.1f} bench {c['bench']:.1f} other "
            f"{c['other']:.1f} idle {c['idle']:.1f} of {c['capacity']:.1f}{extra}")
    for r in http["rounds"]:
        for f in r.get("failures", []):
            lines.append(f"FAILED run {f['run_id']} ({r['path']} busy): {f['status']}, step "
                         f"states {f['states']}; " + "; ".join(f["steps"] + f["log"]))
    for path, prof in http["profiles"].items():
        if not prof:
            continue
        lines.append(f"profile {path} ({prof['tool']}, under wrk: {prof['rps']:.0f} req/s, p99 "
                     f"{prof['p99']:.2f} ms):")
        if prof["tool"] == "perf":
            lines += [f"  by comm,dso {p:5.1f}% {t}" for p, t in prof["by_comm"]]
            lines += [f"  self        {p:5.1f}% {t}" for p, t in prof["by_symbol"]]
            lines += [f"  inclusive   {p:5.1f}% {t[:160]}" for p, t in prof["frames"]]
        else:
            lines += ["  " + line for line in prof["strace"].splitlines()[:25]]
    return lines


def report(args, lat, rss, http):
    notes = causes(lat, rss, http)
    if notes:
        print("<!-- Goals missed. Causes, from this run's measurements:")
        print("\n".join(" - " + note for note in notes))
        print("-->")
    print(header(args))
    print(table(args, lat, rss, http))
    print("\nRaw figures:\n```")
    print("\n".join(raw_lines(lat, rss, http)))
    print("```")


# ---------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    check_tools(args)
    args.load_start = os.getloadavg()[0]
    args.load_start_all = loadavg()
    tmp = tempfile.mkdtemp(prefix="nightshift-daemon-bench-")
    try:
        snapshot_binary(args, tmp)
        if args.only & {"pair-http", "pair-scale"}:
            pair_http = bench_pair_http(args, tmp) if "pair-http" in args.only else None
            pair_scale = bench_pair_scale(args, tmp) if "pair-scale" in args.only else None
            report_pairs(args, pair_http, pair_scale)
            return 0
        progress(f"latency: {args.fires} fires of a per-second job (about {args.fires + 5} s)")
        lat = bench_latency(args, tmp)
        rss = bench_rss(args, tmp)
        http = bench_http(args, tmp)
        report(args, lat, rss, http)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
