"""Tests of the whole server as the image runs it: gunicorn's master, uvicorn workers, on 127.0.0.1.

Each test starts `python3 -m cortex_s2i_runtime.serve` in a process of its own, bounded in time.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from tests.support import RUNTIME_DIR, UserCode
from tests.test_predict_server import parse_exposition

MODEL = """
    import os, time
    def predict(msg):
        if isinstance(msg, dict) and "sleep" in msg:
            time.sleep(msg["sleep"])
        return {"pid": os.getpid()}
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)
        self.model = self.code.module(MODEL)

    def environ(self, **extra):
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_DIR, self.code.root]),
                       ROUTES="m/predict:%s:predict" % self.model, PORT=str(free_port()),
                       TMPDIR=tempfile.gettempdir())
        environ.update(extra)
        return environ

    def start(self, **extra):
        environ = self.environ(**extra)
        process = subprocess.Popen([sys.executable, "-m", "cortex_s2i_runtime.serve"],
                                   env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)

        def stop():
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the master and its workers
            except ProcessLookupError:
                pass
            process.communicate(timeout=30)
        self.addCleanup(stop)
        port = int(environ["PORT"])
        until = time.monotonic() + 30
        while time.monotonic() < until:
            try:
                if self.get(port, "/ready")[0] == 200:
                    return process, port
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("the server never became ready")

    @staticmethod
    def get(port, path, body=None):
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                         headers={"Content-Type": "application/json",
                                                  "Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def stopped(self, process):
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        lines = [json.loads(line) for line in stderr.decode().splitlines()]  # all JSON
        return process.returncode, lines

    def test_bad_settings_or_routes_exit_2_with_one_json_line_naming_them(self):
        for extra, named in (({"PORT": "http"}, "PORT"), ({"ROUTES": "a:b"}, "'a:b'"),
                             ({"CORS_ORIGINS": "nope"}, "CORS_ORIGINS")):
            with self.subTest(named=named):
                environ = self.environ()
                environ.update(extra)
                done = subprocess.run([sys.executable, "-m", "cortex_s2i_runtime.serve"],
                                      env=environ, capture_output=True, text=True, timeout=60)
                self.assertEqual(done.returncode, 2)
                [line] = done.stderr.splitlines()
                self.assertEqual(json.loads(line)["event"], "config_error")
                self.assertIn(named, json.loads(line)["error"])
        done = subprocess.run([sys.executable, "-m", "cortex_s2i_runtime.serve", "--workers=3"],
                              env=self.environ(), capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        self.assertIn("unexpected argument", done.stderr)

    def test_two_workers_serve_count_together_and_stop_on_sigterm_leaving_nothing(self):
        before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
        process, port = self.start(WEB_CONCURRENCY="2")
        made = {name for name in (set(os.listdir("/dev/shm")) if before else set()) - before
                if name.startswith("cortex-s2i-server-")}
        ready = json.loads(self.get(port, "/ready")[1])
        self.assertEqual((ready["workers_ready"], ready["workers"]), (2, 2))
        pids = set()
        for _ in range(40):
            status, body = self.get(port, "/m/predict", b"[1]")
            self.assertEqual(status, 200)
            pids.add(json.loads(body)["payload"]["pid"])
        samples = parse_exposition(self.get(port, "/metrics")[1].decode())
        self.assertEqual(samples['cortex_s2i_requests_total{route="m/predict",status="200"}'], 40)
        self.assertEqual(samples['cortex_s2i_requests_total{route="ready",status="200"}'], 2)
        code, lines = self.stopped(process)
        self.assertEqual(code, 0)
        events = [line.get("event") for line in lines]
        self.assertEqual(events.count("worker_stopped"), 2)
        self.assertEqual(events[-1], "server_stopped")
        started = next(line for line in lines if line.get("event") == "server_started")
        self.assertEqual((started["workers"], started["routes"]), (2, ["m/predict"]))
        self.assertTrue({"gunicorn.error", "uvicorn.error", "cortex_s2i.predict"}
                        <= {line["logger"] for line in lines})
        if before:  # its shared state, metrics files included, went with it
            self.assertEqual(len(made), 1)
            self.assertFalse(made & set(os.listdir("/dev/shm")))
        served = {line["pid"] for line in lines if line.get("event") == "request"
                  and line.get("route") == "m/predict"}
        self.assertEqual(served, pids)  # the request lines say which worker answered

    def test_sigterm_lets_the_request_in_flight_finish_and_refuses_new_ones(self):
        process, port = self.start(WEB_CONCURRENCY="1")
        import threading
        answers = []
        slow = threading.Thread(target=lambda: answers.append(
            self.get(port, "/m/predict", b'{"sleep": 2}')))
        slow.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with self.assertRaises(OSError):
            self.get(port, "/health")
        slow.join(10)
        self.assertEqual(answers[0][0], 200)
        process.communicate(timeout=30)
        self.assertEqual(process.returncode, 0)

    def test_a_route_that_cannot_load_stops_the_server_and_its_last_line_says_why(self):
        broken = self.code.module("raise ImportError('libgomp.so.1: cannot open')\n")
        environ = self.environ(WEB_CONCURRENCY="2", ROUTES="b/predict:%s:predict" % broken)
        done = subprocess.run([sys.executable, "-m", "cortex_s2i_runtime.serve"], env=environ,
                              capture_output=True, text=True, timeout=60)
        self.assertNotEqual(done.returncode, 0)
        last = json.loads(done.stderr.splitlines()[-1])
        self.assertEqual((last["event"], last["route"], last["module"]),
                         ("route_load_failed", "b/predict", broken))
        self.assertIn("libgomp.so.1", last["error"])


if __name__ == "__main__":
    unittest.main()
