"""Test helpers: throwaway user modules in temporary directories, and JSON log capture.

Run the suite from the repository root with:
    PYTHONPATH=builder-image/runtime python3 -m unittest discover -s builder-image/runtime/tests -t builder-image/runtime
"""

import importlib
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import textwrap

from cortex_s2i_runtime import jsonlog

RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The s2i run scripts beside the runtime (builder-image/run).
RUN_DIR = os.path.join(os.path.dirname(RUNTIME_DIR), "run")
_counter = itertools.count()


class UserCode:
    """A temporary directory on sys.path holding user modules with unique names.

    Module names are unique per test (sys.modules caches imports across tests).
    """

    def __init__(self, test_case):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-usercode-")
        sys.path.insert(0, self.root)
        test_case.addCleanup(self.close)

    def module(self, source, name=None):
        """Write a module (name may be dotted: packages are created) and return its name."""
        name = name or "usermod_%d_%d" % (os.getpid(), next(_counter))
        parts = name.split(".")
        directory = self.root
        for package in parts[:-1]:
            directory = os.path.join(directory, package)
            os.makedirs(directory, exist_ok=True)
            init = os.path.join(directory, "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()
        with open(os.path.join(directory, parts[-1] + ".py"), "w") as handle:
            handle.write(textwrap.dedent(source))
        importlib.invalidate_caches()  # the path finder caches directory listings
        return name

    def close(self):
        if self.root in sys.path:
            sys.path.remove(self.root)
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(self.root + os.sep):
                del sys.modules[name]
        shutil.rmtree(self.root, ignore_errors=True)


class LogCapture(logging.Handler):
    """Collects the JSON lines a logger tree emits, parsed back into dicts."""

    def __init__(self, test_case, logger_name="cortex_s2i"):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(jsonlog.JsonFormatter())
        self.lines = []
        logger = logging.getLogger(logger_name)
        previous = (logger.level, logger.propagate)
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False

        def restore():
            logger.removeHandler(self)
            logger.level, logger.propagate = previous
        test_case.addCleanup(restore)

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))

    def events(self, name):
        return [line for line in self.lines if line.get("event") == name]
