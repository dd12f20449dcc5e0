"""The predict server: a WSGI app serving every ROUTES triple as POST /<route>.

gunicorn builds it with `create_served_app()` in each worker process, after the fork. The worker
answers HTTP at once while a background thread imports every route's module and runs every
init/constructor: GET /health says the process is up from the start, GET /ready stays 503 until
every worker of the server has loaded its routes (workers.py), and a prediction that arrives
meanwhile waits for this worker's load (at most TIMEOUT seconds, then 503). A route that fails to
load ends the worker with gunicorn's boot-error status (3), and gunicorn then stops the server.
`create_app()` loads synchronously instead, for tests and embedding.

HTTP contract (every response carries X-Request-Id; every error is JSON
{"error": {"status": N, "message": "...", "request_id": "..."}}):
  POST /<route>   the JSON body, passed to the function as is -> 200 {"payload": <return value>}
                  (cortex.yaml's APIs, cortex_api.py: -> 200 <return value>, Cortex's shape)
  GET  /health    200 {"status": "ok", "routes": [...]}: the process is up
  GET  /ready     200 once every worker has loaded every route, else 503
  GET  /metrics   Prometheus text format: request counts by route and status, latency histogram
  400  the body is empty, not JSON, nested too deeply, or not a JSON object or array (the "wrong shape": every
       Cortex payload is one, and a bare string, number, true/false or null is almost always a
       client bug that would otherwise surface as a 500 from inside the model code)
  400  also: a body that cannot be read (a malformed chunk size, a connection that ended early)
  404  no such route          405  wrong method (with Allow)
  408  the body did not arrive within BODY_TIMEOUT seconds of the headers (server_worker.py)
  413  Content-Length (or a chunked body) over MAX_BODY_BYTES, decided before the body is read
  415  a Content-Type other than JSON (application/json or application/*+json); a request with
       no Content-Type at all is taken as JSON, as many clients send none
  500  the function raised, or returned something JSON cannot encode; the client gets a generic
       message, the log gets the traceback under the request id
  503  /ready before loading is done; a prediction when loading outlasts TIMEOUT; a prediction
       when MAX_PENDING are already running or queued in the worker (server_worker.py)
  504  the function did not return within TIMEOUT seconds (deadline.py: the call is abandoned);
       under the predict server's worker, which passes SEND_NOW in the environ, the call runs
       in the request thread and the worker's watchdog thread sends the 504 on the connection
Requests that gunicorn itself rejects as malformed HTTP get the same JSON from the worker
(server_worker.py): 400, 414 (request line too long), 431 (headers too large), 501 (a
Transfer-Encoding other than chunked).
`?debug=true` logs the request body and the function's result, each cut to DEBUG_LOG_BYTES, when
the operator allows it with DEBUG_LOGGING=1; otherwise the request is served as usual, and that
debug logging is off is logged once per worker (bodies hold whatever clients send: personal
data, credentials).
"""

import itertools
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.parse
from functools import partial

from . import clients, deadline, jsonlog, metrics as metrics_module, routes as routes_module
from . import cortex_api
from . import settings
from .workers import WorkerSet

DEFAULT_MAX_BODY_BYTES = settings.DEFAULT_MAX_BODY_BYTES
max_body_bytes_from = settings.max_body_bytes
# gunicorn's exit status for a worker that could not boot: the master stops the server on it.
WORKER_BOOT_ERROR = 3
WORKER_FAILED = 1
SERVICE_PATHS = ("health", "ready", "metrics")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_JSON_TYPE = re.compile(r"application/(json|[^;/\s]+\+json)\s*(;.*)?", re.IGNORECASE)
STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
               408: "Request Timeout", 413: "Payload Too Large", 414: "URI Too Long",
               415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
               500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
               504: "Gateway Timeout"}
_MAX_ECHOED_PATH = 200
_JSON = "application/json"
# The environ key of the server's callable sending a whole answer from another thread:
# send_now(status line, headers, body); the connection then closes.
SEND_NOW = "cortex_s2i.send_now"

log = logging.getLogger("cortex_s2i.predict")


# Request ids: 32 hex digits, a random prefix per process and a counter. A random id per request
# cost a getrandom() system call on every request; these stay unique across workers and
# restarts (the prefix is drawn again in every forked child), and they are not secrets.
_id_prefix = os.urandom(10).hex()
_id_counter = itertools.count()


