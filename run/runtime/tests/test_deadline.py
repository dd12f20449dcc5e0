"""Tests of the call runner that gives route functions a deadline."""

import threading
import time
import unittest

from cortex_s2i_runtime.deadline import CallRunner, DeadlineExceeded, TargetExit, call_directly


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


if __name__ == "__main__":
    unittest.main()
