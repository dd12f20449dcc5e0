"""Tests of the server's connections on a real uvicorn server on 127.0.0.1: malformed and smuggled
requests, pipelining, slow heads, clients that never read, bodies sent before reading.

They also pin what the installed uvicorn and httptools do with these requests: an upgrade of
either that changes it (a method renamed, a request that gets through) fails here.
"""

import asyncio
import json
import socket
import threading
import time
import unittest
import urllib.error
import urllib.request

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cortex_s2i_runtime import connection_guard, predict_server
from cortex_s2i_runtime.connection_guard import ConnectionLimits, GuardedHttpToolsProtocol
from cortex_s2i_runtime.settings import ServerSettings

from tests.support import LogCapture

SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


class Server:
    """The app on uvicorn with the guarded protocol, in a thread, on 127.0.0.1."""

    def __init__(self, test_case, app, limits):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, loop="asyncio", http=connection_guard.guarded_protocol(
            limits, app), lifespan="on", access_log=False, proxy_headers=False, ws="none",
            log_level="warning", log_config=None, interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(
            self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        until = time.monotonic() + 10
        while not self.server.started and time.monotonic() < until:
            time.sleep(0.01)
        test_case.addCleanup(self.stop)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def exchange(port, data, seconds=5.0, pieces=None):
    """Sends `data` (or `pieces`, 0.3 s apart) on a connection of its own and reads until the
    server closes it; returns (what it read, whether it closed within `seconds`)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(seconds)
        for piece in pieces or [data]:
            try:
                sock.sendall(piece)
            except OSError:
                break
            if pieces:
                time.sleep(0.3)
        received = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return received, True
                received += chunk
        except socket.timeout:
            return received, False
        except ConnectionResetError:
            return received + b"<reset>", True


def answers(received):
    """The status and JSON body of each HTTP answer in `received`."""
    found = []
    rest = received
    while rest.startswith(b"HTTP/1.1 "):
        head, _, rest = rest.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        body, rest = rest[:length], rest[length:]
        found.append((status, head, json.loads(body) if body else None))
    return found


class GuardTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)
        LogCapture(self, "uvicorn.error")  # its warnings for what httptools refuses
        self.release = threading.Event()
        self.addCleanup(self.release.set)
        settings = ServerSettings(max_body_bytes=1000, header_timeout=1, body_timeout=2,
                                  send_timeout=1, timeout=0, threads=2)
        self.app = predict_server.PredictApp(["echo", "big", "stuck"], settings)
        self.app.set_targets({"echo": lambda msg: msg, "big": lambda msg: "x" * msg["bytes"],
                              "stuck": lambda msg: self.release.wait(30)})
        self.server = Server(self, self.app, ConnectionLimits(
            header_timeout=1, body_timeout=2, send_timeout=1))
        self.port = self.server.port

    def post(self, path, body, timeout=5):
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def assertRefused(self, request, status, message, **kwargs):
        received, closed = exchange(self.port, request, **kwargs)
        found = answers(received)
        self.assertEqual(len(found), 1, received[:300])
        got, head, body = found[0]
        self.assertEqual((got, body["error"]["status"]), (status, status), received[:300])
        self.assertIn(b"content-type: application/json", head)
        self.assertIn(message, body["error"]["message"])
        self.assertTrue(closed, "the connection stays open after the refusal")
        return body

    def test_framing_that_could_smuggle_a_request_is_refused_and_nothing_after_it_answered(self):
        cases = [
            (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400, "not valid HTTP"),
            (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400, "not valid HTTP"),
            (b"Content-Length: 5\r\nContent-Length: 6\r\n", 400, "not valid HTTP"),
            (b"Content-Length: 5\r\nContent-Length: 5\r\n", 400, "not valid HTTP"),
            (b"Content-Length : 5\r\n", 400, "is not a token"),
            (b"X-A: a\r\n Content-Length: 5\r\n", 400, "obs-fold"),
            (b"X-A: a\r\n\tContent-Length: 5\r\n", 400, "obs-fold"),
            (b"Transfer-Encoding: gzip\r\n", 501, "'gzip' is not supported"),
            (b"Transfer-Encoding: gzip, chunked\r\n", 501, "is not supported"),
            (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400, "twice"),
        ]
        for headers, status, message in cases:
            with self.subTest(headers=headers):
                self.assertRefused(HEAD + headers + b"\r\n0\r\n\r\n" + SMUGGLED, status, message)
        self.assertEqual(self.logs.events("request_failed"), [])

    def test_oversized_or_malformed_heads_are_refused_with_json(self):
        cases = [
            (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", 400,
             "not valid HTTP"),
            (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "longer than"),
            (b"GET /health HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n", 431,
             "more than 100 header fields"),
            (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "request line is longer"),
            (b"GARBAGE\r\n\r\n", 400, "not valid HTTP"),
            (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400,
             "not valid HTTP"),
            (b"GET /health HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 400,
             "not valid HTTP"),
        ]
        for request, status, message in cases:
            with self.subTest(request=request[:40]):
                self.assertRefused(request, status, message)

    def test_pipelined_requests_are_all_answered_in_order_and_lf_only_lines_too(self):
        pipelined = (b"GET /health HTTP/1.1\r\n\r\n" + HEAD + b"Content-Length: 3\r\n\r\n[1]"
                     + b"POST /echo HTTP/1.1\nContent-Length: 15\n\n{\n  \"a\": [\n 2]}"
                     + b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n")
        found = answers(exchange(self.port, pipelined)[0])
        self.assertEqual([(status, body.get("payload", body.get("status"))) for status, _, body
                          in found[:3]], [(200, "ok"), (200, [1]), (200, {"a": [2]})])
        self.assertEqual(found[3][0], 404)
        lf_only = answers(exchange(self.port, b"GET /health HTTP/1.1\nConnection: close\n\n")[0])
        self.assertEqual(lf_only[0][0], 200)

    def test_a_folded_line_in_a_pipelined_request_is_refused_after_the_earlier_answer(self):
        received, closed = exchange(self.port, b"GET /health HTTP/1.1\r\n\r\n" + HEAD
                                    + b"X-A: a\r\n Content-Length: 2\r\n\r\n[]")
        found = answers(received)
        self.assertEqual([status for status, _, _ in found], [200, 400])
        self.assertTrue(closed)

    def test_a_head_slower_than_header_timeout_gets_a_408_and_the_connection_closes(self):
        started = time.monotonic()
        body = self.assertRefused(None, 408, "HEADER_TIMEOUT", seconds=6,
                                  pieces=[b"POST /echo HTTP/1.1\r\n"] + [b"X-Slow: 1\r\n"] * 10)
        self.assertLess(time.monotonic() - started, 5)
        self.assertRegex(body["error"]["request_id"], "^[0-9a-f]{32}$")
        idle, closed = exchange(self.port, b"", seconds=5)  # a connection that sends nothing
        self.assertEqual([status for status, _, _ in answers(idle)], [408])

    def test_a_client_that_never_reads_costs_a_connection_not_a_thread_and_is_dropped(self):
        readers = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", self.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            body = b'{"bytes": 8000000}'
            sock.sendall(HEAD.replace(b"/echo", b"/big") + b"Content-Length: %d\r\n\r\n"
                         % len(body) + body)
            readers.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        self.assertEqual(self.post("/echo", b"[1]"), (200, {"payload": [1]}))
        self.assertLess(time.monotonic() - started, 1)
        until = time.monotonic() + 10
        while len(self.logs.events("client_not_reading")) < 4 and time.monotonic() < until:
            time.sleep(0.1)
        self.assertEqual(len(self.logs.events("client_not_reading")), 4)
        # The server let go of them: no connection left with an answer waiting in memory.
        watch = self.server.server.config.http_protocol_class.watch
        while watch.connections and time.monotonic() < until:
            time.sleep(0.1)
        self.assertEqual(watch.connections, set())
        for sock in readers:
            sock.close()

    def test_a_client_sending_its_whole_body_before_reading_gets_the_early_answer(self):
        # Python's urllib writes the whole body, then reads: the 413 (decided from the
        # Content-Length) must still reach it, and a 404 too.
        big = b"1" * (8 * 1024 * 1024)
        self.assertEqual(self.post("/echo", big, timeout=30)[0], 413)
        self.assertEqual(self.post("/nowhere", big, timeout=30)[0], 404)
        self.assertEqual(self.post("/echo", b"[2]"), (200, {"payload": [2]}))

    def test_after_an_early_answer_a_body_that_keeps_coming_is_cut_off(self):
        sock = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(sock.close)
        sock.sendall(HEAD + b"Content-Length: 100000000\r\n\r\n")
        sock.settimeout(1)
        self.assertIn(b"413", sock.recv(4096))
        started = time.monotonic()
        with self.assertRaises(OSError):
            while time.monotonic() - started < 10:
                sock.sendall(b"1" * 1024)
                time.sleep(0.05)
        self.assertLess(time.monotonic() - started, 8)  # BODY_TIMEOUT (2 s) and a margin


class UvicornSurfaceTest(unittest.TestCase):
    def test_the_methods_the_guard_extends_are_uvicorns(self):
        for name in ("connection_made", "connection_lost", "data_received", "pause_writing",
                     "resume_writing", "on_message_begin", "on_url", "on_header",
                     "on_headers_complete", "on_message_complete", "on_response_complete",
                     "send_400_response"):
            with self.subTest(name=name):
                self.assertTrue(callable(getattr(HttpToolsProtocol, name, None)))
                self.assertIn(name, vars(GuardedHttpToolsProtocol))


if __name__ == "__main__":
    unittest.main()
