"""Keeps the predict server's log JSON lines whatever model code writes to stdout and stderr.

Model code prints, writes to sys.stderr without a newline, or writes to file descriptor 2 from C;
sharing the log's descriptor, a write like `partial` glued itself to the front of the next JSON
line and broke it. So `capture()`, in gunicorn's master before it forks the workers, moves
descriptors 1 and 2 onto pipes: a relay thread reads them and writes each line of raw output as
a JSON line of its own (`{"logger": "output", "stream": "stderr", "message": ...}`) to the real
stdout or stderr, while the log handler (`LogHandler`) writes the server's own lines straight to
the real stderr, one whole line per write. A line without its newline is written once the writer
has been quiet for FLUSH_SECONDS, and a very long one in pieces of MAX_LINE bytes. A line that
is already a JSON object (a model logging JSON itself) passes through unchanged.

The access line of each answered request (jsonlog.log_access) may wait in a buffer of this
process, as nginx's `access_log ... buffer= flush=` does: `configure(access_flush)` (the server's
ACCESS_LOG_FLUSH) holds them until the next would pass PIPE_BUF or the oldest has waited that
long, then writes them in one write. Each write to the engine's log pipe costs far more than the
line itself (the container runtime reads it, the engine's logger stores it), and was most of a
small prediction's cost. Any other line first sends the waiting access lines, so the lines of a
process keep the order of its events.
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import threading
import time
from collections import deque

from . import jsonlog

FLUSH_SECONDS = 0.2
MAX_LINE = 65536

_log_fd = 2
_relays: list[_Relay] = []


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


# Lines waiting for the writer, in order. A thread with a line to write appends it, and writes
# every waiting line itself unless another thread is writing: that one looks again before it
# stops. Under load a write then carries the lines of several requests, up to PIPE_BUF bytes:
# no write of several lines can be split by the pipe among other processes' lines (gunicorn's
# workers share stderr), while a line longer than that goes out alone, as it always did.
_pending: deque[bytes] = deque()
_writing = threading.Lock()
_PIPE_BUF = getattr(select, "PIPE_BUF", 4096)


# Access lines waiting in this process (ACCESS_LOG_FLUSH), their size, and when the oldest came.
# `_order` guards them, and their move to `_pending` as one write, so that no other line can
# pass them; a line of another kind that finds access lines waiting takes them first.
_access_flush = 0.0
_access: list[bytes] = []
_access_bytes = 0
_access_since = 0.0
# Reentrant: gunicorn's signal handlers may log while the main thread holds it.
_order = threading.RLock()
_due = threading.Condition(_order)
_flusher: threading.Thread | None = None
_flusher_idle = False  # waiting for a first line, not for a deadline: it needs a notify


def _new_writer_state() -> None:
    global _pending, _writing, _access, _access_bytes, _order, _due, _flusher, _flusher_idle
    _pending = deque()
    _writing = threading.Lock()
    # A forked worker starts empty: the parent's waiting lines are the parent's to write.
    _access = []
    _access_bytes = 0
    _order = threading.RLock()
    _due = threading.Condition(_order)
    _flusher = None
    _flusher_idle = False


os.register_at_fork(after_in_child=_new_writer_state)


def configure(access_flush: float) -> None:
    """Seconds an access line may wait to share a write (ACCESS_LOG_FLUSH); 0: written at once."""
    global _access_flush
    flush_lines()  # what waits under the previous setting goes first
    with _order:
        _access_flush = float(access_flush)
        _due.notify()  # a flush thread waiting for the previous deadline computes it again


def _send(data: bytes | None) -> None:
    pending = _pending
    if data is not None:
        if _access:
            with _order:
                _hand_over_access()
                pending.append(data)
        else:
            pending.append(data)
    while pending:
        if not _writing.acquire(False):
            return  # the writing thread writes this line too
        try:
            _write_pending(pending)
        finally:
            _writing.release()


def _hand_over_access() -> None:
    """Queues the waiting access lines as one write (they fit PIPE_BUF). Holding _order."""
    global _access_bytes
    if _access:
        # Appended before the list empties: a thread that sees no access line waiting finds
        # them in _pending already.
        _pending.append(_access[0] if len(_access) == 1 else b"".join(_access))
        _access.clear()
        _access_bytes = 0


def _send_access(data: bytes) -> None:
    """An access line: written at once without ACCESS_LOG_FLUSH, else held (see the module)."""
    global _access_bytes, _access_since, _flusher, _flusher_idle
    if _access_flush <= 0:
        _send(data)
        return
    with _order:
        full = _access_bytes + len(data) > _PIPE_BUF
        if full:
            _hand_over_access()
        if len(data) > _PIPE_BUF:
            _pending.append(data)  # never fits a shared write: alone, at once
        else:
            if not _access:
                _access_since = time.monotonic()
                if _flusher is None:
                    _flusher = threading.Thread(target=_flush_when_due, daemon=True,
                                                name="cortex-s2i-access-log")
                    _flusher.start()
                elif _flusher_idle:
                    _flusher_idle = False
                    _due.notify()
            _access.append(data)
            _access_bytes += len(data)
            if not full:
                return
    _send(None)


def _flush_when_due() -> None:
    """The timed flush: asleep while no access line waits, so idle it costs nothing."""
    global _flusher_idle
    while True:
        with _order:
            while True:
                if not _access:
                    _flusher_idle = True
                    _due.wait()
                    continue
                left = _access_since + _access_flush - time.monotonic()
                if left <= 0:
                    break
                # Lines written meanwhile leave the deadline as it is: no wake-up per line.
                _due.wait(left)
            _hand_over_access()
        _send(None)


def _write_pending(pending: deque[bytes]) -> None:
    while pending:
        batch = [pending.popleft()]
        size = len(batch[0])
        while pending and size + len(pending[0]) <= _PIPE_BUF:
            size += len(pending[0])
            batch.append(pending.popleft())
        try:
            _write_all(_log_fd, batch[0] if len(batch) == 1 else b"".join(batch))
        except OSError:
            pass  # as emit's handleError does with logging.raiseExceptions off: the line is lost


def flush_lines() -> None:
    """Writes the waiting access lines, waits for the writing thread, then writes what is left
    (at exit, before os._exit)."""
    if _access:
        with _order:
            _hand_over_access()
    with _writing:
        _write_pending(_pending)


class LogHandler(logging.Handler):
    """Writes each formatted record as one line, never split, to the real stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
        except Exception:
            self.handleError(record)
            return
        _send(data)

    def write_line(self, text: str, access: bool = False) -> None:
        """Writes a line already formatted (jsonlog.log_event's path around LogRecords); an
        access line may wait to share a write with others (configure)."""
        data = (text + "\n").encode("utf-8", "replace")
        if access:
            _send_access(data)
        else:
            _send(data)

    def flush(self) -> None:
        flush_lines()


