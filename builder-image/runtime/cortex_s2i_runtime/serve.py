"""Starts the predict server: gunicorn's master keeping WEB_CONCURRENCY uvicorn workers (worker.py).

    python3 -m cortex_s2i_runtime.serve        (the daemon image's run script)

Settings come from the environment (settings.py; docs/predict-server.md lists them) and are
checked before anything starts: a bad value, a malformed ROUTES or an unusable Cortex API list
exits 2 with one JSON line naming it. gunicorn restarts a worker that ends, kills one whose event
loop is frozen (native code holding the GIL) well past TIMEOUT, and on SIGTERM stops accepting,
lets requests in flight finish for GRACEFUL_TIMEOUT seconds, then exits.

What the workers share lives in one directory of the server's own, made here before the master
forks and removed when it exits: the readiness files (readiness.py) and, under `metrics/`,
prometheus_client's multiprocess files (metrics.py). PROMETHEUS_MULTIPROC_DIR must be set before
prometheus_client is first imported, which is why the modules that import it are imported only
after that, and when a worker ends the master tells prometheus_client (`mark_process_dead`).

Every log line is JSON on stderr, gunicorn's and uvicorn's own included (logging_config).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from . import jsonlog, output, readiness
from .settings import ServerSettings

EXIT_CONFIG = 2
_METRICS_FOLDER = "metrics"

log = logging.getLogger("cortex_s2i.server")


def logging_config(level: str) -> dict[str, Any]:
    """dictConfig for gunicorn (logconfig_dict): JSON lines on stderr for every logger.

    uvicorn's worker gives its loggers gunicorn's handlers; gunicorn's access log stays silent,
    since the app logs one JSON line per request.
    """
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cortex_s2i_runtime.jsonlog.JsonFormatter"}},
        "handlers": {
            # The real stderr, one write per line, even once output.capture() has moved
            # descriptor 2 onto a relay for the model code's raw writes.
            "stderr": {"class": "cortex_s2i_runtime.output.LogHandler", "formatter": "json"},
            "null": {"class": "logging.NullHandler"},
        },
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": ["null"], "propagate": False},
            "cortex_s2i": {"level": level, "handlers": ["stderr"], "propagate": False},
        },
        # Model code's own logging (logging.getLogger(__name__)) comes out as JSON too.
        "root": {"level": level, "handlers": ["stderr"]},
    }


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook in the worker, as it exits: after SIGTERM's drain, or when it is replaced.

    Calls abandoned past their deadline may never return, and they hold threads that the
    interpreter would wait for at exit: a worker holding any ends here, at once.
    """
    abandoned = getattr(getattr(worker, "wsgi", None), "abandoned_calls", 0)
    jsonlog.log_event(log, "worker_stopped", pid=os.getpid(),
                      **({"abandoned_calls": abandoned} if abandoned else {}))
    output.flush_lines()  # nothing may wait past here: the process may end at once
    if abandoned:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        os._exit(0)


