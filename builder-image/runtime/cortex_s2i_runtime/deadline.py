"""Runs route functions with a deadline: the request gets a 504 when the call outlives TIMEOUT.

Two ways, one contract. `Watchdog` (the predict server's, when its worker can answer a request
from another thread) runs each call in the request thread itself and keeps the deadlines in one
thread per worker, which sends the 504 when a call misses its deadline: nothing changes threads
on the way of a prediction in time. `CallRunner` (any other WSGI server, and tests) hands each
call to a thread of a pool and waits for it in the request thread, which then answers the 504
itself; that hand-over and the wake-ups it takes were the largest part of a small prediction's
cost.

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
import logging
import queue
import threading
import time


class DeadlineExceeded(Exception):
    """The call did not return within the deadline; it is still running, abandoned."""

    def __init__(self, timeout, abandoned):
        super().__init__("no result within %s seconds" % timeout)
        self.timeout = timeout
        self.abandoned = abandoned


class Abandoned(Exception):
    """Raised in the request thread when its call returns after the watchdog answered for it."""


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


class _Watched:
    """A call the watchdog keeps: when it is due, and what answers for it."""

    __slots__ = ("due", "on_deadline")

    def __init__(self, due, on_deadline):
        self.due = due
        self.on_deadline = on_deadline


class Watchdog:
    """Deadlines of calls made in their own request threads, held by one daemon thread.

    `call()` runs the function in the calling thread. When it misses its deadline, the watchdog
    thread claims the call and runs its `on_deadline(abandoned)` (which answers the client);
    when the function finally returns, its result is dropped, `on_late_finish` reports it and
    `call()` raises Abandoned. Whichever of the two claims the call first (under one lock)
    answers; the other does nothing. As with CallRunner, `on_saturated` runs once when as many
    calls are abandoned as the worker has threads, and `on_abandoned(+1/-1)` follows the count
    (the server adds a request thread for each, so that later requests are not starved).

    Deadlines all lie `timeout` after their call's start, so a call never comes due before the
    watchdog's next turn (it sleeps until the first deadline it keeps, at most `timeout`): a
    call never has to wake it, which would cost a thread switch per prediction.
    """

    def __init__(self, timeout, size, on_late_finish=None, on_saturated=None,
                 on_abandoned=None):
        if timeout <= 0:
            raise ValueError("timeout must be positive; call functions directly without one")
        self.timeout = timeout
        self.size = size
        self._on_late_finish = on_late_finish or (lambda context, seconds, error: None)
        self._on_saturated = on_saturated or (lambda abandoned: None)
        self._on_abandoned = on_abandoned or (lambda change: None)
        self._lock = threading.Lock()
        self._calls = {}  # _Watched -> True while running; claimed ones are removed
        self._abandoned = 0
        self._saturated = False
        self._thread = None

    @property
    def abandoned(self):
        """Calls that missed their deadline and are still running."""
        with self._lock:
            return self._abandoned

    def call(self, function, argument, on_deadline, context=None):
        """function(argument) in this thread; raises what it raised, or Abandoned when late."""
        started = time.monotonic()
        watched = _Watched(started + self.timeout, on_deadline)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="cortex-s2i-watchdog",
                                                daemon=True)
                self._thread.start()
            self._calls[watched] = True
        error = None
        try:
            result = call_directly(function, argument)
        except BaseException as exc:
            error = exc
        with self._lock:
            mine = self._calls.pop(watched, False)
        if mine:
            if error is not None:
                raise error
            return result
        try:
            self._on_late_finish(context, time.monotonic() - started, error)
        finally:
            error = None  # drop the traceback's frames
            with self._lock:
                self._abandoned -= 1
                if self._abandoned < self.size:
                    self._saturated = False
            self._on_abandoned(-1)
        raise Abandoned()

    def _watch(self):
        while True:
            with self._lock:
                now = time.monotonic()
                late = [watched for watched in self._calls if watched.due <= now]
                for watched in late:
                    del self._calls[watched]
                # Idle, it sleeps a whole timeout: a call made meanwhile comes due after that.
                pause = min((watched.due for watched in self._calls), default=now + self.timeout)
                if late:
                    self._abandoned += len(late)
                    abandoned = self._abandoned
                    saturated = abandoned >= self.size and not self._saturated
                    if saturated:
                        self._saturated = True
            if not late:
                time.sleep(max(0.0, pause - now))
                continue
            for watched in late:
                _survive(self._on_abandoned, 1)
                _survive(watched.on_deadline, abandoned)
            if saturated:
                _survive(self._on_saturated, abandoned)


def _survive(callback, argument):
    """callback(argument); the watchdog thread must outlive a failure in one."""
    try:
        callback(argument)
    except Exception:
        logging.getLogger("cortex_s2i.server").exception("a deadline callback failed")
