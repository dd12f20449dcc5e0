"""The predict server's gunicorn worker: gthread, hardened against slow, greedy and refused clients.

gunicorn's threaded worker gives a connection to a request thread as soon as it is accepted, and
the thread then blocks reading the request: a few clients trickling a byte a second hold every
thread, and GET /health waits behind predictions like any request. This worker:

- reads each request in its main loop, holding no thread: the head (request line and headers)
  within HEADER_TIMEOUT seconds, then the body within BODY_TIMEOUT seconds; past either, a 408
  JSON answer (or a plain close when nothing came). Bodies are buffered there up to a budget
  (BODY_BUFFER_BYTES, or twice MAX_BODY_BYTES); past it a thread reads the body, still within
  BODY_TIMEOUT across all its reads (the app answers 408);
- runs probes (GET /health, /ready, /metrics) on threads of their own, so that they never wait
  behind predictions;
- answers a prediction with 503 and Retry-After when MAX_PENDING predictions are already running
  or queued in this worker, instead of queueing it without bound;
- answers HTTP that gunicorn's parser rejects with the app's JSON errors, not gunicorn's HTML;
- ends a connection whose request body was not read in full (a 413, any answer decided before
  the body) with a lingering close (clients.Linger), so that the client reads the answer.
- lets the app's watchdog answer a prediction past TIMEOUT from its own thread (SEND_NOW in the
  environ: a 504 that closes the connection) while the call goes on in its request thread; the
  pool gets a thread in its place, a graceful stop does not wait for it, and the worker ends
  without joining it (gunicorn_conf.worker_exit).
The socket-level parts live in clients.py, where they are tested without gunicorn.
"""

import concurrent.futures as futures
import errno
import io
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from functools import partial

from gunicorn import glogging, http, util
from gunicorn.http import body as http_body, errors as http_errors, wsgi as http_wsgi
from gunicorn.workers import gthread

from . import clients, deadline, jsonlog, settings
from .predict_server import SEND_NOW

# Probes are cheap and few; two threads let one slow /metrics scrape not delay a /health.
PROBE_THREADS = 2
# A first body piece up to this size goes out in the same write as the response head.
HEAD_WITH_BODY_BYTES = 1024 * 1024
# Request bodies a worker's main loop may hold while they arrive: enough for many typical
# payloads at once, and a bound on memory however many clients send slowly.
BODY_BUFFER_BYTES = 64 * 1024 * 1024

_log = logging.getLogger("cortex_s2i.server")


def body_consumed(req):
    """Whether a request's body has been read to its end (an unread body calls for a linger)."""
    reader = getattr(getattr(req, "body", None), "reader", None)
    if isinstance(reader, http_body.LengthReader):
        return reader.length == 0
    if isinstance(reader, http_body.ChunkedReader):
        return reader.parser is None
    return False


def write_with_head(response, write, data):
    """gunicorn's Response.write, sending the head and the first body bytes in one write.

    gunicorn sends the head, then each body piece, in writes of their own; with TCP_NODELAY
    (gunicorn's listening sockets set it) a typical answer became two packets and two system
    calls, a visible part of a small prediction's cost.
    """
    if (response.headers_sent or response.chunked or type(data) is not bytes
            or len(data) > HEAD_WITH_BODY_BYTES):
        return write(data)
    if response.response_length is not None and len(data) > response.response_length:
        data = data[:response.response_length]  # as gunicorn does: never past Content-Length
    lines = response.default_headers()
    lines.extend(["%s: %s\r\n" % (key, value) for key, value in response.headers])
    head = ("%s\r\n" % "".join(lines)).encode("latin-1")
    response.headers_sent = True
    response.sent += len(data)
    util.write(response.sock, head + data)


