"""The exception model code raises to answer a client error (4xx) with its own message.

    from cortex_s2i_runtime import ClientError

    def predict(payload):
        if "age" not in payload:
            raise ClientError("feature 'age' is missing", status=422)

The predict server answers it as every error: status `status` (400 unless given; 400 to 499) and
`{"error": {"status": ..., "message": <the message>, "request_id": ...}}`. The message goes to
the client as written, so it must not hold secrets. Any other exception stays a 500 whose
details go only to the log. `--inquire` prints the message and exits 2 (bad input).
"""

from __future__ import annotations


class ClientError(Exception):
    """The request cannot be answered as sent; the client gets `status` and the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 499:
            # A wrong status is a bug in the model code: a 500, with this in the log.
            raise ValueError("ClientError status must be a whole number from 400 to 499, got %r"
                             % (status,))
        super().__init__(message)
        self.message = str(message)
        self.status = status
