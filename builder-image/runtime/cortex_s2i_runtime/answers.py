"""The predict server's answers as bytes: JSON error bodies and whole responses.

Every error the server gives is JSON,
{"error": {"status": N, "message": "...", "request_id": "..."}}, whether the app decides it or the
connection guard does before a request reaches the app.
"""

from __future__ import annotations

import http
from dataclasses import dataclass, field

from . import jsonlog

JSON = b"application/json"
Headers = list[tuple[bytes, bytes]]


def phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_body(status: int, message: str, request_id: str) -> bytes:
    return jsonlog.dumps({"error": {"status": status, "message": message,
                                    "request_id": request_id}}).encode()


@dataclass
class Answer:
    """What the app answers: a status, a body and its headers (the app adds the common ones)."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: Headers = field(default_factory=list)


def whole_response(status: int, headers: Headers, body: bytes) -> bytes:
    """An HTTP/1.1 response as bytes, for answers written straight to a connection."""
    lines = [b"HTTP/1.1 %d %s" % (status, phrase(status).encode("ascii"))]
    lines.extend(name + b": " + value for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
