"""Runs a worker's predictions in a bounded pool of threads, never on its event loop.

The event loop answers connections and probes; a prediction (decoding the body, the model's call,
encoding the answer) runs in one of `size` threads (THREADS), in a copy of the request's context,
so that what the model logs carries the request's id. `submit()` returns a future that resolves
to the finished `Call` on the loop.

Why not `loop.run_in_executor`: a measured quarter of a small prediction's throughput went into
its hand-over (a wake-up of a thread and one of the loop per call), and more into the threads
then taking turns at the interpreter's lock. Here the hand-over costs at most one wake-up each way
and usually none. A call is queued; a thread is woken only when no thread is awake, and a thread
that is awake takes the next call from the queue without one. More threads join (up to `size`)
only when calls wait behind one that has been running for HELPER_DELAY seconds: calls that block
(on I/O, on native code that lets go of the interpreter's lock) then run side by side, while small
calls run one after another in one thread instead of several threads waking for them in turn and
taking turns at the interpreter's lock (measured in a container on two busy cores: a quarter more
CPU time per small prediction when helpers joined after a call merely waited).
The threads tell the loop about finished calls once for all that finished since it last looked
(one call_soon_threadsafe while a delivery is pending, not one per call).

Deadlines (TIMEOUT): a call that has not finished `timeout` seconds after it was submitted is
answered late (`Call.late`): if it had not started it never will; if it is running it is
abandoned, since Python cannot stop a thread: it keeps its thread until it returns (when
`on_late_finish` reports it and the thread ends), and a new thread takes that thread's place so
that later calls are not starved. When as many abandoned calls are running as the pool has
threads, `on_saturated` is called once (until the count drops): only a fresh process gets rid of
calls that never return, and the server then replaces the worker. Deadlines are kept by one timer
that looks at the calls in flight a few times per TIMEOUT while any are, not one per call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

_QUEUED, _RUNNING, _DONE, _ABANDONED, _DROPPED = range(5)
# The pool's own callbacks run in no request's context (call_later would take the current one's).
_EMPTY = contextvars.Context()
# How long a call must have been running, with others waiting behind it, before another thread is
# woken for them. A small prediction takes well under a millisecond of CPU, but on a busy machine
# its thread may wait that long for a core: the age of the running call, not the wait of the
# queued ones, tells a call that blocks.
HELPER_DELAY = 0.01


class Call:
    """One call of `function(argument)`: its result or error once finished, or `late`."""

    __slots__ = ("function", "argument", "context", "future", "due", "state", "result", "error",
                 "started")

    def __init__(self, function: Callable[[Any], Any], argument: Any,
                 context: contextvars.Context, future: asyncio.Future[Call], due: float) -> None:
        self.function = function
        self.argument = argument
        self.context = context
        self.future = future
        self.due = due
        self.state = _QUEUED
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = 0.0

    @property
    def late(self) -> bool:
        """The call missed its deadline: abandoned while running, or dropped before it started."""
        return self.state in (_ABANDONED, _DROPPED)


class CallPool:
    """Calls functions in `size` daemon threads; `timeout` seconds each (0: no limit)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, timeout: float = 0,
                 on_late_finish: Callable[[Call, float], None] | None = None,
                 on_saturated: Callable[[int], None] | None = None) -> None:
        if size < 1:
            raise ValueError("a call pool needs at least one thread")
        self.size = size
        self.timeout = timeout
        self._loop = loop
        self._on_late_finish = on_late_finish
        self._on_saturated = on_saturated
        self._queue: deque[Call] = deque()
        self._finished: deque[Call] = deque()
        self._delivery_pending = False
        # Guards the queue, the thread counts and Call.state; threads wait on it for calls.
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._awake = 0  # threads running a call or about to look at the queue
        self._running: set[Call] = set()
        self._idle = 0  # threads waiting for a call
        self._closing = False
        self._helper: asyncio.TimerHandle | None = None
        self._dispatch_pending = False
        self._abandoned = 0
        self._saturated = False
        self._threads = 0
        # The loop's own state: calls submitted and not yet answered, and those with a deadline.
        self.pending = 0
        self._watched: set[Call] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._tick_seconds = min(1.0, max(0.05, timeout / 10))
        for _ in range(size):
            self._start_thread()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the pool answers on."""
        return self._loop

    def serves_running_loop(self) -> bool:
        """Whether the loop running now is this pool's (asked without a system call: the
        server has one loop per process; tests make several, one after another)."""
        return self._loop.is_running()

    @property
    def abandoned(self) -> int:
        """Calls past their deadline that are still running."""
        with self._lock:
            return self._abandoned

    def submit(self, function: Callable[[Any], Any], argument: Any) -> asyncio.Future[Call]:
        """Queues function(argument) in a copy of the current context; on the loop's thread."""
        future: asyncio.Future[Call] = self._loop.create_future()
        now = time.monotonic()
        call = Call(function, argument, contextvars.copy_context(), future, now + self.timeout)
        self.pending += 1
        if self.timeout > 0:
            self._watched.add(call)
            if self._tick is None:
                self._tick = self._loop.call_later(self._tick_seconds, self._expire,
                                                   context=_EMPTY)
        with self._lock:
            self._queue.append(call)
        if not self._dispatch_pending:
            # Threads are woken once the loop has read what else is ready: one wake-up for all
            # the calls of its turn, and the thread does not wait for the loop to let go of the
            # interpreter's lock.
            self._dispatch_pending = True
            self._loop.call_soon(self._dispatch, context=_EMPTY)
        return future

    def _dispatch(self) -> None:
        self._dispatch_pending = False
        with self._lock:
            if self._queue and self._awake == 0:
                self._wake_one()
            if self._queue and self._idle and self._helper is None:
                self._helper = self._loop.call_later(HELPER_DELAY, self._help, context=_EMPTY)

    def close(self) -> None:
        """Lets the threads end once the queue is empty; no call may follow."""
        with self._lock:
            self._closing = True
            self._awake += self._idle
            self._idle = 0
            self._wakeup.notify_all()

    def _wake_one(self) -> None:
        """Holding the lock: one waiting thread goes."""
        if self._idle:
            self._idle -= 1
            self._awake += 1
            self._wakeup.notify()

    def _start_thread(self) -> None:
        with self._lock:
            self._threads += 1
            self._awake += 1
        threading.Thread(target=self._serve, name="cortex-s2i-call", daemon=True).start()

    def _help(self) -> None:
        """On the loop, while calls wait and threads idle: when a running call has been running
        for HELPER_DELAY, another thread takes the next waiting call."""
        self._helper = None
        with self._lock:
            if not self._queue or not self._idle:
                return
            now = time.monotonic()
            oldest = min((call.started for call in self._running), default=now)
            if now - oldest >= HELPER_DELAY:
                self._wake_one()
            self._helper = self._loop.call_later(HELPER_DELAY, self._help, context=_EMPTY)

    def _next(self) -> Call | None:
        """In a pool thread: the next call to run, waiting for one if need be; None: end."""
        with self._lock:
            while True:
                while self._queue:
                    call = self._queue.popleft()
                    if call.state != _QUEUED:
                        continue  # dropped at its deadline while it waited
                    now = time.monotonic()
                    if self.timeout > 0 and call.due <= now:
                        call.state = _DROPPED  # answered by the loop's next look at deadlines
                        continue
                    call.state = _RUNNING
                    call.started = now
                    self._running.add(call)
                    return call
                if self._closing:
                    self._awake -= 1
                    self._threads -= 1
                    return None
                self._awake -= 1
                self._idle += 1
                self._wakeup.wait()  # the waker counted this thread awake again

    def _serve(self) -> None:
        finished, lock = self._finished, self._lock
        while True:
            call = self._next()
            if call is None:
                return
            try:
                call.result = call.context.run(call.function, call.argument)
            except BaseException as exc:  # SystemExit in model code too: the call's failure
                call.error = exc
            with lock:
                self._running.discard(call)
                late = call.state == _ABANDONED
                if not late:
                    call.state = _DONE
            if late:
                self._finish_late(call)
                return  # a new thread has taken this one's place
            finished.append(call)
            if not self._delivery_pending:
                self._delivery_pending = True
                try:
                    self._loop.call_soon_threadsafe(self._deliver, context=_EMPTY)
                except RuntimeError:
                    return  # the loop is closed: the worker is exiting

    def _finish_late(self, call: Call) -> None:
        try:
            if self._on_late_finish is not None:
                call.context.run(self._on_late_finish, call, time.monotonic() - call.started)
        finally:
            call.result = call.error = None  # drop the answer and the traceback's frames
            with self._lock:
                self._abandoned -= 1
                self._threads -= 1
                if self._abandoned < self.size:
                    self._saturated = False

    def _deliver(self) -> None:
        """On the loop: answers every call finished since the last delivery."""
        self._delivery_pending = False
        finished = self._finished
        while finished:
            self._answer(finished.popleft())

    def _answer(self, call: Call) -> None:
        if not call.future.done():
            self.pending -= 1
            self._watched.discard(call)
            call.future.set_result(call)

    def _expire(self) -> None:
        """On the loop, a few times per timeout while calls are in flight: answers late ones."""
        self._tick = None
        now = time.monotonic()
        late = [call for call in self._watched if call.due <= now]
        saturated = replaced = 0
        answered = []
        with self._lock:
            for call in late:
                if call.state == _QUEUED:
                    call.state = _DROPPED
                elif call.state == _RUNNING:
                    call.state = _ABANDONED
                    replaced += 1
                    self._abandoned += 1
                    self._awake -= 1  # its thread is not the pool's any more
                    if self._abandoned >= self.size and not self._saturated:
                        self._saturated = True
                        saturated = self._abandoned
                elif call.state == _DONE:
                    continue  # finished: its delivery is on its way
                answered.append(call)
        for _ in range(replaced):
            self._start_thread()  # each abandoned call keeps its thread
        for call in answered:
            self._answer(call)
        if saturated and self._on_saturated is not None:
            self._on_saturated(saturated)
        if self._watched:
            self._tick = self._loop.call_later(self._tick_seconds, self._expire, context=_EMPTY)
