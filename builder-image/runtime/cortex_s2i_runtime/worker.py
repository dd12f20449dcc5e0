"""A worker process of the predict server: uvicorn's gunicorn worker, set up for the app.

gunicorn's master (serve.py) keeps WEB_CONCURRENCY of these and starts a new one when one ends.
Each runs uvicorn with uvloop and httptools (the fastest Python HTTP stack there is), through
`CONFIG_KWARGS`, the knob uvicorn's worker documents for its settings, and the app's connections
through connection_guard.py's protocol, made once the app is loaded (it answers refusals with
the app's JSON). uvicorn's own access log is off: the app writes one JSON line per request.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from .connection_guard import ConnectionLimits, guarded_protocol
from .settings import ServerSettings

try:
    from uvicorn.workers import UvicornWorker
except ImportError:  # uvicorn releases that no longer carry it point to this package instead
    from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):  # type: ignore[misc]  # uvicorn and gunicorn are untyped here
    """uvicorn's worker with uvloop, httptools, lifespan events and the guarded protocol."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "httptools",  # replaced by the guarded protocol in load_wsgi()
        "ws": "none",  # no WebSocket routes: an upgrade request is refused with a 400
        "lifespan": "on",  # the app starts its call pool and loads its routes on startup
        "interface": "asgi3",
        "proxy_headers": False,  # no client addresses are used: no X-Forwarded-For to read
        "access_log": False,
    }

    def load_wsgi(self) -> None:
        super().load_wsgi()
        settings = ServerSettings.from_environ(os.environ)
        limits = ConnectionLimits(header_timeout=settings.header_timeout,
                                  body_timeout=settings.body_timeout,
                                  send_timeout=settings.send_timeout)
        self.config.http = guarded_protocol(limits, self.wsgi)
