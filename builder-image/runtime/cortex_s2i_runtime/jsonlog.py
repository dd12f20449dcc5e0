"""JSON encoding shared by the runtime: log lines, train events and HTTP response bodies.

Every line logged while a request is served carries the request's id and trace context
(request_context.current): the server's own lines, and the model's `logging` lines too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import traceback
from typing import Any, Protocol

from . import request_context

# The formatted second, reused while it lasts: the predict server writes a line per request,
# and strftime per line was a visible part of a request's cost. (second, "YYYY-MM-DDTHH:MM:SS.")
_second: tuple[int | None, str] = (None, "")


# This process's id, for records made with logging.logProcesses off (the predict server turns it
# off: a getpid() system call per record); drawn again in a forked child.
_pid = os.getpid()


def _new_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_new_pid)


def iso_time(timestamp: float) -> str:
    """A time.time() value as ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T19:45:01.123Z."""
    global _second
    whole = int(timestamp)
    cached, prefix = _second
    if cached != whole:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole))
        _second = (whole, prefix)
    return "%s%03dZ" % (prefix, int((timestamp - whole) * 1000))


def utc_now_iso() -> str:
    """The current time as ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T19:45:01.123Z."""
    return iso_time(time.time())


def _plain(value: Any) -> Any:
    # Model code returns numpy arrays and scalars, pandas objects, dates and sets far more often
    # than plain lists; converting them here spares every user a serialisation shim.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        try:
            return value.to_dict(orient="records")
        except TypeError:
            return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


# Made once: json.dumps with any option builds a new encoder per call, on every request.
_strict = json.JSONEncoder(default=_plain, allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Encode value as strict JSON (one line); raises TypeError when it cannot be.

    NaN and infinities, which json.dumps would write as the invalid tokens NaN/Infinity, become
    null: every consumer of this output (curl | jq, JSON.parse, log shippers) expects strict JSON.
    """
    try:
        return _strict.encode(value)
    except ValueError:
        # Round-trip through the lenient encoder so numpy values are already plain Python.
        lenient = json.loads(json.dumps(value, default=_plain))
        return json.dumps(_finite(lenient), allow_nan=False, separators=(",", ":"))


def dumps_or_repr(value: Any) -> str:
    """dumps(value), or dumps of its repr() when it is not JSON-serialisable."""
    try:
        return dumps(value)
    except (TypeError, ValueError, RecursionError):
        return dumps(repr(value))