def gunicorn_options(settings: ServerSettings, routes: list[str],
                     state_dir: str) -> dict[str, Any]:
    """gunicorn's settings and hooks for this server."""
    workers = readiness.WorkerSet(state_dir, settings.workers)
    metrics_dir = os.path.join(state_dir, _METRICS_FOLDER)

    def on_starting(server: Any) -> None:
        # Set in the master before the fork, so that every worker has them: Python warnings
        # (sklearn's, pandas') as JSON lines; descriptors 1 and 2 on the relays; access lines
        # held as ACCESS_LOG_FLUSH says.
        logging.captureWarnings(True)
        output.capture()
        output.configure(settings.access_log_flush)

    def when_ready(server: Any) -> None:
        jsonlog.log_event(log, "server_started", bind="0.0.0.0:%d" % settings.port,
                          routes=routes, **settings.log_fields())

    def child_exit(server: Any, worker: Any) -> None:
        """In the master, after it reaps a worker, whatever the cause: it is no longer ready."""
        from prometheus_client import multiprocess
        workers.forget(worker.pid)
        multiprocess.mark_process_dead(worker.pid, metrics_dir)  # type: ignore[no-untyped-call]

    def on_exit(server: Any) -> None:
        """The master's last words, after gunicorn's own, so that `docker logs | tail -1` says
        why the server stopped."""
        output.release()
        failure = workers.first_failure()
        readiness.remove_state_dir(state_dir)
        jsonlog.log_event(log, "server_stopped")
        if failure is not None:
            # gunicorn's own last lines ("Worker failed to boot") say nothing of which route
            # failed or why; the worker that failed left that behind.
            jsonlog.log_event(log, "route_load_failed", level=logging.ERROR,
                              **dict(failure, reason="a route failed to load; the server stopped"))

    options: dict[str, Any] = {
        "bind": ["0.0.0.0:%d" % settings.port],
        "workers": settings.workers,
        "worker_class": "cortex_s2i_runtime.worker.Worker",
        # TIMEOUT is the app's deadline per prediction (a 504). gunicorn's own only catches a
        # worker whose event loop is frozen, e.g. native code holding the GIL: it kills the
        # process, so it is set well past the deadline (and off when the deadline is).
        "timeout": settings.timeout + 60 if settings.timeout else 0,
        "graceful_timeout": settings.graceful_timeout,
        # uvicorn's default: behind a load balancer, an idle connection closed by the server
        # first makes the balancer's next request on it fail.
        "keepalive": 5,
        "loglevel": settings.log_level,
        "accesslog": None,
        "errorlog": "-",
        "logconfig_dict": logging_config(settings.log_level),
        "on_starting": on_starting,
        "when_ready": when_ready,
        "child_exit": child_exit,
        "worker_exit": worker_exit,
        "on_exit": on_exit,
    }
    # Worker heartbeats are files touched every few seconds; on a container's overlay /tmp those
    # writes can stall long enough for gunicorn to kill healthy workers. /dev/shm is memory.
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        options["worker_tmp_dir"] = "/dev/shm"
    return options


def _config_error(message: str) -> int:
    # Logging is not set up yet: one JSON line, written as the handler would.
    sys.stderr.write(jsonlog.event_line("config_error", level="error", error=message) + "\n")
    sys.stderr.flush()
    return EXIT_CONFIG


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        return _config_error("unexpected argument %r: the server takes its settings from the "
                             "environment (PORT, WEB_CONCURRENCY, THREADS, TIMEOUT, ...); "
                             "--help prints the image's usage" % argv[0][:80])
    environ = os.environ
    try:
        settings = ServerSettings.from_environ(environ)
    except ValueError as error:
        return _config_error(str(error))
    state_dir = readiness.create_state_dir()
    os.makedirs(os.path.join(state_dir, _METRICS_FOLDER))
    # Before the first import of prometheus_client (predict_server's), and inherited by every
    # worker the master forks.
    os.environ[readiness.STATE_DIR_VARIABLE] = state_dir
    os.environ[readiness.WORKERS_VARIABLE] = str(settings.workers)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(state_dir, _METRICS_FOLDER)
    from . import cortex_api, predict_server, routes
    try:
        paths, _ = predict_server.route_paths(environ)
    except (routes.RoutesError, cortex_api.CortexApisError) as error:
        readiness.remove_state_dir(state_dir)
        return _config_error(str(error))
    # A log record's source file and line, thread and process names: JsonFormatter writes none
    # of them (it keeps the process id itself), and looking them up (a walk up the stack, system
    # calls) for every record was a large part of a request's cost. Inherited by every worker.
    # The logging HOWTO's "Optimization" section gives these four switches, _srcfile included.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logProcesses = False
    _Server(gunicorn_options(settings, paths, state_dir), settings).run()
    return 0


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's documented way to run an app from code: options in, the app loaded per worker."""

    def __init__(self, options: dict[str, Any], settings: ServerSettings) -> None:
        self._options = options
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .predict_server import create_served_app
        return create_served_app(os.environ, self._settings)


if __name__ == "__main__":
    sys.exit(main())