def _line(stream: str, raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if text.startswith("{"):
        try:
            if isinstance(json.loads(text), dict):
                return text
        except ValueError:
            pass
    return jsonlog.dumps_or_repr({"time": jsonlog.utc_now_iso(), "level": "info",
                                  "logger": "output", "stream": stream, "message": text})


class _Relay:
    def __init__(self, fd: int, stream: str) -> None:
        self.fd = fd
        self.stream = stream
        self.saved = os.dup(fd)
        self.read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self.thread = threading.Thread(target=self._run, name="cortex-s2i-output-" + stream,
                                       daemon=True)
        self.thread.start()

    def _emit(self, raw: bytes) -> None:
        _write_all(self.saved, (_line(self.stream, raw) + "\n").encode("utf-8"))

    def _run(self) -> None:
        # Only os.read and os.write here: no locks that a fork could leave held in a worker.
        pending = b""
        poller = select.poll()
        poller.register(self.read_end, select.POLLIN)
        while True:
            if not poller.poll(FLUSH_SECONDS * 1000 if pending else None):
                self._emit(pending)  # a write without its newline, then silence
                pending = b""
                continue
            chunk = os.read(self.read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._emit(line)
            while len(pending) > MAX_LINE:
                self._emit(pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
        if pending:
            self._emit(pending)
        os.close(self.read_end)

    def release(self, seconds: float) -> None:
        os.dup2(self.saved, self.fd)  # closes this process's end of the pipe
        self.thread.join(seconds)


def capture() -> None:
    """Moves descriptors 1 and 2 onto relays; the log handler keeps the real stderr."""
    global _log_fd
    if _relays:
        return
    for fd, stream in ((1, "stdout"), (2, "stderr")):
        _relays.append(_Relay(fd, stream))
    _log_fd = _relays[1].saved


def release(seconds: float = 1.0) -> None:
    """Puts descriptors 1 and 2 back and writes what the relays still hold (at exit)."""
    global _log_fd
    flush_lines()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    while _relays:
        _relays.pop().release(seconds)
    _log_fd = 2
