"""gunicorn settings for the predict server, read from the environment (--config python:...).

PORT (5000), WEB_CONCURRENCY (worker processes; default: usable CPUs, at most 4), THREADS (request
threads per worker, 4), TIMEOUT (seconds a prediction may take before a 504, 60; 0: no limit),
GRACEFUL_TIMEOUT (seconds in-flight requests get after SIGTERM, 8), MAX_BODY_BYTES (10 MiB),
HEADER_TIMEOUT (10) and BODY_TIMEOUT (30) (seconds a request's headers, then its body, may take
to arrive), MAX_PENDING (predictions per worker running or waiting, 16 x THREADS), DEBUG_LOGGING
(off) and DEBUG_LOG_BYTES (4096), ACCESS_LOG_FLUSH (seconds a request's line may wait to share a
write, 0.5; 0: at once), LOG_LEVEL (info). Every log line, gunicorn's own included, is
JSON on stderr; gunicorn's plain access log is off because the app logs one JSON line per request.
The worker class is gunicorn's gthread with the defences of server_worker.py.

The hooks below keep the state the workers share (workers.py): the master creates its directory
before forking, forgets a worker's ready marker when it reaps the worker, and removes the
directory on exit.
"""

import logging
import math
import os
import signal
import sys

from cortex_s2i_runtime import jsonlog, output, settings
from cortex_s2i_runtime import cortex_api, routes as routes_module, workers as workers_module

DEFAULT_MAX_WORKERS = 4


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def cgroup_cpu_limit(cgroup_root="/sys/fs/cgroup"):
    """The container's CPU quota in CPUs (may be fractional), or None when unlimited/unknown."""
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = _read(os.path.join(cgroup_root, "cpu.max")).split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):  # cgroup v1 mount names
        try:
            quota = int(_read(os.path.join(cgroup_root, controller, "cpu.cfs_quota_us")))
            period = int(_read(os.path.join(cgroup_root, controller, "cpu.cfs_period_us")))
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def usable_cpus(cgroup_root="/sys/fs/cgroup", affinity=None):
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


def settings_from(environ, cpus=None):
    """The gunicorn settings this module exports, as a dict; raises ValueError on a bad value."""
    if cpus is None:
        cpus = usable_cpus()
    # Each worker is a process holding its own copy of every model, so memory, not CPU, is what
    # usually runs out first; threads already overlap I/O within a worker, and numpy/BLAS
    # parallelise inside one. Four workers is a sensible ceiling for a default;
    # WEB_CONCURRENCY raises it deliberately.
    default_workers = min(DEFAULT_MAX_WORKERS, cpus)
    log_level = environ.get("LOG_LEVEL", "").strip().lower() or "info"
    if log_level not in ("debug", "info", "warning", "error", "critical"):
        raise ValueError("LOG_LEVEL must be debug, info, warning, error or critical, got %r"
                         % log_level)
    # Fail at startup, not at the first request (the app and the worker read these again).
    settings.max_body_bytes(environ)
    settings.debug_logging(environ)
    settings.debug_log_bytes(environ)
    settings.header_timeout(environ)
    settings.body_timeout(environ)
    settings.max_pending(environ)
    settings.access_log_flush(environ)
    request_timeout = settings.request_timeout(environ)
    return {
        "bind": ["0.0.0.0:%d" % settings.whole_number(environ, "PORT", 5000, 1, 65535)],
        "workers": settings.whole_number(environ, "WEB_CONCURRENCY", default_workers, 1),
        "threads": settings.threads(environ),
        # TIMEOUT is the app's per-request deadline (a 504). gunicorn's own timeout only catches
        # a worker whose main loop is frozen, e.g. native code holding the GIL: it kills the
        # process, so it is set well past the deadline (and off when the deadline is).
        "timeout": request_timeout + 60 if request_timeout else 0,
        "graceful_timeout": settings.graceful_timeout(environ),
        "loglevel": log_level,
    }


def logging_config(log_level):
    """dictConfig for gunicorn (logconfig_dict): JSON lines on stderr, access logger silenced.

    gunicorn sends a line per request to gunicorn.access whenever logconfig_dict is set, so that
    logger is given a NullHandler; the app's own request line replaces it.
    """
    level = log_level.upper()
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


try:
    _settings = settings_from(os.environ)
except ValueError as _error:
    # gunicorn has not set up logging yet, and would print a traceback for a plain exception.
    sys.stderr.write(jsonlog.event_line("config_error", level="error", error=str(_error)) + "\n")
    raise SystemExit(2)

bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]
timeout = _settings["timeout"]
graceful_timeout = _settings["graceful_timeout"]
loglevel = _settings["loglevel"]
worker_class = "cortex_s2i_runtime.server_worker.Worker"
logger_class = "cortex_s2i_runtime.server_worker.Logger"
accesslog = None
errorlog = "-"
logconfig_dict = logging_config(loglevel)
# A log record's source file and line, thread and process names, process id: JsonFormatter writes
# none of them but the id, which it keeps itself, and looking them up (a walk up the stack, a
# system call) for every record was a large part of a request's cost, with a line per request.
# Set in the master, inherited by every worker.
logging._srcfile = None
logging.logThreads = False
logging.logMultiprocessing = False
logging.logProcesses = False
# Worker heartbeats are files touched every second; on a container's overlay /tmp those writes
# can stall long enough for gunicorn to kill healthy workers. /dev/shm is memory.
if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    worker_tmp_dir = "/dev/shm"


_server_log = logging.getLogger("cortex_s2i.server")


def on_starting(server):
    """Reject a malformed ROUTES in the master, before any worker imports model code."""
    # Python warnings (sklearn's, pandas') would otherwise be plain text among the JSON lines;
    # set in the master, the capture is inherited by every forked worker.
    logging.captureWarnings(True)
    try:
        apis = cortex_api.from_environ(os.environ)
        if apis is None:
            paths = [route.path for route in routes_module.parse_routes(os.environ.get("ROUTES"))]
        else:
            paths = [api.route for api in apis]
    except (routes_module.RoutesError, cortex_api.CortexApisError) as error:
        jsonlog.log_event(_server_log, "config_error",
                          level=logging.ERROR, error=str(error))
        raise SystemExit(2)
    server.cortex_s2i_routes = paths
    # Before the fork: every worker's descriptors 1 and 2 are then the relays, and every worker
    # holds its access lines as ACCESS_LOG_FLUSH says.
    output.capture()
    output.configure(settings.access_log_flush(os.environ))
    # Set before the fork, so every worker inherits them.
    os.environ[workers_module.STATE_DIR_VARIABLE] = workers_module.create_state_dir()
    os.environ[workers_module.WORKERS_VARIABLE] = str(workers)


def when_ready(server):
    jsonlog.log_event(_server_log, "server_started",
                      bind=bind, workers=workers, threads=threads,
                      request_timeout=settings.request_timeout(os.environ),
                      graceful_timeout=graceful_timeout,
                      header_timeout=settings.header_timeout(os.environ),
                      body_timeout=settings.body_timeout(os.environ),
                      max_pending=settings.max_pending(os.environ),
                      access_log_flush=settings.access_log_flush(os.environ),
                      routes=getattr(server, "cortex_s2i_routes", None))


def post_worker_init(worker):
    """Make SIGTERM stop new connections at once, not at the worker loop's next turn.

    gunicorn's threaded worker only notices SIGTERM when its poll returns, up to a second later,
    and accepts new connections until then. Unregistering the listening sockets from its poller
    in the signal handler stops that; the loop still closes them, and connections left in the
    kernel's backlog are reset once every process has closed its copy. Requests in flight are
    untouched: the worker waits GRACEFUL_TIMEOUT seconds for them.
    """
    previous = signal.getsignal(signal.SIGTERM)

    def stop_accepting(signum, frame):
        poller = getattr(worker, "poller", None)
        for sock in getattr(worker, "sockets", []):
            try:
                poller.unregister(sock)
            except (AttributeError, KeyError, ValueError, OSError):
                pass  # not registered yet, or not this worker class
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stop_accepting)


def worker_exit(server, worker):
    """In the worker, as it exits: after SIGTERM, once its requests in flight are answered.

    Calls abandoned past their deadline may never return, and they hold request threads that
    the interpreter would join at exit: a worker holding any ends here, without waiting.
    """
    abandoned = getattr(worker, "abandoned_calls", 0)
    # After the worker's last access lines (a line that is not one sends them first).
    jsonlog.log_event(_server_log, "worker_stopped", pid=os.getpid(),
                      **({"abandoned_calls": abandoned} if abandoned else {}))
    if abandoned:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
    # Nothing may wait past here: the process ends without the timed flush.
    output.flush_lines()
    if abandoned:
        os._exit(0)


def child_exit(server, worker):
    """In the master, after it reaps a worker, whatever the cause: it is no longer ready."""
    found = workers_module.WorkerSet.from_environ(os.environ)
    if found is not None:
        found.forget(worker.pid)


def on_exit(server):
    """The master's last words: after gunicorn's own, so that `docker logs | tail -1` says why."""
    output.release()
    failure = None
    found = workers_module.WorkerSet.from_environ(os.environ)
    if found is not None:
        failure = found.first_failure()
        workers_module.remove_state_dir(found.directory)
    jsonlog.log_event(_server_log, "server_stopped")
    if failure is not None:
        # gunicorn's own last lines ("Worker failed to boot", HaltServer) say nothing of which
        # route failed or why; the worker that failed left that behind.
        jsonlog.log_event(_server_log, "route_load_failed", level=logging.ERROR,
                          **dict(failure, reason="a route failed to load; the server stopped"))
