"""What the predict server's worker processes share: a directory, and a ready marker per worker.

gunicorn's workers are separate processes, and a request to /ready or /metrics reaches only one
of them. So the master creates a directory (in /dev/shm, memory, when it can) before it forks the
workers and passes its path down in CORTEX_S2I_STATE_DIR, with the number of workers it keeps in
CORTEX_S2I_WORKERS. Each worker keeps its metrics file there (metrics.py) and, once every route is
loaded, a marker file `ready.<pid>`; the master deletes a worker's marker when it reaps the worker,
and the directory when it exits. A worker whose routes fail to load leaves `failed` (the
route, module and cause as JSON) before it exits, so that the master can end its log with them.
"""

import json
import os
import shutil
import tempfile

STATE_DIR_VARIABLE = "CORTEX_S2I_STATE_DIR"
WORKERS_VARIABLE = "CORTEX_S2I_WORKERS"
_READY_PREFIX = "ready."
_FAILED_PREFIX = "failed."
_FAILED = "failed"


def create_state_dir():
    """A fresh private directory for one server's shared state, in memory when possible."""
    shm = "/dev/shm"
    parent = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="cortex-s2i-server-", dir=parent)


def remove_state_dir(directory):
    shutil.rmtree(directory, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerSet:
    """The ready markers of one server's workers; `expected` is how many workers it keeps."""

    def __init__(self, directory, expected):
        self.directory = directory
        self.expected = expected

    @classmethod
    def from_environ(cls, environ):
        """The server's WorkerSet, or None when this process does not run under the server."""
        directory = environ.get(STATE_DIR_VARIABLE, "")
        if not directory or not os.path.isdir(directory):
            return None
        try:
            expected = max(1, int(environ.get(WORKERS_VARIABLE, "1")))
        except ValueError:
            expected = 1
        return cls(directory, expected)

    def mark_ready(self, pid):
        with open(os.path.join(self.directory, _READY_PREFIX + str(pid)), "w"):
            pass

    def forget(self, pid):
        try:
            os.unlink(os.path.join(self.directory, _READY_PREFIX + str(pid)))
        except FileNotFoundError:
            pass

    def ready_count(self):
        """Live workers whose routes are loaded."""
        count = 0
        for name in os.listdir(self.directory):
            if name.startswith(_READY_PREFIX) and name[len(_READY_PREFIX):].isdigit():
                # A marker whose worker died unreaped (the master was killed) does not count.
                count += _alive(int(name[len(_READY_PREFIX):]))
        return count

    def record_failure(self, pid, fields):
        """Leaves why this worker could not load its routes; True for the first worker to fail.

        Only the first one should end with gunicorn's boot-error status: the master halts the
        server on it, and a second such exit during that halt makes gunicorn raise inside its
        own shutdown and exit 1 with a traceback.
        """
        temporary = os.path.join(self.directory, "%s%d.tmp" % (_FAILED_PREFIX, pid))
        with open(temporary, "w") as handle:
            json.dump(fields, handle)
        try:
            os.link(temporary, os.path.join(self.directory, _FAILED))  # atomic, exclusive
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)

    def first_failure(self):
        """The fields of the first worker that failed to load its routes, or None."""
        try:
            with open(os.path.join(self.directory, _FAILED)) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None
