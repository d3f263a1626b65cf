#!/usr/bin/env python3
"""Memory per log request: the daemon's RSS with clients that ask for a long
step log and never read the answer (issue #12).

    bench/log_memory.py [--nightshift build/daemon/nightshift] [--baseline OTHER_BINARY]
                        [--clients 30] [--size 13500000]

For each binary: a daemon (SQLite store, 127.0.0.1, a free port) runs a job
whose one step cats a file of --size random bytes, so its log is that long.
Then, for a plain GET .../log and for follow=true in turn: VmRSS of the daemon
(/proc/PID/status), --clients sockets that send the request and never recv
(a 4 KiB receive buffer), a wait until each socket has answer bytes queued
(FIONREAD: the daemon is answering all of them), 2 s to settle, VmRSS again.
The clients are closed before the next mode. Prints a Markdown table on
stdout, progress on stderr. Every daemon is stopped by its PID; every wait is
bounded; everything lives in a temporary folder, removed at the end. Python 3
standard library only; never part of the test suite.
"""

import argparse
import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request

from benchlib import REPO, progress

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def get(url, method="GET", timeout=10):
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with OPENER.open(request, timeout=timeout) as r:
        return r.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s: {what}")


def queued(sock):
    buf = bytearray(4)
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def measure(binary, args, tmp):
    project = tempfile.mkdtemp(dir=tmp)
    os.makedirs(os.path.join(project, "jobs.d"))
    data = os.path.join(project, "data.bin")
    rng = random.Random(1)
    with open(data, "wb") as f:
        left = args.size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    port = free_port()
    with open(os.path.join(project, "nightshift.yaml"), "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\njobs_dir: jobs.d\nlog_dir: var/logs\n"
                "state: sqlite:var/nightshift.db\nshutdown_grace: 2s\n")
    with open(os.path.join(project, "jobs.d", "big.yaml"), "w") as f:
        f.write(f'job: big\nsteps:\n  s: {{ command: [cat, "{data}"] }}\n')
    url = f"http://127.0.0.1:{port}"
    err = open(os.path.join(project, "daemon.log"), "wb")
    daemon = subprocess.Popen([binary, "serve", "--config", os.path.join(project, "nightshift.yaml")],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                              cwd=project)
    results = {}
    try:
        wait(lambda: get(url + "/healthz"), 30, "/healthz")
        import json
        run_id = json.loads(get(url + "/jobs/big/rerun", "POST"))["run_id"]
        wait(lambda: json.loads(get(f"{url}/runs/{run_id}"))["status"] == "succeeded", 120,
             "the run to succeed")
        for mode, query in (("plain", ""), ("follow=true", "?follow=true")):
            time.sleep(1)
            before = rss_kib(daemon.pid)
            clients = []
            try:
                for _ in range(args.clients):
                    s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.sendall(f"GET /runs/{run_id}/steps/s/log{query} HTTP/1.1\r\n"
                              "Host: bench\r\n\r\n".encode())
                    clients.append(s)
                wait(lambda: all(queued(s) > 0 for s in clients), 60,
                     "every client to have answer bytes queued")
                time.sleep(2)
                after = rss_kib(daemon.pid)
            finally:
                for s in clients:
                    s.close()
            results[mode] = (before, after)
            progress(f"{os.path.basename(binary)} {mode}: {before} KiB -> {after} KiB")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        err.close()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nightshift", default=os.path.join(REPO, "build", "daemon", "nightshift"))
    parser.add_argument("--baseline", help="another binary to measure the same way (e.g. main's)")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--size", type=int, default=13_500_000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="nightshift-log-memory-")
    try:
        binaries = [("this build", os.path.abspath(args.nightshift))]
        if args.baseline:
            binaries.insert(0, ("baseline", os.path.abspath(args.baseline)))
        rows = []
        for name, binary in binaries:
            for mode, (before, after) in measure(binary, args, tmp).items():
                rows.append((name, mode, before, after))
        print(f"{args.clients} clients that never read a {args.size:,}-byte log:\n")
        print("| binary | request | RSS before | RSS with the clients | per client |")
        print("|---|---|---|---|---|")
        for name, mode, before, after in rows:
            per = (after - before) / args.clients
            print(f"| {name} | {mode} | {before / 1024:.1f} MiB | {after / 1024:.1f} MiB | "
                  f"{per:,.0f} KiB |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