def error_status(exc):
    """(status, message) for an exception from reading a request, or None for a server fault."""
    if isinstance(exc, clients.ClientTimeout):
        return 408, "%s (%s_TIMEOUT)" % (exc, "HEADER" if exc.what == "headers" else "BODY")
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, "the request line is too long: %s" % exc
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, "the request headers are too large: %s" % exc
    unsupported = getattr(http_errors, "UnsupportedTransferCoding", None)
    if unsupported is not None and isinstance(exc, unsupported):
        return 501, ("Transfer-Encoding %r is not supported; send the body with Content-Length "
                     "or Transfer-Encoding: chunked" % str(getattr(exc, "hdr", exc))[:80])
    if isinstance(exc, (http_errors.ParseException, http_errors.InvalidChunkSize,
                        http_errors.ChunkMissingTerminator, http_errors.NoMoreData)):
        return 400, "the request is not valid HTTP: %s" % (str(exc)[:200] or type(exc).__name__)
    return None


class ThreadPool(futures.ThreadPoolExecutor):
    """gunicorn's request thread pool, which can take a thread more for each abandoned call.

    A call past its deadline keeps its request thread (deadline.Watchdog); without a thread in
    its place, each would take one from the requests that follow.
    """

    def resize(self, change):
        # _max_workers is the executor's own bound: submit() starts a thread while fewer run and
        # none is idle. Threads never end before shutdown, so a shrink only stops new ones.
        with self._shutdown_lock:
            self._max_workers = max(1, self._max_workers + change)


class Futures(deque):
    """gunicorn's list of requests in flight, leaving out those abandoned past their deadline
    until they end: the worker's graceful stop waits for requests in flight, and a call that
    may never return must not hold it for GRACEFUL_TIMEOUT."""

    abandoned = 0  # calls abandoned and still running: none, and it is a plain deque

    def __iter__(self):
        if not self.abandoned:
            return super().__iter__()
        return (future for future in super().__iter__()
                if future.done() or not getattr(future.conn, "cortex_answered", False))


class Logger(glogging.Logger):
    """gunicorn's logger, building an access line only when the access logger would write it.

    With logconfig_dict set, gunicorn formats every request's access fields (a date, the
    headers, a getpid() system call) and hands them to gunicorn.access, which drops them: the
    app writes its own JSON line per request instead (gunicorn_conf.logging_config).
    """

    def access(self, resp, req, environ, request_time):
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


