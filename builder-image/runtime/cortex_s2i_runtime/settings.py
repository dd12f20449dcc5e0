"""The predict server's environment variables, read in one place, once, at startup.

Each reader raises ValueError naming the variable, so that a bad value stops the server before it
forks a worker rather than at the first request. `ServerSettings.from_environ` reads them all;
docs/predict-server.md lists them for users.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Environ = Mapping[str, str]

DEFAULT_PORT = 5000
DEFAULT_MAX_WORKERS = 4
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT = 60
# Below `docker stop`'s default of 10 seconds, so that the server has exited before the engine's
# SIGKILL; raise it together with the orchestrator's grace period (docker stop -t,
# Kubernetes terminationGracePeriodSeconds).
DEFAULT_GRACEFUL_TIMEOUT = 8
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Slow clients: a request's head must arrive within HEADER_TIMEOUT seconds of its first byte (of
# the connection, for a new one), and its body within BODY_TIMEOUT seconds of the head. Totals,
# not idle timeouts: a client trickling a byte a second never trips an idle timeout.
DEFAULT_HEADER_TIMEOUT = 10
DEFAULT_BODY_TIMEOUT = 30
# A client that stops reading its answer: once the connection's buffers are full, it has this
# long to read again before the connection is dropped (a socket and a buffer, never a thread).
DEFAULT_SEND_TIMEOUT = 30
# Predictions a worker holds at once, running or waiting for a thread, per thread.
PENDING_PER_THREAD = 16
DEFAULT_DEBUG_LOG_BYTES = 4096
# Access lines wait at most this long to share a write (output.py). Under load a write fills up
# (PIPE_BUF, about 17 lines) long before; a quiet server makes at most two timed writes a second
# per worker, and its lines reach `docker logs` within half a second.
DEFAULT_ACCESS_LOG_FLUSH = 0.5
MAX_ACCESS_LOG_FLUSH = 60.0
# Answers at least this long are gzip-compressed for clients that accept it: below about 1 KiB
# the compressed answer is hardly smaller, and compressing costs more than it saves.
DEFAULT_GZIP_MIN_BYTES = 1024
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

_TRUTHY = ("1", "true", "yes", "on")
_FALSY = ("", "0", "false", "no", "off")
# An origin as browsers send it: scheme://host[:port], no path (RFC 6454).
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|null")


def whole_number(environ: Environ, name: str, default: int, minimum: int,
                 maximum: int | None = None) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        bounds = "%d..%d" % (minimum, maximum) if maximum is not None else ">= %d" % minimum
        raise ValueError("%s must be a whole number %s, got %r" % (name, bounds, raw))
    return int(raw)


def max_body_bytes(environ: Environ) -> int:
    """MAX_BODY_BYTES: the largest request body accepted (default 10 MiB)."""
    raw = environ.get("MAX_BODY_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("MAX_BODY_BYTES must be a positive whole number of bytes, got %r" % raw)
    return int(raw)


def threads(environ: Environ) -> int:
    """THREADS: prediction threads per worker process (default 4)."""
    return whole_number(environ, "THREADS", DEFAULT_THREADS, 1)


def request_timeout(environ: Environ) -> int:
    """TIMEOUT: seconds a prediction may take before its 504; 0: no limit."""
    return whole_number(environ, "TIMEOUT", DEFAULT_TIMEOUT, 0)


def debug_logging(environ: Environ) -> bool:
    """DEBUG_LOGGING: whether `?debug=true` may log request bodies and results (default off)."""
    raw = environ.get("DEBUG_LOGGING", "").strip().lower()
    if raw not in _TRUTHY + _FALSY:
        raise ValueError("DEBUG_LOGGING must be 1/true/yes/on or 0/false/no/off, got %r" % raw)
    return raw in _TRUTHY


def access_log_flush(environ: Environ) -> float:
    """ACCESS_LOG_FLUSH: seconds a request's line may wait to be written with others; 0: at once."""
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


def log_level(environ: Environ) -> str:
    """LOG_LEVEL: debug, info (the default), warning, error or critical."""
    level = environ.get("LOG_LEVEL", "").strip().lower() or "info"
    if level not in LOG_LEVELS:
        raise ValueError("LOG_LEVEL must be %s, got %r" % (", ".join(LOG_LEVELS), level))
    return level


