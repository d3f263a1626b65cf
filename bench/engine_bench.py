#!/usr/bin/env python3
"""Engine benchmarks: nightshift run side by side with ninja and make.

    bench/engine_bench.py [--nightshift build/daemon/nightshift] [--runs 5] [--quick]

1. A 2,000-step DAG of `true` (20 layers of 100, two parents a step) through
   `nightshift run` (workers: 2, a fresh SQLite store a run), `ninja -j2` and
   `make -j2`, alternated run by run; also nightshift with its store on
   /dev/shm, to show what the durable store costs. Median wall times, ratios.
2. Makespan of a seeded random 200-step DAG of `sleep 0.05` on 2 workers over
   its lower bound max(critical path x 0.05 s, total work / 2).
3. Peak RSS of nightshift while a step writes 1 GiB to its log (wait4's
   ru_maxrss of nightshift started as a grandchild, so it is nightshift's own).

When the DAG misses its goal, a few more runs say why (strace counts the
fsyncs, /proc splits the CPU time); a goal missed is explained in an HTML
comment on top of the Markdown report printed on stdout (progress on stderr).
Everything lives in temporary folders (under $TMPDIR, which decides the disk
the store is on, and under /dev/shm) removed at the end. Python 3 standard
library only; never part of the test suite.
"""

import argparse
import datetime
import glob
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from benchlib import REPO, binaries_line, loadavg, median, progress, snapshot_binary, write
SHM = "/dev/shm"
DAG_GOAL = 1.2
MAKESPAN_GOAL = 1.05
RSS_GOAL_KIB = 30 * 1024
SLEEP = 0.05
# The DAG's contenders: (binary, action, store on /dev/shm) for nightshift, None for the others.
DAG_TOOLS = {"nightshift": ("new", "command", False), "nightshift_shell": ("new", "shell", False),
             "old": ("old", "command", False), "old_shell": ("old", "shell", False),
             "nightshift_shm": ("new", "command", True), "ninja": None, "make": None,
             "floor": None}

# The spawn floor: N bare posix_spawn + waitpid of /bin/true (as `command: [true]` execs it),
# at most P at a time, no DAG, no log, no store: what process creation alone costs here.
FLOOR_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
  int total = atoi(argv[1]), parallel = atoi(argv[2]), started = 0, running = 0, status;
  char *args[] = {"true", NULL};
  while (started < total || running > 0) {
    while (started < total && running < parallel) {
      pid_t pid;
      if (posix_spawnp(&pid, "true", NULL, NULL, args, environ) != 0) return 1;
      started++, running++;
    }
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    running--;
  }
  printf("%d\n", started);
  return 0;
}
"""

# The makespan's spawn floor: the same DAG as a FIFO list schedule on P workers,
# each step a bare posix_spawnp of argv (sleep 0.05), no log, no store: what
# the sleep DAG takes on this machine when the scheduler costs nothing.
# Input (argv[1]): one line a step, "K D1 .. DK" (indices of its dependencies).
FLOOR_DAG_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
  FILE *in = fopen(argv[1], "r");
  int parallel = atoi(argv[2]), n = 0, cap = 1 << 16, k, d, status;
  int *waiting = calloc(cap, sizeof *waiting), *ready = malloc(cap * sizeof *ready);
  int (*edges)[2] = NULL, edge_count = 0, head = 0, tail = 0, running = 0, done = 0;
  pid_t *pids = calloc(cap, sizeof *pids);
  if (!in) return 1;
  while (fscanf(in, "%d", &k) == 1) {
    if (n == cap) return 1;
    waiting[n] = k;
    for (int i = 0; i < k; i++) {
      if (fscanf(in, "%d", &d) != 1) return 1;
      edges = realloc(edges, (edge_count + 1) * sizeof *edges);
      edges[edge_count][0] = d, edges[edge_count][1] = n, edge_count++;
    }
    if (k == 0) ready[tail++] = n;
    n++;
  }
  while (done < n) {
    while (head < tail && running < parallel) {
      int step = ready[head++];
      if (posix_spawnp(&pids[step], argv[3], NULL, NULL, argv + 3, environ) != 0) return 1;
      running++;
    }
    pid_t pid = wait(&status);
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    int step = 0;
    while (pids[step] != pid) step++;
    pids[step] = 0, running--, done++;
    for (int e = 0; e < edge_count; e++)
      if (edges[e][0] == step && --waiting[edges[e][1]] == 0) ready[tail++] = edges[e][1];
  }
  printf("%d\n", done);
  return 0;
}
"""


# ---------------------------------------------------------------- setup


