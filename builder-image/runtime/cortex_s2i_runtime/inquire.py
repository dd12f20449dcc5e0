"""The predict image's one-shot command: `--inquire '<json>'` calls a route once, prints its answer.

    docker run --rm -v "$PWD/models:/action/models" <image> --inquire '{"x": [1, 2]}'
    echo '{"x": [1, 2]}' | docker run --rm -i -v ... <image> --inquire -
    docker run --rm -v ... <image> --inquire '{"x": [1, 2]}' --route module/predict

The route is the one ROUTES names, or the one `--route` names when ROUTES has several. It is
loaded as the server loads it (routes.load_routes: import, constructor or init), and only it: a
route the inquiry does not call cannot fail it. The JSON is passed to it as is, as a POST body
would be, and stdout gets one line, `{"payload": <result>}`. Everything else goes to stderr: JSON
log lines (inquiry_started, then inquiry_finished or inquiry_failed), each carrying the
inquiry's version id as train events do, and the model code's own output. On failure stdout gets
one line `{"error": {"message": ..., "exit_code": N, "version": ...}}` instead, so that a caller
reads stdout alone. Exit status: 0 answered; 1 the function raised, or returned something JSON
cannot encode; 2 bad input (arguments, JSON, ROUTES, a route unknown or not chosen, or the model
raised ClientError) or a route that cannot load; 128+N interrupted by signal N.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any, TextIO

from . import cortex_api, jsonlog, routes as routes_module, streams
from .client_error import ClientError
from .train_runner import new_version

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

USAGE = """\
This is a cortex-s2i predict image. It serves every route of ROUTES over HTTP on port 5000:

  docker run --rm -v "$PWD/models:/action/models" [--env-file .env] -p 5111:5000 <image>
  curl -X POST -H 'Content-Type: application/json' -d '{"x": 1}' localhost:5111/<route>

or answers one inquiry and exits:

  docker run --rm -v "$PWD/models:/action/models" <image> --inquire '<json>' [--route <route>]
  docker run --rm -i -v "$PWD/models:/action/models" <image> --inquire - < request.json

  --inquire JSON   the payload, as a POST body would carry it; "-" reads it from stdin
  --route ROUTE    the route to call; needed only when ROUTES has several

