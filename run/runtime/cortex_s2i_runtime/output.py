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
"""

import json
import logging
import os
import select
import sys
import threading
from collections import deque

from . import jsonlog

FLUSH_SECONDS = 0.2
MAX_LINE = 65536

_log_fd = 2
_relays: "list[_Relay]" = []


def _write_all(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


# Lines waiting for the writer, in order. A thread with a line to write appends it, and writes
# every waiting line itself unless another thread is writing: that one looks again before it
# stops. Under load a write then carries the lines of several requests, up to PIPE_BUF bytes:
# no write of several lines can be split by the pipe among other processes' lines (gunicorn's
# workers share stderr), while a line longer than that goes out alone, as it always did.
_pending: "deque[bytes]" = deque()
_writing = threading.Lock()
_PIPE_BUF = getattr(select, "PIPE_BUF", 4096)


def _new_writer_state():
    global _pending, _writing
    _pending = deque()
    _writing = threading.Lock()


os.register_at_fork(after_in_child=_new_writer_state)


def _send(data):
    pending = _pending
    if data is not None:
        pending.append(data)
    while pending:
        if not _writing.acquire(False):
            return  # the writing thread writes this line too
        try:
            _write_pending(pending)
        finally:
            _writing.release()


def _write_pending(pending):
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


def flush_lines():
    """Waits for the writing thread, then writes what is left (before os._exit)."""
    with _writing:
        _write_pending(_pending)


class LogHandler(logging.Handler):
    """Writes each formatted record as one line, never split, to the real stderr."""

    def emit(self, record):
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
        except Exception:
            self.handleError(record)
            return
        _send(data)

    def write_line(self, text):
        """Writes a line already formatted (jsonlog.log_event's path around LogRecords)."""
        _send((text + "\n").encode("utf-8", "replace"))

    def flush(self):
        flush_lines()


def _line(stream, raw):
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
    def __init__(self, fd, stream):
        self.fd = fd
        self.stream = stream
        self.saved = os.dup(fd)
        self.read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self.thread = threading.Thread(target=self._run, name="cortex-s2i-output-" + stream,
                                       daemon=True)
        self.thread.start()

    def _emit(self, raw):
        _write_all(self.saved, (_line(self.stream, raw) + "\n").encode("utf-8"))

    def _run(self):
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

    def release(self, seconds):
        os.dup2(self.saved, self.fd)  # closes this process's end of the pipe
        self.thread.join(seconds)


def capture():
    """Moves descriptors 1 and 2 onto relays; the log handler keeps the real stderr."""
    global _log_fd
    if _relays:
        return
    for fd, stream in ((1, "stdout"), (2, "stderr")):
        _relays.append(_Relay(fd, stream))
    _log_fd = _relays[1].saved


def release(seconds=1.0):
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