def parse_args(argv=None):
    """Reads the command line; --quick shrinks every workload for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build/daemon/nightshift"),
                        help="the nightshift binary (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs of each tool (default 5, 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="small workloads and 2 runs: checks the script, not the engine")
    parser.add_argument("--nightshift-old", default=None, metavar="PATH",
                        help="a baseline build, run alternated with --nightshift (tools old, "
                             "old_shell)")
    parser.add_argument("--dag-tools", default="nightshift,ninja,make,nightshift_shm",
                        help="the DAG's contenders, in the order of a round, from "
                             + ",".join(DAG_TOOLS) + " (default: %(default)s)")
    parser.add_argument("--history", action="store_true",
                        help="each nightshift contender keeps its store (and logs) across rounds, "
                             "as a daemon does, after one untimed warm-up round; the default "
                             "starts each run from an empty store")
    parser.add_argument("--only", default="dag,makespan,rss",
                        help="which benchmarks, from dag,makespan,rss,scale (default: %(default)s)")
    parser.add_argument("--scale-steps", type=int, default=100_000,
                        help="steps of the scale DAG (layers of 100; default: %(default)s). "
                             "Above ~15,000 steps the job file passes DESIGN.md's 1 MiB limit: "
                             "--nightshift (and --nightshift-old) must then be a benchmark build "
                             "configured with -DNIGHTSHIFT_MAX_JOB_FILE_BYTES=16777216 "
                             "(bench/README.md, 'Issue #9 (e)')")
    args = parser.parse_args(argv)
    args.nightshift = os.path.abspath(args.nightshift)
    if args.nightshift_old:
        args.nightshift_old = os.path.abspath(args.nightshift_old)
    args.dag_tools = args.dag_tools.split(",")
    args.only = set(args.only.split(","))
    unknown = [t for t in args.dag_tools if t not in DAG_TOOLS]
    if unknown or (not args.nightshift_old and any(t.startswith("old") for t in args.dag_tools)):
        parser.error(f"--dag-tools: unknown {unknown} or old_* without --nightshift-old")
    if args.runs is None:
        args.runs = 2 if args.quick else 5
    args.layers, args.width = (4, 50) if args.quick else (20, 100)
    args.makespan_steps = 40 if args.quick else 200
    args.log_bytes = (64 << 20) if args.quick else (1 << 30)
    return args


def check_tools(args):
    """Exits with a hint when the binary or a peer is missing."""
    missing = [t for t in ("ninja", "make") if not shutil.which(t)]
    if missing:
        sys.exit(f"engine_bench: {', '.join(missing)} missing: apt-get install -y ninja-build make")
    if not os.access(args.nightshift, os.X_OK):
        sys.exit(f"engine_bench: no nightshift binary at {args.nightshift}: "
                 "cmake --build build --target nightshift")






def mount_of(path):
    """The (mount point, file system type) that holds path, from /proc/mounts."""
    best = ("/", "?")
    real = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            if (real == point or real.startswith(point.rstrip("/") + "/")) \
                    and len(point) >= len(best[0]):
                best = (point, fields[2])
    return best


# ---------------------------------------------------------------- workloads


def layered_dag(layers, width):
    """Steps (name, deps) of `layers` layers; step i of layer L needs i and i+1 of L-1."""
    steps = []
    for layer in range(layers):
        for i in range(width):
            deps = [] if layer == 0 else [f"s{layer - 1}_{i}", f"s{layer - 1}_{(i + 1) % width}"]
            steps.append((f"s{layer}_{i}", deps))
    return steps


def random_dag(count, seed=20240601):
    """A seeded random DAG: each step depends on 0-3 earlier ones."""
    rng = random.Random(seed)
    steps = []
    for i in range(count):
        deps = rng.sample(range(i), rng.randint(0, min(3, i)))
        steps.append((f"t{i}", [f"t{d}" for d in sorted(deps)]))
    return steps


def critical_path(steps):
    """The number of steps on the longest chain of the DAG (steps in topological order)."""
    depth = {}
    for name, deps in steps:
        depth[name] = 1 + max((depth[d] for d in deps), default=0)
    return max(depth.values())


def job_yaml(job, steps, argv, shell=False):
    """A job file whose steps all run the command argv (as one `shell:` line when shell)."""
    if shell:
        action = "shell: " + json.dumps(" ".join(argv))
    else:
        action = "command: [" + ", ".join(f'"{a}"' for a in argv) + "]"
    lines = [f"job: {job}", "steps:"]
    for name, deps in steps:
        lines += [f"  {name}:", f"    {action}"]
        if deps:
            lines.append(f"    depends_on: [{', '.join(deps)}]")
    return "\n".join(lines) + "\n"


def ninja_file(steps, command="true"):
    """A build.ninja with one `command` edge a step; the outputs are never made."""
    lines = ["rule t", f"  command = {command}", ""]
    for name, deps in steps:
        lines.append(f"build {name}: t" + "".join(" " + d for d in deps))
    return "\n".join(lines) + "\n"


def makefile(steps):
    """A Makefile with one .PHONY target a step, each with an `@true` recipe."""
    names = [name for name, _ in steps]
    lines = [".PHONY: all " + " ".join(names), "all: " + " ".join(names)]
    for name, deps in steps:
        lines += [f"{name}:" + "".join(" " + d for d in deps), "\t@true"]
    return "\n".join(lines) + "\n"


class Project:
    """A nightshift scratch project: nightshift.yaml, jobs.d/, var/ (store and logs)."""

    def __init__(self, root, job, steps, argv, state_dir=None, workers=2, shell=False,
                 history=False):
        self.root = root
        self.job = job
        self.history = history  # the store and the logs stay from run to run
        self.state_dir = state_dir or os.path.join(root, "var")
        self.db = os.path.join(self.state_dir, "nightshift.db")
        self.config = os.path.join(root, "nightshift.yaml")
        write(self.config, f"jobs_dir: jobs.d\nstate: sqlite:{self.db}\nlog_dir: var/logs\n"
                           f"workers: {workers}\npools: {{}}\n")
        write(os.path.join(root, "jobs.d", job + ".yaml"), job_yaml(job, steps, argv, shell))

    def reset(self):
        """Removes the store and the logs, so every run does the same work (not with history)."""
        if self.history:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(self.db + suffix):
                os.remove(self.db + suffix)
        shutil.rmtree(os.path.join(self.root, "var", "logs"), ignore_errors=True)

    def argv(self, nightshift):
        """The command line that runs the job once."""
        return [nightshift, "run", self.job, "--config", self.config]

    def query(self, sql):
        """Rows of a query on the store."""
        db = sqlite3.connect(self.db)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def last_run(self):
        """The newest run's id."""
        return self.query("SELECT MAX(run_id) FROM runs")[0][0]

    def check_succeeded(self, count):
        """Fails unless the newest run succeeded with `count` succeeded attempts (and, without
        history, it is the only run)."""
        runs = self.query("SELECT run_id, status FROM runs ORDER BY run_id")
        last = runs[-1][0] if runs else None
        done = self.query("SELECT COUNT(*) FROM attempts WHERE state = 'succeeded' AND "
                          f"run_id = {int(last or 0)}")[0][0]
        if not runs or runs[-1][1] != "succeeded" or done != count or \
                (not self.history and len(runs) != 1):
            raise RuntimeError(f"{self.root}: runs {runs[-3:]}, {done} of {count} attempts "
                               f"succeeded")

    def attempt_latencies_ms(self):
        """Per attempt of the newest run: milliseconds from its recorded start to its end."""
        return [r[0] for r in self.query("SELECT finished_at - started_at FROM attempts "
                                         f"WHERE run_id = {int(self.last_run())}")]

    def run_span(self):
        """Seconds from the newest run's recorded start to its recorded end."""
        start, end = self.query("SELECT started_at, finished_at FROM runs WHERE run_id = "
                                f"{int(self.last_run())}")[0]
        return (end - start) / 1000


# ---------------------------------------------------------------- measuring


def measure(argv, cwd, out_path, on_poll=None):
    """Runs argv; returns wall seconds, exit code, CPU seconds and ru_maxrss (KiB).

    CPU and ru_maxrss come from os.wait4, so they cover the process and the
    children it reaped. on_poll(pid), if given, is called every 20 ms while it runs.
    """
    with open(out_path, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG if on_poll else 0)
            if pid:
                break
            on_poll(proc.pid)
            time.sleep(0.02)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "rc": proc.returncode, "cpu": usage.ru_utime + usage.ru_stime,
            "maxrss": usage.ru_maxrss}


def must_succeed(result, what, out_path):
    """Fails with the tool's output when it did not exit 0."""
    if result["rc"] != 0:
        tail = ""
        if os.path.exists(out_path):
            with open(out_path) as f:
                tail = f.read()[-2000:]
        raise RuntimeError(f"{what} exited {result['rc']}:\n{tail}")