def _new_id_prefix():
    global _id_prefix, _id_counter
    _id_prefix = os.urandom(10).hex()
    _id_counter = itertools.count()


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id():
    """A fresh request id (next() on itertools.count is atomic: threads get distinct ids)."""
    return "%s%012x" % (_id_prefix, next(_id_counter) & 0xFFFFFFFFFFFF)


class HttpError(Exception):
    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


def _truthy(value):
    return value.strip().lower() in ("1", "true", "yes", "on")


class PredictApp:
    """WSGI callable for a list of route paths; `load()` or `set_targets()` makes it serve them."""

    def __init__(self, route_paths, max_body_bytes=DEFAULT_MAX_BODY_BYTES,
                 timeout=settings.DEFAULT_TIMEOUT, threads=settings.DEFAULT_THREADS,
                 workers=None, metrics=None, on_saturated=None, logger=log,
                 debug_logging=False, debug_log_bytes=settings.DEFAULT_DEBUG_LOG_BYTES):
        self.route_paths = list(route_paths)
        self.max_body_bytes = max_body_bytes
        self.debug_logging = debug_logging
        self.debug_log_bytes = debug_log_bytes
        self._debug_refused = False
        self.timeout = timeout
        self.workers = workers
        self.log = logger
        self.targets = {}
        # Cortex APIs (cortex_api.py): served without the envelope, predictions monitored.
        self.cortex_apis = None
        self.monitor = None
        self.metrics = metrics or metrics_module.Metrics(
            self.route_paths + list(SERVICE_PATHS) + [metrics_module.UNMATCHED])
        self._loaded = threading.Event()
        self.threads = threads
        self._on_saturated = on_saturated or self._saturated
        # Told +1/-1 as calls are abandoned and return (the server adds a request thread).
        self.on_abandoned = None
        self._watchdog = None
        self._runner = None  # made on first use: only servers without SEND_NOW need it
        self._runner_lock = threading.Lock()
        if timeout > 0:
            self._watchdog = deadline.Watchdog(timeout, threads, self._late_finish,
                                               self._on_saturated, self._abandoned_changed)
        self._health = jsonlog.dumps({"status": "ok", "routes": self.route_paths}).encode()

    # Loading

    def load(self, environ, model_path=None):
        """Import every route and run its init/constructor; raises RouteLoadError on a failure."""
        started = time.monotonic()
        try:
            if self.cortex_apis is not None:
                targets = cortex_api.load(self.cortex_apis, model_path, self.monitor)
            else:
                targets = routes_module.load_routes(
                    routes_module.parse_routes(environ.get("ROUTES")), environ, model_path)
        except routes_module.RouteLoadError as exc:
            jsonlog.log_event(self.log, "route_load_failed", level=logging.ERROR, exc_info=True,
                              route=exc.route.path, module=exc.route.module,
                              function=exc.route.function, error=str(exc))
            raise
        self.set_targets(targets)
        jsonlog.log_event(self.log, "routes_loaded", routes=list(targets), pid=os.getpid(),
                          duration_ms=round((time.monotonic() - started) * 1000, 3))

    def set_targets(self, targets):
        self.targets = dict(targets)
        self._loaded.set()
        if self.workers is not None:
            self.workers.mark_ready(os.getpid())

    @property
    def loaded(self):
        return self._loaded.is_set()

    def readiness(self):
        """(ready, workers ready, workers expected)."""
        if self.workers is None:
            count = int(self.loaded)
            return self.loaded, count, 1
        count = self.workers.ready_count()
        return self.loaded and count >= self.workers.expected, count, self.workers.expected

    # Requests

    def __call__(self, environ, start_response):
        started = time.monotonic()
        request_id = environ.get("HTTP_X_REQUEST_ID")
        if not request_id or not _REQUEST_ID.fullmatch(request_id):
            request_id = new_request_id()
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        route = path.strip("/")
        known = route in SERVICE_PATHS or route in self.route_paths
        debug = self._debug_allowed(environ, request_id)
        content_type = _JSON
        headers = []
        try:
            if route in SERVICE_PATHS:
                if method not in ("GET", "HEAD"):
                    raise HttpError(405, "use GET /%s" % route, [("Allow", "GET, HEAD")])
                status, body, content_type = self._service(route, request_id)
            elif route in self.route_paths:
                status, body = 200, self._predict(environ, method, route, request_id,
                                                    debug, started)
            else:
                shown = path if len(path) <= _MAX_ECHOED_PATH else path[:_MAX_ECHOED_PATH] + "..."
                raise HttpError(404, "no route %s %s; GET /health lists the routes"
                                % (method, shown))
        except deadline.Abandoned:
            raise  # answered already, by the watchdog (_answer_late); the server drops this one
        except HttpError as exc:
            status, body = exc.status, self._error_body(exc.status, exc.message, request_id)
            content_type = _JSON
            headers.extend(exc.headers)
            # A 413 or 415 leaves the body unread. WSGI forbids Connection headers, so on a
            # kept-alive connection gunicorn discards the rest (8 KiB at a time, never
            # buffered) before the next request.
        except Exception:
            self._log("request_failed", request_id, route, method, level=logging.ERROR,
                      exc_info=True)
            status, content_type = 500, _JSON
            body = self._error_body(500, "the prediction failed; the server log has the "
                                         "details under this request id", request_id)

        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   ("X-Request-Id", request_id)] + headers
        start_response("%d %s" % (status, STATUS_TEXT.get(status, "")), headers)
        seconds = time.monotonic() - started
        self.metrics.observe(route if known else metrics_module.UNMATCHED, status, seconds)
        self._access_line(request_id, route if known else None, method, status=status,
                          duration_ms=round(seconds * 1000, 3),
                          **({} if known else {"path": path[:_MAX_ECHOED_PATH]}))
        return [b"" if method == "HEAD" else body]

    def _debug_allowed(self, environ, request_id):
        query = environ.get("QUERY_STRING", "")
        if "debug" not in query or not any(
                _truthy(v) for v in urllib.parse.parse_qs(query).get("debug", [])):
            return False
        if self.debug_logging:
            return True
        if not self._debug_refused:
            self._debug_refused = True
            jsonlog.log_event(self.log, "debug_logging_off", level=logging.WARNING,
                              request_id=request_id,
                              reason="?debug=true asks to log request bodies; set "
                                     "DEBUG_LOGGING=1 to allow it (noted once per worker)")
        return False

    def _clip(self, text):
        """(text cut to debug_log_bytes characters, whether it was cut)."""
        if len(text) <= self.debug_log_bytes:
            return text, False
        return text[:self.debug_log_bytes], True

    def error_response(self, status, message, method=None, path=None, headers=()):
        """(status line, headers, body) of a JSON error the server decides without the app.

        The worker (server_worker.py) answers slow clients, a full queue and malformed HTTP
        itself; this keeps those answers, their log line and their metrics the same as the app's.
        """
        request_id = new_request_id()
        body = self._error_body(status, message, request_id)
        self.metrics.observe(metrics_module.UNMATCHED, status, 0.0)
        self._access_line(request_id, None, method, status=status, error=message,
                          **({"path": path[:_MAX_ECHOED_PATH]} if path else {}))
        return ("%d %s" % (status, STATUS_TEXT.get(status, "")),
                [("Content-Type", _JSON), ("Content-Length", str(len(body))),
                 ("X-Request-Id", request_id)] + list(headers), body)

    def _service(self, route, request_id):
        if route == "health":
            return 200, self._health, _JSON
        if route == "metrics":
            text = self.metrics.render(always=self.route_paths)
            if self.monitor is not None:
                text += self.monitor.render()
            return 200, text.encode(), metrics_module.CONTENT_TYPE
        ready, count, expected = self.readiness()
        if not ready:
            raise HttpError(503, "not ready: %d of %d workers have loaded their routes"
                            % (count, expected), [("Retry-After", "1")])
        body = jsonlog.dumps({"status": "ready", "routes": self.route_paths,
                              "workers_ready": count, "workers": expected}).encode()
        return 200, body, _JSON

    def _predict(self, environ, method, route, request_id, debug, started):
        if method != "POST":
            raise HttpError(405, "use POST /%s with a JSON body" % route, [("Allow", "POST")])
        content_type = environ.get("CONTENT_TYPE", "").strip()
        if content_type and not _JSON_TYPE.fullmatch(content_type):
            raise HttpError(415, "the request body must be JSON (Content-Type: application/json),"
                            " not %s" % content_type[:80])
        if not self._loaded.is_set() and not self._loaded.wait(self.timeout or None):
            raise HttpError(503, "the routes are still loading; try again shortly",
                            [("Retry-After", "1")])
        raw = self._read_body(environ)
        if debug:
            shown, cut = self._clip(raw.decode("utf-8", "replace"))
            self._log("debug_request", request_id, route, method, body=shown,
                      body_bytes=len(raw), truncated=cut,
                      query=environ.get("QUERY_STRING", "")[:_MAX_ECHOED_PATH],
                      content_type=content_type[:80])
        if not raw.strip():
            raise HttpError(400, "the request body is empty; send a JSON object or array")
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, "the request body is not valid JSON: %s" % exc)
        except RecursionError:
            # json's decoder recurses once per nesting level and gives up at the interpreter's
            # recursion limit (about 1000 levels): the client's document, not a server fault.
            raise HttpError(400, "the request body is nested too deeply to decode")
        if not isinstance(payload, (dict, list)):
            raise HttpError(400, "the request body must be a JSON object or array, not %s"
                            % _json_type(payload))
        target = self.targets[route]
        send_now = environ.get(SEND_NOW)
        if self._watchdog is None:
            result = deadline.call_directly(target, payload)
        elif send_now is not None:
            result = self._watchdog.call(
                target, payload,
                partial(self._answer_late, send_now, request_id, route, method, started),
                (request_id, route))
        else:
            try:
                result = self._call_runner().call(target, payload, (request_id, route))
            except deadline.DeadlineExceeded as exc:
                self._timed_out(request_id, route, method, exc.abandoned)
                raise HttpError(504, self._timeout_message())
        body = jsonlog.dumps({"payload": result} if self.cortex_apis is None else result).encode()
        if debug:
            encoded = jsonlog.dumps_or_repr(result)
            if len(encoded) <= self.debug_log_bytes:
                self._log("debug_result", request_id, route, method, result=result)
            else:
                self._log("debug_result", request_id, route, method,
                          result=self._clip(encoded)[0], truncated=True)
        return body

    def _timeout_message(self):
        return "the prediction did not finish within %d seconds (TIMEOUT)" % self.timeout

    def _timed_out(self, request_id, route, method, abandoned):
        self._log("request_timeout", request_id, route, method, level=logging.WARNING,
                  timeout_seconds=self.timeout, abandoned_calls=abandoned)

    def _answer_late(self, send_now, request_id, route, method, started, abandoned):
        """The 504 of a call past its deadline, from the watchdog thread: logged, counted and
        sent as __call__ would have, while the call goes on in its request thread."""
        self._timed_out(request_id, route, method, abandoned)
        body = self._error_body(504, self._timeout_message(), request_id)
        seconds = time.monotonic() - started
        self.metrics.observe(route, 504, seconds)
        self._access_line(request_id, route, method, status=504,
                          duration_ms=round(seconds * 1000, 3))
        send_now("504 " + STATUS_TEXT[504], [("Content-Type", _JSON),
                                             ("Content-Length", str(len(body))),
                                             ("X-Request-Id", request_id)], body)

    def _call_runner(self):
        with self._runner_lock:
            if self._runner is None:
                self._runner = deadline.CallRunner(self.timeout, self.threads, self._late_finish,
                                                   self._on_saturated)
            return self._runner

    def _abandoned_changed(self, change):
        if self.on_abandoned is not None:
            self.on_abandoned(change)

    @property
    def abandoned_calls(self):
        """Calls past their deadline still running in this process."""
        return ((self._watchdog.abandoned if self._watchdog else 0)
                + (self._runner.abandoned if self._runner else 0))

    def _read_body(self, environ):
        try:
            return self._read_body_from(environ, environ["wsgi.input"])
        except clients.ClientTimeout as exc:
            raise HttpError(408, "the request body did not arrive within %s seconds "
                            "(BODY_TIMEOUT)" % exc.seconds)
        except OSError as exc:
            # The server's body reader raises OSError subclasses for a malformed chunk size or
            # terminator and for a body that ended early: the client's fault, never a 500.
            raise HttpError(400, "the request body could not be read: %s"
                            % (str(exc)[:200] or type(exc).__name__))

    def _read_body_from(self, environ, stream):
        length = environ.get("CONTENT_LENGTH", "").strip()
        if length:
            if not length.isdigit():
                raise HttpError(400, "Content-Length %r is not a number" % length[:40])
            length = int(length)
            if length > self.max_body_bytes:
                raise HttpError(413, "the request body is %d bytes; the limit is %d "
                                "(MAX_BODY_BYTES)" % (length, self.max_body_bytes))
            return stream.read(length) if length else b""
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            # No length up front: read one byte past the limit to tell "at" from "over".
            raw = stream.read(self.max_body_bytes + 1)
            if len(raw) > self.max_body_bytes:
                raise HttpError(413, "the request body exceeds the limit of %d bytes "
                                "(MAX_BODY_BYTES)" % self.max_body_bytes)
            return raw
        return b""

    def _late_finish(self, context, seconds, error):
        request_id, route = context
        self._log("abandoned_call_finished", request_id, route, "POST", level=logging.WARNING,
                  duration_ms=round(seconds * 1000, 3),
                  outcome="raised %s" % type(error).__name__ if error else "returned")

    def _saturated(self, abandoned):
        # Only a fresh process gets rid of calls that never return; SIGTERM is gunicorn's
        # graceful restart of this worker, and the master starts another in its place.
        jsonlog.log_event(self.log, "worker_restarting", level=logging.WARNING, pid=os.getpid(),
                          reason="%d timed-out calls are still running" % abandoned)
        if self.workers is not None:
            os.kill(os.getpid(), signal.SIGTERM)

    @staticmethod
    def _error_body(status, message, request_id):
        return jsonlog.dumps({"error": {"status": status, "message": message,
                                        "request_id": request_id}}).encode()

    def _access_line(self, request_id, route, method, **fields):
        """The line of an answered request, which may wait to share a write (ACCESS_LOG_FLUSH)."""
        jsonlog.log_access(self.log, "request", request_id=request_id, route=route,
                           method=method, **fields)

    def _log(self, event, request_id, route, method, level=logging.INFO, exc_info=None, **fields):
        jsonlog.log_event(self.log, event, level=level, exc_info=exc_info,
                          request_id=request_id, route=route, method=method, **fields)


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number" if isinstance(value, (int, float)) else "a string"


