"""Tests of the call runner and the watchdog that give route functions a deadline."""

import threading
import time
import unittest

from cortex_s2i_runtime.deadline import (Abandoned, CallRunner, DeadlineExceeded, TargetExit,
                                         Watchdog, call_directly)


class CallRunnerTest(unittest.TestCase):
    def setUp(self):
        self.release = threading.Event()
        self.late = []
        self.saturated = []
        self.runner = CallRunner(0.2, 2, lambda *args: self.late.append(args),
                                 self.saturated.append)
        self.addCleanup(self.drain)

    def drain(self):
        self.release.set()
        until = time.monotonic() + 10
        while self.runner.abandoned and time.monotonic() < until:
            time.sleep(0.01)

    def stuck(self, value):
        self.release.wait(30)
        return value

    def test_returns_the_result_or_raises_what_the_function_raised(self):
        self.assertEqual(self.runner.call(lambda x: x * 2, 21), 42)
        with self.assertRaisesRegex(KeyError, "instances"):
            self.runner.call(lambda msg: msg["instances"], {})

    def test_system_exit_becomes_an_ordinary_failure(self):
        # Raised from plain functions: a KeyboardInterrupt escaping exec() would make the
        # interpreter exit with status 130 at the end of the run.
        def exits(msg):
            raise SystemExit(3)

        def interrupted(msg):
            raise KeyboardInterrupt

        with self.assertRaisesRegex(TargetExit, "SystemExit"):
            self.runner.call(exits, None)
        with self.assertRaisesRegex(TargetExit, "KeyboardInterrupt"):
            call_directly(interrupted, None)

    def test_a_late_call_raises_deadline_exceeded_and_is_reported_when_it_returns(self):
        started = time.monotonic()
        with self.assertRaises(DeadlineExceeded) as raised:
            self.runner.call(self.stuck, "late", context="request-1")
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual((raised.exception.abandoned, self.runner.abandoned), (1, 1))
        self.assertEqual(self.late, [])
        self.drain()
        [(context, seconds, error)] = self.late
        self.assertEqual((context, error), ("request-1", None))
        self.assertGreaterEqual(seconds, 0.2)
        self.assertEqual(self.runner.abandoned, 0)

    def test_abandoned_calls_do_not_starve_the_pool(self):
        for _ in range(3):
            with self.assertRaises(DeadlineExceeded):
                self.runner.call(self.stuck, None)
        started = time.monotonic()
        self.assertEqual(self.runner.call(lambda x: x, "quick"), "quick")
        self.assertLess(time.monotonic() - started, 0.2)

    def test_saturation_is_reported_once_when_abandoned_calls_reach_the_pool_size(self):
        with self.assertRaises(DeadlineExceeded):
            self.runner.call(self.stuck, None)
        self.assertEqual(self.saturated, [])
        for _ in range(2):
            with self.assertRaises(DeadlineExceeded):
                self.runner.call(self.stuck, None)
        self.assertEqual(self.saturated, [2])
        # Once the abandoned calls have returned, a new pile-up is reported again.
        self.drain()
        self.release = threading.Event()
        for _ in range(2):
            with self.assertRaises(DeadlineExceeded):
                self.runner.call(self.stuck, None)
        self.assertEqual(self.saturated, [2, 2])

    def test_a_timeout_of_zero_is_refused(self):
        with self.assertRaises(ValueError):
            CallRunner(0, 1)