def vm_status_kib(pid, field):
    """A KiB field of /proc/PID/status (VmHWM, VmRSS), or 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def vm_hwm_kib(pid):
    """The process's own peak RSS so far (VmHWM, KiB), or 0 once it is gone."""
    return vm_status_kib(pid, "VmHWM")


def vm_rss_kib(pid):
    """The process's resident set now (VmRSS, KiB), or 0 once it is gone."""
    return vm_status_kib(pid, "VmRSS")






# ---------------------------------------------------------------- benchmark 1: the DAG


def binary_of(args, which):
    """The copied binary for "new" or "old"."""
    return args.nightshift if which == "new" else args.nightshift_old


def dag_setup(args, tmp, shm_tmp, steps):
    """The DAG's contenders, each nightshift one in its own folder (its own store)."""
    projects = {}
    for tool in args.dag_tools:
        spec = DAG_TOOLS[tool]
        if spec:
            _, action, on_shm = spec
            projects[tool] = Project(os.path.join(tmp, "dag-" + tool), "dag", steps, ["true"],
                                     state_dir=os.path.join(shm_tmp, tool) if on_shm else None,
                                     shell=action == "shell", history=args.history)
    write(os.path.join(tmp, "ninja", "build.ninja"), ninja_file(steps))
    write(os.path.join(tmp, "make", "Makefile"), makefile(steps))
    if "floor" in args.dag_tools:
        write(os.path.join(tmp, "floor", "floor.c"), FLOOR_C)
        subprocess.run(["cc", "-O2", "-o", os.path.join(tmp, "floor", "floor"),
                        os.path.join(tmp, "floor", "floor.c")], check=True)
    return projects


def run_floor(tmp, count):
    """One timed spawn floor: `count` bare spawns of true, 2 at a time."""
    out = os.path.join(tmp, "floor.out")
    result = measure([os.path.join(tmp, "floor", "floor"), str(count), "2"],
                     os.path.join(tmp, "floor"), out)
    must_succeed(result, "the spawn floor", out)
    return result


def run_ninja(tmp, count):
    """One timed `ninja -j2`; checks from `-d stats` that it started every edge."""
    cwd = os.path.join(tmp, "ninja")
    log = os.path.join(cwd, ".ninja_log")
    if os.path.exists(log):
        os.remove(log)  # a fresh start each run, like nightshift's fresh store
    out = os.path.join(tmp, "ninja.out")
    result = measure(["ninja", "-j2", "-d", "stats"], cwd, out)
    must_succeed(result, "ninja", out)
    with open(out) as f:
        started = re.search(r"^StartEdge\s+(\d+)", f.read(), re.M)
    if not started or int(started.group(1)) != count:
        raise RuntimeError(f"ninja started {started and started.group(1)} commands, not {count}")
    return result


def check_make(tmp, count):
    """Checks (untimed, with -n) that make runs one `true` a step."""
    listed = subprocess.run(["make", "-n", "all"], cwd=os.path.join(tmp, "make"),
                            capture_output=True, text=True, check=True).stdout.split("\n")
    if listed.count("true") != count:
        raise RuntimeError(f"make -n lists {listed.count('true')} commands, not {count}")


def run_make(tmp):
    """One timed `make -j2`."""
    out = os.path.join(tmp, "make.out")
    result = measure(["make", "-j2", "all"], os.path.join(tmp, "make"), out)
    must_succeed(result, "make", out)
    return result


def run_project(project, nightshift, count, tmp):
    """One timed `nightshift run` on a fresh store; checks every step succeeded."""
    project.reset()
    out = os.path.join(tmp, project.job + ".out")
    result = measure(project.argv(nightshift), project.root, out)
    must_succeed(result, "nightshift run " + project.job, out)
    project.check_succeeded(count)
    return result


def bench_dag(args, tmp, shm_tmp):
    """Alternates the contenders of --dag-tools, run by run (a warm-up round first with
    --history, not counted)."""
    steps = layered_dag(args.layers, args.width)
    projects = dag_setup(args, tmp, shm_tmp, steps)
    if "make" in args.dag_tools:
        check_make(tmp, len(steps))
    runs = {name: [] for name in args.dag_tools}
    latency = {name: [] for name in projects}
    rounds = [("warm-up", False)] if args.history else []
    rounds += [(f"{i + 1}/{args.runs}", True) for i in range(args.runs)]
    load = [loadavg()]
    for label, counted in rounds:
        for name in args.dag_tools:
            if name == "ninja":
                result = run_ninja(tmp, len(steps))
            elif name == "make":
                result = run_make(tmp)
            elif name == "floor":
                result = run_floor(tmp, len(steps))
            else:
                project = projects[name]
                result = run_project(project, binary_of(args, DAG_TOOLS[name][0]), len(steps),
                                     tmp)
                if counted:
                    latency[name].append(median(project.attempt_latencies_ms()))
            if counted:
                runs[name].append(result)
            progress(f"dag run {label} {name}: {result['wall']:.2f} s (load {loadavg()})")
    load.append(loadavg())
    return {"steps": len(steps), "runs": runs, "latency": latency, "projects": projects,
            "disk": projects.get("nightshift"), "shm": projects.get("nightshift_shm"),
            "load": load}


def strace_fsyncs(args, project, tmp):
    """One extra run under `strace -f -c -w` of fsync and fdatasync only: calls and seconds."""
    if not shutil.which("strace"):
        return None
    project.reset()
    summary = os.path.join(tmp, "strace.txt")
    argv = ["strace", "-f", "-c", "-w", "--seccomp-bpf", "-e", "trace=fsync,fdatasync",
            "-o", summary] + project.argv(args.nightshift)
    result = measure(argv, project.root, os.path.join(tmp, "strace.out"))
    if result["rc"] != 0:
        return None
    calls, seconds = 0, 0.0
    with open(summary) as f:
        for line in f:
            fields = line.split()
            if fields and fields[-1] in ("fsync", "fdatasync"):
                seconds += float(fields[1])
                calls += int(fields[3])
    return {"calls": calls, "seconds": seconds, "wall": result["wall"]}


