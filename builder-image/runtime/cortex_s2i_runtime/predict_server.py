"""The predict server's app: every route as POST /<route>, the probes, the metrics (ASGI).

A plain ASGI callable rather than one built on a framework (Starlette, FastAPI): a framework's
request objects, routing and middleware stack cost a measurable share of a small prediction's
time, and the server needs none of them. uvicorn runs it (worker.py); docs/predict-server.md is
its HTTP contract for users. `create_app()` loads every route before it returns (tests,
embedding); `create_served_app()` is the app of a server's worker, which answers at once and
loads its routes in the background, holding /ready (readiness.py) until they are loaded.

What runs where: the event loop reads requests, routes them, answers the probes and errors, and
writes answers; a prediction (decoding the JSON body, the model's call, encoding and compressing
the answer) runs in the worker's call pool (call_pool.py), never on the loop, so that probes and
other clients never wait behind a model. The request's context (request_context.py) goes with it,
so that what the model logs carries the request's id and trace.

HTTP contract, in short (every answer carries X-Request-Id and traceparent; every error is JSON
{"error": {"status": N, "message": "...", "request_id": "..."}}):
  POST /<route>   the JSON body, passed to the function as is -> 200 {"payload": <return value>}
                  (cortex.yaml's APIs, cortex_api.py: -> 200 <return value>, Cortex's shape)
  GET  /health    200 {"status": "ok", "routes": [...]}: the process is up
  GET  /ready     200 once every worker has loaded its routes and none holds its readiness gate,
                  else 503 "not ready because ..."
  GET  /metrics   Prometheus text format (metrics.py, monitoring.py)
  OPTIONS         204 with Allow; a CORS preflight is answered as CORS_ORIGINS allows (cors.py)
  400  the body is empty, not JSON, nested too deeply, or not a JSON object or array (the "wrong
       shape": a bare string, number, true/false or null is almost always a client bug)
  4xx  the model raised ClientError (client_error.py): its status and message
  404  no such route          405  wrong method (with Allow)
  408  the body did not arrive within BODY_TIMEOUT seconds of the head
  413  Content-Length (or a chunked body) over MAX_BODY_BYTES, decided before the body is read
  415  a Content-Type other than JSON (none at all is taken as JSON, as many clients send none)
  500  the function raised, or returned something JSON cannot encode; the client gets a generic
       message, the log gets the traceback under the request id
  503  /ready before it is ready; a prediction when loading outlasts TIMEOUT, or when MAX_PENDING
       predictions are already running or queued in the worker (with Retry-After)
  504  the function did not return within TIMEOUT seconds (the call is abandoned, call_pool.py)
Malformed HTTP and slow heads are answered by the connection guard (connection_guard.py) with the
same JSON. `?debug=true` logs the request body and the function's result, cut to DEBUG_LOG_BYTES,
when the operator allows it with DEBUG_LOGGING=1; otherwise the request is served as usual, and
that debug logging is off is logged once per worker (bodies hold whatever clients send).

More GET endpoints: `app.add_get("openapi.json", handler)` serves GET and HEAD /openapi.json with
`handler(request) -> Answer`, on the event loop (so it must be quick: build what it serves once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

from . import cortex_api, jsonlog, metrics as metrics_module, monitoring, request_context
from . import routes as routes_module
from .answers import JSON, Answer, Headers, error_body, whole_response
from .call_pool import Call, CallPool
from .client_error import ClientError
from .cors import CorsPolicy
from .readiness import LOADING, Readiness, WorkerSet
from .settings import Environ, ServerSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Target = Callable[[Any], Any]

# gunicorn's exit status for a worker that could not boot: the master stops the server on it.
WORKER_BOOT_ERROR = 3
WORKER_FAILED = 1
SERVICE_PATHS = ("health", "ready", "metrics")
_JSON_TYPE = re.compile(rb"application/(json|[^;/\s]+\+json)\s*(;.*)?", re.IGNORECASE)
_MAX_ECHOED_PATH = 200
# Answers are compressed in a prediction thread, at zlib's fastest level as nginx's gzip does by
# default: most of the saving of the higher levels at a fraction of their time.
_GZIP_LEVEL = 1
_GZIP = re.compile(rb"(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*(?:,|$)", re.IGNORECASE)
_RETRY = [(b"retry-after", b"1")]
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"
# What the access line may hold without JSON escaping (jsonlog.log_request).
_PLAIN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/-]*")

log = logging.getLogger("cortex_s2i.predict")


class HttpError(Exception):
    """An answer decided before the prediction: its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: Headers | None = None,
                 close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []
        if close:
            self.headers.append((b"connection", b"close"))


