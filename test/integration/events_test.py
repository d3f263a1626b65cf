"""GET /events (Server-Sent Events) through the real daemon: the run, step and
job events arrive in the order they are stored, each once the store has it,
and the stream ends when the daemon drains. Time bounds only catch hangs."""

import http.client
import json
import os
import queue
import socket
import threading

from harness import DaemonTest, main, signal, wait_for

FAST_STOP = {"extra_config": "shutdown_grace: 2s\n"}

# The end of the stream, as the reader thread reports it.
END = object()


class EventStream:
    """GET /events read on a thread of its own, frame by frame. For the final
    state of a step or run, it reads GET /runs/{id} right as the event
    arrives, to show what the store held by then."""

    FINAL_STEP = {"succeeded", "failed", "timed_out", "cancelled", "upstream_failed"}
    FINAL_RUN = {"succeeded", "failed", "cancelled"}

    def __init__(self, daemon, path="/events"):
        self.daemon = daemon
        # http.client rather than urllib: close() needs the socket, to end a
        # read that waits for the next event.
        self.connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
        self.connection.request("GET", path)
        self.sock = self.connection.sock  # the response takes it over: the stream closes the connection
        self.response = self.connection.getresponse()
        self.events = queue.Queue()
        self.comments = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            frame = {}
            while True:
                line = self.response.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\n")
                if line == "":
                    if "event" in frame:
                        self._dispatch(frame)
                    frame = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                else:
                    field, _, value = line.partition(": ")
                    frame[field] = value
        except Exception as e:  # the test sees it as the stream's end
            self.events.put(e)
        self.events.put(END)

    def _dispatch(self, frame):
        event = {"id": int(frame["id"]), "type": frame["event"], "data": json.loads(frame["data"])}
        data = event["data"]
        if event["type"] == "step" and data["status"] in self.FINAL_STEP and not data.get("will_retry"):
            steps = {s["step"]: s for s in self.daemon.run_json(data["run_id"])["steps"]}
            event["stored"] = steps[data["step"]]["status"]
        elif event["type"] == "run" and data["status"] in self.FINAL_RUN:
            event["stored"] = self.daemon.run_json(data["run_id"])["status"]
        self.events.put(event)

    def next(self, timeout=30):
        item = self.events.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def until(self, predicate, timeout=30):
        """Every event up to and including the first one that satisfies predicate."""
        seen = []
        while True:
            event = self.next(timeout)
            if event is END:
                raise AssertionError(f"the stream ended first; seen: {seen}")
            seen.append(event)
            if predicate(event):
                return seen

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the daemon closed it already
        self.thread.join(10)
        self.response.close()
        self.connection.close()


def short(event):
    """"run queued", "step extract running 1", "job hello loaded": for messages and order checks."""
    d = event["data"]
    if event["type"] == "run":
        return f"run {d['status']}"
    if event["type"] == "step":
        text = f"step {d['step']} {d['status']} {d['attempt']}"
        return text + (" retry" if d.get("will_retry") else "")
    return f"job {d['job']} {d['status']}"


