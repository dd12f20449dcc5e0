"""Slow and refused clients, at the socket: read deadlines, the request head, lingering close.

These are the parts of the predict server's worker (server_worker.py) that need no HTTP server
library, so that they can be tested on plain sockets:

- `RequestReader` collects a request's head (request line and headers), then its body, without
  blocking and each within a total deadline, so that a client trickling bytes holds no thread;
- `DeadlineSocket` gives the body one total deadline across every read (`ClientTimeout`);
- `NonBlockingSocket` keeps a connection non-blocking for its whole life, writing answers in
  full all the same;
- `request_target` tells from the head whether a request is a probe (GET /health, /ready,
  /metrics), which must never wait behind predictions;
- `Linger` reads and discards what a client still sends after its request was refused, so that
  a client that sends its whole body before reading (Python's urllib and requests, without
  `Expect: 100-continue`) reads the answer instead of a connection reset.
"""

import errno
import re
import select
import socket
import time

_HEAD_END = b"\r\n\r\n"
# A header line (never the request line) naming the body's framing, and its value.
_FRAMING = re.compile(rb"\r\n[ \t]*(content-length|transfer-encoding)[ \t]*:([^\r\n]*)",
                      re.IGNORECASE)
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


def body_framing(head):
    """("length", n) or ("chunked", None) from a request head; None when it has no body or its
    framing is for the HTTP parser to refuse (both headers, or several of one)."""
    lengths, codings = [], []
    # One search over the head rather than a split of every header line: this runs for each
    # request in the worker's main loop, which every connection waits on.
    for name, value in _FRAMING.findall(head):
        if name.lower() == b"content-length":
            lengths.append(value.strip())
        else:
            codings.append(value.strip().lower())
    if lengths and codings or len(lengths) > 1 or len(codings) > 1:
        return None
    if codings:
        return ("chunked", None) if codings == [b"chunked"] else None
    if lengths and lengths[0].isdigit():
        return ("length", int(lengths[0]))
    return None


class RequestReader:
    """The bytes of one request, read from a non-blocking socket as they arrive.

    First the head (request line and headers), within `header_seconds`; then, when the head
    announces a body of at most `max_body` bytes and `reserve(bytes)` grants room for it, the
    body, within `body_seconds` of the head. `feed()` is called when the socket is readable; it
    returns True once the request can be handed to a thread without that thread waiting for the
    client (or `head_limit` bytes came without the head's end: the HTTP parser then refuses it),
    and raises EOFError when the client closed first. `release()` gives the reserved room back.
    A chunked body counts as read once the bytes end with a last chunk; if that was only data
    looking like one, the thread reads the rest within the same deadline.
    """

    def __init__(self, sock, header_seconds, head_limit, body_seconds=0, max_body=0,
                 reserve=None, now=None, data=b""):
        self.sock = sock
        self.body_seconds = body_seconds
        self.max_body = max_body
        self.reserve = reserve
        self.reserved = 0
        self.stage = "headers"
        self.seconds = header_seconds
        self.deadline = (time.monotonic() if now is None else now) + header_seconds
        self.head_limit = head_limit
        self.data = data
        self.head_end = None
        self.length = None
        self._advance(now)

    def _advance(self, now):
        if self.stage == "headers":
            end = self.data.find(_HEAD_END)
            if end < 0 and not self.data.startswith(b"\r\n"):
                if len(self.data) > self.head_limit:
                    self.stage = "done"
                return
            if end < 0:
                self.stage = "done"
                return
            self.head_end = end + 4
            framing = body_framing(self.data[:end])
            wanted = None
            if framing is not None and self.body_seconds > 0:
                wanted = framing[1] if framing[0] == "length" else self.max_body
                if wanted == 0 or wanted > self.max_body:
                    wanted = None  # nothing to wait for, or a 413 the app decides unread
                elif self.reserve is not None and not self.reserve(wanted):
                    wanted = None  # over the worker's budget: the thread reads it
            if wanted is None:
                self.stage = "done"
                return
            self.reserved = wanted
            self.length = framing[1]
            self.stage = "body"
            self.seconds = self.body_seconds
            self.deadline = (time.monotonic() if now is None else now) + self.body_seconds
        if self.stage == "body":
            read = len(self.data) - self.head_end
            if self.length is not None:
                if read >= self.length:
                    self.stage = "done"
            elif self.data.endswith(b"0\r\n\r\n") or read > self.max_body + 65536:
                self.stage = "done"

    def feed(self, now=None):
        while self.stage != "done":
            try:
                chunk = self.sock.recv(262144)
            except OSError as error:
                if _would_block(error):
                    return False
                raise EOFError(str(error)) from error
            if not chunk:
                raise EOFError("the client closed the connection")
            self.data += chunk
            self._advance(now)
        return True

    def expired(self, now=None):
        return (time.monotonic() if now is None else now) >= self.deadline

    def release(self):
        reserved, self.reserved = self.reserved, 0
        return reserved


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
    if not head[:5].upper().startswith((b"GET ", b"HEAD ")):
        return False  # a prediction, most often: no need to parse its request line
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
        while True:
            timeout = None
            if self.deadline is not None:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise ClientTimeout(self.seconds)
                timeout = remaining * 1000
            poller = select.poll()
            poller.register(self.sock, select.POLLIN | select.POLLPRI)
            # poll, not a socket timeout: a timeout would also bound the answer's writes.
            if not poller.poll(timeout):
                raise ClientTimeout(self.seconds)
            try:
                return self.sock.recv(size)
            except OSError as error:
                if not _would_block(error):  # the socket may be non-blocking: poll again
                    raise

    def __getattr__(self, name):
        return getattr(self.sock, name)


class NonBlockingSocket:
    """A connection's socket, non-blocking for its whole life; `sendall` waits for room.

    gunicorn makes a connection blocking while a thread answers it and non-blocking while it
    waits for the next request: two system calls a request, each of which lets another thread
    take the interpreter lock. The predict server's worker needs no blocking reads (its main
    loop reads requests as they arrive, and DeadlineSocket polls before every read), so the
    mode never changes and only writes wait, here. Everything else is the socket's own.
    """

    __slots__ = ("sock",)

    def __init__(self, sock):
        sock.setblocking(False)
        self.sock = sock

    def setblocking(self, flag):
        pass  # stays non-blocking

    def sendall(self, data):
        view = memoryview(data).cast("B")
        while view:
            try:
                sent = self.sock.send(view)
            except OSError as error:
                if not _would_block(error):
                    raise
                poller = select.poll()
                poller.register(self.sock, select.POLLOUT)
                poller.poll()
                continue
            view = view[sent:]

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
