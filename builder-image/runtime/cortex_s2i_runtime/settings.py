"""The predict server's environment variables, parsed in one place for gunicorn_conf and the app.

Each reader raises ValueError naming the variable, so a bad value stops the server at startup
rather than at the first request.
"""

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 60
DEFAULT_THREADS = 4
# Below `docker stop`'s default of 10 seconds, so that the server has exited before the engine's
# SIGKILL; raise it together with the orchestrator's grace period (docker stop -t,
# Kubernetes terminationGracePeriodSeconds).
DEFAULT_GRACEFUL_TIMEOUT = 8
# Access lines wait at most this long to share a write. Under load a write fills up (PIPE_BUF,
# about 17 lines) long before: measured, 4,000 requests at 3,000 a second took 236 writes, so the
# value makes no difference there. A quiet server makes at most two timed writes a second per
# worker, and its lines reach `docker logs` within half a second.
DEFAULT_ACCESS_LOG_FLUSH = 0.5
MAX_ACCESS_LOG_FLUSH = 60


def whole_number(environ, name, default, minimum, maximum=None):
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        bounds = "%d..%d" % (minimum, maximum) if maximum is not None else ">= %d" % minimum
        raise ValueError("%s must be a whole number %s, got %r" % (name, bounds, raw))
    return int(raw)


def max_body_bytes(environ):
    """MAX_BODY_BYTES: the largest request body accepted (default 10 MiB)."""
    raw = environ.get("MAX_BODY_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("MAX_BODY_BYTES must be a positive whole number of bytes, got %r" % raw)
    return int(raw)


def request_timeout(environ):
    """TIMEOUT: seconds a route's function may take before the request is answered 504; 0: none."""
    return whole_number(environ, "TIMEOUT", DEFAULT_TIMEOUT, 0)


def threads(environ):
    """THREADS: request threads per worker process (default 4)."""
    return whole_number(environ, "THREADS", DEFAULT_THREADS, 1)


def graceful_timeout(environ):
    """GRACEFUL_TIMEOUT: seconds in-flight requests get to finish after SIGTERM (default 8)."""
    return whole_number(environ, "GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT, 1)


def access_log_flush(environ):
    """ACCESS_LOG_FLUSH: seconds a request's log line may wait to be written with others
    (default 0.5); 0: each line at once."""
    raw = environ.get("ACCESS_LOG_FLUSH", "").strip()
    if not raw:
        return DEFAULT_ACCESS_LOG_FLUSH
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_ACCESS_LOG_FLUSH:  # also refuses nan
        raise ValueError("ACCESS_LOG_FLUSH must be a number of seconds from 0 to %d, got %r"
                         % (MAX_ACCESS_LOG_FLUSH, raw))
    return seconds


# Slow clients: a request's headers must arrive within HEADER_TIMEOUT seconds of its first byte
# (of the connection, for a new one), and its body within BODY_TIMEOUT seconds of the headers.
# Totals, not per-read idle timeouts: a client trickling a byte a second never trips an idle
# timeout, and that is how a handful of connections used to hold every thread.
DEFAULT_HEADER_TIMEOUT = 10
DEFAULT_BODY_TIMEOUT = 30
# Predictions a worker holds at once, running or waiting for a thread, per request thread.
PENDING_PER_THREAD = 16
DEFAULT_DEBUG_LOG_BYTES = 4096
_TRUTHY = ("1", "true", "yes", "on")
_FALSY = ("", "0", "false", "no", "off")


def header_timeout(environ):
    """HEADER_TIMEOUT: seconds a request's headers may take to arrive (default 10)."""
    return whole_number(environ, "HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, 1)


def body_timeout(environ):
    """BODY_TIMEOUT: seconds a request's body may take to arrive after its headers (default 30)."""
    return whole_number(environ, "BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, 1)


def max_pending(environ):
    """MAX_PENDING: predictions per worker running or queued before a 503 (16 x THREADS)."""
    return whole_number(environ, "MAX_PENDING", PENDING_PER_THREAD * threads(environ), 1)


def debug_logging(environ):
    """DEBUG_LOGGING: whether `?debug=true` may log request bodies and results (default off)."""
    raw = environ.get("DEBUG_LOGGING", "").strip().lower()
    if raw not in _TRUTHY + _FALSY:
        raise ValueError("DEBUG_LOGGING must be 1/true/yes/on or 0/false/no/off, got %r" % raw)
    return raw in _TRUTHY


def debug_log_bytes(environ):
    """DEBUG_LOG_BYTES: how much of a body or result a debug line keeps (default 4096)."""
    return whole_number(environ, "DEBUG_LOG_BYTES", DEFAULT_DEBUG_LOG_BYTES, 1)