Routes: %s
stdout: {"payload": <result>}, or {"error": {...}} on failure; logs (JSON lines) go to stderr.
Exit status: 0 answered, 1 the function failed, 2 bad input or routes that cannot load,
128+N killed by signal N.
"""

log = logging.getLogger("cortex_s2i.inquire")


class _Failure(Exception):
    def __init__(self, message: str, exit_code: int, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.cause = cause  # logged with its traceback


class _Interrupted(BaseException):
    # BaseException, so that model code's broad `except Exception` cannot swallow it.
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Version(logging.Filter):
    """Adds the inquiry's version id to every log line, the model code's own included."""

    def __init__(self, version: str) -> None:
        super().__init__()
        self.version = version

    def filter(self, record: logging.LogRecord) -> bool:
        found = getattr(record, "fields", None)
        fields = dict(found) if isinstance(found, dict) else {}
        fields.setdefault("version", self.version)
        record.fields = fields  # read by jsonlog.JsonFormatter
        return True


def parse_arguments(argv: list[str]) -> dict[str, str]:
    """{"inquire": ..., "route": ...} from argv; raises _Failure on anything else."""
    options = {}
    position = 0
    while position < len(argv):
        argument = argv[position]
        name, equals, value = argument.partition("=")
        if name not in ("--inquire", "--route"):
            raise _Failure("unexpected argument %r; expected --inquire JSON [--route ROUTE]"
                           % argument[:80], EXIT_USAGE)
        if not equals:
            position += 1
            if position == len(argv):
                raise _Failure("%s needs a value" % name, EXIT_USAGE)
            value = argv[position]
        if name[2:] in options:
            raise _Failure("%s is given twice" % name, EXIT_USAGE)
        options[name[2:]] = value
        position += 1
    if "inquire" not in options:
        raise _Failure("--inquire JSON is missing (\"-\" reads it from stdin)", EXIT_USAGE)
    return options


def choose_route(routes: list[routes_module.Route], wanted: str | None) -> routes_module.Route:
    """The route to call: the one named by --route, or the only one."""
    paths = ", ".join(route.path for route in routes)
    if wanted is not None:
        for route in routes:
            if route.path == wanted.strip("/"):
                return route
        raise _Failure("no route %r; the routes are: %s" % (wanted, paths), EXIT_USAGE)
    if len(routes) > 1:
        raise _Failure("ROUTES has %d routes (%s): choose one with --route"
                       % (len(routes), paths), EXIT_USAGE)
    return routes[0]


def read_payload(text: str) -> Any:
    if not text.strip():
        raise _Failure("the inquiry is empty; give a JSON object or array", EXIT_USAGE)
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise _Failure("the inquiry is not valid JSON: %s" % exc, EXIT_USAGE)
    if not isinstance(payload, (dict, list)):
        # As the server answers 400: a bare string, number or null is almost always a mistake.
        raise _Failure("the inquiry must be a JSON object or array, not %s"
                       % type(payload).__name__, EXIT_USAGE)
    return payload


def _inquire(options: dict[str, str], environ: Mapping[str, str], stdin: TextIO) -> str:
    try:
        # An image of cortex.yaml's APIs answers for them, in Cortex's shape (cortex_api.py).
        apis = cortex_api.from_environ(environ)
        if apis is None:
            routes = routes_module.parse_routes(environ.get("ROUTES"))
        else:
            routes = [routes_module.Route(api.route, api.predictor, "predict") for api in apis]
    except (routes_module.RoutesError, cortex_api.CortexApisError) as exc:
        raise _Failure(str(exc), EXIT_USAGE)
    route = choose_route(routes, options.get("route"))
    payload = read_payload(stdin.read() if options["inquire"] == "-" else options["inquire"])
    jsonlog.log_event(log, "inquiry_started", route=route.path, module=route.module,
                      function=route.function)
    started = time.monotonic()
    try:
        if apis is None:
            target = routes_module.load_routes([route], environ)[route.path]
        else:
            target = cortex_api.load([api for api in apis if api.route == route.path])[route.path]
    except routes_module.RouteLoadError as exc:
        raise _Failure(str(exc), EXIT_USAGE, cause=exc)
    try:
        result = target(payload)
    except _Interrupted:
        raise
    except ClientError as exc:  # the model's word that the inquiry is bad input
        raise _Failure("route %r refused the inquiry (%d): %s"
                       % (route.path, exc.status, exc.message), EXIT_USAGE)
    except BaseException as exc:  # sys.exit() in model code is a failed inquiry, too
        raise _Failure("route %r raised %s: %s" % (route.path, type(exc).__name__, exc),
                       EXIT_FAILED, cause=exc)
    try:
        answer = jsonlog.dumps({"payload": result} if apis is None else result)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Failure("route %r returned something JSON cannot encode: %s"
                       % (route.path, exc), EXIT_FAILED)
    jsonlog.log_event(log, "inquiry_finished", route=route.path,
                      duration_ms=round((time.monotonic() - started) * 1000, 3))
    return answer


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signum)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         stdin: TextIO | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(USAGE % (environ.get("ROUTES") or "<ROUTES unset>"))
        return EXIT_OK

    version = new_version()
    output = streams.claim_stdout()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(jsonlog.JsonFormatter())
    handler.addFilter(_Version(version))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, environ.get("LOG_LEVEL", "info").upper(), logging.INFO))
    for signum in (signal.SIGINT, signal.SIGTERM):
        # As PID 1 in a container, SIGTERM would otherwise be ignored until docker's SIGKILL.
        signal.signal(signum, _raise_interrupted)
    try:
        answer = _inquire(parse_arguments(argv), environ, stdin)
    except _Failure as failure:
        return _fail(output, version, str(failure), failure.exit_code, failure.cause)
    except _Interrupted as interrupted:
        return _fail(output, version, "interrupted by %s" % interrupted,
                     128 + interrupted.signum, None)
    finally:
        handler.flush()
    output.write(answer + "\n")
    output.flush()
    return EXIT_OK


def _fail(output: TextIO, version: str, message: str, exit_code: int,
          cause: BaseException | None) -> int:
    exc_info = (type(cause), cause, cause.__traceback__) if cause is not None else None
    jsonlog.log_event(log, "inquiry_failed", level=logging.ERROR, exc_info=exc_info,
                      error=message, exit_code=exit_code)
    output.write(jsonlog.dumps({"error": {"message": message, "exit_code": exit_code,
                                          "version": version}}) + "\n")
    output.flush()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
