"""Tests of the call pool: calls off the event loop, few wake-ups, deadlines, abandoned calls."""

import asyncio
import contextvars
import threading
import time
import unittest

from cortex_s2i_runtime.call_pool import CallPool

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="none")


class CallPoolTest(unittest.TestCase):
    def setUp(self):
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)
        self.release = threading.Event()
        self.addCleanup(self.release.set)
        self.late = []
        self.saturated = []

    def pool(self, size=2, timeout=0.0):
        pool = CallPool(self.loop, size, timeout,
                        on_late_finish=lambda call, seconds: self.late.append(
                            (call.argument, marker.get(), call.result, call.error)),
                        on_saturated=self.saturated.append)
        self.addCleanup(pool.close)
        return pool

    def wait(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def stuck(self, argument):
        self.release.wait(30)
        return "late %s" % argument

    def test_calls_run_off_the_loops_thread_in_the_callers_context(self):
        pool = self.pool()

        async def call():
            marker.set("request-1")
            done = await pool.submit(lambda x: (x * 2, threading.current_thread(), marker.get()),
                                     21)
            return done

        call = self.wait(call())
        value, thread, seen = call.result
        self.assertEqual((value, seen, call.late, call.error), (42, "request-1", False, None))
        self.assertIsNot(thread, threading.current_thread())
        self.assertEqual(pool.pending, 0)

    def test_what_a_call_raises_comes_back_with_it_system_exit_too(self):
        pool = self.pool()

        def fail(kind):
            raise kind("from the model")

        for kind in (ValueError, SystemExit, KeyboardInterrupt):
            with self.subTest(kind=kind.__name__):
                call = self.wait(pool.submit(fail, kind))
                self.assertIsInstance(call.error, kind)

    def test_many_calls_take_few_wake_ups_of_the_loop_and_of_the_threads(self):
        pool = self.pool(size=4)
        deliveries = []
        original = pool._deliver

        def counted():
            deliveries.append(len(pool._finished))
            original()
        pool._deliver = counted
        woken = []
        original_wake = pool._wake_one

        def counted_wake():
            woken.append(pool._idle)
            original_wake()
        pool._wake_one = counted_wake

        async def burst():
            # A hundred calls queued at once, as a loop does with what it read in one turn.
            return await asyncio.gather(*(pool.submit(lambda x: x + 1, i) for i in range(100)))

        calls = self.wait(burst())
        self.assertEqual([call.result for call in calls], list(range(1, 101)))
        self.assertLessEqual(len(woken), 3, "threads woken for 100 small calls")
        self.assertLess(len(deliveries), 20, "loop wake-ups for 100 results")
        self.assertEqual(sum(deliveries), 100)

    def test_a_blocking_call_does_not_hold_up_the_others_for_long(self):
        pool = self.pool(size=3)

        async def blocked_then_quick():
            blocked = pool.submit(self.stuck, "a")
            await asyncio.sleep(0.05)
            started = time.monotonic()
            quick = await pool.submit(lambda x: x, "b")
            waited = time.monotonic() - started
            self.release.set()
            await blocked
            return quick, waited

        quick, waited = self.wait(blocked_then_quick())
        self.assertEqual(quick.result, "b")
        self.assertLess(waited, 1.0)

    def test_a_call_past_its_deadline_is_answered_late_and_reported_when_it_returns(self):
        pool = self.pool(size=2, timeout=0.3)

        async def call():
            marker.set("request-late")
            return await pool.submit(self.stuck, "x")

        started = time.monotonic()
        call = self.wait(call())
        self.assertTrue(call.late)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual((pool.abandoned, pool.pending), (1, 0))
        self.release.set()
        until = time.monotonic() + 10
        while pool.abandoned and time.monotonic() < until:
            time.sleep(0.01)
        self.assertEqual(self.late, [("x", "request-late", "late x", None)])
        self.assertIsNone(call.result)  # dropped once reported
        self.assertEqual(pool.abandoned, 0)

    def test_abandoned_calls_keep_their_threads_and_the_pool_takes_new_ones(self):
        pool = self.pool(size=2, timeout=0.3)

        async def scenario():
            late = await asyncio.gather(pool.submit(self.stuck, 1), pool.submit(self.stuck, 2))
            after = await pool.submit(lambda x: x, "served")
            return late, after

        late, after = self.wait(scenario())
        self.assertEqual([call.late for call in late], [True, True])
        self.assertEqual(after.result, "served")
        self.assertEqual(self.saturated, [2])  # once, when as many as its threads are stuck

    def test_a_queued_call_past_its_deadline_never_runs(self):
        pool = self.pool(size=1, timeout=0.3)
        ran = []

        async def scenario():
            first = pool.submit(self.stuck, 1)
            second = pool.submit(ran.append, 2)
            return await asyncio.gather(first, second)

        calls = self.wait(scenario())
        self.assertEqual([call.late for call in calls], [True, True])
        self.release.set()
        time.sleep(0.2)
        self.assertEqual(ran, [])

    def test_a_pool_needs_a_thread(self):
        with self.assertRaises(ValueError):
            CallPool(self.loop, 0)


if __name__ == "__main__":
    unittest.main()
