"""The daemon as a service: its sd_notify(3) messages to a service manager
(READY=1, the watchdog's WATCHDOG=1 pings, RELOADING=1/READY=1 around a
reload, STOPPING=1), read from a NOTIFY_SOCKET this test binds as systemd
would; and the reaping of what steps leave behind, as the subreaper of its
steps' orphans (a container's PID 1 must do the same). Time bounds only
catch hangs."""

import os
import socket
import time

from harness import NIGHTSHIFT, Daemon, DaemonTest, main, signal, subprocess, wait_for


def proc_stat(pid):
    """(state, ppid) of a process, or None once it is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def read_pid(path):
    with open(path) as f:
        return int(f.read())


def zombie_children(pid):
    """The pids of `pid`'s children that are zombies."""
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat and stat[1] == pid and stat[0] == "Z":
                zombies.append(int(entry))
    return zombies


class NotifySocket:
    """A datagram socket where the daemon sends its notifications."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # each a dict of its KEY=VALUE lines

    def close(self):
        self.sock.close()

    def next(self, timeout=30):
        """The next message, as a dict."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        message = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        self.messages.append(message)
        return message

    def wait_for(self, key, timeout=30, skip_watchdog=True):
        """Reads until a message with `key` comes; fails on any other message
        on the way (watchdog pings aside)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.1, deadline - time.monotonic()))
            if key in message:
                return message
            if skip_watchdog and list(message) == ["WATCHDOG"]:
                continue
            raise AssertionError(f"expected {key}, got {message}")


class NotifyTest(DaemonTest):
    project_args = {"extra_config": "shutdown_grace: 2s\n"}

    def setUp(self):
        super().setUp()
        self.project.job("hello", """\
            job: hello
            schedule: "0 3 * * *"
            steps:
              s: { shell: 'true' }
            """)
        self.notify = NotifySocket(self.project.path("notify.sock"))

    def tearDown(self):
        super().tearDown()
        self.notify.close()

    def start(self, **env):
        env.setdefault("NOTIFY_SOCKET", self.notify.path)
        self.daemon = Daemon(self.project,
                             wrapper=["env", *(f"{k}={v}" for k, v in env.items())])
        self.daemon.start()

    def test_ready_watchdog_reload_and_stopping(self):
        self.start(WATCHDOG_USEC="400000")
        ready = self.notify.wait_for("READY")
        self.assertEqual(ready["READY"], "1")
        self.assertEqual(ready.get("STATUS"), "serving 1 jobs")

        # Pings at half of WATCHDOG_USEC, from a timer on the io loop.
        for _ in range(3):
            self.assertEqual(self.notify.next(), {"WATCHDOG": "1"})

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.daemon.send_signal(signal.SIGHUP)
        reloading = self.notify.wait_for("RELOADING")
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(reloading["RELOADING"], "1")
        self.assertTrue(before <= int(reloading["MONOTONIC_USEC"]) <= after, reloading)
        self.assertEqual(self.notify.wait_for("READY").get("STATUS"), "serving 1 jobs")

        # POST /reload says the same; a refused reload is ready again with the old jobs.
        self.project.write("jobs.d/broken.yaml", "job: broken\nsteps: {}\nnope: 1\n")
        self.assertEqual(self.daemon.post("/reload").status, 422)
        self.notify.wait_for("RELOADING")
        refused = self.notify.wait_for("READY")
        self.assertTrue(refused.get("STATUS", "").startswith("reload refused: "), refused)

        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.notify.wait_for("STOPPING")["STOPPING"], "1")
        self.assertEqual(self.daemon.proc.wait(30), 0)

    def test_no_pings_without_a_watchdog_or_for_another_pid(self):
        # WATCHDOG_PID names another process: the watchdog is not ours to feed.
        self.start(WATCHDOG_USEC="100000", WATCHDOG_PID="1")
        self.notify.wait_for("READY", skip_watchdog=False)
        # Twenty ping periods; any ping is a failure (a wait that can only pass late).
        try:
            message = self.notify.next(timeout=1.0)
        except socket.timeout:
            message = None
        self.assertIsNone(message)
        self.daemon.send_signal(signal.SIGTERM)
        self.notify.wait_for("STOPPING", skip_watchdog=False)
        self.assertEqual(self.daemon.proc.wait(30), 0)


class OrphanTest(DaemonTest):
    """The daemon is the subreaper of its steps: what a step leaves running
    becomes its child when the step's shell exits, and is reaped when it ends."""

    project_args = {"extra_config": "shutdown_grace: 2s\n"}

    def test_a_step_that_leaves_children_leaves_no_zombie(self):
        group_pid = self.project.path("group.pid")
        escaped_pid = self.project.path("escaped.pid")
        release = self.project.path("release")
        # One child in the step's group (killed with the group when the shell
        # exits) and one that escapes it with setsid and lives on until told.
        # The escapee writes its PID once it is in its own session, and the
        # step waits for that: the group is killed the moment the step's shell
        # exits, and a child that has not called setsid yet goes with it.
        self.project.job("orphans", f"""\
            job: orphans
            steps:
              s:
                shell: |
                  sleep 300 & echo $! > {group_pid}
                  setsid sh -c 'echo $$ > {escaped_pid}; while [ ! -e {release} ]; do sleep 0.1; done' &
                  while [ ! -s {escaped_pid} ]; do sleep 0.01; done
                  exit 0
            """)
        self.daemon.start()
        run_id = self.daemon.post("/jobs/orphans/rerun").json["run_id"]
        self.assertEqual(self.daemon.wait_for_run(run_id)["status"], "succeeded")

        escaped = read_pid(escaped_pid)
        killed = read_pid(group_pid)
        # The escapee's parent is gone: the daemon adopted it (PR_SET_CHILD_SUBREAPER).
        stat = proc_stat(escaped)
        self.assertIsNotNone(stat, "the escaped child ended before it was told to")
        self.assertEqual(stat[1], self.daemon.pid, f"parent of the escaped child: {stat}")
        # The group's sleep was killed with the group: reaped, not a zombie.
        wait_for(lambda: proc_stat(killed) is None, 30,
                 f"the killed group child {killed} to be reaped: {proc_stat(killed)}")

        open(release, "w").close()
        wait_for(lambda: proc_stat(escaped) is None, 30,
                 f"the escaped child {escaped} to end and be reaped: {proc_stat(escaped)}")
        self.assertEqual(zombie_children(self.daemon.pid), [])
        self.assertEqual(self.daemon.stop(), 0)


class HealthTest(DaemonTest):
    """`nightshift health`: the image's HEALTHCHECK, without curl."""

    def test_health_and_ready_probes(self):
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'true' }
            """)
        self.daemon.start()
        for args, said in (([], "alive"), (["--ready"], "ready")):
            result = subprocess.run([NIGHTSHIFT, "health", *args, "--url", self.daemon.url],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual((result.returncode, result.stdout), (0, said + "\n"), result.stderr)
        url = self.daemon.url
        self.assertEqual(self.daemon.stop(), 0)
        result = subprocess.run([NIGHTSHIFT, "health", "--url", url], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot reach nightshift", result.stderr)


if __name__ == "__main__":
    main()
