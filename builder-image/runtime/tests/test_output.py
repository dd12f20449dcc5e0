"""Tests of the output relays: raw writes of model code never break the server's JSON log lines."""

import json
import logging
import os
import subprocess
import sys
import threading
import time
import unittest

from tests.support import RUNTIME_DIR

SCRIPT = r"""
import logging, os, sys
from cortex_s2i_runtime import jsonlog, output
output.capture()
handler = output.LogHandler()
handler.setFormatter(jsonlog.JsonFormatter())
log = logging.getLogger("cortex_s2i.test")
log.addHandler(handler)
log.setLevel(logging.INFO)
sys.stderr.write("partial")          # no newline, Python level
jsonlog.log_event(log, "request", status=200)
os.write(2, b"x")                    # no newline, descriptor level
jsonlog.log_event(log, "request", status=201)
print("hello from the model")
print('{"already": "json"}')
os.write(1, b"y" * 100000)
output.release()
"""

THREADED = r"""
import logging, sys, threading
from cortex_s2i_runtime import jsonlog, output
handler = output.LogHandler()
handler.setFormatter(jsonlog.JsonFormatter())
log = logging.getLogger("cortex_s2i.test")
log.addHandler(handler)
log.propagate = False
log.setLevel(logging.INFO)

def write(thread):
    for n in range(300):
        # Lines over PIPE_BUF go out in several writes; short ones from other threads must
        # never land between those pieces.
        jsonlog.log_event(log, "request", thread=thread, n=n,
                          pad="x" * (20000 if n % 3 == 0 else 100))

threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
for t in threads: t.start()
for t in threads: t.join()
"""


class OutputTest(unittest.TestCase):
    def test_log_lines_written_from_many_threads_stay_whole(self):
        done = subprocess.run([sys.executable, "-c", THREADED], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = [json.loads(line) for line in done.stderr.splitlines()]
        self.assertEqual(sorted((line["thread"], line["n"]) for line in lines),
                         [(t, n) for t in range(8) for n in range(300)])

    def test_raw_writes_become_lines_of_their_own_and_log_lines_stay_whole(self):
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        err = [json.loads(line) for line in done.stderr.splitlines()]
        out = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertEqual([line["status"] for line in err if line.get("event") == "request"],
                         [200, 201])
        raw = "".join(line["message"] for line in err if line.get("logger") == "output")
        self.assertEqual(raw, "partialx")
        self.assertEqual({line.get("stream") for line in err if "stream" in line}, {"stderr"})
        self.assertEqual(out[0]["message"], "hello from the model")
        self.assertEqual(out[1], {"already": "json"})
        long_pieces = [line["message"] for line in out[2:]]
        self.assertEqual("".join(long_pieces), "y" * 100000)
        self.assertGreater(len(long_pieces), 1)  # cut, never one unbounded line

    def test_waiting_lines_go_out_together_in_order_never_past_pipe_buf_in_one_write(self):
        from cortex_s2i_runtime import output
        writes = []
        original = output._write_all
        output._write_all = lambda fd, data: writes.append(bytes(data))
        self.addCleanup(setattr, output, "_write_all", original)
        lines = [b"%d %s\n" % (n, b"x" * (6000 if n == 5 else 300)) for n in range(20)]
        # Held by "another thread": the lines wait, then one flush writes them all.
        with output._writing:
            for line in lines:
                output._send(line)
            self.assertEqual(writes, [])
        output.flush_lines()
        self.assertEqual(b"".join(writes), b"".join(lines))
        self.assertLess(len(writes), len(lines))
        for data in writes:
            # Several lines only within PIPE_BUF; the long line alone.
            self.assertTrue(len(data) <= output._PIPE_BUF or data.count(b"\n") == 1, data[:20])
        output._send(b"alone\n")  # nobody writing: written at once
        self.assertEqual(writes[-1], b"alone\n")

    def test_without_capture_the_handler_writes_to_stderr(self):
        script = ("import logging\nfrom cortex_s2i_runtime import output\n"
                  "h = output.LogHandler()\nlogging.getLogger('x').addHandler(h)\n"
                  "logging.getLogger('x').warning('plain')\n")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), timeout=60)
        self.assertEqual(done.stderr, "plain\n")


if __name__ == "__main__":
    unittest.main()


