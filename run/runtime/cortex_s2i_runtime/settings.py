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