class _ClientGone(Exception):
    """The client closed the connection before its request was read."""


@dataclass(frozen=True)
class Request:
    """What a GET endpoint's handler gets of its request."""

    method: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]


GetHandler = Callable[[Request], Answer]


class _Prediction(NamedTuple):
    route: str
    body: bytes
    gzip: bool
    debug: bool


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an Accept-Encoding value accepts gzip (present, and not with q=0)."""
    if not accept_encoding or b"gzip" not in accept_encoding.lower():
        return False
    found = _GZIP.search(accept_encoding)
    if found is None:
        return False
    try:
        return found.group(1) is None or float(found.group(1)) > 0
    except ValueError:
        return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return "a number" if isinstance(value, (int, float)) else "a string"


class PredictApp:
    """The ASGI app for a list of route paths; it serves them once loaded (`set_targets`)."""

    def __init__(self, route_paths: list[str], settings: ServerSettings | None = None, *,
                 readiness: Readiness | None = None,
                 registry: metrics_module.Registry | None = None,
                 cortex_shape: bool = False) -> None:
        self.settings = settings or ServerSettings()
        self.route_paths = list(route_paths)
        self.cortex_shape = cortex_shape  # Cortex APIs answer without the {"payload": ...}
        self.readiness = readiness or Readiness()
        self.registry = registry or metrics_module.Registry()
        self.metrics = metrics_module.RequestMetrics(self.route_paths + list(SERVICE_PATHS),
                                                     self.registry)
        self.cors = CorsPolicy(self.settings.cors_origins)
        self.exit_on_saturation = False
        self._routes = frozenset(self.route_paths)
        # Labels the access line may hold without JSON escaping (jsonlog.log_request).
        self._plain_labels = {path for path in self.route_paths if _PLAIN_PATH.fullmatch(path)}
        self._targets: dict[str, Target] = {}
        self._loaded = False
        self._loaded_future: asyncio.Future[None] | None = None
        self._pool: CallPool | None = None
        self._debug_refused = False
        self._start: Callable[[asyncio.AbstractEventLoop], None] | None = None
        self._gets: dict[str, GetHandler] = {}
        self._health = jsonlog.dumps({"status": "ok", "routes": self.route_paths}).encode()
        self.add_get("health", lambda request: Answer(200, self._health))
        self.add_get("ready", self._ready)
        self.add_get("metrics", self._metrics)
        if not self.readiness.held:
            self.readiness.hold(LOADING)

    # Endpoints and loading

    def add_get(self, path: str, handler: GetHandler) -> None:
        """Serves GET and HEAD /<path> with handler(request), on the event loop."""
        path = path.strip("/")
        if path in self._routes:
            raise ValueError("%s is a route's path" % path)
        self._gets[path] = handler
        if _PLAIN_PATH.fullmatch(path):
            self._plain_labels.add(path)

    def set_targets(self, targets: Mapping[str, Target]) -> None:
        """The routes' callables: the app serves them from now on (on the loop, once running)."""
        self._targets = dict(targets)
        self._loaded = True
        if self._loaded_future is not None and not self._loaded_future.done():
            self._loaded_future.set_result(None)
        if self.readiness.held == LOADING:
            self.readiness.release()

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def abandoned_calls(self) -> int:
        """Calls past their deadline still running in this process."""
        return self._pool.abandoned if self._pool is not None else 0

    def on_start(self, start: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        """What to run when the server starts the app (lifespan startup), on its loop."""
        self._start = start

    def _pool_on(self, loop: asyncio.AbstractEventLoop) -> CallPool:
        pool = self._pool
        if pool is None or pool.loop is not loop:
            pool = self._pool = CallPool(loop, self.settings.threads, self.settings.timeout,
                                         self._late_finish, self._saturated)
        return pool

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                self._pool_on(loop)
                if not self._loaded:
                    self._loaded_future = loop.create_future()
                if self._start is not None:
                    self._start(loop)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._pool is not None:
                    self._pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        fields: dict[bytes, bytes] = dict(scope["headers"])  # a repeated header: its last value
        context = request_context.from_headers(fields.get(b"x-request-id"),
                                               fields.get(b"traceparent"))
        request_context.current.set(context)  # the request's task has a context of its own
        method: str = scope["method"]
        path: str = scope["path"]
        route = path.strip("/")
        known = route in self._routes
        try:
            if method == "OPTIONS":
                answer = self._options(route, scope, fields.get(b"origin"))
            elif known:
                if method != "POST":
                    raise HttpError(405, "use POST /%s with a JSON body" % route,
                                    [(b"allow", b"POST")])
                answer = await self._predict(route, scope, receive, started, fields)
            elif route in self._gets:
                if method not in ("GET", "HEAD"):
                    raise HttpError(405, "use GET /%s" % route, [(b"allow", b"GET, HEAD")])
                known = True
                answer = self._gets[route](Request(method, path, scope["query_string"],
                                                   scope["headers"]))
            else:
                shown = path if len(path) <= _MAX_ECHOED_PATH else path[:_MAX_ECHOED_PATH] + "..."
                raise HttpError(404, "no route %s %s; GET /health lists the routes"
                                % (method, shown))
        except HttpError as exc:
            answer = Answer(exc.status, error_body(exc.status, exc.message, context.request_id),
                            headers=exc.headers)
        except _ClientGone:
            self._finish(route, known, method, path, 499, started, context)
            return
        headers = [(b"content-type", answer.content_type),
                   (b"content-length", b"%d" % len(answer.body)),
                   (b"x-request-id", context.request_id.encode()),
                   (b"traceparent", context.traceparent().encode())]
        headers.extend(answer.headers)
        if self.cors.enabled and method != "OPTIONS":  # a preflight's answer has its own
            headers.extend(self.cors.answer_headers(fields.get(b"origin")))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        self._finish(route, known, method, path, answer.status, started, context)

    def _finish(self, route: str, known: bool, method: str, path: str, status: int,
                started: float, context: request_context.RequestContext) -> None:
        seconds = time.monotonic() - started
        self.metrics.observe(route if known else metrics_module.UNMATCHED, status, seconds)
        duration_ms = round(seconds * 1000, 3)
        if known and method in _PLAIN_METHODS and route in self._plain_labels:
            jsonlog.log_request(log, route, method, status, duration_ms, context)
        elif known:
            jsonlog.log_access(log, "request", route=route, method=method, status=status,
                               duration_ms=duration_ms)
        else:
            jsonlog.log_access(log, "request", route=None, method=method, status=status,
                               duration_ms=duration_ms, path=path[:_MAX_ECHOED_PATH])

    # Predictions

    async def _predict(self, route: str, scope: Scope, receive: Receive, started: float,
                       fields: dict[bytes, bytes]) -> Answer:
        content_type = fields.get(b"content-type")
        length = fields.get(b"content-length")
        if (content_type and content_type != b"application/json"
                and not _JSON_TYPE.fullmatch(content_type.strip())):
            raise HttpError(415, "the request body must be JSON (Content-Type: "
                            "application/json), not %s" % content_type[:80].decode("latin-1"))
        if length is not None and int(length) > self.settings.max_body_bytes:
            # The connection reads and drops the body the client still sends
            # (connection_guard.py), so that a client writing it all before it reads gets this.
            raise HttpError(413, "the request body is %d bytes; the limit is %d (MAX_BODY_BYTES)"
                            % (int(length), self.settings.max_body_bytes))
        if not self._loaded:
            await self._wait_for_load()
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):
            body = await self._read_rest(receive, started, body)
        pool = self._pool
        if pool is None or not pool.serves_running_loop():
            pool = self._pool_on(asyncio.get_running_loop())
        if pool.pending >= self.settings.max_pending:
            raise HttpError(503, "%d predictions are running or waiting in this worker "
                            "(MAX_PENDING); try again shortly" % pool.pending, list(_RETRY))
        query: bytes = scope["query_string"]
        debug = b"debug" in query and self._debug_allowed(query)
        gzip = self.settings.gzip_min_bytes > 0 and accepts_gzip(fields.get(b"accept-encoding"))
        call = await pool.submit(self._prediction, _Prediction(route, body, gzip, debug))
        if call.late:
            jsonlog.log_event(log, "request_timeout", level=logging.WARNING, route=route,
                              method="POST", timeout_seconds=self.settings.timeout,
                              abandoned_calls=pool.abandoned)
            raise HttpError(504, "the prediction did not finish within %d seconds (TIMEOUT)"
                            % self.settings.timeout)
        if call.error is not None:  # _prediction answers every failure itself: a bug if here
            raise call.error
        answer: Answer = call.result
        return answer

    async def _wait_for_load(self) -> None:
        future = self._loaded_future
        if future is None:
            future = self._loaded_future = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(future), self.settings.timeout or None)
        except asyncio.TimeoutError:
            raise HttpError(503, "the routes are still loading; try again shortly",
                            list(_RETRY)) from None

    async def _read_rest(self, receive: Receive, started: float, body: bytes) -> bytes:
        """The rest of a body still on its way: it gets BODY_TIMEOUT from the head, in all."""
        parts = [body]
        size = len(body)
        limit = self.settings.max_body_bytes
        deadline = started + self.settings.body_timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError()
                message = await asyncio.wait_for(receive(), left)
            except asyncio.TimeoutError:
                raise HttpError(408, "the request body did not arrive within %d seconds "
                                "(BODY_TIMEOUT)" % self.settings.body_timeout,
                                close=True) from None
            if message["type"] == "http.disconnect":
                raise _ClientGone()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, "the request body exceeds the limit of %d bytes "
                                "(MAX_BODY_BYTES)" % limit)
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _prediction(self, work: _Prediction) -> Answer:
        """In a thread of the call pool: the body decoded, the model called, the answer encoded."""
        if work.debug:
            shown, cut = self._clip(work.body.decode("utf-8", "replace"))
            jsonlog.log_event(log, "debug_request", route=work.route, method="POST", body=shown,
                              body_bytes=len(work.body), truncated=cut)
        try:
            payload = self._decode(work.body)
            try:
                result = self._targets[work.route](payload)
            except ClientError as exc:
                jsonlog.log_event(log, "client_error", route=work.route, status=exc.status,
                                  error=exc.message)
                return self._error_answer(exc.status, exc.message)
            body = jsonlog.dumps(result if self.cortex_shape else {"payload": result}).encode()
        except HttpError as exc:
            return self._error_answer(exc.status, exc.message)
        except BaseException:  # SystemExit and KeyboardInterrupt from model code too
            jsonlog.log_event(log, "request_failed", level=logging.ERROR, exc_info=True,
                              route=work.route, method="POST")
            return self._error_answer(500, "the prediction failed; the server log has the "
                                           "details under this request id")
        if work.debug:
            self._debug_result(work.route, result)
        answer = Answer(200, body)
        if work.gzip:
            answer.headers.append((b"vary", b"accept-encoding"))
            if len(body) >= self.settings.gzip_min_bytes:
                compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
                answer.body = compressor.compress(body) + compressor.flush()
                answer.headers.append((b"content-encoding", b"gzip"))
        return answer

    @staticmethod
    def _decode(body: bytes) -> Any:
        if not body.strip():
            raise HttpError(400, "the request body is empty; send a JSON object or array")
        try:
            try:
                # json.loads less its detours (encoding detection, a check of the type, two
                # calls), for the UTF-8 of nearly every body; the rest goes through json.loads.
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                payload = json.loads(body)
            else:
                start = len(text) - len(text.lstrip(_JSON_SPACE))
                payload, end = _DECODER.raw_decode(text, start)
                if end != len(text) and text[end:].strip(_JSON_SPACE):
                    payload = json.loads(text)  # raises, saying where the extra data starts
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, "the request body is not valid JSON: %s" % exc) from None
        except RecursionError:
            # json's decoder recurses once per nesting level and gives up at the interpreter's
            # recursion limit (about 1000 levels): the client's document, not a server fault.
            raise HttpError(400, "the request body is nested too deeply to decode") from None
        if not isinstance(payload, (dict, list)):
            raise HttpError(400, "the request body must be a JSON object or array, not %s"
                            % _json_type(payload))
        return payload

    @staticmethod
    def _error_answer(status: int, message: str) -> Answer:
        context = request_context.current.get()
        request_id = context.request_id if context else request_context.new_request_id()
        return Answer(status, error_body(status, message, request_id))

    def _debug_allowed(self, query: bytes) -> bool:
        values = urllib.parse.parse_qs(query.decode("latin-1")).get("debug", [])
        if not any(v.strip().lower() in ("1", "true", "yes", "on") for v in values):
            return False
        if self.settings.debug_logging:
            return True
        if not self._debug_refused:
            self._debug_refused = True
            jsonlog.log_event(log, "debug_logging_off", level=logging.WARNING,
                              reason="?debug=true asks to log request bodies; set "
                                     "DEBUG_LOGGING=1 to allow it (noted once per worker)")
        return False

    def _clip(self, text: str) -> tuple[str, bool]:
        """(text cut to DEBUG_LOG_BYTES characters, whether it was cut)."""
        limit = self.settings.debug_log_bytes
        return (text, False) if len(text) <= limit else (text[:limit], True)

    def _debug_result(self, route: str, result: Any) -> None:
        encoded = jsonlog.dumps_or_repr(result)
        if len(encoded) <= self.settings.debug_log_bytes:
            jsonlog.log_event(log, "debug_result", route=route, method="POST", result=result)
        else:
            jsonlog.log_event(log, "debug_result", route=route, method="POST",
                              result=self._clip(encoded)[0], truncated=True)

    def _late_finish(self, call: Call, seconds: float) -> None:
        """In the abandoned call's thread, when it finally returns (its context is current)."""
        work: _Prediction = call.argument
        outcome = "returned"
        if call.error is not None:
            outcome = "raised %s" % type(call.error).__name__
        jsonlog.log_event(log, "abandoned_call_finished", level=logging.WARNING, route=work.route,
                          method="POST", duration_ms=round(seconds * 1000, 3), outcome=outcome)

    def _saturated(self, abandoned: int) -> None:
        # Only a fresh process gets rid of calls that never return. SIGTERM is the server's
        # graceful stop of this worker (requests in flight finish), and gunicorn's master starts
        # another in its place; a worker that lingers past GRACEFUL_TIMEOUT ends all the same.
        jsonlog.log_event(log, "worker_restarting", level=logging.WARNING, pid=os.getpid(),
                          reason="%d timed-out calls are still running" % abandoned)
        if self.exit_on_saturation:
            os.kill(os.getpid(), signal.SIGTERM)
            timer = threading.Timer(self.settings.graceful_timeout, _exit_now)
            timer.daemon = True
            timer.start()

    # Probes, OPTIONS and refusals

    def _ready(self, request: Request) -> Answer:
        status = self.readiness.status()
        if not status.ready:
            raise HttpError(503, status.message(), list(_RETRY))
        return Answer(200, jsonlog.dumps({
            "status": "ready", "routes": self.route_paths, "workers_ready": status.workers_ready,
            "workers": status.workers}).encode())

    def _metrics(self, request: Request) -> Answer:
        return Answer(200, self.registry.render(), metrics_module.CONTENT_TYPE.encode())

    def _options(self, route: str, scope: Scope, origin: bytes | None) -> Answer:
        if route in self._routes:
            allow = b"POST, OPTIONS"
        elif route in self._gets:
            allow = b"GET, HEAD, OPTIONS"
        else:
            raise HttpError(404, "no route OPTIONS /%s; GET /health lists the routes"
                            % route[:_MAX_ECHOED_PATH])
        preflight = any(name == b"access-control-request-method" for name, _ in scope["headers"])
        if not preflight or not self.cors.enabled:
            return Answer(204, b"", headers=[(b"allow", allow)])
        headers = self.cors.preflight_headers(origin)
        if headers is None:
            raise HttpError(403, "origin %s may not call this server (CORS_ORIGINS)"
                            % (origin or b"(none)").decode("latin-1")[:200])
        return Answer(204, b"", headers=[(b"allow", allow)] + headers)

    def refusal(self, status: int, message: str, method: str | None = None,
                path: str | None = None) -> bytes:
        """A whole response refusing a request before the app sees it (connection_guard.py),
        counted and logged as the app's own answers are; the connection then closes."""
        request_id = request_context.new_request_id()
        body = error_body(status, message, request_id)
        self.metrics.observe(metrics_module.UNMATCHED, status, 0.0)
        jsonlog.log_access(log, "request", request_id=request_id, route=None, method=method,
                           status=status, error=message,
                           **({"path": path[:_MAX_ECHOED_PATH]} if path else {}))
        return whole_response(status, [(b"content-type", JSON),
                                       (b"content-length", b"%d" % len(body)),
                                       (b"x-request-id", request_id.encode()),
                                       (b"connection", b"close")], body)