class EventsTest(DaemonTest):
    project_args = FAST_STOP

    def setUp(self):
        super().setUp()
        self.project.job("pipe", """\
            job: pipe
            steps:
              extract: { shell: 'echo extracting; exit 3', retries: 1, retry_delay: 100ms }
              load: { shell: 'true', depends_on: [extract] }
              side: { shell: 'true' }
            """)
        self.project.job("hello", """\
            job: hello
            steps:
              s: { shell: 'true' }
            """)

    def test_a_run_streams_its_changes_in_order_each_once_stored_and_sigterm_ends_it(self):
        self.daemon.start()
        stream = EventStream(self.daemon)
        try:
            self.assertEqual(stream.response.status, 200)
            self.assertEqual(stream.response.headers["Content-Type"], "text/event-stream")
            self.assertEqual(stream.response.headers["Cache-Control"], "no-cache")
            answer = self.daemon.post("/jobs/pipe/rerun")
            self.assertEqual(answer.status, 202, answer)
            run_id = answer.json["run_id"]
            events = stream.until(lambda e: e["type"] == "run" and e["data"]["status"] == "failed")
            order = [short(e) for e in events]

            # Ids increase by one; every event is of this run, with its fields.
            self.assertEqual([e["id"] for e in events], list(range(events[0]["id"], events[0]["id"] + len(events))))
            for e in events:
                self.assertEqual(e["data"]["run_id"], run_id, e)
                self.assertEqual(e["data"]["job"], "pipe", e)
                self.assertRegex(e["data"]["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
                if e["type"] == "step":
                    self.assertIsInstance(e["data"]["attempt"], int)

            def at(text):
                self.assertIn(text, order)
                return order.index(text)

            self.assertEqual(order[:2], ["run queued", "run running"], order)
            self.assertEqual(order[-1], "run failed", order)
            # extract: attempt 1 fails and is retried, attempt 2 fails for good.
            self.assertLess(at("step extract ready 0"), at("step extract running 1"))
            self.assertLess(at("step extract running 1"), at("step extract failed 1 retry"))
            self.assertLess(at("step extract failed 1 retry"), at("step extract running 2"))
            self.assertLess(at("step extract running 2"), at("step extract failed 2"))
            # Its downstream never runs; the independent step does.
            self.assertLess(at("step extract failed 2"), at("step load upstream_failed 0"))
            self.assertNotIn("step load running 1", order)
            self.assertLess(at("step side running 1"), at("step side succeeded 1"))
            self.assertEqual(len(order), len(set(order)), f"an event came twice: {order}")
            failed = next(e for e in events if short(e) == "step extract failed 2")
            self.assertEqual(failed["data"]["exit_code"], 3)
            self.assertIs(failed["data"]["will_retry"], False)

            # Each final state was in the store when its event came.
            for e in events:
                if "stored" in e:
                    self.assertEqual(e["stored"], e["data"]["status"], short(e))
            self.assertEqual(sum("stored" in e for e in events), 4)  # extract, load, side, the run

            # SIGTERM: the daemon drains, the stream ends, the daemon exits.
            self.daemon.send_signal(signal.SIGTERM)
            rest = []
            while True:
                event = stream.next(timeout=20)
                if event is END:
                    break
                rest.append(event)
            self.assertEqual(rest, [], "no change was stored after the run ended")
            # Not stop(): a second SIGTERM could land while the process exits.
            self.assertEqual(self.daemon.proc.wait(timeout=20), 0)
        finally:
            stream.close()

    def test_a_reload_sends_a_job_event_per_job_and_one_for_a_removed_job(self):
        self.daemon.start()
        stream = EventStream(self.daemon)
        try:
            self.project.job("extra", """\
                job: extra
                steps:
                  s: { shell: 'true' }
                """)
            os.remove(self.project.path("jobs.d", "hello.yaml"))
            self.assertEqual(self.daemon.post("/reload").status, 200)
            events = stream.until(lambda e: short(e) == "job pipe loaded")
            self.assertEqual(sorted(short(e) for e in events),
                             ["job extra loaded", "job hello removed", "job pipe loaded"])
            # A refused reload changes nothing: no event. A SIGHUP reload sends them too.
            self.project.write("jobs.d/broken.yaml", "job: [\n")
            self.assertEqual(self.daemon.post("/reload").status, 422)
            os.remove(self.project.path("jobs.d", "broken.yaml"))
            self.daemon.send_signal(signal.SIGHUP)
            events = stream.until(lambda e: short(e) == "job pipe loaded")
            self.assertEqual(sorted(short(e) for e in events), ["job extra loaded", "job pipe loaded"])
        finally:
            stream.close()

    def test_cancels_stream_the_steps_they_end_then_the_run_end(self):
        self.project.job("busy", """\
            job: busy
            schedule: "*/2 * * * * *"
            max_active_runs: 1
            steps:
              a: { shell: 'sleep 30', kill_grace: 1s }
              b: { shell: 'true', depends_on: [a] }
            """)
        self.daemon.start()
        stream = EventStream(self.daemon)
        try:
            running = stream.until(lambda e: short(e) == "run running")[-1]["data"]["run_id"]
            queued = stream.until(lambda e: short(e) == "run queued" and
                                  e["data"]["run_id"] != running)[-1]["data"]["run_id"]

            def of_run(run_id, events):
                return [short(e) for e in events if e["data"]["run_id"] == run_id]

            # A queued run: the scheduler ends its steps, then the run.
            self.assertEqual(self.daemon.post(f"/runs/{queued}/cancel").status, 202)
            events = stream.until(lambda e: short(e) == "run cancelled" and e["data"]["run_id"] == queued)
            self.assertEqual(of_run(queued, events), ["step a cancelled 0", "step b cancelled 0", "run cancelled"])
            # A running run: its step is stopped, its downstream cancelled, then the run ends.
            self.assertEqual(self.daemon.post(f"/runs/{running}/cancel").status, 202)
            events += stream.until(lambda e: short(e) == "run cancelled" and e["data"]["run_id"] == running)
            order = of_run(running, events)
            self.assertEqual(order[-1], "run cancelled", order)
            self.assertIn("step a cancelled 1", order)
            self.assertIn("step b cancelled 0", order)
            for e in events:
                if "stored" in e:
                    self.assertEqual(e["stored"], e["data"]["status"], short(e))
        finally:
            stream.close()

    def test_unknown_parameters_are_a_400_and_a_post_a_405(self):
        self.daemon.start()
        answer = self.daemon.get("/events?since=3")
        self.assertEqual(answer.status, 400, answer)
        self.assertIn("unknown parameter 'since'", answer.json["error"])
        answer = self.daemon.post("/events")
        self.assertEqual(answer.status, 405, answer)
        self.assertEqual(answer.headers["Allow"], "GET")

    def test_several_clients_get_the_same_events(self):
        self.daemon.start()
        streams = [EventStream(self.daemon) for _ in range(3)]
        try:
            self.daemon.post("/jobs/hello/rerun")
            seen = [[(e["id"], short(e)) for e in s.until(lambda e: short(e) == "run succeeded")]
                    for s in streams]
            self.assertEqual(seen[0], seen[1])
            self.assertEqual(seen[0], seen[2])
        finally:
            for s in streams:
                s.close()


if __name__ == "__main__":
    main()
