"""The predict server's connections: uvicorn's httptools protocol with deadlines and stricter HTTP.

uvicorn parses HTTP with httptools and hands each request to the app; it has no deadline for a
request's head, none for a client that stops reading its answer, and it accepts some requests
that a server behind a proxy must refuse. `guarded_protocol()` makes a subclass of its
`HttpToolsProtocol` that adds, keeping to the methods uvicorn's protocol offers asyncio
(connection_made, data_received, pause_writing, ...) and httptools (on_header, on_url, ...), each
calling uvicorn's own:

- Deadlines, kept by one timer per worker that looks at its connections about once a second:
  a head must arrive within HEADER_TIMEOUT seconds of its first byte (of the connection, for a
  new one), else 408 and the connection closes; an answer the client leaves unread for
  SEND_TIMEOUT seconds once the connection's buffers are full drops the connection (the answer
  waits in memory meanwhile, never in a thread); after an answer given before the body was read
  (413, 415, 404, ...), the rest of the body is read and dropped for at most BODY_TIMEOUT seconds
  and 256 MiB, so that a client that sends its whole body before it reads (Python's urllib,
  requests) gets the answer rather than a reset.
- Stricter HTTP, each refused with the server's JSON error and the connection closed, so that
  no byte after it can be taken for another request: more than 100 header fields (431), a
  request line or header field over 8190 bytes (414, 431; gunicorn's limits), a header name that
  is not a token (`Content-Length : 5`, 400), a line folded onto the one before (obs-fold, 400),
  a Transfer-Encoding other than one `chunked` (501, or 400 when given twice). What httptools
  itself refuses (Content-Length with Transfer-Encoding, two Content-Lengths, a head over 80 KiB,
  a malformed request line or chunk) reaches uvicorn's send_400_response, which answers with the
  same JSON here.

test_connection_guard.py pins what uvicorn and httptools do with these requests, so that an
upgrade of either that changes it fails a test. A folded line is found by looking for a line
feed followed by a space or a tab in the bytes as they arrive: where there is one, the bytes are
handed to the parser up to it, and the parser's callbacks tell whether that point is inside a
head. (After a request's body inside the same read, a pipelined head is not looked at: a read
holding a body with such a line, then a pipelined request with a folded line.)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import jsonlog


class Refusing(Protocol):
    """What makes the answer of a refused request (the app, predict_server.py)."""

    def refusal(self, status: int, message: str, method: str | None = None,
                path: str | None = None) -> bytes:
        """The whole response to write before the connection closes."""


MAX_HEADERS = 100
MAX_LINE = 8190
MAX_DISCARD_BYTES = 256 * 1024 * 1024
# RFC 9110 token characters: a header name with anything else (a space before the colon, say)
# is refused rather than guessed at.
_NOT_TOKEN = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_FOLD = re.compile(rb"\n[ \t]")
# Header names most requests send, as they send them: tokens, and not Transfer-Encoding, so that
# only their count and length need a look.
_COMMON_NAMES = frozenset(
    spelling for name in ("Host", "Content-Type", "Content-Length", "User-Agent", "Accept",
                          "Accept-Encoding", "Connection", "X-Request-Id", "traceparent", "Origin")
    for spelling in (name.encode(), name.lower().encode()))
_Base = HttpToolsProtocol
_EMPTY = contextvars.Context()  # the watch's timer runs in no request's context

log = logging.getLogger("cortex_s2i.server")


class _Refused(Exception):
    """Raised from a parser callback after the refusal is written: the parser stops there."""


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    send_timeout: float
    max_headers: int = MAX_HEADERS
    max_line: int = MAX_LINE
    max_discard_bytes: int = MAX_DISCARD_BYTES


class _Transport(asyncio.Transport):
    """The transport uvicorn's protocol writes to: the connection's own, except that closing it
    while the request's body is still arriving ends only the write side at first (see
    GuardedHttpToolsProtocol.close_after_answer)."""

    def __init__(self, transport: asyncio.Transport, connection: GuardedHttpToolsProtocol) -> None:
        super().__init__()
        self._transport = transport
        self._connection = connection

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._transport.is_closing() or self._connection.lingering

    def close(self) -> None:
        self._connection.close_after_answer()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def write_eof(self) -> None:
        self._transport.write_eof()

    def abort(self) -> None:
        self._transport.abort()


class _Watch:
    """The connections of one protocol class, and the timer that looks at their deadlines."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.connections: set[GuardedHttpToolsProtocol] = set()
        self.interval = min(1.0, min(limits.header_timeout, limits.body_timeout,
                                     limits.send_timeout) / 4)
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: GuardedHttpToolsProtocol) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._look,
                                                                context=_EMPTY)

    def _look(self) -> None:
        self._timer = None
        now = time.monotonic()
        for connection in list(self.connections):
            connection.check_deadlines(now)
        if self.connections:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._look,
                                                                context=_EMPTY)


