"""The train image's entry point: runs TRAIN_MODULE.TRAIN_FUNCTION({"payload": PAYLOAD}) once.

stdout is a machine-readable event stream, one JSON object per line: `started`, then exactly one
of `finished` or `failed` (bad TRAIN_* variables or PAYLOAD give `failed` alone), each with the
run's model version id. Everything else, the train code's prints included (at file-descriptor
level, so subprocesses and native libraries too), goes to stderr, ending with a one-line
`cortex-s2i train: error: ...` on failure. Exit status: 0 success, 1 the train function (or
publishing its models) failed, 2 bad input or usage, 128+N interrupted by signal N.

`--train '<payload>'` (or `--train -`, the payload on stdin) is the same run as TRAIN=1
PAYLOAD=<payload>: the one-shot command line that `docker run <image> --train ...` reaches.

A run refuses to start (exit 2) when /model/models is not a mount point: what it publishes would
be lost with the container. During the run, MODELS_LINK (models_link.py) points at the stage's
models folder, so that code writing through a package's models/ path is staged too.

Beside the binaries a successful run publishes `models/<TRAIN_MODULE>.<TRAIN_FUNCTION>.train.json`
(METADATA_SUFFIX): the version id, train module and function, start time, duration, the files
published and the function's return value. It is published last, so it never describes binaries
that are not all in place.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import os
import secrets
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import Any, TextIO

from . import jsonlog, models_link, staging, streams
from .routes import is_identifier, is_module_name

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
METADATA_SUFFIX = ".train.json"

USAGE = """\
This is a cortex-s2i train image. It runs the model's train function once: data comes from
/model/data, and what the function writes under models/ is published to /model/models only when
it returns successfully (all or nothing).

  docker run --rm -v "$PWD/data:/model/data" -v "$PWD/models:/model/models" \\
    [--env-file .env] -e TRAIN=1 \\
    -e PAYLOAD='{"$ref": "data/adult_income-prepped.csv", "model_name": "adult_income_lr"}' \\
    <image>
  docker run --rm -v ... <image> --train '{"$ref": "data/adult_income-prepped.csv"}'

  TRAIN=1    required (1, true or yes); without it the image prints this text and exits 2
  PAYLOAD    JSON passed to the train function as {"payload": <PAYLOAD>}; default {}.
             Its "$ref", when present, must name an existing file (relative to /model).
  --train [PAYLOAD]  the same run as TRAIN=1 PAYLOAD=<PAYLOAD>; "-" reads it from stdin
  /model/models      must be mounted (-v "$PWD/models:/model/models"), or the run exits 2

Train function: TRAIN_MODULE.TRAIN_FUNCTION = %s.%s
stdout: one JSON event per line (started, then finished or failed); the train code's output goes
to stderr. Exit status: 0 success, 1 training failed, 2 bad input, 128+N killed by signal N.
"""


class _Interrupted(BaseException):
    # BaseException, so that a train function's broad `except Exception` cannot swallow it.
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Failure(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def new_version(now: datetime.datetime | None = None) -> str:
    """A model version id: UTC time plus random hex, e.g. 20261121T194501Z-3fa2c1."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _is_truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


class _Events:
    def __init__(self, stream: TextIO, version: str, started: float) -> None:
        self.stream = stream
        self.version = version
        self.started = started
        self.started_at = jsonlog.utc_now_iso()

    def emit(self, event: str, **fields: Any) -> None:
        line = {"event": event, "version": self.version}
        line.update(fields)
        line["time"] = jsonlog.utc_now_iso()
        self.stream.write(jsonlog.dumps(line) + "\n")
        self.stream.flush()

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)


def _read_input(environ: Mapping[str, str]) -> tuple[str, str, Any]:
    module = environ.get("TRAIN_MODULE", "").strip()
    function = environ.get("TRAIN_FUNCTION", "").strip()
    if not module:
        raise _Failure("TRAIN_MODULE is not set (the model's .s2i/environment names it)",
                       EXIT_USAGE)
    if not function:
        raise _Failure("TRAIN_FUNCTION is not set (the model's .s2i/environment names it)",
                       EXIT_USAGE)
    if not is_module_name(module):
        raise _Failure("TRAIN_MODULE %r is not a dotted Python module name" % module, EXIT_USAGE)
    if not is_identifier(function):
        raise _Failure("TRAIN_FUNCTION %r is not a Python identifier" % function, EXIT_USAGE)
    raw = environ.get("PAYLOAD", "")
    if not raw.strip():
        payload = {}
    else:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            raise _Failure("PAYLOAD is not valid JSON: %s" % exc, EXIT_USAGE)
    _check_data_reference(payload)
    return module, function, payload


