"""Runs route functions with a deadline: the request gets a 504 when the call outlives TIMEOUT.

Python cannot stop a thread, so a call that misses its deadline is abandoned, not killed: it
keeps running in its own daemon thread (and keeps its CPU and memory) until it returns, when its
result is thrown away and `on_late_finish` reports it. The pool starts a replacement thread for
each abandoned one, so later requests are not starved. When as many abandoned calls are still
running in a worker as the pool has threads, `on_saturated` is called (once, until the count
drops again): the predict server
then asks gunicorn to replace the worker (SIGTERM to itself: requests in flight finish, the
daemon threads die with the process, and the master starts a fresh worker).

gunicorn's own worker timeout does not do this job: with threaded workers it only notices a
worker whose main loop is frozen, and it answers nothing; it kills the process.
"""

import _thread
import queue
import threading
import time


class DeadlineExceeded(Exception):
    """The call did not return within the deadline; it is still running, abandoned."""

    def __init__(self, timeout, abandoned):
        super().__init__("no result within %s seconds" % timeout)
        self.timeout = timeout
        self.abandoned = abandoned


class TargetExit(RuntimeError):
    """The route function raised SystemExit or KeyboardInterrupt: a failure, not a shutdown."""


class _Call:
    __slots__ = ("function", "argument", "context", "done", "result", "error", "finished",
                 "abandoned", "started")

    def __init__(self, function, argument, context):
        self.function = function
        self.argument = argument
        self.context = context
        # A lock held until the call ends: cheaper than an Event (no Condition) on the hot path.
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.result = None
        self.error = None
        self.finished = False
        self.abandoned = False
        self.started = None


def call_directly(function, argument):
    """function(argument), with SystemExit/KeyboardInterrupt turned into TargetExit."""
    try:
        return function(argument)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise TargetExit("the function raised %s" % type(exc).__name__) from exc


class CallRunner:
    """Calls functions in a pool of `size` daemon threads, waiting `timeout` seconds for each."""

    def __init__(self, timeout, size, on_late_finish=None, on_saturated=None):
        if timeout <= 0:
            raise ValueError("timeout must be positive; call functions directly without one")
        self.timeout = timeout
        self.size = size
        self._on_late_finish = on_late_finish or (lambda context, seconds, error: None)
        self._on_saturated = on_saturated or (lambda abandoned: None)
        self._calls = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._abandoned = 0
        self._saturated = False
        for _ in range(size):
            self._start_thread()

    @property
    def abandoned(self):
        """Calls that missed their deadline and are still running."""
        with self._lock:
            return self._abandoned

    def call(self, function, argument, context=None):
        """function(argument) within the deadline; raises DeadlineExceeded, or what it raised."""
        job = _Call(function, argument, context)
        self._calls.put(job)
        if not job.done.acquire(timeout=self.timeout):
            saturated = False
            with self._lock:
                if not job.finished:
                    job.abandoned = True
                    self._abandoned += 1
                    abandoned = self._abandoned
                    self._start_thread()  # the abandoned call keeps its thread
                    if abandoned >= self.size and not self._saturated:
                        saturated = self._saturated = True
            if job.abandoned:
                if saturated:
                    self._on_saturated(abandoned)
                raise DeadlineExceeded(self.timeout, abandoned)
        if job.error is not None:
            raise job.error
        return job.result

    def _start_thread(self):
        threading.Thread(target=self._serve, name="cortex-s2i-call", daemon=True).start()

    def _serve(self):
        while True:
            job = self._calls.get()
            job.started = time.monotonic()
            try:
                job.result = call_directly(job.function, job.argument)
            except BaseException as exc:  # handed to the waiting request thread
                job.error = exc
            with self._lock:
                job.finished = True
                abandoned = job.abandoned
            job.done.release()
            if abandoned:
                try:
                    self._on_late_finish(job.context, time.monotonic() - job.started, job.error)
                finally:
                    job.error = None  # drop the traceback's frames
                    with self._lock:
                        self._abandoned -= 1
                        if self._abandoned < self.size:
                            self._saturated = False
                return  # a replacement took this thread's place in the pool
