"""Whether the predict server is ready: a gate each worker holds while it cannot answer yet, and
the markers its worker processes share.

The gate (one per worker process) is what startup work uses:

    readiness.hold("adult_income_lr/predict: FileNotFoundError: models/lr.pkl")
    readiness.release()

While a worker holds it, GET /ready answers 503 with `Retry-After` and the message
"not ready because <reason>", whichever worker the probe reaches, and the worker logs a `not_ready`
line with the reason (once per reason). `release()` makes the worker ready as far as it goes.
Route loading holds the gate with "the routes are loading" until every route of the worker is
loaded; other startup work (checks that run after loading) holds it again before loading releases
it, or after. GET /ready is 200 once no worker holds its gate and every worker the server keeps
has loaded its routes.

What the workers share: gunicorn's workers are separate processes, and a request to /ready
reaches only one of them. The server's master creates a directory before it forks the workers and
passes its path down in CORTEX_S2I_STATE_DIR, with the number of workers it keeps in
CORTEX_S2I_WORKERS. Each worker keeps there `ready.<pid>` while it is ready and `held.<pid>` (the
reason) while it holds its gate; the master forgets a worker's files when it reaps the worker and
removes the directory when it exits. A worker whose routes fail to load leaves `failed` (the
route, module and cause as JSON) before it exits, so that the master can end its log with them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import jsonlog

STATE_DIR_VARIABLE = "CORTEX_S2I_STATE_DIR"
WORKERS_VARIABLE = "CORTEX_S2I_WORKERS"
LOADING = "the routes are loading"
_READY_PREFIX = "ready."
_HELD_PREFIX = "held."
_FAILED = "failed"

log = logging.getLogger("cortex_s2i.server")


def create_state_dir() -> str:
    """A fresh private directory for one server's shared state, in memory when possible."""
    shm = "/dev/shm"
    parent = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="cortex-s2i-server-", dir=parent)


def remove_state_dir(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class WorkerSet:
    """The shared state of one server's workers; `expected` is how many workers it keeps."""

    def __init__(self, directory: str, expected: int) -> None:
        self.directory = directory
        self.expected = expected

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerSet | None:
        """The server's WorkerSet, or None when this process does not run under the server."""
        directory = environ.get(STATE_DIR_VARIABLE, "")
        if not directory or not os.path.isdir(directory):
            return None
        try:
            expected = max(1, int(environ.get(WORKERS_VARIABLE, "1")))
        except ValueError:
            expected = 1
        return cls(directory, expected)

    def _path(self, prefix: str, pid: int) -> str:
        return os.path.join(self.directory, "%s%d" % (prefix, pid))

    def mark_ready(self, pid: int) -> None:
        _unlink(self._path(_HELD_PREFIX, pid))
        with open(self._path(_READY_PREFIX, pid), "w"):
            pass

    def mark_held(self, pid: int, reason: str) -> None:
        _unlink(self._path(_READY_PREFIX, pid))
        temporary = self._path(_HELD_PREFIX, pid) + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(reason)
        os.replace(temporary, self._path(_HELD_PREFIX, pid))  # never read half-written

    def forget(self, pid: int) -> None:
        for prefix in (_READY_PREFIX, _HELD_PREFIX):
            _unlink(self._path(prefix, pid))

    def _live(self, prefix: str) -> list[tuple[int, str]]:
        found = []
        for name in sorted(os.listdir(self.directory)):
            number = name[len(prefix):]
            # A file whose worker died unreaped (the master was killed) does not count.
            if name.startswith(prefix) and number.isdigit() and _alive(int(number)):
                found.append((int(number), os.path.join(self.directory, name)))
        return found

    def ready_count(self) -> int:
        """Live workers that are ready."""
        return len(self._live(_READY_PREFIX))

    def held_reasons(self) -> list[str]:
        """Why live workers hold their gates, in the order of their process ids."""
        reasons = []
        for _, path in self._live(_HELD_PREFIX):
            try:
                with open(path, encoding="utf-8") as handle:
                    reasons.append(handle.read())
            except FileNotFoundError:
                continue  # released meanwhile
        return reasons

    def record_failure(self, pid: int, fields: dict[str, Any]) -> bool:
        """Leaves why this worker could not load its routes; True for the first worker to fail.

        Only the first one should end with gunicorn's boot-error status: the master halts the
        server on it, and a second such exit during that halt makes gunicorn raise inside its
        own shutdown and exit 1 with a traceback.
        """
        temporary = os.path.join(self.directory, "%s.%d.tmp" % (_FAILED, pid))
        with open(temporary, "w") as handle:
            json.dump(fields, handle)
        try:
            os.link(temporary, os.path.join(self.directory, _FAILED))  # atomic, exclusive
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)

    def first_failure(self) -> dict[str, Any] | None:
        """The fields of the first worker that failed to load its routes, or None."""
        try:
            with open(os.path.join(self.directory, _FAILED)) as handle:
                found = json.load(handle)
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class ReadyStatus:
    """What GET /ready answers: ready or not, and why not."""

    ready: bool
    workers_ready: int
    workers: int
    reason: str | None = None

    def message(self) -> str:
        counts = "%d of %d workers are ready" % (self.workers_ready, self.workers)
        if self.reason is not None:
            return "not ready because %s; %s" % (self.reason, counts)
        return "not ready: " + counts


class Readiness:
    """This worker's readiness gate; see the module's docstring."""

    def __init__(self, workers: WorkerSet | None = None, pid: int | None = None) -> None:
        self.workers = workers
        self._pid = os.getpid() if pid is None else pid
        self._reason: str | None = None
        self._logged: str | None = None

    @property
    def held(self) -> str | None:
        """Why this worker is not ready, or None when it is."""
        return self._reason

    def hold(self, reason: str) -> None:
        """/ready answers 503 "not ready because <reason>" until release()."""
        self._reason = reason
        if self.workers is not None:
            self.workers.mark_held(self._pid, reason)
        if reason != self._logged:
            self._logged = reason
            jsonlog.log_event(log, "not_ready", reason=reason)

    def release(self) -> None:
        """This worker is ready (the others may not be yet)."""
        self._reason = None
        self._logged = None
        if self.workers is not None:
            self.workers.mark_ready(self._pid)

    def status(self) -> ReadyStatus:
        if self.workers is None:
            ready = self._reason is None
            return ReadyStatus(ready, int(ready), 1, self._reason)
        count = self.workers.ready_count()
        expected = self.workers.expected
        if self._reason is not None:
            return ReadyStatus(False, count, expected, self._reason)
        others = self.workers.held_reasons()
        # A worker still loading says less than one that found a problem: show that one first.
        others.sort(key=lambda reason: reason == LOADING)
        if others:
            return ReadyStatus(False, count, expected, others[0])
        return ReadyStatus(count >= expected, count, expected)