def _exit_now() -> None:
    """A worker asked to stop that is still here: its log lines first, then the end."""
    from . import output
    jsonlog.log_event(logging.getLogger("cortex_s2i.server"), "worker_stopped", pid=os.getpid(),
                      reason="GRACEFUL_TIMEOUT passed while stopping")
    output.flush_lines()
    os._exit(0)


def route_paths(environ: Environ) -> tuple[list[str], list[cortex_api.Api] | None]:
    """The paths the server will serve, and the Cortex APIs when it serves those instead of
    ROUTES; raises RoutesError or CortexApisError on a malformed value."""
    apis = cortex_api.from_environ(environ)
    if apis is None:
        return [route.path for route in routes_module.parse_routes(environ.get("ROUTES"))], None
    return [api.route for api in apis], apis


def _new_app(environ: Environ, readiness: Readiness, settings: ServerSettings | None = None,
             models_dir: str | None = None) -> tuple[PredictApp, Callable[[], dict[str, Target]]]:
    """The app, and the function that loads its routes' targets (raises RouteLoadError)."""
    paths, apis = route_paths(environ)
    if settings is None:
        settings = ServerSettings.from_environ(environ, cpus=1)
    registry = metrics_module.Registry(environ.get(metrics_module.MULTIPROCESS_VARIABLE) or None)
    app = PredictApp(paths, settings, readiness=readiness, registry=registry,
                     cortex_shape=apis is not None)

    def load() -> dict[str, Target]:
        started = time.monotonic()
        try:
            if apis is None:
                targets = routes_module.load_routes(
                    routes_module.parse_routes(environ.get("ROUTES")), environ, models_dir)
            else:
                monitored = [api.monitoring for api in apis if api.monitoring is not None]
                monitor = (monitoring.PredictionMonitor(monitored, registry)
                           if monitored else None)
                targets = cortex_api.load(apis, models_dir, monitor)
        except routes_module.RouteLoadError as exc:
            jsonlog.log_event(log, "route_load_failed", level=logging.ERROR, exc_info=True,
                              route=exc.route.path, module=exc.route.module,
                              function=exc.route.function, error=str(exc))
            raise
        jsonlog.log_event(log, "routes_loaded", routes=list(targets), pid=os.getpid(),
                          duration_ms=round((time.monotonic() - started) * 1000, 3))
        return targets

    return app, load