def _check_data_reference(payload: Any) -> None:
    """A "$ref" (the Cortex convention for the training data's path) must exist before training."""
    if not isinstance(payload, dict) or "$ref" not in payload:
        return
    reference = payload["$ref"]
    if not isinstance(reference, str) or not reference.strip():
        raise _Failure('PAYLOAD "$ref" must be a path such as "data/train.csv", got %s'
                       % jsonlog.dumps_or_repr(reference), EXIT_USAGE)
    if not os.path.exists(reference):
        where = os.path.dirname(os.path.abspath(reference))
        hint = ("mount the data folder: -v \"$PWD/data:%s\"" % where
                if not os.path.isdir(where) else "%s has no such file" % where)
        raise _Failure('PAYLOAD "$ref" %s does not exist in %s (%s)'
                       % (reference, os.getcwd(), hint), EXIT_USAGE)


def _check_models_mount(models_dir: str, is_mount: Callable[[str], bool]) -> None:
    if not is_mount(models_dir):
        raise _Failure("%s is not a mounted folder, so the models this run publishes would be "
                       "lost with the container: mount one with -v \"$PWD/models:%s\""
                       % (models_dir, models_dir), EXIT_USAGE)


def metadata_file_name(module_name: str, function_name: str) -> str:
    return "%s.%s%s" % (module_name, function_name, METADATA_SUFFIX)


def _load(module_name: str, function_name: str) -> Callable[[Any], Any]:
    try:
        module = importlib.import_module(module_name)
    except _Interrupted:
        raise
    except BaseException as exc:  # SystemExit at import time is a broken module, too
        traceback.print_exc()
        where = _where(exc)
        raise _Failure("cannot import TRAIN_MODULE %s: %s: %s%s"
                       % (module_name, type(exc).__name__, exc,
                          " (at %s)" % where if where else ""), EXIT_USAGE)
    function = getattr(module, function_name, None)
    if function is None:
        raise _Failure("TRAIN_MODULE %s (%s) has no function %r"
                       % (module_name, getattr(module, "__file__", "?"), function_name), EXIT_USAGE)
    if not callable(function):
        raise _Failure("TRAIN_FUNCTION %s.%s is not a function (its type is %s)"
                       % (module_name, function_name, type(function).__name__), EXIT_USAGE)
    train: Callable[[Any], Any] = function
    return train


def _where(exc: BaseException) -> str | None:
    """file:line of the model code that failed to import, or None when none of it ran.

    The innermost frame of the model's own code: not the runtime's, the standard library's or an
    installed package's (a dependency that fails inside itself was imported from a model line).
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return "%s:%s" % (exc.filename, exc.lineno)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if not _outside_model_code(frame.filename)]
    return "%s:%s" % (frames[-1].filename, frames[-1].lineno) if frames else None


def _outside_model_code(filename: str) -> bool:
    if filename.startswith("<"):
        return True  # <frozen importlib._bootstrap>
    parts = os.path.abspath(filename).split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    return any(filename.startswith(directory + os.sep) for directory in _NOT_MODEL_CODE)


_NOT_MODEL_CODE = (os.path.dirname(os.path.abspath(__file__)),
                   os.path.dirname(os.path.abspath(os.__file__)))


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signum)


def _run(events: _Events, module_name: str, function_name: str, payload: Any,
         models_link_path: str) -> dict[str, Any]:
    """Import, train and publish inside a models stage; returns the finished event's fields."""
    stage = staging.ModelsStage(os.getcwd())
    original_cwd = os.getcwd()
    try:
        try:
            os.chdir(stage.prepare())
        except OSError as exc:
            raise _Failure("preparing the models stage under %s: %s"
                           % (os.path.dirname(stage.root), exc), EXIT_FAILED)
        try:
            redirected = models_link.redirect(models_link_path, stage.staged_models)
        except OSError as exc:
            raise _Failure("pointing %s at the run's models: %s (code writing there would "
                           "bypass the all-or-nothing publish)" % (models_link_path, exc),
                           EXIT_FAILED)
        try:
            return _train_and_publish(events, stage, module_name, function_name, payload)
        finally:
            if redirected:
                # Published or not, back to the real models folder before the stage it pointed
                # at is removed; a second stop request must not cut this short.
                with _signals_ignored():
                    models_link.point(models_link_path, stage.models_dir)
    finally:
        os.chdir(original_cwd)
        stage.discard()


