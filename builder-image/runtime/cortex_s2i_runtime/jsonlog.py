"""JSON encoding shared by the runtime: log lines, train events and HTTP response bodies."""

import json
import logging
import math
import os
import time
import traceback

# The formatted second, reused while it lasts: the predict server writes a line per request,
# and strftime per line was a visible part of a request's cost. (second, "YYYY-MM-DDTHH:MM:SS.")
_second = (None, "")


# This process's id, for records made with logging.logProcesses off (the predict server turns it
# off: a getpid() system call per record); drawn again in a forked child.
_pid = os.getpid()


def _new_pid():
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_new_pid)


def iso_time(timestamp):
    """A time.time() value as ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T19:45:01.123Z."""
    global _second
    whole = int(timestamp)
    cached, prefix = _second
    if cached != whole:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(whole))
        _second = (whole, prefix)
    return "%s%03dZ" % (prefix, int((timestamp - whole) * 1000))


def utc_now_iso():
    """The current time as ISO 8601 in UTC with milliseconds, e.g. 2026-11-21T19:45:01.123Z."""
    return iso_time(time.time())


def _plain(value):
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


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


# Made once: json.dumps with any option builds a new encoder per call, on every request.
_strict = json.JSONEncoder(default=_plain, allow_nan=False, separators=(",", ":"))


def dumps(value):
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


def dumps_or_repr(value):
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

    def format(self, record):
        line = {
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
        if record.exc_info:
            line["traceback"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return _render(line)


def _render(line):
    try:
        return dumps(line)
    except (TypeError, ValueError, RecursionError):
        # One odd field must not turn the whole line into a string: repr just that field.
        return dumps({key: json.loads(dumps_or_repr(value)) for key, value in line.items()})


def _direct_handler(logger, level):
    """The one handler a record from `logger` would reach, when it writes JsonFormatter lines
    itself (it has a `write_line` method) and no filter could drop or change the record."""
    if logger.filters or logger.disabled:
        return None
    found = None
    current = logger
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


def log_event(logger, event, level=logging.INFO, exc_info=None, **fields):
    """Log a structured event: `message` and `event` are the event name, fields follow.

    Where the event would only reach a handler writing JsonFormatter lines itself (the predict
    server's: output.LogHandler), the same line is written without a LogRecord, whose making
    was most of the cost of the server's line per request.
    """
    _log(logger, event, level, exc_info, False, fields)


def log_access(logger, event, **fields):
    """log_event at info for the access line of an answered request: the server's handler may
    hold it a moment to write it with others (output.configure, ACCESS_LOG_FLUSH)."""
    _log(logger, event, logging.INFO, None, True, fields)


def _log(logger, event, level, exc_info, access, fields):
    if exc_info is None and logger.isEnabledFor(level):
        handler = _direct_handler(logger, level)
        if handler is not None:
            line = {"time": iso_time(time.time()), "level": logging.getLevelName(level).lower(),
                    "logger": logger.name, "pid": _pid, "message": event, "event": event}
            for key, value in fields.items():
                line.setdefault(key, value)
            if access:
                handler.write_line(_render(line), access=True)
            else:
                handler.write_line(_render(line))
            return
    logger.log(level, event, exc_info=exc_info, extra={"fields": dict(event=event, **fields)})


def event_line(event, level="info", **fields):
    """A JSON log line for use before logging is configured (e.g. while gunicorn reads config)."""
    line = {"time": utc_now_iso(), "level": level, "logger": "cortex_s2i.server",
            "message": event, "event": event}
    line.update(fields)
    return dumps_or_repr(line)