def guarded_protocol(limits: ConnectionLimits,
                     refusing: Refusing) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for uvicorn's Config(http=...), refusing with `refusing`'s answers."""
    attributes: dict[str, Any] = {"limits": limits, "refusing": refusing,
                                  "watch": _Watch(limits)}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attributes)


class GuardedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc]  # uvicorn is untyped
    """uvicorn's HttpToolsProtocol with the deadlines and checks of the module's docstring."""

    limits: ClassVar[ConnectionLimits]
    refusing: ClassVar[Refusing]
    watch: ClassVar[_Watch]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_transport: asyncio.Transport | None = None
        self._head_since: float | None = None
        self._in_head = False
        self._headers_seen = 0
        self._url_bytes = 0
        self._transfer_encoding = False
        self._begun = 0  # requests begun, whose message is complete, and answered
        self._completed = 0
        self._answered = 0
        self._discard_since: float | None = None
        self._discarded = 0
        self._stalled_since: float | None = None
        self._after_line_feed = False
        self._refused = False
        self._refusal: bytes | None = None  # written once the earlier answers are
        self._lingering_since: float | None = None
        self._dropping = False  # refused, or lingering: nothing more is parsed

    # asyncio's side

    def connection_made(self, transport: asyncio.Transport) -> None:
        _Base.connection_made(self, _Transport(transport, self))
        self._guard_transport = transport
        self._head_since = time.monotonic()  # a new connection's first head has its deadline
        self.watch.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.watch.connections.discard(self)
        _Base.connection_lost(self, exc)

    @property
    def lingering(self) -> bool:
        """The answer is written and the write side closed; what the client sends is dropped."""
        return self._lingering_since is not None

    def close_after_answer(self) -> None:
        """uvicorn closes the connection (the client asked for it, or an error): at once, unless
        the request's body is still arriving: then as a refusal does (_send_refusal)."""
        transport = self._guard_transport
        if transport is None or transport.is_closing() or self.lingering:
            return
        if self._completed < self._begun and transport.can_write_eof():
            self._linger(transport)
        else:
            transport.close()

    def _linger(self, transport: asyncio.Transport) -> None:
        self._dropping = True
        transport.write_eof()
        transport.resume_reading()  # uvicorn may have paused it while the app did not read
        self._lingering_since = time.monotonic()
        self._discarded = 0

    def data_received(self, data: bytes) -> None:
        if self._dropping:
            # After a refusal, or once the answer is written and the write side closed, nothing
            # more is parsed: what the client still sends is dropped, within the same limits as
            # the rest of a body left unread.
            self._discarded += len(data)
            if self._discarded > self.limits.max_discard_bytes:
                self._close()
            return
        if self._discard_since is not None:
            self._discarded += len(data)
            if self._discarded > self.limits.max_discard_bytes:
                self._close()
                return
        if (b"\n " in data or b"\n\t" in data
                or (self._after_line_feed and data[:1] in (b" ", b"\t"))):
            self._feed_looking_for_folds(data)
        else:
            _Base.data_received(self, data)
        self._after_line_feed = data[-1:] == b"\n"

    def pause_writing(self) -> None:
        _Base.pause_writing(self)
        self._stalled_since = time.monotonic()

    def resume_writing(self) -> None:
        _Base.resume_writing(self)
        self._stalled_since = None

    # httptools' side (uvicorn's own methods are called as _Base's: cheaper than super(), and
    # these run several times per request)

    def on_message_begin(self) -> None:
        _Base.on_message_begin(self)
        self._begun += 1
        self._in_head = True
        if self._head_since is None:
            self._head_since = time.monotonic()
        self._headers_seen = self._url_bytes = 0
        self._transfer_encoding = False

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_line:
            self._refuse(414, "the request line is longer than %d bytes" % self.limits.max_line)
        _Base.on_url(self, url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers_seen += 1
        if name not in _COMMON_NAMES:
            self._check_header(name, value)
        elif len(value) > self.limits.max_line or self._headers_seen > self.limits.max_headers:
            self._check_header(name, value)
        _Base.on_header(self, name, value)

    def _check_header(self, name: bytes, value: bytes) -> None:
        limits = self.limits
        if self._headers_seen > limits.max_headers:
            self._refuse(431, "the request has more than %d header fields" % limits.max_headers)
        if len(name) + len(value) > limits.max_line:
            self._refuse(431, "the header field %s is longer than %d bytes"
                         % (name[:40].decode("latin-1"), limits.max_line))
        if _NOT_TOKEN.search(name):
            self._refuse(400, "the header name %r is not a token (a space before its colon?)"
                         % name[:40].decode("latin-1"))
        if name.lower() == b"transfer-encoding":
            if self._transfer_encoding:
                self._refuse(400, "Transfer-Encoding is given twice")
            self._transfer_encoding = True
            if value.strip().lower() != b"chunked":
                self._refuse(501, "Transfer-Encoding %r is not supported; only chunked is"
                             % value[:40].decode("latin-1"))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_since = None
        _Base.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._completed += 1
        if self._discard_since is not None and self._completed >= self._answered:
            self._discard_since = None
        _Base.on_message_complete(self)

    def on_response_complete(self) -> None:
        self._answered += 1
        if self._completed < self._answered:
            # Answered before its body was read: the rest is read and dropped, within limits.
            self._discard_since = time.monotonic()
            self._discarded = 0
        _Base.on_response_complete(self)
        if self._refusal is not None and self._answered >= self._begun - 1:
            self._send_refusal()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to what httptools refuses, and to an upgrade it does not serve."""
        self._refuse_now(400, "the request is not valid HTTP/1.1 (%s)" % msg.rstrip("."))

    # Deadlines and refusals

    def check_deadlines(self, now: float) -> None:
        """From the watch's timer: ends a connection past one of its deadlines."""
        limits = self.limits
        if self._head_since is not None and now - self._head_since > limits.header_timeout:
            self._head_since = None
            self._refuse_now(408, "the request head did not arrive within %g seconds "
                             "(HEADER_TIMEOUT)" % limits.header_timeout)
        elif self._stalled_since is not None and now - self._stalled_since > limits.send_timeout:
            self._stalled_since = None
            jsonlog.log_event(log, "client_not_reading", level=logging.WARNING,
                              reason="the client left its answer unread for %g seconds "
                                     "(SEND_TIMEOUT); the connection is dropped"
                                     % limits.send_timeout)
            if self._guard_transport is not None:
                self._guard_transport.abort()
        elif self._discard_since is not None and now - self._discard_since > limits.body_timeout:
            self._close()
        elif (self._lingering_since is not None
              and now - self._lingering_since > limits.body_timeout):
            self._close()

    def _refuse(self, status: int, message: str) -> None:
        """From a parser callback: answers, then stops the parser (uvicorn closes the rest)."""
        self._refuse_now(status, message)
        raise _Refused(message)

    def _refuse_now(self, status: int, message: str) -> None:
        if self._refused or self._guard_transport is None:
            return
        self._refused = self._dropping = True
        self._discarded = 0
        self._refusal = self.refusing.refusal(status, message)
        # Answers to earlier requests on this connection (pipelined) go first.
        if self._answered >= self._begun - 1:
            self._send_refusal()

    def _send_refusal(self) -> None:
        """Writes the refusal and ends the connection: the write side at once, the read side
        once the client closes its own or the limits pass (as nginx's lingering close does: a
        client still sending when the connection closes would get a reset, not the answer)."""
        transport, refusal = self._guard_transport, self._refusal
        self._refusal = None
        if transport is None or refusal is None or transport.is_closing():
            return
        transport.write(refusal)
        if transport.can_write_eof():
            self._linger(transport)
        else:
            transport.close()

    def _close(self) -> None:
        self._discard_since = self._lingering_since = None
        if self._guard_transport is not None and not self._guard_transport.is_closing():
            self._guard_transport.close()

    def _feed_looking_for_folds(self, data: bytes) -> None:
        """Hands `data` to the parser in pieces ending at each line feed followed by a space or
        a tab, and refuses the request when such a line starts inside a head."""
        if self._after_line_feed and self._in_head and data[:1] in (b" ", b"\t"):
            self._refuse_now(400, "a header line is folded onto the one before it (obs-fold)")
            return
        position = 0
        while True:
            fold = _FOLD.search(data, position)
            if fold is None:
                _Base.data_received(self, data[position:])
                return
            end = fold.start() + 1
            _Base.data_received(self, data[position:end])
            if self._guard_transport is None or self._guard_transport.is_closing():
                return
            if self._in_head:
                self._refuse_now(400, "a header line is folded onto the one before it "
                                 "(obs-fold)")
                return
            if self._completed < self._begun:
                _Base.data_received(self, data[end:])  # in a body: the rest goes at once
                return
            position = end