def _train_and_publish(events: _Events, stage: staging.ModelsStage, module_name: str,
                       function_name: str, payload: Any) -> dict[str, Any]:
    function = _load(module_name, function_name)
    try:
        result = function({"payload": payload})
    except _Interrupted:
        raise
    except BaseException as exc:
        traceback.print_exc()
        if isinstance(exc, SystemExit):
            raise _Failure("the train function called sys.exit(%r) instead of returning"
                           % (exc.code,), EXIT_FAILED)
        raise _Failure("%s: %s" % (type(exc).__name__, exc), EXIT_FAILED)
    # A half-published models directory is what staging exists to prevent, so a stop
    # request waits for the copies and renames (docker stop allows 10 seconds before SIGKILL).
    with _signals_ignored():
        return _publish(events, stage, module_name, function_name, result)


def _publish(events: _Events, stage: staging.ModelsStage, module_name: str, function_name: str,
             result: Any) -> dict[str, Any]:
    try:
        plain_result = json.loads(jsonlog.dumps_or_repr(result))
        metadata_name = metadata_file_name(module_name, function_name)
        files = [path for path in stage.changes() if path != metadata_name]
        metadata = {"version": events.version, "train_module": module_name,
                    "train_function": function_name, "started": events.started_at,
                    "duration_seconds": events.elapsed(), "files": files,
                    "result": plain_result}
        with open(os.path.join(stage.staged_models, metadata_name), "w") as handle:
            handle.write(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        published = stage.publish(events.version, files + [metadata_name])
    except staging.PublishError as exc:
        raise _Failure("publishing models to %s: %s" % (stage.models_dir, exc), EXIT_FAILED)
    except Exception as exc:
        traceback.print_exc()
        raise _Failure("publishing models to %s: %s: %s"
                       % (stage.models_dir, type(exc).__name__, exc), EXIT_FAILED)
    return {"result": plain_result, "published": published,
            "metadata": "models/" + metadata_name}


def _one_shot(argv: list[str], environ: Mapping[str, str],
              stdin: TextIO) -> dict[str, str] | None:
    """The environment of `--train [PAYLOAD]` (TRAIN=1, PAYLOAD=...); None when argv is not that."""
    if not argv:
        return None
    if argv[0].startswith("--train="):
        payload: str | None = argv[0][len("--train="):]
        rest = argv[1:]
    elif argv[0] == "--train":
        payload, rest = (argv[1] if len(argv) > 1 else None), argv[2:]
    else:
        return None
    if rest:
        return None
    environ = dict(environ, TRAIN="1")
    if payload is not None:
        environ["PAYLOAD"] = stdin.read() if payload == "-" else payload
    return environ


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         models_link_path: str = models_link.MODELS_LINK,
         is_mount: Callable[[str], bool] = os.path.ismount) -> int:
    """The train run; `models_link_path` and `is_mount` are parameters for the tests' sake."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    entry = (environ.get("TRAIN_MODULE") or "<TRAIN_MODULE unset>",
             environ.get("TRAIN_FUNCTION") or "<TRAIN_FUNCTION unset>")
    if argv in (["-h"], ["--help"]):
        sys.stdout.write(USAGE % entry)
        return EXIT_OK
    one_shot = _one_shot(argv, environ, sys.stdin)
    if one_shot is not None:
        argv, environ = [], one_shot
    if argv or not _is_truthy(environ.get("TRAIN")):
        if argv:
            sys.stderr.write("cortex-s2i train: unexpected arguments %s\n\n" % " ".join(argv))
        sys.stderr.write(USAGE % entry)
        return EXIT_USAGE

    events = _Events(streams.claim_stdout(), new_version(), time.monotonic())
    for signum in (signal.SIGINT, signal.SIGTERM):
        # As PID 1 in a container, SIGTERM would otherwise be ignored until docker's SIGKILL.
        signal.signal(signum, _raise_interrupted)
    try:
        module_name, function_name, payload = _read_input(environ)
        _check_models_mount(os.path.abspath("models"), is_mount)
        events.emit("started", module=module_name, function=function_name)
        finished = _run(events, module_name, function_name, payload, models_link_path)
    except _Failure as failure:
        return _fail(events, str(failure), failure.exit_code)
    except _Interrupted as interrupted:
        return _fail(events, "interrupted by %s" % interrupted, 128 + interrupted.signum)
    events.emit("finished", duration_seconds=events.elapsed(), **finished)
    return EXIT_OK


def _fail(events: _Events, message: str, exit_code: int) -> int:
    sys.stderr.write("cortex-s2i train: error: %s\n" % message)
    sys.stderr.flush()
    events.emit("failed", error=message, exit_code=exit_code, duration_seconds=events.elapsed())
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