class JsonFormatter(logging.Formatter):
    """Formats every record as one JSON object: time, level, logger, pid, message, then its fields.

    Structured fields travel in the record attribute `fields` (pass extra={"fields": {...}});
    exceptions become a `traceback` string so that a traceback stays one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            # The predict server runs several worker processes; this says which one spoke.
            "pid": _pid if record.process is None else record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                line.setdefault(key, value)
        context = request_context.current.get()
        if context is not None:
            line.setdefault("request_id", context.request_id)
            line.setdefault("trace_id", context.trace_id)
            line.setdefault("span_id", context.span_id)
        if record.exc_info:
            line["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return _render(line)


def _render(line: dict[str, Any]) -> str:
    try:
        return dumps(line)
    except (TypeError, ValueError, RecursionError):
        # One odd field must not turn the whole line into a string: repr just that field.
        return dumps({key: json.loads(dumps_or_repr(value)) for key, value in line.items()})


class LineWriter(Protocol):
    """A handler that writes lines already formatted (output.LogHandler)."""

    def write_line(self, text: str, access: bool = False) -> None: ...


def _direct_handler(logger: logging.Logger, level: int) -> LineWriter | None:
    """The one handler a record from `logger` would reach, when it writes JsonFormatter lines
    itself (it has a `write_line` method) and no filter could drop or change the record."""
    if logger.filters or logger.disabled:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None or handler.filters or level < handler.level:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if (found is None or type(found.formatter) is not JsonFormatter
            or not hasattr(found, "write_line")):
        return None
    return found


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO,
              exc_info: Any = None, **fields: Any) -> None:
    """Log a structured event: `message` and `event` are the event name, fields follow.

    Where the event would only reach a handler writing JsonFormatter lines itself (the predict
    server's: output.LogHandler), the same line is written without a LogRecord, whose making
    was most of the cost of the server's line per request.
    """
    _log(logger, event, level, exc_info, False, fields)


def log_access(logger: logging.Logger, event: str, **fields: Any) -> None:
    """log_event at info for the access line of an answered request: the server's handler may
    hold it a moment to write it with others (output.configure, ACCESS_LOG_FLUSH)."""
    _log(logger, event, logging.INFO, None, True, fields)


def _log(logger: logging.Logger, event: str, level: int, exc_info: Any, access: bool,
         fields: dict[str, Any]) -> None:
    if exc_info is None and logger.isEnabledFor(level):
        handler = _direct_handler(logger, level)
        if handler is not None:
            line: dict[str, Any] = {
                "time": iso_time(time.time()), "level": logging.getLevelName(level).lower(),
                "logger": logger.name, "pid": _pid, "message": event, "event": event}
            for key, value in fields.items():
                line.setdefault(key, value)
            context = request_context.current.get()
            if context is not None:
                line.setdefault("request_id", context.request_id)
                line.setdefault("trace_id", context.trace_id)
                line.setdefault("span_id", context.span_id)
            if access:
                handler.write_line(_render(line), access=True)
            else:
                handler.write_line(_render(line))
            return
    logger.log(level, event, exc_info=exc_info, extra={"fields": dict(event=event, **fields)})


# The handler log_request writes to, found once for its logger and its handlers (looking for it
# on every request was a visible part of a small prediction's cost).
_request_logger: logging.Logger | None = None
_request_handlers: tuple[logging.Handler, ...] = ()
_request_writer: LineWriter | None = None


def _handlers(logger: logging.Logger) -> tuple[logging.Handler, ...]:
    """The handlers a record of `logger` may reach (their identity, not their settings)."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    return tuple(found)


def _remember_writer(logger: logging.Logger) -> LineWriter | None:
    global _request_logger, _request_handlers, _request_writer
    _request_logger, _request_handlers = logger, _handlers(logger)
    _request_writer = _direct_handler(logger, logging.INFO)
    return _request_writer


# The access line of an answered request, formatted without an encoder: every value in it is
# known to need no escaping (see log_request).
_REQUEST_LINE = ('{"time":"%s","level":"info","logger":"%s","pid":%d,"message":"request",'
                 '"event":"request","route":%s,"method":"%s","status":%d,"duration_ms":%r,'
                 '"request_id":"%s","trace_id":"%s","span_id":"%s"}')


def log_request(logger: logging.Logger, route: str | None, method: str, status: int,
                duration_ms: float, context: request_context.RequestContext) -> None:
    """log_access of the line `request` with these fields, the predict server's line per request.

    The same line as log_access writes, made with one format: the server's routes are URL paths
    of letters, digits and `._~-/` (routes.py), the method an HTTP token, the ids letters, digits
    and `._:-`, none of which JSON escapes; the caller uses log_access for anything else.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _request_writer
    if handler is None or _request_logger is not logger or _request_handlers != _handlers(logger):
        handler = _remember_writer(logger)
    if handler is None:
        log_access(logger, "request", route=route, method=method, status=status,
                   duration_ms=duration_ms)
        return
    handler.write_line(_REQUEST_LINE % (
        iso_time(time.time()), logger.name, _pid, "null" if route is None else '"%s"' % route,
        method, status, duration_ms, context.request_id, context.trace_id, context.span_id),
        access=True)


def event_line(event: str, level: str = "info", **fields: Any) -> str:
    """A JSON log line for use before logging is configured (e.g. while gunicorn reads config)."""
    line = {"time": utc_now_iso(), "level": level, "logger": "cortex_s2i.server",
            "message": event, "event": event}
    line.update(fields)
    return dumps_or_repr(line)
