"""The batch worker: runs a Cortex batch predictor over its share of a job's split.

The predict image runs it instead of the HTTP server when BATCH_SPLIT is set
(builder-image/run/daemon). The same loop runs under `cortex-s2i job run` (one container per
worker, the split bind-mounted) and in the Kubernetes Indexed Job of `cortex-s2i job render` (the
split in a ConfigMap or a volume, the worker's index from JOB_COMPLETION_INDEX), so a job behaves
the same on both.

The split (written by the command, lib/job/split.ts; this docstring is its format):
    <split>/job.json             {"job_id", "config", "workers", "total_batch_count",
                                  "start_time", "max_receive_count"}
    <split>/batch-000000.ndjson  batch 0: one JSON item per line
    <split>/batch-000001.ndjson  ... (the number is zero-padded to six digits, wider past 999999)
The batch id given to predict() is the number as written in the file name ("000003").

Worker i of n takes batches i, i+n, i+2n, ...: every batch belongs to exactly one worker, with
no coordination beyond the index. A batch whose predict() raises is tried again, up to
max_receive_count tries in all, as a Cortex queue redelivered it; then it is reported failed and
the worker goes on with the next one.

Environment:
    BATCH_SPLIT            the split's folder (the switch that makes the image a batch worker)
    BATCH_WORKER_INDEX     this worker's index; default JOB_COMPLETION_INDEX (set by Kubernetes
                           for an Indexed Job's pods), else 0
    BATCH_OUTCOMES         optional folder: each try's outcome is appended to
                           <folder>/worker-<i>.ndjson as one JSON line, flushed before the next
                           batch starts, for the runner to follow
    BATCH_ON_JOB_COMPLETE  truthy: call the predictor's on_job_complete() once and exit, instead
                           of predicting (the job's final step, run after every worker is done)
    BATCH_ROUTE            the ROUTES entry that names the batch predictor, when there are several

The predictor is a ROUTES target naming a class: `cls(config, job_spec)` with `config` the
process environment overridden by the job's config, then `predict(payload, batch_id)` per batch,
`payload` being the batch's list of items. Outcome lines and the log go to stderr as JSON lines.

Exit status: 0 when every batch of the share was tried (failed batches included: they are in the
outcomes), 2 when the split or ROUTES is unusable, 3 when the predictor cannot be loaded or its
on_job_complete() raised.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import jsonlog, routes as routes_module

EXIT_BAD_SETUP = 2
EXIT_PREDICTOR_FAILED = 3
_TRUTHY = ("1", "true", "yes", "on")

log = logging.getLogger("cortex_s2i.batch")


class SetupError(Exception):
    """The split, ROUTES or the worker's settings cannot be used; the message says which."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_SETUP) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def batch_file_name(number: int) -> str:
    """The split's file name of batch `number` (shared with lib/job/split.ts)."""
    return "batch-%06d.ndjson" % number


def batch_id(number: int) -> str:
    return "%06d" % number


def share(index: int, workers: int, total: int) -> range:
    """The batch numbers worker `index` of `workers` takes, in order."""
    return range(index, total, workers)


def read_job(split: str) -> dict[str, Any]:
    path = os.path.join(split, "job.json")
    try:
        with open(path, encoding="utf-8") as handle:
            job = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SetupError("cannot read the job's split at %s: %s" % (path, exc)) from exc
    if not isinstance(job, dict):
        raise SetupError("%s does not hold a JSON object" % path)
    for key in ("job_id", "workers", "total_batch_count"):
        if key not in job:
            raise SetupError("%s has no %r" % (path, key))
    return job