def proc_cpu(pid):
    """(own, waited-for children) CPU seconds of a running process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    # Fields 14-17 of stat(5): utime stime cutime cstime; fields[0] here is field 3.
    utime, stime, cutime, cstime = (int(x) / tick for x in fields[11:15])
    return utime + stime, cutime + cstime


def cpu_split(argv, cwd, out_path):
    """One extra run polling /proc every 20 ms: CPU of the process itself and of its children.

    The last poll comes up to 20 ms before the end, so both are slight underestimates.
    """
    last = [(0.0, 0.0)]

    def poll(pid):
        """Keeps the latest reading."""
        last[0] = proc_cpu(pid) or last[0]

    result = measure(argv, cwd, out_path, on_poll=poll)
    must_succeed(result, argv[0], out_path)
    return {"own": last[0][0], "children": last[0][1], "wall": result["wall"]}


def profile_dag(args, dag, tmp):
    """Where the DAG's time goes, when it misses its goal: fsync count and time, CPU split."""
    fsyncs = strace_fsyncs(args, dag["disk"], tmp)
    shm = dag["shm"]
    shm.reset()
    split = {"nightshift_shm": cpu_split(shm.argv(args.nightshift), shm.root,
                                         os.path.join(tmp, "split.out"))}
    shm.check_succeeded(dag["steps"])
    os.remove(os.path.join(tmp, "ninja", ".ninja_log"))
    split["ninja"] = cpu_split(["ninja", "-j2"], os.path.join(tmp, "ninja"),
                               os.path.join(tmp, "split.out"))
    return {"fsyncs": fsyncs, "split": split}


# ---------------------------------------------------------------- benchmark 2: makespan


def list_schedule(steps, workers, duration):
    """The makespan of a zero-overhead FIFO list schedule of the DAG on `workers` workers."""
    waiting = {name: len(deps) for name, deps in steps}
    children = {name: [] for name, _ in steps}
    for name, deps in steps:
        for d in deps:
            children[d].append(name)
    ready = [name for name, deps in steps if not deps]
    running = []  # (end time, name)
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            running.append((now + duration, ready.pop(0)))
        running.sort()
        now, done = running.pop(0)
        for child in children[done]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return now



def run_ninja_makespan(tmp):
    """One timed `ninja -j2` of the sleep DAG (the outputs are never made, so all edges run)."""
    cwd = os.path.join(tmp, "makespan-ninja")
    log = os.path.join(cwd, ".ninja_log")
    if os.path.exists(log):
        os.remove(log)
    out = os.path.join(tmp, "ninja-makespan.out")
    result = measure(["ninja", "-j2"], cwd, out)
    must_succeed(result, "ninja (makespan)", out)
    return result


def run_floor_makespan(tmp, argv):
    """One timed spawn floor of the sleep DAG: its list schedule with bare spawns, 2 at a time."""
    cwd = os.path.join(tmp, "makespan-floor")
    out = os.path.join(tmp, "floor-makespan.out")
    result = measure([os.path.join(cwd, "floor"), os.path.join(cwd, "dag.txt"), "2"] + argv,
                     cwd, out)
    must_succeed(result, "the makespan's spawn floor", out)
    return result


def bench_makespan(args, tmp, shm_tmp):
    """Runs the random sleep DAG `runs` times, alternating a disk and a /dev/shm store, and,
    with --nightshift-old, the old binary (disk) and ninja -j2 on the same graph; and always the
    spawn floor (the same list schedule with bare spawns of the same sleep)."""
    steps = random_dag(args.makespan_steps)
    argv = ["sleep", f"{SLEEP:g}"]
    contenders = {"disk": (Project(os.path.join(tmp, "makespan-disk"), "sleepy", steps, argv,
                                   history=args.history), args.nightshift)}
    if args.nightshift_old:
        contenders["old"] = (Project(os.path.join(tmp, "makespan-old"), "sleepy", steps, argv,
                                     history=args.history), args.nightshift_old)
        write(os.path.join(tmp, "makespan-ninja", "build.ninja"),
              ninja_file(steps, f"sleep {SLEEP:g}"))
        contenders["ninja"] = (None, None)
    else:
        contenders["shm"] = (Project(os.path.join(tmp, "makespan-shm"), "sleepy", steps, argv,
                                     state_dir=os.path.join(shm_tmp, "makespan"),
                                     history=args.history), args.nightshift)
    write(os.path.join(tmp, "makespan-floor", "floor.c"), FLOOR_DAG_C)
    index = {name: i for i, (name, _) in enumerate(steps)}
    write(os.path.join(tmp, "makespan-floor", "dag.txt"),
          "".join(f"{len(deps)} {' '.join(str(index[d]) for d in deps)}\n" for _, deps in steps))
    subprocess.run(["cc", "-O2", "-o", os.path.join(tmp, "makespan-floor", "floor"),
                    os.path.join(tmp, "makespan-floor", "floor.c")], check=True)
    contenders["floor"] = (None, None)
    path = critical_path(steps)
    bound = max(path * SLEEP, len(steps) * SLEEP / 2)
    walls = {name: [] for name in contenders}
    spans = {name: [] for name in contenders if name not in ("ninja", "floor")}
    rounds = [("warm-up", False)] if args.history else []
    rounds += [(f"{i + 1}/{args.runs}", True) for i in range(args.runs)]
    load = [loadavg()]
    for label, counted in rounds:
        for name, (project, binary) in contenders.items():
            if name == "floor":
                result = run_floor_makespan(tmp, argv)
            elif project is None:
                result = run_ninja_makespan(tmp)
            else:
                result = run_project(project, binary, len(steps), tmp)
                if counted:
                    spans[name].append(project.run_span())
            if counted:
                walls[name].append(result["wall"])
            progress(f"makespan run {label} {name}: {result['wall']:.2f} s (load {loadavg()})")
    load.append(loadavg())
    return {"steps": len(steps), "critical_path": path, "bound": bound,
            "schedule": list_schedule(steps, 2, SLEEP), "walls": walls, "spans": spans,
            "load": load}


# ---------------------------------------------------------------- benchmark 4: scale


JOB_FILE_LIMIT_BYTES = 1 << 20  # DESIGN.md's limit, kept by every build but a benchmark one


def refuse_if_limited(binary, project):
    """Stops early, with the build it needs, when the scale job file is over DESIGN.md's 1 MiB
    and the binary refuses it (a build without -DNIGHTSHIFT_MAX_JOB_FILE_BYTES raised): the
    run would otherwise fail only after the file is written, with the loader's message."""
    path = os.path.join(project.root, "jobs.d", project.job + ".yaml")
    size = os.path.getsize(path)
    if size <= JOB_FILE_LIMIT_BYTES:
        return
    # A probe of 1 MiB + 1 byte of comment, checked alone: fast whatever the build.
    probe = os.path.join(project.root, "limit-probe")
    write(os.path.join(probe, "probe.yaml"), "#" * JOB_FILE_LIMIT_BYTES + "\n")
    out = subprocess.run([binary, "check", "--jobs-dir", probe], capture_output=True, text=True)
    shutil.rmtree(probe, ignore_errors=True)
    if "the limit for a job file" in out.stdout + out.stderr:
        raise SystemExit(
            f"scale: the {size:,}-byte job file is over the 1 MiB limit of {binary}.\n"
            "Build a benchmark binary with the limit raised (never shipped):\n"
            "  cmake -S . -B build-scale -G Ninja -DNIGHTSHIFT_MAX_JOB_FILE_BYTES=16777216\n"
            "  cmake --build build-scale -j2 --target nightshift\n"
            "and pass --nightshift build-scale/daemon/nightshift.")