def create_app(environ: Environ | None = None, settings: ServerSettings | None = None,
               models_dir: str | None = None) -> PredictApp:
    """The app with every route loaded before it returns; raises RouteLoadError on a failure.
    `models_dir` is where the models are mounted (default: models/ in the working folder)."""
    environ = os.environ if environ is None else environ
    app, load = _new_app(environ, Readiness(), settings, models_dir)
    app.set_targets(load())
    return app


def create_served_app(environ: Environ | None = None,
                      settings: ServerSettings | None = None) -> PredictApp:
    """The app of a server's worker: it answers at once and loads its routes in a thread of its
    own once the server starts it; a route that fails to load ends the worker with gunicorn's
    boot-error status, which stops the server."""
    environ = os.environ if environ is None else environ
    readiness = Readiness(WorkerSet.from_environ(environ))
    app, load = _new_app(environ, readiness, settings)
    app.exit_on_saturation = True

    def load_in_background(loop: asyncio.AbstractEventLoop) -> None:
        def run() -> None:
            try:
                targets = load()
            except BaseException as exc:
                _fail(readiness, exc)
            # The loop owns the app's state: the targets are handed over there.
            loop.call_soon_threadsafe(app.set_targets, targets)

        # A daemon thread: SIGTERM during a long load must not wait for it.
        threading.Thread(target=run, name="cortex-s2i-load", daemon=True).start()

    app.on_start(load_in_background)
    return app


def _fail(readiness: Readiness, exc: BaseException) -> NoReturn:
    """A route failed to load in a server's worker: why, for the master, then the end."""
    from . import output
    if isinstance(exc, routes_module.RouteLoadError):
        failure = {"route": exc.route.path, "module": exc.route.module,
                   "function": exc.route.function, "error": str(exc)}
        readiness.hold("%s: %s" % (exc.route.path, exc))
    else:
        failure = {"error": "%s: %s" % (type(exc).__name__, exc)}
        jsonlog.log_event(log, "route_load_failed", level=logging.ERROR, exc_info=exc, **failure)
    status = WORKER_BOOT_ERROR
    if readiness.workers is not None:
        try:  # gunicorn's master ends the log with it, after its own shutdown lines
            if not readiness.workers.record_failure(os.getpid(), failure):
                status = WORKER_FAILED  # another worker's boot error stops the server
        except OSError:
            pass
    output.flush_lines()
    logging.shutdown()
    os._exit(status)
