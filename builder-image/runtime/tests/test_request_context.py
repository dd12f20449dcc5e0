"""Tests of a request's identity: its id and W3C trace context, taken or made, on its log lines."""

import contextvars
import logging
import unittest

from cortex_s2i_runtime import jsonlog, request_context

from tests.support import LogCapture


class TraceparentTest(unittest.TestCase):
    def test_a_valid_traceparent_gives_its_trace_and_flags(self):
        self.assertEqual(request_context.parse_traceparent(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "01"))
        # A later version may add fields; this server reads the four it knows.
        self.assertEqual(request_context.parse_traceparent(
            b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-comes"),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "09"))

    def test_an_invalid_one_is_none(self):
        for value in (b"", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                      b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                      b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                      b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                      b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                      b"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"):
            with self.subTest(value=value):
                self.assertIsNone(request_context.parse_traceparent(value))

    def test_a_request_continues_a_valid_trace_or_starts_one(self):
        continued = request_context.from_headers(
            b"abc", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        self.assertEqual((continued.request_id, continued.trace_id, continued.flags),
                         ("abc", "4bf92f3577b34da6a3ce929d0e0e4736", "01"))
        self.assertRegex(continued.traceparent(),
                         r"^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$")
        made = [request_context.from_headers(None, b"junk") for _ in range(100)]
        self.assertEqual(len({context.trace_id for context in made}), 100)
        self.assertEqual(len({context.span_id for context in made}), 100)
        for context in made:
            self.assertRegex(context.traceparent(), r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")
            self.assertNotEqual(int(context.trace_id, 16), 0)


class LogLinesTest(unittest.TestCase):
    def test_every_line_logged_in_a_requests_context_carries_its_ids(self):
        logs = LogCapture(self, "anything")
        context = request_context.RequestContext("rid-1", "a" * 32, "b" * 16)

        def in_request():
            request_context.current.set(context)
            logging.getLogger("anything").warning("from the model")
            jsonlog.log_event(logging.getLogger("anything"), "an_event", request_id="own")

        contextvars.copy_context().run(in_request)
        logging.getLogger("anything").warning("outside any request")
        inside, event, outside = logs.lines
        self.assertEqual((inside["request_id"], inside["trace_id"], inside["span_id"]),
                         ("rid-1", "a" * 32, "b" * 16))
        self.assertEqual((event["request_id"], event["trace_id"]), ("own", "a" * 32))
        self.assertNotIn("request_id", outside)


if __name__ == "__main__":
    unittest.main()