def read_batch(split: str, number: int) -> list[Any]:
    """The items of batch `number`: one JSON value per non-empty line."""
    with open(os.path.join(split, batch_file_name(number)), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def job_spec(job: dict[str, Any], api_name: str) -> dict[str, Any]:
    """What the predictor receives as job_spec, as Cortex gave it."""
    return {
        "job_id": job["job_id"],
        "api_name": api_name,
        "config": dict(job.get("config") or {}),
        "workers": job["workers"],
        "total_batch_count": job["total_batch_count"],
        "start_time": job.get("start_time"),
    }


def worker_index(environ: Mapping[str, str]) -> int:
    raw = (environ.get("BATCH_WORKER_INDEX") or environ.get("JOB_COMPLETION_INDEX") or "0").strip()
    if not raw.isdigit():
        raise SetupError("BATCH_WORKER_INDEX must be a whole number, got %r" % raw)
    return int(raw)


def choose_route(environ: Mapping[str, str]) -> routes_module.Route:
    try:
        parsed = routes_module.parse_routes(environ.get("ROUTES"))
    except routes_module.RoutesError as exc:
        raise SetupError(str(exc)) from exc
    wanted = (environ.get("BATCH_ROUTE") or "").strip().strip("/")
    if wanted:
        for route in parsed:
            if route.path == wanted:
                return route
        raise SetupError("BATCH_ROUTE=%s is not one of ROUTES (%s)"
                         % (wanted, ", ".join(r.path for r in parsed)))
    if len(parsed) != 1:
        raise SetupError("ROUTES has %d routes; set BATCH_ROUTE to the batch predictor's route (%s)"
                         % (len(parsed), ", ".join(r.path for r in parsed)))
    return parsed[0]


def load_predictor(route: routes_module.Route, environ: Mapping[str, str],
                   spec: dict[str, Any]) -> Any:
    """Instantiate the route's class as cls(config, job_spec); config = environment + job config."""
    try:
        module = importlib.import_module(route.module)
    except Exception as exc:
        raise SetupError("route %r: cannot import module %s: %s: %s"
                         % (route.path, route.module, type(exc).__name__, exc),
                         EXIT_PREDICTOR_FAILED) from exc
    target = getattr(module, route.function, None)
    if not inspect.isclass(target) or not callable(getattr(target, "predict", None)):
        raise SetupError("route %r: %s.%s is not a batch predictor class with "
                         "predict(self, payload, batch_id)"
                         % (route.path, route.module, route.function),
                         EXIT_PREDICTOR_FAILED)
    config = dict(environ)
    config.update(spec["config"])
    try:
        return target(config, spec)
    except Exception as exc:
        raise SetupError("route %r: %s(config, job_spec) raised %s: %s"
                         % (route.path, route.function, type(exc).__name__, exc),
                         EXIT_PREDICTOR_FAILED) from exc


class Outcomes:
    """Appends one JSON line per try to <folder>/worker-<i>.ndjson, and logs it."""

    def __init__(self, folder: str, index: int) -> None:
        self.handle = None
        if folder:
            os.makedirs(folder, exist_ok=True)
            self.handle = open(os.path.join(folder, "worker-%d.ndjson" % index), "a",
                               encoding="utf-8")
        self.index = index

    def report(self, **fields: Any) -> None:
        fields["worker"] = self.index
        if self.handle is not None:
            self.handle.write(jsonlog.dumps_or_repr(fields) + "\n")
            # The runner follows this file while the worker runs; a batch counts once it is here.
            self.handle.flush()
        jsonlog.log_event(log, "batch_" + fields["outcome"], **fields)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def run_share(predictor: Any, split: str, numbers: range, max_receive_count: int,
              outcomes: Outcomes, clock: Callable[[], float] = time.monotonic
              ) -> tuple[int, int]:
    """Predict every batch in `numbers`, each tried up to max_receive_count times.

    Returns (succeeded, failed) batch counts.
    """
    succeeded = failed = 0
    for number in numbers:
        for attempt in range(1, max_receive_count + 1):
            started = clock()
            try:
                items = read_batch(split, number)
                predictor.predict(items, batch_id(number))
            except Exception as exc:  # the predictor's failure is the batch's, not the worker's
                final = attempt == max_receive_count
                outcomes.report(batch=batch_id(number), attempt=attempt, outcome="failed",
                                final=final, error="%s: %s" % (type(exc).__name__, exc),
                                seconds=round(clock() - started, 6))
                if final:
                    failed += 1
                continue
            outcomes.report(batch=batch_id(number), attempt=attempt, outcome="succeeded",
                            final=True, seconds=round(clock() - started, 6))
            succeeded += 1
            break
    return succeeded, failed


def main(environ: Mapping[str, str] | None = None, configure_logging: bool = True) -> int:
    environ = os.environ if environ is None else environ
    if configure_logging:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(jsonlog.JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
    try:
        split = environ.get("BATCH_SPLIT", "").strip()
        if not split:
            raise SetupError("BATCH_SPLIT is not set: it names the folder of the job's split")
        job = read_job(split)
        route = choose_route(environ)
        spec = job_spec(job, route.path)
        predictor = load_predictor(route, environ, spec)
        if environ.get("BATCH_ON_JOB_COMPLETE", "").strip().lower() in _TRUTHY:
            complete = getattr(predictor, "on_job_complete", None)
            if callable(complete):
                try:
                    complete()
                except Exception as exc:
                    raise SetupError("on_job_complete() raised %s: %s" % (type(exc).__name__, exc),
                                     EXIT_PREDICTOR_FAILED) from exc
            jsonlog.log_event(log, "job_complete", job_id=job["job_id"], called=callable(complete))
            return 0
        index = worker_index(environ)
        workers = int(job["workers"])
        if index >= workers:
            raise SetupError("worker index %d is not below the job's %d workers" % (index, workers))
        max_receive_count = max(1, int(job.get("max_receive_count") or 1))
        outcomes = Outcomes(environ.get("BATCH_OUTCOMES", "").strip(), index)
        try:
            numbers = share(index, workers, int(job["total_batch_count"]))
            jsonlog.log_event(log, "worker_started", job_id=job["job_id"], worker=index,
                              batches=len(numbers))
            succeeded, failed = run_share(predictor, split, numbers, max_receive_count, outcomes)
        finally:
            outcomes.close()
        jsonlog.log_event(log, "worker_finished", job_id=job["job_id"], worker=index,
                          succeeded=succeeded, failed=failed)
        return 0
    except SetupError as exc:
        jsonlog.log_event(log, "worker_failed", level=logging.ERROR, error=str(exc))
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
