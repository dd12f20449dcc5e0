"""Slow and refused clients, at the socket: read deadlines, the request head, lingering close.

These are the parts of the predict server's worker (server_worker.py) that need no HTTP server
library, so that they can be tested on plain sockets:

- `HeadReader` collects a request's head (request line and headers) without blocking, with a
  total deadline, so that a client trickling bytes holds no thread while it does;
- `DeadlineSocket` gives the body one total deadline across every read (`ClientTimeout`);
- `request_target` tells from the head whether a request is a probe (GET /health, /ready,
  /metrics), which must never wait behind predictions;
- `Linger` reads and discards what a client still sends after its request was refused, so that
  a client that sends its whole body before reading (Python's urllib and requests, without
  `Expect: 100-continue`) reads the answer instead of a connection reset.
"""

import errno
import select
import socket
import time

_HEAD_END = b"\r\n\r\n"
PROBE_PATHS = ("health", "ready", "metrics")

# Lingering close: how much a refused client may still send, and for how long, before the
# connection is closed anyway. Apache and nginx bound it by time (30 s in both); the byte bound
# keeps a fast client from using the worker as a sink. 256 MiB takes a few seconds on a local
# network and covers what a client would post to a model; the idle bound ends a client that has
# stopped sending but not closed.
LINGER_BYTES = 256 * 1024 * 1024
LINGER_SECONDS = 30.0
LINGER_IDLE_SECONDS = 5.0


class ClientTimeout(Exception):
    """A client did not send its request (head or body) within its total deadline.

    Not an OSError: the server treats OSError from a socket as a vanished client and answers
    nothing, while a slow client is still there and gets a 408.
    """

    def __init__(self, seconds, what="body"):
        super().__init__("the request %s did not arrive within %s seconds" % (what, seconds))
        self.seconds = seconds
        self.what = what


def _would_block(error):
    return error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class HeadReader:
    """The bytes of one request head, read from a non-blocking socket as they arrive.

    `feed()` is called when the socket is readable; it returns True once the head is complete
    (or `limit` bytes came without its end: the HTTP parser then rejects the request with a
    proper error), and raises EOFError when the client closed first. Bytes past the head (the
    start of the body, pipelined requests) stay in `data` for the parser.
    """

    def __init__(self, sock, seconds, limit, now=None, data=b""):
        self.sock = sock
        self.seconds = seconds
        self.deadline = (time.monotonic() if now is None else now) + seconds
        self.limit = limit
        self.data = data

    def complete(self):
        return _HEAD_END in self.data or len(self.data) > self.limit or (
            # A head can be just a request line followed by an empty line.
            self.data.startswith(b"\r\n"))

    def feed(self):
        if self.complete():
            return True
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError as error:
                if _would_block(error):
                    return self.complete()
                raise EOFError(str(error)) from error
            if not chunk:
                raise EOFError("the client closed the connection")
            self.data += chunk
            if self.complete():
                return True

    def expired(self, now=None):
        return (time.monotonic() if now is None else now) >= self.deadline


def request_target(head):
    """(method, route) of a request head: the route is the path without slashes or query."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3:
        return None, None
    method, target = parts[0].decode("latin-1").upper(), parts[1].decode("latin-1")
    path = target.split("?", 1)[0].split("#", 1)[0]
    return method, path.strip("/")


def is_probe(head):
    """Whether a request head is GET or HEAD of /health, /ready or /metrics."""
    method, route = request_target(head)
    return method in ("GET", "HEAD") and route in PROBE_PATHS


class DeadlineSocket:
    """A blocking socket's reads, with one total deadline for all of them (`ClientTimeout`).

    Only `recv` is wrapped: the HTTP parser reads through it, while answers are written to the
    socket itself. `start(seconds)` arms the deadline for the next request's body.
    """

    def __init__(self, sock):
        self.sock = sock
        self.seconds = None
        self.deadline = None

    def start(self, seconds, now=None):
        self.seconds = seconds
        self.deadline = (time.monotonic() if now is None else now) + seconds

    def recv(self, size):
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            poller = select.poll()
            poller.register(self.sock, select.POLLIN | select.POLLPRI)
            # poll, not a socket timeout: a timeout would also bound the answer's writes.
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise ClientTimeout(self.seconds)
        return self.sock.recv(size)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class Linger:
    """Reads and discards what a refused client still sends, within LINGER_* bounds.

    The answer has been written; `start()` shuts down the sending side, so the client sees the
    end of the answer, while the receiving side stays open: closing it with unread bytes makes
    the kernel send a reset, which destroys the answer in the client's buffers before a client
    that is still sending has read it. `feed()` is called on a non-blocking socket when it is
    readable and returns True when the connection can be closed.
    """

    def __init__(self, sock, now=None, max_bytes=LINGER_BYTES, seconds=LINGER_SECONDS,
                 idle_seconds=LINGER_IDLE_SECONDS):
        self.sock = sock
        now = time.monotonic() if now is None else now
        self.deadline = now + seconds
        self.idle_seconds = idle_seconds
        self.idle_deadline = now + idle_seconds
        self.left = max_bytes
        self._buffer = bytearray(262144)

    def start(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
        self.sock.setblocking(False)
        return True

    def feed(self, now=None):
        now = time.monotonic() if now is None else now
        while self.left > 0:
            try:
                count = self.sock.recv_into(self._buffer)
            except OSError as error:
                return not _would_block(error)
            if count == 0:
                return True
            self.left -= count
            self.idle_deadline = now + self.idle_seconds
        return True

    def expired(self, now=None):
        now = time.monotonic() if now is None else now
        return now >= self.deadline or now >= self.idle_deadline


def http_response(status_line, headers, body):
    """The bytes of a whole HTTP/1.1 answer that closes the connection."""
    head = ["HTTP/1.1 %s" % status_line] + ["%s: %s" % pair for pair in headers]
    head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def send_all_now(sock, data):
    """Writes a small answer to a non-blocking socket; False when it would block or failed."""
    try:
        sent = sock.send(data)
    except OSError:
        return False
    return sent == len(data)
