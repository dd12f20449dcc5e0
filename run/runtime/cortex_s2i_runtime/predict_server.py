"""The predict server: a plain WSGI app serving every ROUTES triple as POST /<route>.

gunicorn loads it with `cortex_s2i_runtime.predict_server:create_app()`, once per worker, so each
worker imports every route module (and runs init/constructors) before it accepts a request; a
route that fails to load stops the worker from booting, and gunicorn then exits.

HTTP contract (every body is JSON, every response carries X-Request-Id):
  POST /<route>   body passed to the target as is -> 200 {"payload": <return value>}
  GET  /health    200 {"status": "ok", "routes": [...]}
  errors          {"error": {"status": N, "message": "...", "request_id": "..."}} with status
                  400 (body not JSON), 404 (unknown path), 405 (wrong method), 413 (body over
                  MAX_BODY_BYTES) or 500 (the target raised; the traceback goes to the log only).
`?debug=true` logs the raw request body and the target's result.
"""

import json
import logging
import os
import re
import time
import urllib.parse
import uuid

from . import jsonlog, routes as routes_module

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                413: "Payload Too Large", 500: "Internal Server Error"}
_MAX_ECHOED_PATH = 200

log = logging.getLogger("cortex_s2i.predict")


class HttpError(Exception):
    def __init__(self, status, message, allow=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow


def max_body_bytes_from(environ):
    raw = environ.get("MAX_BODY_BYTES", "").strip()
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError("MAX_BODY_BYTES must be a positive whole number of bytes, got %r" % raw)
    return int(raw)


def _truthy(value):
    return value.strip().lower() in ("1", "true", "yes", "on")


class PredictApp:
    """WSGI callable dispatching to loaded route targets ({path: callable})."""

    def __init__(self, targets, max_body_bytes=DEFAULT_MAX_BODY_BYTES, logger=log):
        self.targets = dict(targets)
        self.max_body_bytes = max_body_bytes
        self.log = logger
        self._health = jsonlog.dumps({"status": "ok", "routes": list(self.targets)}).encode()

    def __call__(self, environ, start_response):
        started = time.monotonic()
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        if not _REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        route = path.strip("/")
        debug = any(_truthy(v) for v in
                    urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("debug", []))
        extra_headers = []
        try:
            if route == "health":
                if method not in ("GET", "HEAD"):
                    raise HttpError(405, "use GET /health", allow="GET, HEAD")
                status, body = 200, self._health
            elif route in self.targets:
                if method != "POST":
                    raise HttpError(405, "use POST /%s with a JSON body" % route, allow="POST")
                status, body = 200, self._predict(environ, route, request_id, debug)
            else:
                shown = path if len(path) <= _MAX_ECHOED_PATH else path[:_MAX_ECHOED_PATH] + "..."
                raise HttpError(404, "no route %s %s; GET /health lists the routes"
                                % (method, shown))
        except HttpError as exc:
            status, body = exc.status, self._error_body(exc.status, exc.message, request_id)
            if exc.allow:
                extra_headers.append(("Allow", exc.allow))
            # A 413 leaves the body unread. WSGI forbids Connection headers, so on a kept-alive
            # connection gunicorn discards the rest (8 KiB at a time, never buffered) before the
            # next request.
        except Exception:
            self._log("request_failed", request_id, route, method, level=logging.ERROR,
                      exc_info=True)
            status = 500
            body = self._error_body(500, "the prediction failed; the server log has the "
                                         "details under this request id", request_id)

        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("X-Request-Id", request_id)] + extra_headers
        start_response("%d %s" % (status, _STATUS_TEXT.get(status, "")), headers)
        known = route in self.targets or route == "health"
        self._log("request", request_id, route if known else None, method, status=status,
                  duration_ms=round((time.monotonic() - started) * 1000, 3),
                  **({} if known else {"path": path[:_MAX_ECHOED_PATH]}))
        return [b"" if method == "HEAD" else body]

    def _predict(self, environ, route, request_id, debug):
        raw = self._read_body(environ)
        if debug:
            self._log("debug_request", request_id, route, "POST",
                      body=raw.decode("utf-8", "replace"))
        if not raw.strip():
            raise HttpError(400, "the request body is empty; send a JSON document")
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, "the request body is not valid JSON: %s" % exc)
        result = self.targets[route](payload)
        body = jsonlog.dumps({"payload": result}).encode()
        if debug:
            self._log("debug_result", request_id, route, "POST", result=result)
        return body

    def _read_body(self, environ):
        stream = environ["wsgi.input"]
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

    @staticmethod
    def _error_body(status, message, request_id):
        return jsonlog.dumps({"error": {"status": status, "message": message,
                                        "request_id": request_id}}).encode()

    def _log(self, event, request_id, route, method, level=logging.INFO, exc_info=None, **fields):
        jsonlog.log_event(self.log, event, level=level, exc_info=exc_info,
                          request_id=request_id, route=route, method=method, **fields)


def create_app(environ=None):
    """Build the app from the environment: parse ROUTES and load every route's target."""
    environ = os.environ if environ is None else environ
    max_body_bytes = max_body_bytes_from(environ)
    routes = routes_module.parse_routes(environ.get("ROUTES"))
    try:
        targets = routes_module.load_routes(routes, environ)
    except routes_module.RouteLoadError as exc:
        jsonlog.log_event(log, "route_load_failed", level=logging.ERROR, exc_info=True,
                          route=exc.route.path, module=exc.route.module,
                          function=exc.route.function, error=str(exc))
        raise
    jsonlog.log_event(log, "routes_loaded", routes=[r.path for r in routes], pid=os.getpid())
    return PredictApp(targets, max_body_bytes)
