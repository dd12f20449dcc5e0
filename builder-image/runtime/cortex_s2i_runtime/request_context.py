"""A request's identity: its X-Request-Id and W3C trace context, on every log line it causes.

The server takes a client's `X-Request-Id` when it is safe to echo (letters, digits and `._:-`, at
most 64 characters) and makes one otherwise; it takes a valid W3C `traceparent`
(https://www.w3.org/TR/trace-context/#traceparent-header) and continues its trace with a span of
its own, and starts a new trace otherwise. Both go back to the client in the answer's headers.

`current` is a context variable: the server sets it in the request's task, the call pool runs the
model in a copy of that context, and jsonlog's formatter writes the request's fields on every
line logged there, the model's own `logging` lines included.
"""

from __future__ import annotations

import itertools
import os
import random
import re
from contextvars import ContextVar
from typing import NamedTuple

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# version-traceid-parentid-flags; a later version may add fields after another dash.
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class RequestContext(NamedTuple):
    """The request's id and its place in a trace: the trace, this server's span, the flags.

    (A NamedTuple: one is made per request, and a frozen dataclass takes several times longer.)
    """

    request_id: str
    trace_id: str
    span_id: str
    flags: str = "00"

    def traceparent(self) -> str:
        """The traceparent of this server's span, for the answer and for calls it makes."""
        return "00-%s-%s-%s" % (self.trace_id, self.span_id, self.flags)

    def log_fields(self) -> dict[str, str]:
        return {"request_id": self.request_id, "trace_id": self.trace_id,
                "span_id": self.span_id}


current: ContextVar[RequestContext | None] = ContextVar("cortex_s2i_request", default=None)


# Request ids: 32 hex digits, a random prefix per process and a counter. A random id per request
# costs a getrandom() system call; these stay unique across workers and restarts (the prefix is
# drawn again in every forked child), and they are not secrets.
_id_prefix = os.urandom(10).hex()
_id_counter = itertools.count()


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(10).hex()
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A fresh request id (next() on itertools.count is atomic: threads get distinct ids)."""
    return "%s%012x" % (_id_prefix, next(_id_counter) & 0xFFFFFFFFFFFF)


def _new_span_id() -> str:
    # random's generator is reseeded in every forked child (random.py registers it), and needs no
    # system call; trace and span ids must be unique, not secret.
    return "%016x" % (random.getrandbits(64) or 1)


def new_trace_id() -> str:
    return "%032x" % (random.getrandbits(128) or 1)


def from_headers(request_id: bytes | None, traceparent: bytes | None) -> RequestContext:
    """The context of a request that sent these header values (None: not sent)."""
    if request_id is None or not _REQUEST_ID.fullmatch(request_id):
        rid = new_request_id()
    else:
        rid = request_id.decode("ascii")
    if traceparent is not None:
        parent = parse_traceparent(traceparent)
        if parent is not None:
            return RequestContext(rid, parent[0], _new_span_id(), parent[1])
    # A new trace and this server's span in it, from one draw.
    ids = "%048x" % random.getrandbits(192)
    if ids[:32] == _ZERO_TRACE or ids[32:] == _ZERO_SPAN:  # 2**-64: yet ids of zeros are invalid
        return RequestContext(rid, new_trace_id(), _new_span_id())
    return RequestContext(rid, ids[:32], ids[32:])


def parse_traceparent(value: bytes) -> tuple[str, str] | None:
    """(trace id, flags) of a valid traceparent header value, else None (a new trace starts)."""
    found = _TRACEPARENT.fullmatch(value.strip())
    if found is None:
        return None
    version, trace_id, parent_id, flags, rest = (
        part.decode("ascii") if part is not None else None for part in found.groups())
    # Version ff is invalid; version 00 has exactly four fields; ids of zeros are invalid.
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    assert trace_id is not None and flags is not None
    return trace_id, flags