class Worker(gthread.ThreadWorker):
    """gunicorn's gthread worker with the defences above; settings come from the environment."""

    def init_process(self):
        # Set before the parent's init_process, which ends by running the worker loop.
        environ = os.environ
        self.header_timeout = settings.header_timeout(environ)
        self.body_timeout = settings.body_timeout(environ)
        self.max_pending = settings.max_pending(environ)
        self.max_body_bytes = settings.max_body_bytes(environ)
        self.body_budget = max(BODY_BUFFER_BYTES, 2 * self.max_body_bytes)
        self.buffered = 0
        # A head this long without its end is over the parser's limits: it gets the error.
        self.head_limit = (self.cfg.limit_request_line + 2 + 4 + self.cfg.limit_request_fields
                           * (self.cfg.limit_request_field_size + 2))
        self.probe_pool = futures.ThreadPoolExecutor(max_workers=PROBE_THREADS)
        self.pending = 0
        self._pending_lock = threading.Lock()
        self._heads = deque()  # (RequestReader, conn)
        self._lingering = deque()  # (Linger, conn)
        self._local = threading.local()
        self.app_object = None
        self.futures = Futures()
        super().init_process()

    def get_thread_pool(self):
        return ThreadPool(max_workers=self.cfg.threads)

    @property
    def abandoned_calls(self):
        """Calls past their deadline still running in this worker's request threads."""
        return getattr(self.app_object, "abandoned_calls", 0)

    def load_wsgi(self):
        super().load_wsgi()
        self.app_object = inner = self.wsgi
        local = self._local

        if hasattr(inner, "on_abandoned"):
            inner.on_abandoned = self._abandoned_changed
        send_now = self._send_now

        def app(environ, start_response):
            environ[SEND_NOW] = partial(send_now, local.conn)

            def start(status, headers, exc_info=None):
                # An answer given before the body was read ends the connection: say so in the
                # answer's Connection header, and linger (handle() below).
                req = getattr(local, "req", None)
                if req is not None and not body_consumed(req):
                    response = getattr(start_response, "__self__", None)
                    if hasattr(response, "force_close"):
                        response.force_close()
                write = start_response(status, headers, exc_info)
                response = getattr(start_response, "__self__", None)
                if isinstance(response, http_wsgi.Response):
                    response.write = partial(write_with_head, response, response.write)
                return write
            return inner(environ, start)
        self.wsgi = app

    def run(self):
        try:
            super().run()
        finally:
            self.probe_pool.shutdown(False)

    # Reading request heads in the main loop

    def accept(self, server, listener):
        try:
            sock, client = listener.accept()
        except EnvironmentError as error:
            if error.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        conn = gthread.TConn(self.cfg, clients.NonBlockingSocket(sock), client, server)
        self.nr_conns += 1
        self._read_head(conn)

    def reuse_connection(self, conn, client):
        with self._lock:
            self.poller.unregister(client)
            try:
                self._keep.remove(conn)
            except ValueError:
                return  # murder_keepalived closed it meanwhile
        self._read_head(conn)

    def _read_head(self, conn):
        leftover = b""
        if conn.parser is not None:
            # Bytes of a pipelined next request that the parser already read.
            unreader = conn.parser.unreader
            leftover = unreader.buf.getvalue()
            unreader.buf = io.BytesIO()
        reader = clients.RequestReader(conn.sock, self.header_timeout, self.head_limit,
                                       self.body_timeout, self.max_body_bytes, self._reserve,
                                       data=leftover)
        conn.cortex_head = reader
        if not self._head_done(conn, reader):
            with self._lock:
                self.poller.register(conn.sock, selectors.EVENT_READ,
                                     partial(self._on_head_readable, conn, reader))
            self._heads.append((reader, conn))

    def _head_done(self, conn, reader, registered=False):
        """Reads what arrived; True when the connection has left the head-reading stage."""
        try:
            if not reader.feed():
                return False
            eof = False
        except EOFError:
            eof = True
        conn.cortex_head = None
        self.buffered -= reader.release()
        if registered:
            with self._lock:
                self._unregister(conn.sock)
        if eof:
            self._close(conn)
        else:
            self._dispatch(conn, reader.data)
        return True

    def _on_head_readable(self, conn, reader, sock):
        if conn.cortex_head is reader:
            self._head_done(conn, reader, registered=True)

    def _reserve(self, size):
        if self.buffered + size > self.body_budget:
            return False
        self.buffered += size
        return True

    def _expire_heads(self):
        now = time.monotonic()
        for _ in range(len(self._heads)):
            reader, conn = self._heads.popleft()
            if conn.cortex_head is not reader:
                continue  # dispatched or closed already
            if not reader.expired(now):
                self._heads.append((reader, conn))
                continue
            conn.cortex_head = None
            self.buffered -= reader.release()
            with self._lock:
                self._unregister(conn.sock)
            if reader.data:
                self._refuse(conn, reader.data, 408, "the request %s did not arrive within %d "
                             "seconds (%s_TIMEOUT)" % (reader.stage, reader.seconds,
                                                       "BODY" if reader.stage == "body"
                                                       else "HEADER"))
            else:
                self._close(conn)

    def _dispatch(self, conn, head):
        probe = clients.is_probe(head)
        if not probe:
            with self._pending_lock:
                full = self.pending >= self.max_pending
                if not full:
                    self.pending += 1
            if full:
                self._refuse(conn, head, 503, "the server is busy: %d predictions are running or "
                             "waiting in this worker (MAX_PENDING); try again shortly"
                             % self.max_pending, [("Retry-After", "1")])
                return
        if conn.parser is None:
            conn.cortex_socket = clients.DeadlineSocket(conn.sock)
            conn.parser = http.RequestParser(self.cfg, conn.cortex_socket, conn.client)
        conn.parser.unreader.unread(head)
        conn.cortex_socket.start(self.body_timeout)
        # No conn.init(): it would make the socket blocking, which NonBlockingSocket ignores,
        # and make a parser, which exists.
        future = (self.probe_pool if probe else self.tpool).submit(self.handle, conn)
        future.cortex_prediction = not probe
        self._wrap_future(future, conn)

    # Answering in the request threads

    def handle(self, conn):
        conn.cortex_req = None
        self._local.req = None
        keepalive, conn = super().handle(conn)
        self._local.req = self._local.conn = None
        if conn.cortex_req is None or not body_consumed(conn.cortex_req):
            conn.cortex_linger = True
            return False, conn
        return keepalive, conn

    def handle_request(self, req, conn):
        conn.cortex_req = req
        self._local.req = req
        self._local.conn = conn
        return super().handle_request(req, conn)

    def _abandoned_changed(self, change):
        """+1 from the watchdog thread, -1 from a request thread when the call returns."""
        self.tpool.resize(change)
        with self._pending_lock:
            self.futures.abandoned += change

    def _send_now(self, conn, status_line, headers, body):
        """The whole answer to the connection's request, from another thread (SEND_NOW): the
        request thread, still busy with the request, will find it answered and say nothing."""
        conn.cortex_answered = True
        try:
            # Never blocks: the answer is small, and nothing else is being written.
            conn.sock.send(clients.http_response(status_line, headers, body), socket.MSG_DONTWAIT)
            conn.sock.shutdown(socket.SHUT_WR)  # the client sees the answer end now
        except OSError:
            pass

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, deadline.Abandoned):
            return  # answered already (_send_now); the connection closes
        found = error_status(exc)
        if found is None:
            self.log.exception("Error handling request %s", getattr(req, "uri", ""))
            status, message = 500, "the server failed to handle the request"
        else:
            status, message = found
        method, path = getattr(req, "method", None), getattr(req, "path", None)
        try:
            util.write(client, self._error_bytes(status, message, method, path))
        except Exception:
            self.log.debug("Failed to send error message.")

    def finish_request(self, fs):
        if getattr(fs, "cortex_prediction", False):
            with self._pending_lock:
                self.pending -= 1
        conn = fs.conn
        if not fs.cancelled() and getattr(conn, "cortex_linger", False):
            conn.cortex_linger = False
            self._linger(conn)
            return
        super().finish_request(fs)

    # Closing

    def _refuse(self, conn, head, status, message, headers=()):
        """Answers a request from the main loop (the socket is non-blocking), then lingers."""
        method, route = clients.request_target(head)
        path = "/" + route if route is not None else None
        clients.send_all_now(conn.sock, self._error_bytes(status, message, method, path, headers))
        self._linger(conn)

    def _error_bytes(self, status, message, method, path, headers=()):
        app = self.app_object
        if hasattr(app, "error_response"):
            status_line, response_headers, body = app.error_response(
                status, message, method=method, path=path, headers=headers)
        else:
            body = jsonlog.dumps({"error": {"status": status, "message": message}}).encode()
            status_line = str(status)
            response_headers = [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))] + list(headers)
        return clients.http_response(status_line, response_headers, body)

    def _linger(self, conn):
        linger = clients.Linger(conn.sock)
        if not linger.start():
            self._close(conn)
            return
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 partial(self._on_linger_readable, conn, linger))
        self._lingering.append((linger, conn))

    def _on_linger_readable(self, conn, linger, sock):
        if linger.feed():
            self._end_linger(conn, linger)

    def _end_linger(self, conn, linger):
        if getattr(linger, "ended", False):
            return
        linger.ended = True
        with self._lock:
            self._unregister(conn.sock)
        self._close(conn)

    def _expire_lingering(self):
        now = time.monotonic()
        for _ in range(len(self._lingering)):
            linger, conn = self._lingering.popleft()
            if getattr(linger, "ended", False):
                continue
            if linger.expired(now):
                self._end_linger(conn, linger)
            else:
                self._lingering.append((linger, conn))

    def murder_keepalived(self):
        super().murder_keepalived()
        self._expire_heads()
        self._expire_lingering()

    def _unregister(self, sock):
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    def _close(self, conn):
        self.nr_conns -= 1
        conn.close()