def _new_app(environ, shared):
    apis = cortex_api.from_environ(environ)
    if apis is None:
        paths = [route.path for route in routes_module.parse_routes(environ.get("ROUTES"))]
    else:
        paths = [api.route for api in apis]
    workers = WorkerSet.from_environ(environ) if shared else None
    labels = paths + list(SERVICE_PATHS) + [metrics_module.UNMATCHED]
    metrics = metrics_module.Metrics(labels, workers.directory if workers else None)
    app = PredictApp(paths, settings.max_body_bytes(environ), settings.request_timeout(environ),
                     settings.threads(environ), workers=workers, metrics=metrics,
                     debug_logging=settings.debug_logging(environ),
                     debug_log_bytes=settings.debug_log_bytes(environ))
    if apis is not None:
        app.cortex_apis = apis
        app.monitor = cortex_api.monitor(apis, workers.directory if workers else None)
    return app


def create_app(environ=None):
    """The app with every route loaded before it returns; raises RouteLoadError on a failure."""
    environ = os.environ if environ is None else environ
    app = _new_app(environ, shared=False)
    app.load(environ)
    return app


def create_served_app(environ=None):
    """The app for a gunicorn worker: serving at once, loading its routes in the background."""
    environ = os.environ if environ is None else environ
    app = _new_app(environ, shared=True)

    def load():
        try:
            app.load(environ)
        except BaseException as exc:
            if isinstance(exc, routes_module.RouteLoadError):
                failure = {"route": exc.route.path, "module": exc.route.module,
                           "function": exc.route.function, "error": str(exc)}
            else:
                failure = {"error": "%s: %s" % (type(exc).__name__, exc)}
                jsonlog.log_event(log, "route_load_failed", level=logging.ERROR, exc_info=True,
                                  **failure)
            status = WORKER_BOOT_ERROR
            if app.workers is not None:
                try:  # gunicorn's master ends the log with it, after its own shutdown lines
                    if not app.workers.record_failure(os.getpid(), failure):
                        status = WORKER_FAILED  # another worker's boot error stops the server
                except OSError:
                    pass
            logging.shutdown()
            os._exit(status)

    # A daemon thread: SIGTERM during a long load must not wait for it.
    threading.Thread(target=load, name="cortex-s2i-load", daemon=True).start()
    return app