class WatchdogTest(unittest.TestCase):
    def setUp(self):
        self.release = threading.Event()
        self.late = []
        self.saturated = []
        self.changes = []
        self.answers = []
        self.watchdog = Watchdog(0.2, 2, lambda *args: self.late.append(args),
                                 self.saturated.append, self.changes.append)
        self.addCleanup(self.release.set)

    def stuck(self, value):
        self.release.wait(30)
        return value

    def answer(self, tag):
        return lambda abandoned: self.answers.append(
            (tag, abandoned, threading.current_thread()))

    def call_in_thread(self, function, tag):
        """Runs watchdog.call in a thread of its own; returns (thread, outcome list)."""
        outcome = []

        def run():
            try:
                outcome.append(("returned", self.watchdog.call(function, tag, self.answer(tag),
                                                               context=tag)))
            except BaseException as exc:
                outcome.append(("raised", exc))
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, outcome

    def wait_for(self, predicate, seconds=5):
        until = time.monotonic() + seconds
        while not predicate() and time.monotonic() < until:
            time.sleep(0.01)
        self.assertTrue(predicate())

    def test_calls_the_function_in_the_calling_thread_and_passes_on_what_it_raised(self):
        seen = []
        result = self.watchdog.call(lambda x: seen.append(threading.current_thread()) or x * 2,
                                    21, self.answer("a"))
        self.assertEqual((result, seen), (42, [threading.current_thread()]))
        with self.assertRaisesRegex(KeyError, "instances"):
            self.watchdog.call(lambda msg: msg["instances"], {}, self.answer("b"))
        with self.assertRaisesRegex(TargetExit, "SystemExit"):
            self.watchdog.call(lambda msg: exit(3), None, self.answer("c"))
        time.sleep(0.3)  # past every deadline: calls that returned in time are never answered
        self.assertEqual((self.answers, self.watchdog.abandoned), ([], 0))

    def test_a_late_call_is_answered_at_its_deadline_by_the_watchdog_then_dropped(self):
        started = time.monotonic()
        thread, outcome = self.call_in_thread(self.stuck, "late")
        self.wait_for(lambda: self.answers)
        self.assertLess(time.monotonic() - started, 2)
        [(tag, abandoned, answering)] = self.answers
        self.assertEqual((tag, abandoned, self.watchdog.abandoned), ("late", 1, 1))
        self.assertIsNot(answering, thread)
        self.assertEqual((outcome, self.late, self.changes), ([], [], [1]))
        self.release.set()
        thread.join(5)
        [(kind, error)] = outcome
        self.assertEqual(kind, "raised")
        self.assertIsInstance(error, Abandoned)
        [(context, seconds, failure)] = self.late
        self.assertEqual((context, failure), ("late", None))
        self.assertGreaterEqual(seconds, 0.2)
        self.assertEqual((self.watchdog.abandoned, self.changes), (0, [1, -1]))

    def test_a_call_made_while_the_watchdog_is_idle_still_gets_its_deadline(self):
        self.watchdog.call(lambda x: x, 1, self.answer("first"))
        time.sleep(0.3)  # the watchdog now sleeps a whole timeout, waiting for nothing
        started = time.monotonic()
        self.call_in_thread(self.stuck, "later")
        self.wait_for(lambda: self.answers)
        # Due 0.2 s after its start, found within the watchdog's next turn (at most 0.2 s on).
        self.assertLess(time.monotonic() - started, 0.2 * 2 + 0.3)

    def test_saturation_is_reported_once_when_abandoned_calls_reach_the_thread_count(self):
        self.call_in_thread(self.stuck, "one")
        self.wait_for(lambda: len(self.answers) == 1)
        self.assertEqual(self.saturated, [])
        threads = [self.call_in_thread(self.stuck, tag)[0] for tag in ("two", "three")]
        self.wait_for(lambda: len(self.answers) == 3)
        # Once, with the count when it was reached: 2, or 3 when "two" and "three" came due in
        # the same turn of the watchdog (they start a moment apart).
        self.assertEqual(len(self.saturated), 1, self.saturated)
        self.assertIn(self.saturated[0], (2, 3))
        self.release.set()
        for thread in threads:
            thread.join(5)
        self.wait_for(lambda: self.watchdog.abandoned == 0)
        self.release = threading.Event()
        for tag in ("four", "five"):
            self.call_in_thread(self.stuck, tag)
        self.wait_for(lambda: len(self.answers) == 5)
        self.assertEqual(self.saturated[1:], [2])
        self.release.set()

    def test_a_timeout_of_zero_is_refused(self):
        with self.assertRaises(ValueError):
            Watchdog(0, 1)


if __name__ == "__main__":
    unittest.main()