def bench_scale(args, tmp):
    """A --scale-steps DAG (layers of 100, as the 2,000-step one) once per binary, on a fresh
    store: wall time, peak RSS (ru_maxrss of nightshift as a grandchild, and VmHWM polled),
    wall time a step."""
    width = 100
    steps = layered_dag(args.scale_steps // width, width)
    binaries = [("new", args.nightshift)]
    if args.nightshift_old:
        binaries.append(("old", args.nightshift_old))
    results = {}
    for name, binary in binaries:
        project = Project(os.path.join(tmp, "scale-" + name), "scale", steps, ["true"])
        refuse_if_limited(binary, project)
        hwm = [0]
        cpu = [(0.0, 0.0)]
        trace = []  # (seconds, VmRSS KiB, own CPU s) every 10 s: where in the run the peak is
        start = time.perf_counter()

        def poll(pid):
            """Keeps the highest VmHWM seen of the nightshift process itself, its latest own
            and children's CPU (/proc/PID/stat), and a VmRSS sample every 10 s."""
            hwm[0] = max(hwm[0], vm_hwm_kib(pid))
            cpu[0] = proc_cpu(pid) or cpu[0]
            now = time.perf_counter() - start
            if not trace or now - trace[-1][0] >= 10:
                trace.append((now, vm_rss_kib(pid), cpu[0][0]))

        load = [loadavg()]
        progress(f"scale: {len(steps):,}-step DAG, {name} binary")
        result = measure_grandchild(project.argv(binary), project.root,
                                    os.path.join(tmp, "scale.out"), poll)
        must_succeed(result, "nightshift run scale", os.path.join(tmp, "scale.out"))
        project.check_succeeded(len(steps))
        load.append(loadavg())
        results[name] = {"wall": result["wall"], "cpu": result["cpu"],
                         "maxrss": result["maxrss"], "hwm": hwm[0], "load": load,
                         "span": project.run_span(), "own": cpu[0][0],
                         "children": cpu[0][1], "trace": trace}
        progress(f"scale {name}: {result['wall']:.1f} s, ru_maxrss {result['maxrss']} KiB, "
                 f"VmHWM {hwm[0]} KiB, own CPU {cpu[0][0]:.1f} s (load {load[0]} -> {load[1]})")
        shutil.rmtree(project.root, ignore_errors=True)
    return {"steps": len(steps), "results": results}


# ---------------------------------------------------------------- benchmark 3: peak RSS


def become_subreaper():
    """Makes this process adopt its orphaned descendants, so it can wait4 a grandchild."""
    import ctypes  # standard library; prctl has no wrapper in os
    pr_set_child_subreaper = 36
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def measure_grandchild(argv, cwd, out_path, on_poll):
    """Like measure(), but argv runs as a grandchild forked by a small sh.

    exec keeps the high-water RSS of the memory it replaces, so a direct child
    of this (large) Python process reports at least Python's own peak RSS as its
    ru_maxrss. Forked from sh, it starts from sh's few hundred KiB; sh waits for
    a line on stdin before the exec, exits, and we reap the orphan as subreaper.
    """
    become_subreaper()
    # An asynchronous list gets /dev/null as stdin, hence the copy on fd 3.
    script = 'exec 3<&0; (read _ <&3 && exec "$@" >"$0" 2>&1 </dev/null 3<&-) & echo $!'
    sh = subprocess.Popen(["/bin/sh", "-c", script, out_path] + argv, cwd=cwd,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(sh.stdout.readline())
    sh.stdout.close()
    start = time.perf_counter()
    sh.stdin.write("go\n")
    sh.stdin.close()
    sh.wait()
    while True:
        got, status, usage = os.wait4(pid, os.WNOHANG)
        if got:
            break
        on_poll(pid)
        time.sleep(0.02)
    return {"wall": time.perf_counter() - start, "rc": os.waitstatus_to_exitcode(status),
            "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss}


def rss_run(args, tmp, size, direct=False):
    """One run of a one-step job writing `size` bytes to its log: RSS figures and log size.

    maxrss is ru_maxrss from wait4 of nightshift started by sh (nightshift and the
    `head` it reaped), direct_maxrss the same started directly by this script, and
    hwm nightshift's own VmHWM, polled while it runs.
    """
    project = Project(os.path.join(tmp, f"rss-{size}"), "big", [("write", [])],
                      ["head", "-c", str(size), "/dev/zero"])
    hwm = [0]

    def poll(pid):
        """Keeps the highest VmHWM seen of the nightshift process itself."""
        hwm[0] = max(hwm[0], vm_hwm_kib(pid))

    out = os.path.join(tmp, "rss.out")
    direct_maxrss = None
    if direct:
        project.reset()
        plain = measure(project.argv(args.nightshift), project.root, out)
        must_succeed(plain, "nightshift run big", out)
        direct_maxrss = plain["maxrss"]
    project.reset()
    result = measure_grandchild(project.argv(args.nightshift), project.root, out, poll)
    must_succeed(result, "nightshift run big", out)
    project.check_succeeded(1)
    logs = glob.glob(os.path.join(project.root, "var", "logs", "big", "*", "write.1.log"))
    log_size = os.path.getsize(logs[0]) if len(logs) == 1 else -1
    shutil.rmtree(project.root)  # the big log goes at once
    return {"maxrss": result["maxrss"], "direct_maxrss": direct_maxrss, "hwm": hwm[0],
            "log_size": log_size, "wall": result["wall"]}


def bench_rss(args, tmp):
    """Peak RSS with a big log (median of up to 3 runs) and, for scale, with a 1 MB log."""
    big = []
    for i in range(min(args.runs, 3)):
        big.append(rss_run(args, tmp, args.log_bytes))
        progress(f"rss run {i + 1}: ru_maxrss {big[-1]['maxrss']} KiB, VmHWM {big[-1]['hwm']} KiB")
        if big[-1]["log_size"] != args.log_bytes:
            raise RuntimeError(f"the log holds {big[-1]['log_size']} bytes, not {args.log_bytes}")
    small = rss_run(args, tmp, 1 << 20, direct=True)
    return {"big": big, "small": small, "size": args.log_bytes,
            "python_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


# ---------------------------------------------------------------- report


def verdict(ok):
    """The goal column."""
    return "met" if ok else "**missed**"


def dag_summary(dag):
    """Median wall, CPU and per-step latency of each DAG contender."""
    summary = {}
    for name, results in dag["runs"].items():
        summary[name] = {"wall": median([r["wall"] for r in results]),
                         "cpu": median([r["cpu"] for r in results])}
    for name, values in dag["latency"].items():
        summary[name]["latency_ms"] = median(values)
    return summary


def figures(dag, makespan, rss):
    """The medians and ratios the report quotes, in one flat dict."""
    s = dag_summary(dag)
    bound = makespan["bound"]
    fig = {"steps": dag["steps"], "dag": s, "bound": bound,
           "ns": s["nightshift"]["wall"], "shm": s["nightshift_shm"]["wall"],
           "ninja": s["ninja"]["wall"], "make": s["make"]["wall"],
           "mk_wall": median(makespan["walls"]["disk"]),
           "mk_span": median(makespan["spans"]["disk"]),
           "mk_shm": median(makespan["walls"]["shm"]),
           "maxrss": round(median([r["maxrss"] for r in rss["big"]])),
           "hwm": round(median([r["hwm"] for r in rss["big"]])),
           "maxrss_1mb": rss["small"]["maxrss"]}
    fig["dag_ratio"] = fig["ns"] / fig["ninja"]
    fig["mk_ratio"] = fig["mk_wall"] / bound
    fig["rss_ok"] = max(fig["maxrss"], fig["hwm"]) < RSS_GOAL_KIB
    return fig


def dag_causes(fig, profile):
    """Why the DAG misses its goal, from what was measured."""
    ns, shm, ninja = fig["dag"]["nightshift"], fig["dag"]["nightshift_shm"], fig["dag"]["ninja"]
    steps = fig["steps"]
    notes = [
        f"DAG: nightshift/ninja = {fig['dag_ratio']:.2f} > {DAG_GOAL}. The same binary with "
        f"its store on {SHM} (tmpfs: fsync costs nothing) takes {fig['shm']:.2f} s instead of "
        f"{fig['ns']:.2f} s, so {(fig['ns'] - fig['shm']) / fig['ns']:.0%} of the wall time is "
        f"the durable store; on tmpfs nightshift/ninja is still {fig['shm'] / fig['ninja']:.2f}.",
    ]
    fsyncs = profile and profile["fsyncs"]
    if fsyncs:
        notes.append(
            f"DAG, store: one more run under `strace -f -c -w -e trace=fsync,fdatasync` made "
            f"{fsyncs['calls']} of them, {fsyncs['calls'] / steps:.2f} a step (one a commit "
            f"under synchronous = FULL, three commits a step: ready, running + attempt, "
            f"attempt end + succeeded), and "
            f"spent {fsyncs['seconds']:.2f} s in them, "
            f"{1000 * fsyncs['seconds'] / max(fsyncs['calls'], 1):.2f} ms each (that run took "
            f"{fsyncs['wall']:.2f} s: strace also slows every spawn). The engine makes these "
            f"commits one at a time, and a finished step's worker slot is refilled only after "
            f"them: median step latency (attempt start to end, as recorded) "
            f"{ns['latency_ms']:.1f} ms on disk, {shm['latency_ms']:.1f} ms on tmpfs.")
    notes.append(
        f"DAG, CPU: median CPU time (process and children) {ns['cpu']:.2f} s on disk, "
        f"{shm['cpu']:.2f} s on tmpfs, ninja {ninja['cpu']:.2f} s; cores kept busy: "
        f"{ns['cpu'] / fig['ns']:.2f}, {shm['cpu'] / fig['shm']:.2f} and "
        f"{ninja['cpu'] / fig['ninja']:.2f} of 2.")
    split = profile and profile["split"]
    if split:
        own, kids = split["nightshift_shm"], split["ninja"]
        notes.append(
            f"DAG, CPU split (one more run each, /proc polled): nightshift itself "
            f"{own['own']:.2f} s = {1000 * own['own'] / steps:.2f} ms a step, its `true` "
            f"children {own['children']:.2f} s; ninja itself {kids['own']:.2f} s = "
            f"{1000 * kids['own'] / steps:.2f} ms a step, its `sh -c true` children "
            f"{kids['children']:.2f} s.")
    return notes


def makespan_causes(fig, makespan):
    """Why the makespan misses its goal, from what was measured."""
    over = fig["mk_wall"] - fig["bound"]
    per_step = 1000 * over / (makespan["steps"] / 2)
    return [
        f"Makespan: {fig['mk_ratio']:.3f}x the lower bound > {MAKESPAN_GOAL}: {over:.2f} s "
        f"over, {per_step:.1f} ms a step on each worker. A zero-overhead FIFO list schedule of "
        f"this DAG on 2 workers takes {makespan['schedule']:.2f} s "
        f"({makespan['schedule'] / fig['bound']:.3f}x), so the DAG's shape explains "
        f"{makespan['schedule'] - fig['bound']:.2f} s. With the store on tmpfs "
        f"{fig['mk_shm'] / fig['bound']:.3f}x: {fig['mk_wall'] - fig['mk_shm']:.2f} s is the "
        f"store's commits; the rest is start-up ({fig['mk_wall'] - fig['mk_span']:.2f} s "
        f"between process start/exit and the run's recorded span), spawning and scheduling."]


def causes(fig, profile, makespan):
    """The notes for the comment on top of the report; empty when every goal is met."""
    notes = dag_causes(fig, profile) if fig["dag_ratio"] > DAG_GOAL else []
    if fig["mk_ratio"] > MAKESPAN_GOAL:
        notes += makespan_causes(fig, makespan)
    if not fig["rss_ok"]:
        notes.append(f"Peak RSS: {max(fig['maxrss'], fig['hwm'])} KiB >= {RSS_GOAL_KIB} KiB.")
    return notes


def header(args, store_mount):
    """The title and the conditions of the run."""
    quick = " (--quick: small workloads, not comparable)" if args.quick else ""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"## Nightshift engine benchmarks{quick}\n\n"
            f"{now}, {os.cpu_count()} CPUs, load average {args.load_start:.2f} at the start and "
            f"{os.getloadavg()[0]:.2f} at the end, {args.runs} runs each, medians; store on "
            f"{store_mount[1]} ({store_mount[0]}); {args.nightshift_source} (sha256 "
            f"{args.binary_sha}, built {args.binary_mtime:%Y-%m-%d %H:%M}, tree "
            f"{args.revision}).\n")


def table(fig, makespan, rss):
    """The Markdown table of medians and ratios."""
    size = rss["size"]
    size = f"{size >> 30} GiB" if size >= (1 << 30) else f"{size >> 20} MiB"
    return "\n".join([
        "| benchmark | nightshift | reference | ratio | goal |",
        "|---|---|---|---|---|",
        f"| {fig['steps']:,}-step DAG of `true`, 2 at a time | {fig['ns']:.2f} s | ninja -j2 "
        f"{fig['ninja']:.2f} s | {fig['dag_ratio']:.2f}x | <= {DAG_GOAL}x "
        f"{verdict(fig['dag_ratio'] <= DAG_GOAL)} |",
        f"| same | {fig['ns']:.2f} s | make -j2 {fig['make']:.2f} s | "
        f"{fig['ns'] / fig['make']:.2f}x | |",
        f"| same, store on {SHM} (diagnostic) | {fig['shm']:.2f} s | ninja -j2 "
        f"{fig['ninja']:.2f} s | {fig['shm'] / fig['ninja']:.2f}x | |",
        f"| makespan, {makespan['steps']} x `sleep {SLEEP:g}`, workers 2 | {fig['mk_wall']:.2f} s "
        f"| lower bound {fig['bound']:.2f} s | {fig['mk_ratio']:.3f}x | <= {MAKESPAN_GOAL}x "
        f"{verdict(fig['mk_ratio'] <= MAKESPAN_GOAL)} |",
        f"| same, run span in the store | {fig['mk_span']:.2f} s | lower bound "
        f"{fig['bound']:.2f} s | {fig['mk_span'] / fig['bound']:.3f}x | |",
        f"| same, store on {SHM} (diagnostic) | {fig['mk_shm']:.2f} s | lower bound "
        f"{fig['bound']:.2f} s | {fig['mk_shm'] / fig['bound']:.3f}x | |",
        f"| peak RSS (wait4 ru_maxrss), a step writes {size} to its log | "
        f"{fig['maxrss'] / 1024:.1f} MiB | 1 MB log: {fig['maxrss_1mb'] / 1024:.1f} MiB | | "
        f"< 30 MB {verdict(fig['rss_ok'])} |",
        f"| same, VmHWM of nightshift alone, polled | {fig['hwm'] / 1024:.1f} MiB | | | |",
    ])


def raw_lines(dag, fig, profile, makespan, rss):
    """The raw medians and per-run values, one line each."""
    lines = []
    for name, s in fig["dag"].items():
        walls = " ".join(f"{r['wall']:.2f}" for r in dag["runs"][name])
        extra = f"  step latency {s['latency_ms']:.1f} ms" if "latency_ms" in s else ""
        lines.append(f"dag {name:14} wall {s['wall']:.3f} s  cpu {s['cpu']:.3f} s{extra}"
                     f"  runs: {walls}")
    fsyncs = profile and profile["fsyncs"]
    if fsyncs:
        lines.append(f"dag strace: {fsyncs['calls']} fsync+fdatasync, {fsyncs['seconds']:.3f} s "
                     f"in them, run wall {fsyncs['wall']:.2f} s under strace")
    for name, split in (profile["split"] if profile else {}).items():
        lines.append(f"dag cpu split {name}: own {split['own']:.2f} s, children "
                     f"{split['children']:.2f} s, wall {split['wall']:.2f} s")
    lines.append(f"makespan: critical path {makespan['critical_path']} steps "
                 f"({makespan['critical_path'] * SLEEP:.2f} s), work/2 "
                 f"{makespan['steps'] * SLEEP / 2:.2f} s, bound {makespan['bound']:.2f} s, "
                 f"zero-overhead FIFO list schedule {makespan['schedule']:.2f} s")
    for name in ("disk", "shm"):
        walls = " ".join(f"{w:.2f}" for w in makespan["walls"][name])
        lines.append(f"makespan {name:4} wall {median(makespan['walls'][name]):.3f} s  span "
                     f"{median(makespan['spans'][name]):.3f} s  runs: {walls}")
    lines.append(f"rss {rss['size']} B log: ru_maxrss {fig['maxrss']} KiB (nightshift and the "
                 f"children it reaped), VmHWM {fig['hwm']} KiB (nightshift alone, polled every "
                 f"20 ms); runs (maxrss/hwm): "
                 + " ".join(f"{r['maxrss']}/{r['hwm']}" for r in rss["big"]))
    lines.append(f"rss 1048576 B log: ru_maxrss {fig['maxrss_1mb']} KiB; big log sizes checked: "
                 + " ".join(str(r["log_size"]) for r in rss["big"]) + " B, then deleted")
    lines.append(f"rss launcher check: nightshift started directly by this Python reports "
                 f"ru_maxrss {rss['small']['direct_maxrss']} KiB, this Python's own peak is "
                 f"{rss['python_maxrss']} KiB (exec keeps the replaced image's high-water mark)")
    return lines


def report(args, dag, profile, makespan, rss, store_mount):
    """Prints the Markdown report: the causes comment, the table, the raw medians."""
    fig = figures(dag, makespan, rss)
    notes = causes(fig, profile, makespan)
    if notes:
        print("<!-- Goals missed. Causes, from this run's measurements:")
        print("\n".join(" - " + note for note in notes))
        print("-->")
    print(header(args, store_mount))
    print(table(fig, makespan, rss))
    print("\nRaw medians:\n```")
    print("\n".join(raw_lines(dag, fig, profile, makespan, rss)))
    print("```")


# ---------------------------------------------------------------- report, any contenders


def cpu_splits(args, dag, tmp):
    """One more run of each nightshift contender and of ninja, /proc polled: own CPU and the
    children's, per step."""
    out = {}
    for name, project in dag["projects"].items():
        project.reset()
        out[name] = cpu_split(project.argv(binary_of(args, DAG_TOOLS[name][0])), project.root,
                              os.path.join(tmp, "split.out"))
        project.check_succeeded(dag["steps"])
    if "ninja" in args.dag_tools:
        os.remove(os.path.join(tmp, "ninja", ".ninja_log"))
        out["ninja"] = cpu_split(["ninja", "-j2"], os.path.join(tmp, "ninja"),
                                 os.path.join(tmp, "split.out"))
    for name, split in out.items():
        progress(f"cpu split {name}: own {split['own']:.2f} s, children {split['children']:.2f} s")
    return out


def spread(values):
    """min-max of a list of seconds."""
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def report_any(args, dag, splits, makespan, scale):
    """The report for any --dag-tools, --nightshift-old and --only: tables of medians, ratios
    to ninja and new/old, the CPU split, makespan and scale."""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    print(f"## Nightshift engine benchmarks{' (--quick)' if args.quick else ''}\n\n"
          f"{now}, {os.cpu_count()} CPUs, load average (1/5/15 min) {args.load_start_all} at the "
          f"start and {loadavg()} at the end; {args.runs} counted runs each, alternated, "
          f"medians; {'store history kept across rounds after one warm-up round' if args.history else 'a fresh store each run'}; "
          f"{binaries_line(args)}.\n")
    if dag:
        steps = dag["steps"]
        wall = {n: median([r["wall"] for r in rs]) for n, rs in dag["runs"].items()}
        cpu = {n: median([r["cpu"] for r in rs]) for n, rs in dag["runs"].items()}
        print(f"DAG: {steps:,} steps of `true` ({args.layers} layers x {args.width}, two parents "
              f"a step), workers 2 / -j2; load {dag['load'][0]} -> {dag['load'][1]}.\n")
        print("| contender | median wall | runs (min-max) | CPU (own + children) | "
              "ms a step | / ninja -j2 |")
        print("|---|---|---|---|---|---|")
        for name in args.dag_tools:
            ratio = f"{wall[name] / wall['ninja']:.2f}x" if "ninja" in wall else ""
            print(f"| {name} | {wall[name]:.2f} s | {spread([r['wall'] for r in dag['runs'][name]])}"
                  f" | {cpu[name]:.2f} s | {1000 * wall[name] / steps:.3f} | {ratio} |")
        pairs = [(a, b) for a, b in (("nightshift", "old"), ("nightshift_shell", "old_shell"))
                 if a in wall and b in wall]
        if pairs:
            print("\n| new / old | ratio of median walls |\n|---|---|")
            for a, b in pairs:
                print(f"| {a} / {b} | {wall[a] / wall[b]:.2f}x |")
        if splits:
            print("\nCPU split, one more run each (/proc polled every 20 ms):\n")
            print("| contender | wall | own CPU | own ms a step | children CPU |")
            print("|---|---|---|---|---|")
            for name, sp in splits.items():
                print(f"| {name} | {sp['wall']:.2f} s | {sp['own']:.2f} s | "
                      f"{1000 * sp['own'] / steps:.3f} | {sp['children']:.2f} s |")
        print("\nRaw DAG runs (s):\n```")
        for name in args.dag_tools:
            extra = ""
            if dag["latency"].get(name):
                extra = f"  median step latency {median(dag['latency'][name]):.1f} ms"
            print(f"{name:16} " + " ".join(f"{r['wall']:.2f}" for r in dag["runs"][name])
                  + extra)
        print("```\n")
    if makespan:
        bound = makespan["bound"]
        print(f"Makespan: {makespan['steps']} x `sleep {SLEEP:g}` (seeded DAG, critical path "
              f"{makespan['critical_path']}), workers 2; lower bound {bound:.2f} s, a "
              f"zero-overhead FIFO list schedule {makespan['schedule']:.2f} s; load "
              f"{makespan['load'][0]} -> {makespan['load'][1]}.\n")
        print("| contender | median wall | / bound | run span in the store | runs |")
        print("|---|---|---|---|---|")
        for name, walls in makespan["walls"].items():
            span = makespan["spans"].get(name)
            span_text = f"{median(span):.2f} s ({median(span) / bound:.3f}x)" if span else ""
            print(f"| {name} | {median(walls):.2f} s | {median(walls) / bound:.3f}x | "
                  f"{span_text} | {' '.join(f'{w:.2f}' for w in walls)} |")
        print()
    if scale:
        base = None
        if dag and "nightshift" in dag["runs"]:
            base = median([r["wall"] for r in dag["runs"]["nightshift"]]) / dag["steps"]
        print(f"Scale: a {scale['steps']:,}-step DAG (layers of 100, `command: [true]`), "
              f"workers 2, one run on a fresh store.\n")
        print("| binary | wall | run span in the store | ms a step | / the 2,000-step run's | "
              "peak RSS (ru_maxrss) | VmHWM polled | load |")
        print("|---|---|---|---|---|---|---|---|")
        for name, r in scale["results"].items():
            per = r["wall"] / scale["steps"]
            ratio = f"{per / base:.2f}x" if base and name == "new" else ""
            print(f"| {name} | {r['wall']:.1f} s | {r['span']:.1f} s | {1000 * per:.3f} | {ratio} | "
                  f"{r['maxrss'] / 1024:.1f} MiB | {r['hwm'] / 1024:.1f} MiB | "
                  f"{r['load'][0]} -> {r['load'][1]} |")
        # The per-step cost that the machine's load does not move: the process's own CPU.
        print("\n| binary | own CPU | own ms a step | / the 2,000-step split's | children CPU |")
        print("|---|---|---|---|---|")
        for name, r in scale["results"].items():
            own = r["own"] / scale["steps"]
            contender = "nightshift" if name == "new" else "old"
            ratio = ""
            if splits and contender in splits:
                ratio = f"{own / (splits[contender]['own'] / dag['steps']):.2f}x"
            print(f"| {name} | {r['own']:.1f} s | {1000 * own:.3f} | {ratio} | "
                  f"{r['children']:.1f} s |")
        print("\nVmRSS over the run (s: MiB, own CPU s):\n```")
        for name, r in scale["results"].items():
            print(f"{name}: " + " ".join(f"{t:.0f}:{k / 1024:.0f},{c:.0f}"
                                         for t, k, c in r["trace"]))
        print("```\n")


# ---------------------------------------------------------------- main


def main(argv=None):
    """Runs the three benchmarks and prints the report."""
    args = parse_args(argv)
    check_tools(args)
    args.load_start = os.getloadavg()[0]
    args.load_start_all = loadavg()
    tmp = tempfile.mkdtemp(prefix="nightshift-bench-")
    shm_tmp = tempfile.mkdtemp(prefix="nightshift-bench-", dir=SHM)
    try:
        snapshot_binary(args, tmp)
        legacy = (set(args.dag_tools) == {"nightshift", "ninja", "make", "nightshift_shm"}
                  and not args.nightshift_old and {"dag", "makespan", "rss"} <= args.only)
        if legacy:  # the original three benchmarks and their report
            dag = bench_dag(args, tmp, shm_tmp)
            summary = dag_summary(dag)
            profile = None
            if summary["nightshift"]["wall"] / summary["ninja"]["wall"] > DAG_GOAL:
                progress("dag over the goal: profiling runs (strace, CPU split)")
                profile = profile_dag(args, dag, tmp)
            makespan = bench_makespan(args, tmp, shm_tmp)
            rss = bench_rss(args, tmp)
            report(args, dag, profile, makespan, rss, mount_of(tmp))
            scale = bench_scale(args, tmp) if "scale" in args.only else None
            if scale:
                report_any(args, dag, None, None, scale)
            return 0
        dag = bench_dag(args, tmp, shm_tmp) if "dag" in args.only else None
        splits = cpu_splits(args, dag, tmp) if dag else None
        makespan = bench_makespan(args, tmp, shm_tmp) if "makespan" in args.only else None
        scale = bench_scale(args, tmp) if "scale" in args.only else None
        report_any(args, dag, splits, makespan, scale)
        if "rss" in args.only:
            rss = bench_rss(args, tmp)
            print(f"Peak RSS, a step writes {rss['size']} B to its log: ru_maxrss "
                  + " ".join(str(r["maxrss"]) for r in rss["big"]) + " KiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm_tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
