"""Tests of the JSON encoding shared by log lines, train events and responses."""

import datetime
import json
import logging
import os
import sys
import unittest

from cortex_s2i_runtime import jsonlog


class TimeTest(unittest.TestCase):
    def test_times_are_utc_iso_with_milliseconds_within_and_across_seconds(self):
        for stamp in (1795000000.0, 1795000000.9994, 1795000001.25, 1795000000.5, 0.001):
            expected = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
            self.assertEqual(jsonlog.iso_time(stamp), expected.strftime("%Y-%m-%dT%H:%M:%S.")
                             + "%03dZ" % (expected.microsecond // 1000), stamp)


class PidTest(unittest.TestCase):
    def test_the_pid_is_this_process_s_with_or_without_logging_s_own_lookup(self):
        formatter = jsonlog.JsonFormatter()
        previous = logging.logProcesses
        self.addCleanup(setattr, logging, "logProcesses", previous)
        for lookup in (True, False):
            logging.logProcesses = lookup
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "event", None, None)
            self.assertEqual(json.loads(formatter.format(record))["pid"], os.getpid(), lookup)
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:
            os.write(write_end, formatter.format(record).encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(child, 0)
        line = os.read(read_end, 4096).decode()
        os.close(read_end)
        self.assertEqual(json.loads(line)["pid"], child)


class DumpsTest(unittest.TestCase):
    def test_plain_values_encode_on_one_line(self):
        self.assertEqual(jsonlog.dumps({"a": [1, "x\ny"]}), '{"a":[1,"x\\ny"]}')

    def test_common_model_outputs_are_converted(self):
        class Array:
            def tolist(self):
                return [1, 2]

        class Frame:
            def to_dict(self, orient):
                return [{"orient": orient}]
        value = {"array": Array(), "frame": Frame(), "when": datetime.date(2026, 11, 21),
                 "tags": ("a", "b"), "raw": b"bytes"}
        self.assertEqual(json.loads(jsonlog.dumps(value)), {
            "array": [1, 2], "frame": [{"orient": "records"}], "when": "2026-11-21",
            "tags": ["a", "b"], "raw": "bytes"})

    def test_non_finite_floats_become_null(self):
        line = jsonlog.dumps({"loss": float("nan"), "values": [float("inf"), 1.0]})
        self.assertEqual(json.loads(line, parse_constant=self.fail),
                         {"loss": None, "values": [None, 1.0]})

    def test_unserialisable_values_raise_or_fall_back_to_repr(self):
        with self.assertRaises(TypeError):
            jsonlog.dumps(object())
        self.assertRegex(json.loads(jsonlog.dumps_or_repr(object())), r"^<object object at ")


class FormatterTest(unittest.TestCase):
    def record(self, exc_info=None, **fields):
        record = logging.LogRecord("cortex_s2i.test", logging.WARNING, __file__, 1,
                                   "hello %s", ("world",), exc_info)
        record.fields = fields
        return json.loads(jsonlog.JsonFormatter().format(record))

    def test_a_record_is_one_json_object_with_its_fields(self):
        line = self.record(route="r", status=200, message="cannot override")
        self.assertEqual({k: line[k] for k in ("level", "logger", "message", "route", "status")},
                         {"level": "warning", "logger": "cortex_s2i.test",
                          "message": "hello world", "route": "r", "status": 200})
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_an_exception_becomes_a_traceback_field(self):
        try:
            raise KeyError("model")
        except KeyError:
            line = self.record(exc_info=sys.exc_info())
        self.assertIn("KeyError: 'model'", line["traceback"])

    def test_an_unserialisable_field_is_reprd_alone(self):
        line = self.record(route="r", odd=object())
        self.assertEqual(line["route"], "r")
        self.assertRegex(line["odd"], r"^<object object at ")

    def test_event_line_before_logging_is_configured(self):
        line = json.loads(jsonlog.event_line("config_error", level="error", error="PORT"))
        self.assertEqual((line["event"], line["level"], line["error"]),
                         ("config_error", "error", "PORT"))


if __name__ == "__main__":
    unittest.main()