def cors_origins(environ: Environ) -> tuple[str, ...]:
    """CORS_ORIGINS: origins whose pages may call the server (comma-separated, or `*` for any);
    unset, browsers' cross-origin calls are not allowed (the default)."""
    raw = environ.get("CORS_ORIGINS", "").strip()
    if not raw:
        return ()
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(","))
    if origins == ("*",):
        return origins
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError("CORS_ORIGINS must be * or comma-separated origins such as "
                             "https://app.example.com or http://localhost:3000, got %r in %r"
                             % (origin, raw))
    return origins


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read().strip()


def cgroup_cpu_limit(cgroup_root: str = "/sys/fs/cgroup") -> float | None:
    """The container's CPU quota in CPUs (may be fractional), or None when unlimited/unknown."""
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = _read(os.path.join(cgroup_root, "cpu.max")).split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):  # cgroup v1 mount names
        try:
            quota_us = int(_read(os.path.join(cgroup_root, controller, "cpu.cfs_quota_us")))
            period_us = int(_read(os.path.join(cgroup_root, controller, "cpu.cfs_period_us")))
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def usable_cpus(cgroup_root: str = "/sys/fs/cgroup", affinity: int | None = None) -> int:
    """CPUs this process may use: its CPU affinity, capped by the cgroup quota; at least 1.

    os.cpu_count() reports the host's CPUs, so `docker run --cpus 2` on a 64-core host would
    otherwise start 64 workers, each loading every model into memory.
    """
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            affinity = os.cpu_count() or 1
    cpus = affinity
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        # A quota of 1.5 CPUs still lets two workers make progress; round up.
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


@dataclass(frozen=True)
class ServerSettings:
    """Every knob of the predict server, read and checked."""

    port: int = DEFAULT_PORT
    workers: int = 1
    threads: int = DEFAULT_THREADS
    timeout: int = DEFAULT_TIMEOUT
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    header_timeout: int = DEFAULT_HEADER_TIMEOUT
    body_timeout: int = DEFAULT_BODY_TIMEOUT
    send_timeout: int = DEFAULT_SEND_TIMEOUT
    max_pending: int = PENDING_PER_THREAD * DEFAULT_THREADS
    debug_logging: bool = False
    debug_log_bytes: int = DEFAULT_DEBUG_LOG_BYTES
    access_log_flush: float = DEFAULT_ACCESS_LOG_FLUSH
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ()
    gzip_min_bytes: int = DEFAULT_GZIP_MIN_BYTES

    @classmethod
    def from_environ(cls, environ: Environ, cpus: int | None = None) -> ServerSettings:
        """The settings the environment asks for; raises ValueError naming a bad variable."""
        if cpus is None:
            cpus = usable_cpus()
        # Each worker is a process holding its own copy of every model, so memory, not CPU, is
        # what usually runs out first: four workers is a sensible ceiling for a default, and
        # WEB_CONCURRENCY raises it deliberately.
        pool = threads(environ)
        return cls(
            port=whole_number(environ, "PORT", DEFAULT_PORT, 1, 65535),
            workers=whole_number(environ, "WEB_CONCURRENCY", min(DEFAULT_MAX_WORKERS, cpus), 1),
            threads=pool,
            timeout=request_timeout(environ),
            graceful_timeout=whole_number(environ, "GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT,
                                          1),
            max_body_bytes=max_body_bytes(environ),
            header_timeout=whole_number(environ, "HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT, 1),
            body_timeout=whole_number(environ, "BODY_TIMEOUT", DEFAULT_BODY_TIMEOUT, 1),
            send_timeout=whole_number(environ, "SEND_TIMEOUT", DEFAULT_SEND_TIMEOUT, 1),
            max_pending=whole_number(environ, "MAX_PENDING", PENDING_PER_THREAD * pool, 1),
            debug_logging=debug_logging(environ),
            debug_log_bytes=whole_number(environ, "DEBUG_LOG_BYTES", DEFAULT_DEBUG_LOG_BYTES, 1),
            access_log_flush=access_log_flush(environ),
            log_level=log_level(environ),
            cors_origins=cors_origins(environ),
            gzip_min_bytes=whole_number(environ, "GZIP_MIN_BYTES", DEFAULT_GZIP_MIN_BYTES, 0),
        )

    def log_fields(self) -> dict[str, Any]:
        """What the server_started line says of the settings."""
        return {"workers": self.workers, "threads": self.threads,
                "request_timeout": self.timeout, "graceful_timeout": self.graceful_timeout,
                "header_timeout": self.header_timeout, "body_timeout": self.body_timeout,
                "send_timeout": self.send_timeout, "max_pending": self.max_pending,
                "max_body_bytes": self.max_body_bytes, "access_log_flush": self.access_log_flush,
                "cors_origins": list(self.cors_origins), "gzip_min_bytes": self.gzip_min_bytes}
