#!/usr/bin/env python3
"""The time a worker stands idle between one step and the next.

For each step's process, the time from the exit of a process (the kernel's
sched_process_exit) to the exec of the next one (sched_process_exec) of the
same program, as `perf record -a` sees them: what the engine adds between an
exit and the next start (reaping, the commits, the log file, spawning), plus
what any spawner pays (the child's exit and exec in the kernel). The spawn
floor (engine_bench's bare posix_spawn list schedule of the same DAG) gives
the second part alone.

  bench/spawn_gap.py [--nightshift BIN ...] [--dag makespan|layered] [--floor]

Needs perf and the right to trace (root, or kernel.perf_event_paranoid <= -1).
Each nightshift binary runs once untimed first, on a store it keeps.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_bench as eb  # noqa: E402  (the DAGs, the projects and the floor)

EVENTS = "sched:sched_process_exec,sched:sched_process_exit"


def traced_events(argv, cwd, perf_data, program):
    """(time, 'exit'|'exec') of `program`'s processes while argv runs."""
    subprocess.run(["perf", "record", "-q", "-a", "-e", EVENTS, "-o", perf_data, "--"] + argv,
                   cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    text = subprocess.run(["perf", "script", "-i", perf_data, "-F", "time,event,trace"],
                          capture_output=True, text=True, check=True).stdout
    events = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or not fields[0].endswith(":"):
            continue
        at = float(fields[0][:-1])
        if fields[1].startswith("sched:sched_process_exec"):
            filename = line.split("filename=", 1)[1].split()[0]
            if os.path.basename(filename) == program:
                events.append((at, "exec"))
        elif fields[1].startswith("sched:sched_process_exit") and f"comm={program} " in line:
            events.append((at, "exit"))
    return sorted(events)


def gaps_ms(events):
    """Each exec paired with the oldest exit not yet followed by one: a freed worker refilled."""
    pending, gaps = [], []
    for at, kind in events:
        if kind == "exit":
            pending.append(at)
        elif pending:
            gaps.append((at - pending.pop(0)) * 1000)
    return sorted(gaps)


def summary(name, gaps):
    n = len(gaps)
    return (f"| {name} | {n} | {statistics.median(gaps):.2f} | {gaps[n // 10]:.2f} | "
            f"{gaps[9 * n // 10]:.2f} | {statistics.mean(gaps):.2f} | {sum(gaps) / 1000:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", action="append", default=[],
                        help="a nightshift binary (repeat to compare builds)")
    parser.add_argument("--dag", choices=["makespan", "layered"], default="makespan",
                        help="200 x `sleep 0.05` (seeded) or 2,000 x `true` in 20 layers")
    parser.add_argument("--floor", action="store_true", help="also the bare spawn floor")
    args = parser.parse_args()
    if args.dag == "makespan":
        steps, argv = eb.random_dag(200), ["sleep", "0.05"]
    else:
        steps, argv = eb.layered_dag(20, 100), ["true"]
    tmp = tempfile.mkdtemp(prefix="nightshift-spawn-gap-")
    try:
        print(f"exit-to-exec gaps of `{' '.join(argv)}`, {len(steps)} steps, workers 2 (ms); "
              f"load {eb.loadavg()} at the start\n")
        print("| contender | gaps | median | p10 | p90 | mean | sum (s) |")
        print("|---|---|---|---|---|---|---|")
        for i, binary in enumerate(os.path.abspath(b) for b in args.nightshift):
            project = eb.Project(os.path.join(tmp, f"ns{i}"), "gap", steps, argv, history=True)
            subprocess.run(project.argv(binary), cwd=project.root, stdout=subprocess.DEVNULL,
                           check=True)  # warm-up: the store's history, the page cache
            events = traced_events(project.argv(binary), project.root,
                                   os.path.join(tmp, f"ns{i}.data"), argv[0])
            print(summary(binary, gaps_ms(events)), flush=True)
        if args.floor:
            floor = os.path.join(tmp, "floor")
            os.makedirs(floor)
            eb.write(os.path.join(floor, "floor.c"), eb.FLOOR_DAG_C)
            index = {name: i for i, (name, _) in enumerate(steps)}
            eb.write(os.path.join(floor, "dag.txt"),
                     "".join(f"{len(deps)} {' '.join(str(index[d]) for d in deps)}\n"
                             for _, deps in steps))
            subprocess.run(["cc", "-O2", "-o", os.path.join(floor, "floor"),
                            os.path.join(floor, "floor.c")], check=True)
            events = traced_events([os.path.join(floor, "floor"), "dag.txt", "2"] + argv, floor,
                                   os.path.join(tmp, "floor.data"), argv[0])
            print(summary("floor (bare posix_spawn)", gaps_ms(events)))
        print(f"\nload {eb.loadavg()} at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
