"""Cross-origin calls from browsers (CORS): off unless CORS_ORIGINS names the origins allowed.

With CORS_ORIGINS set, a browser's preflight (OPTIONS with Origin and
Access-Control-Request-Method) from an allowed origin gets 204 with the methods and headers it
may use, and every answer to an allowed origin says so (Access-Control-Allow-Origin) and lets the
page read X-Request-Id and traceparent. `*` allows any origin; no credentials are ever allowed
(the server takes none). Unset, no answer carries CORS headers and browsers keep pages of other
origins from reading the answers (the default: a model server is not a public API by default).
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

ALLOWED_METHODS = b"GET, HEAD, POST, OPTIONS"
# The request headers a page may send besides the CORS-safelisted ones.
ALLOWED_HEADERS = b"content-type, x-request-id, traceparent, tracestate"
EXPOSED_HEADERS = b"x-request-id, traceparent"
# How long a browser may cache a preflight's answer: ten minutes (Chromium's own cap is two hours).
MAX_AGE = b"600"


class CorsPolicy:
    """Which origins may call; `origins` as CORS_ORIGINS gives them (empty: none, ("*",): any)."""

    def __init__(self, origins: Iterable[str]) -> None:
        listed = tuple(origins)
        self.enabled = bool(listed)
        self.any = listed == ("*",)
        self._origins = frozenset(origin.encode("ascii") for origin in listed)

    def allowed(self, origin: bytes | None) -> bytes | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, or None."""
        if origin is None or not self.enabled:
            return None
        if self.any:
            return b"*"
        return origin if origin in self._origins else None

    def answer_headers(self, origin: bytes | None) -> Headers:
        """The CORS headers of an ordinary answer to a request from `origin`."""
        allowed = self.allowed(origin)
        if allowed is None:
            return [(b"vary", b"origin")] if self.enabled and not self.any else []
        headers = [(b"access-control-allow-origin", allowed),
                   (b"access-control-expose-headers", EXPOSED_HEADERS)]
        if not self.any:
            headers.append((b"vary", b"origin"))  # the answer depends on who asked
        return headers

    def preflight_headers(self, origin: bytes | None) -> Headers | None:
        """The headers of a 204 to an allowed origin's preflight, or None when it is refused."""
        allowed = self.allowed(origin)
        if allowed is None:
            return None
        headers = [(b"access-control-allow-origin", allowed),
                   (b"access-control-allow-methods", ALLOWED_METHODS),
                   (b"access-control-allow-headers", ALLOWED_HEADERS),
                   (b"access-control-max-age", MAX_AGE)]
        if not self.any:
            headers.append((b"vary", b"origin"))
        return headers
