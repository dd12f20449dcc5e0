"""Test helpers: throwaway user modules in temporary directories, and JSON log capture.

Run the suite from the repository root with:
    bash scripts/python-tests.sh (Debian's python3 with the libraries the images have)
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


class Response:
    """An answer of the app: its status, headers (lower-case names, the last of each) and body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.header_list = [(name.decode("latin-1"), value.decode("latin-1"))
                            for name, value in headers]
        self.headers = dict(self.header_list)
        self.body = body

    def json(self):
        return json.loads(self.body)


class AsgiClient:
    """Calls an ASGI app in this process, on an event loop of its own, as a worker's loop would.

    `request(...)` sends one request and returns its Response; `body_chunks` sends the body in
    pieces (more_body), and `hold_body=True` never sends the last piece (a slow client).
    """

    def __init__(self, test_case, app):
        import asyncio
        self.app = app
        self.loop = asyncio.new_event_loop()
        test_case.addCleanup(self.close)
        self._lifespan = None

    def close(self):
        if self._lifespan is not None:
            self.run(self._stop())
        self.loop.close()

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def start(self):
        """Sends lifespan.startup, as the server does before it serves."""
        import asyncio
        self._events = asyncio.Queue()
        sent = []

        async def receive():
            return await self._events.get()

        async def send(message):
            sent.append(message)

        async def go():
            self._lifespan = asyncio.ensure_future(self.app({"type": "lifespan"}, receive, send))
            await self._events.put({"type": "lifespan.startup"})
            while not sent:
                await asyncio.sleep(0.001)
            return sent[0]

        return self.run(go())

    async def _stop(self):
        await self._events.put({"type": "lifespan.shutdown"})
        await self._lifespan

    def request(self, method, path, body=b"", headers=None, query=b"", body_chunks=None,
                hold_body=False, disconnect=False):
        return self.run(self.request_async(method, path, body, headers, query, body_chunks,
                                           hold_body, disconnect))

    async def request_async(self, method, path, body=b"", headers=None, query=b"",
                            body_chunks=None, hold_body=False, disconnect=False):
        import asyncio
        headers = dict(headers or {})
        if body_chunks is None:
            body_chunks = [body]
            headers.setdefault("content-length", str(len(body)))
        scope = {"type": "http", "method": method, "path": path, "query_string": query,
                 "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                             for name, value in headers.items()]}
        pieces = list(body_chunks)
        sent = []

        async def receive():
            if pieces:
                chunk = pieces.pop(0)
                return {"type": "http.request", "body": chunk,
                        "more_body": bool(pieces) or hold_body}
            if disconnect:
                return {"type": "http.disconnect"}
            if hold_body:
                await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        if not sent:
            return None
        start, body_message = sent[0], sent[1]
        return Response(start["status"], start["headers"], body_message.get("body", b""))
