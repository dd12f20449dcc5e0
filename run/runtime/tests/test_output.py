"""Tests of the output relays: raw writes of model code never break the server's JSON log lines."""

import json
import os
import subprocess
import sys
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