DIRECT = r"""
import json, logging, os, sys
from cortex_s2i_runtime import jsonlog, output
made = []
factory = logging.getLogRecordFactory()
def counting(*args, **kwargs):
    made.append(args[0])
    return factory(*args, **kwargs)
logging.setLogRecordFactory(counting)
handler = output.LogHandler()
handler.setFormatter(jsonlog.JsonFormatter())
parent = logging.getLogger("cortex_s2i")
parent.addHandler(handler)
parent.setLevel(logging.INFO)
parent.propagate = False
log = logging.getLogger("cortex_s2i.predict")
jsonlog.log_event(log, "request", request_id="r1", status=200, message="not the message")
jsonlog.log_event(log, "request", level=logging.DEBUG, status=1)   # below the level: nothing
handler.addFilter(lambda record: record.fields.get("status") != 404)
jsonlog.log_event(log, "request", status=404)                      # the filter drops it
jsonlog.log_event(log, "request", status=405)                      # through the filter
sys.stdout.write(json.dumps(made))
"""


class DirectLineTest(unittest.TestCase):
    def test_an_event_for_the_servers_handler_is_the_same_line_without_a_log_record(self):
        done = subprocess.run([sys.executable, "-c", DIRECT], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = [json.loads(line) for line in done.stderr.splitlines()]
        self.assertEqual([line["status"] for line in lines], [200, 405])
        first = lines[0]
        del first["time"]
        self.assertEqual(first, {"level": "info", "logger": "cortex_s2i.predict",
                                 "pid": first["pid"], "message": "request", "event": "request",
                                 "request_id": "r1", "status": 200})
        self.assertIsInstance(first["pid"], int)
        # Only the filtered handler's events needed a LogRecord (the filter reads it).
        self.assertEqual(json.loads(done.stdout), ["cortex_s2i.predict", "cortex_s2i.predict"])


class AccessBufferTest(unittest.TestCase):
    """ACCESS_LOG_FLUSH: access lines wait to share a write; nothing is lost or reordered."""

    def setUp(self):
        from cortex_s2i_runtime import jsonlog, output
        self.output, self.jsonlog = output, jsonlog
        self.writes = []
        self.written = threading.Condition()

        def record(fd, data):
            with self.written:
                self.writes.append(bytes(data))
                self.written.notify_all()
        original = output._write_all
        output._write_all = record
        self.addCleanup(setattr, output, "_write_all", original)
        self.addCleanup(output.configure, 0)  # runs first: writes what a test left waiting
        handler = output.LogHandler()
        handler.setFormatter(jsonlog.JsonFormatter())
        self.log = logging.getLogger("cortex_s2i.test_access_buffer")
        self.log.addHandler(handler)
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.addCleanup(self.log.removeHandler, handler)

    def access(self, **fields):
        self.jsonlog.log_access(self.log, "request", **fields)

    def lines(self):
        with self.written:
            return [json.loads(line) for line in b"".join(self.writes).splitlines()]

    def test_with_0_each_access_line_is_written_at_once(self):
        self.output.configure(0)
        self.access(n=1)
        self.assertEqual(len(self.writes), 1)
        self.access(n=2)
        self.assertEqual([line["n"] for line in self.lines()], [1, 2])
        self.assertEqual(len(self.writes), 2)

    def test_waiting_lines_are_written_together_once_the_oldest_is_due_without_traffic(self):
        self.output.configure(0.3)
        started = time.monotonic()
        for n in range(3):
            self.access(n=n)
        self.assertEqual(self.writes, [])  # held
        with self.written:
            self.assertTrue(self.written.wait_for(lambda: self.writes, timeout=10))
        waited = time.monotonic() - started
        self.assertGreaterEqual(waited, 0.25)
        self.assertEqual(len(self.writes), 1)  # all three in one write
        self.assertEqual([line["n"] for line in self.lines()], [0, 1, 2])
        # Then idle: the flush thread waits for a line, with no deadline to wake up for.
        deadline = time.monotonic() + 5
        while not self.output._flusher_idle and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertTrue(self.output._flusher_idle)
        self.access(n=3)  # a new first line arms the timed flush again
        with self.written:
            self.assertTrue(self.written.wait_for(lambda: len(self.writes) == 2, timeout=10))
        self.assertEqual([line["n"] for line in self.lines()], [0, 1, 2, 3])

    def test_any_other_line_sends_the_waiting_access_lines_before_it(self):
        self.output.configure(60)
        self.access(n=1)
        self.access(n=2)
        self.assertEqual(self.writes, [])
        self.jsonlog.log_event(self.log, "request_failed", level=logging.ERROR, n=3)
        self.access(n=4)
        try:
            raise ValueError("boom")
        except ValueError:
            self.log.exception("with a record and a traceback")  # LogHandler.emit's path
        self.access(n=6)
        self.log.warning("plain record")
        self.assertEqual([line.get("n", line["message"]) for line in self.lines()],
                         [1, 2, 3, 4, "with a record and a traceback", 6, "plain record"])

    def test_a_write_of_access_lines_is_full_but_never_past_pipe_buf(self):
        self.output.configure(60)
        pad = "x" * 200
        for n in range(100):
            self.access(n=n, pad=pad)
        self.access(n=100, pad="y" * 6000)  # longer than PIPE_BUF: alone
        self.output.flush_lines()
        self.assertEqual([line["n"] for line in self.lines()], list(range(101)))
        size = len(self.writes[0]) // self.writes[0].count(b"\n")
        for data in self.writes[:-2]:
            self.assertLessEqual(len(data), self.output._PIPE_BUF)
            self.assertGreater(len(data) + size, self.output._PIPE_BUF)  # the next did not fit
        self.assertEqual(self.writes[-1].count(b"\n"), 1)
        self.assertIn(b"y" * 6000, self.writes[-1])

    def test_access_lines_from_many_threads_stay_whole_in_order_within_pipe_buf(self):
        self.output.configure(60)

        def write(thread):
            for n in range(300):
                self.access(thread=thread, n=n, pad="x" * (17 * n % 900))
                if n % 50 == 0:
                    self.jsonlog.log_event(self.log, "other", thread=thread, n=n)
        threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.output.flush_lines()
        for data in self.writes:
            self.assertLessEqual(len(data), self.output._PIPE_BUF)
        lines = self.lines()
        for t in range(8):
            mine = [(line["message"], line["n"]) for line in lines if line["thread"] == t]
            expected = []
            for n in range(300):
                expected.append(("request", n))
                if n % 50 == 0:
                    expected.append(("other", n))
            self.assertEqual(mine, expected)
        self.assertLess(len(self.writes), len(lines) / 4)


EXITS = r"""
import logging, logging.config, os, sys
from cortex_s2i_runtime import jsonlog, output, serve
logging.config.dictConfig(serve.logging_config("info"))
output.configure(60)
log = logging.getLogger("cortex_s2i.predict")

class App:
    abandoned_calls = int(sys.argv[2])

class Worker:
    wsgi = App()

jsonlog.log_access(log, "request", n=1)
jsonlog.log_access(log, "request", n=2)
if sys.argv[1] == "fork":
    child = os.fork()
    if child == 0:
        jsonlog.log_access(log, "request", n=3)  # the parent's lines are not the child's
        serve.worker_exit(None, Worker())
        os._exit(0)
    os.waitpid(child, 0)
    jsonlog.log_access(log, "request", n=4)
elif sys.argv[1] == "worker_exit":
    serve.worker_exit(None, Worker())
    os._exit(0)  # no interpreter exit: worker_exit alone must have written them
# else: a plain exit, where logging.shutdown flushes the handler
"""


class AccessBufferExitTest(unittest.TestCase):
    def run_script(self, *args):
        done = subprocess.run([sys.executable, "-c", EXITS] + list(args), capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=RUNTIME_DIR), timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return [json.loads(line) for line in done.stderr.splitlines()]

    def test_a_plain_exit_writes_the_waiting_access_lines(self):
        self.assertEqual([line["n"] for line in self.run_script("exit", "0")], [1, 2])

    def test_a_stopping_worker_writes_its_access_lines_before_its_last_line(self):
        for abandoned in ("0", "2"):  # the drain after SIGTERM; a worker replaced (os._exit)
            with self.subTest(abandoned_calls=abandoned):
                lines = self.run_script("worker_exit", abandoned)
                self.assertEqual([line.get("n", line["event"]) for line in lines],
                                 [1, 2, "worker_stopped"])

    def test_a_forked_worker_starts_with_no_lines_of_its_parent(self):
        lines = self.run_script("fork", "0")
        self.assertEqual([line.get("n", line["event"]) for line in lines],
                         [3, "worker_stopped", 1, 2, 4])
