"""Tests of the predict server's WSGI app, called directly (wrapped in wsgiref's validator)."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import wsgiref.util
import wsgiref.validate

from cortex_s2i_runtime import clients, deadline, metrics, predict_server, routes
from cortex_s2i_runtime.workers import WorkerSet

from tests.support import RUNTIME_DIR, LogCapture, UserCode

MODEL_SOURCE = """
    class Vector:
        # Stands in for a numpy array: JSON encoding goes through tolist().
        def __init__(self, values):
            self.values = values
        def tolist(self):
            return list(self.values)

    def echo(msg):
        return msg

    def double(msg):
        return Vector([2 * x for x in msg["instances"]])

    def explode(msg):
        raise ValueError("secret detail " + repr(msg))

    def unserialisable(msg):
        return object()

    def quit(msg):
        raise SystemExit(1)

    class Scaler:
        def __init__(self, config):
            self.factor = int(config.get("FACTOR", "1"))
        def predict(self, payload):
            return [x * self.factor for x in payload]
"""

CORTEX_MODULE_SOURCE = """
    state = {}
    def init(model_path, metadata):
        state["model_path"] = model_path
        state["offset"] = 100
    def predict(sample, metadata):
        return {"value": sample["x"] + state["offset"], "route": metadata["route"]}
"""


class _Unreadable(io.RawIOBase):
    def read(self, *args):
        raise AssertionError("the body must not be read")

    readline = readlines = read

    def __iter__(self):
        raise AssertionError("the body must not be read")


def call(app, method, path, body=b"", headers=None, query="", content_length=True, lint=True):
    """Run one request through the app; returns (status int, headers dict, body bytes).

    lint wraps the app in wsgiref's validator, which also checks the environ: requests that a
    real server would refuse before the app sees them need lint=False.
    """
    environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path,
               "QUERY_STRING": query}
    wsgiref.util.setup_testing_defaults(environ)
    environ["wsgi.input"] = body if hasattr(body, "read") else io.BytesIO(body)
    if content_length is True:
        environ["CONTENT_LENGTH"] = str(len(body))
    elif content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        # WSGI carries these two without the HTTP_ prefix.
        environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    captured = {}

    def start_response(status, response_headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(response_headers)

    result = (wsgiref.validate.validator(app) if lint else app)(environ, start_response)
    try:
        data = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], captured["headers"], data


class PredictServerTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)
        self.logs = LogCapture(self)
        self.model = self.code.module(MODEL_SOURCE)
        self.cortex = self.code.module(CORTEX_MODULE_SOURCE)
        routes_value = ",".join([
            "m/echo:%s:echo" % self.model,
            "m/double:%s:double" % self.model,
            "m/explode:%s:explode" % self.model,
            "m/odd:%s:unserialisable" % self.model,
            "m/quit:%s:quit" % self.model,
            "m/scale:%s:Scaler" % self.model,
            "cortex/predict:%s:predict" % self.cortex,
        ])
        self.app = predict_server.create_app({"ROUTES": routes_value, "FACTOR": "10",
                                              "MAX_BODY_BYTES": "64"})

    def post(self, path, document, **kwargs):
        return call(self.app, "POST", path, json.dumps(document).encode(), **kwargs)

    def assertJsonError(self, response, status, message_part):
        code, headers, body = response
        self.assertEqual(code, status)
        self.assertEqual(headers["Content-Type"], "application/json")
        error = json.loads(body)["error"]
        self.assertEqual(error["status"], status)
        self.assertIn(message_part, error["message"])
        self.assertEqual(error["request_id"], headers["X-Request-Id"])
        return error

    def test_post_passes_the_body_as_is_and_wraps_the_result_in_payload(self):
        document = {"instances": [[1, "a", None]], "nested": {"k": 1.5}}
        status, headers, body = self.post("/m/echo", document)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(int(headers["Content-Length"]), len(body))
        self.assertEqual(json.loads(body), {"payload": document})

    def test_array_like_results_are_encoded_through_tolist(self):
        status, _, body = self.post("/m/double", {"instances": [1, 2, 3]})
        self.assertEqual((status, json.loads(body)), (200, {"payload": [2, 4, 6]}))

    def test_class_style_target_gets_the_environment_as_config(self):
        status, _, body = self.post("/m/scale", [1, 2])
        self.assertEqual((status, json.loads(body)), (200, {"payload": [10, 20]}))

    def test_module_style_target_was_initialised_and_gets_metadata(self):
        status, _, body = self.post("/cortex/predict", {"x": 1})
        self.assertEqual(json.loads(body),
                         {"payload": {"value": 101, "route": "cortex/predict"}})
        self.assertEqual(status, 200)

    def test_trailing_slash_reaches_the_route(self):
        self.assertEqual(self.post("/m/echo/", [1])[0], 200)

    def test_health_lists_the_routes(self):
        status, headers, body = call(self.app, "GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok", "routes": [
            "m/echo", "m/double", "m/explode", "m/odd", "m/quit", "m/scale", "cortex/predict"]})
        status, headers, body = call(self.app, "HEAD", "/health")
        self.assertEqual((status, body), (200, b""))

    def test_malformed_json_is_a_400_that_says_so(self):
        response = call(self.app, "POST", "/m/echo", b'{"instances": [1, 2')
        self.assertJsonError(response, 400, "not valid JSON")
        response = call(self.app, "POST", "/m/echo", b"\xff\xfe\x00garbage")
        self.assertJsonError(response, 400, "not valid JSON")
        self.assertJsonError(call(self.app, "POST", "/m/echo", b""), 400, "empty")
        self.assertJsonError(call(self.app, "POST", "/m/echo", b"{}", content_length="ten",
                                  lint=False), 400, "Content-Length")

    def test_unknown_route_is_a_404_naming_the_path(self):
        error = self.assertJsonError(self.post("/no/such/route", {}), 404, "/no/such/route")
        self.assertNotIn("m/echo", error["message"])
        self.assertJsonError(call(self.app, "GET", "/"), 404, "no route GET /")

    def test_wrong_method_is_a_405_with_allow(self):
        status, headers, _ = response = call(self.app, "GET", "/m/echo")
        self.assertJsonError(response, 405, "use POST /m/echo")
        self.assertEqual(headers["Allow"], "POST")
        status, headers, _ = response = call(self.app, "POST", "/health", b"{}")
        self.assertJsonError(response, 405, "GET /health")
        self.assertEqual(headers["Allow"], "GET, HEAD")

    def test_body_over_the_limit_is_a_413_decided_from_content_length_without_reading(self):
        response = call(self.app, "POST", "/m/echo", _Unreadable(), content_length="65")
        self.assertJsonError(response, 413, "limit is 64")

    def test_body_at_the_limit_is_accepted(self):
        body = json.dumps(["x" * 60]).encode()
        self.assertEqual(len(body), 64)
        self.assertEqual(call(self.app, "POST", "/m/echo", body)[0], 200)

    def test_chunked_body_over_the_limit_is_a_413(self):
        body = json.dumps("x" * 100).encode()
        response = call(self.app, "POST", "/m/echo", body, content_length=None,
                        headers={"Transfer-Encoding": "chunked"})
        self.assertJsonError(response, 413, "exceeds the limit of 64")
        small = call(self.app, "POST", "/m/echo", b"[1]", content_length=None,
                     headers={"Transfer-Encoding": "chunked"})
        self.assertEqual((small[0], json.loads(small[2])), (200, {"payload": [1]}))

    def test_a_raising_target_is_a_generic_500_with_the_traceback_in_the_log(self):
        response = self.post("/m/explode", {"card": "1234"})
        error = self.assertJsonError(response, 500, "prediction failed")
        self.assertNotIn("secret detail", response[2].decode())
        self.assertNotIn("1234", response[2].decode())
        failed = self.logs.events("request_failed")
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["request_id"], error["request_id"])
        self.assertEqual(failed[0]["route"], "m/explode")
        self.assertIn("ValueError: secret detail", failed[0]["traceback"])
        # The app keeps serving.
        self.assertEqual(self.post("/m/echo", [1])[0], 200)

    def test_an_unserialisable_result_is_a_500(self):
        self.assertJsonError(self.post("/m/odd", {}), 500, "prediction failed")
        self.assertIn("not JSON serializable",
                      self.logs.events("request_failed")[0]["traceback"])

    def test_each_request_is_logged_once_with_route_status_duration_and_request_id(self):
        _, headers, _ = self.post("/m/echo", [1])
        self.post("/nowhere", [1])
        requests = self.logs.events("request")
        self.assertEqual(len(requests), 2)
        ok, missing = requests
        self.assertEqual((ok["route"], ok["status"], ok["method"]), ("m/echo", 200, "POST"))
        self.assertEqual(ok["request_id"], headers["X-Request-Id"])
        self.assertIsInstance(ok["duration_ms"], (int, float))
        self.assertEqual(ok["level"], "info")
        self.assertEqual((missing["route"], missing["status"], missing["path"]),
                         (None, 404, "/nowhere"))

    def test_request_id_is_generated_or_taken_from_a_safe_incoming_header(self):
        generated = self.post("/m/echo", [1])[1]["X-Request-Id"]
        self.assertRegex(generated, r"^[0-9a-f]{32}$")
        self.assertNotEqual(generated, self.post("/m/echo", [1])[1]["X-Request-Id"])
        kept = self.post("/m/echo", [1], headers={"X-Request-Id": "trace-42.a_b"})
        self.assertEqual(kept[1]["X-Request-Id"], "trace-42.a_b")
        for unsafe in ("has space", "x" * 65, "semi;colon", "quote\"", ""):
            with self.subTest(unsafe=unsafe):
                replaced = self.post("/m/echo", [1], headers={"X-Request-Id": unsafe})
                self.assertRegex(replaced[1]["X-Request-Id"], r"^[0-9a-f]{32}$")

    def test_debug_logs_the_raw_body_and_the_result_when_the_operator_allows_it(self):
        self.app.debug_logging = True
        raw = b'{"instances": [1, 2]}'
        call(self.app, "POST", "/m/double", raw, query="debug=true")
        [request] = self.logs.events("debug_request")
        [result] = self.logs.events("debug_result")
        self.assertEqual(request["body"], raw.decode())
        self.assertEqual(result["result"], [2, 4])
        self.assertEqual(request["request_id"], result["request_id"])

    def test_debug_is_off_by_default_served_as_usual_and_said_once(self):
        app = predict_server.create_app({"ROUTES": "m/echo:%s:echo" % self.model})
        for _ in range(3):
            code, _, body = call(app, "POST", "/m/echo", b'{"card": "4242"}', query="debug=true")
            self.assertEqual((code, json.loads(body)), (200, {"payload": {"card": "4242"}}))
        self.assertEqual(self.logs.events("debug_request") + self.logs.events("debug_result"), [])
        self.assertNotIn("4242", json.dumps(self.logs.lines))
        [note] = self.logs.events("debug_logging_off")
        self.assertIn("DEBUG_LOGGING=1", note["reason"])

    def test_debug_lines_are_cut_to_debug_log_bytes(self):
        app = predict_server.create_app({"ROUTES": "m/echo:%s:echo" % self.model,
                                         "DEBUG_LOGGING": "1", "DEBUG_LOG_BYTES": "50"})
        raw = json.dumps({"text": "y" * 5000}).encode()
        self.assertEqual(call(app, "POST", "/m/echo", raw, query="debug=1")[0], 200)
        [request] = self.logs.events("debug_request")
        [result] = self.logs.events("debug_result")
        self.assertEqual((len(request["body"]), request["body_bytes"], request["truncated"]),
                         (50, len(raw), True))
        self.assertEqual((len(result["result"]), result["truncated"]), (50, True))

    def test_debug_settings_are_checked(self):
        for name, value in (("DEBUG_LOGGING", "maybe"), ("DEBUG_LOG_BYTES", "0")):
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, name):
                predict_server.create_app({"ROUTES": "a:m:f", name: value})

    def test_json_nested_too_deeply_is_a_400_not_a_500(self):
        app = predict_server.create_app({"ROUTES": "m/echo:%s:echo" % self.model})
        deep = b"[" * 100000 + b"]" * 100000
        self.assertJsonError(call(app, "POST", "/m/echo", deep), 400, "nested too deeply")
        self.assertEqual(self.logs.events("request_failed"), [])

    def test_a_body_that_cannot_be_read_is_a_400_naming_the_cause(self):
        class BadChunks(io.RawIOBase):
            def read(self, *args):
                raise OSError("Invalid chunk size: b'zz'")
        response = call(self.app, "POST", "/m/echo", BadChunks(), content_length=None,
                        headers={"Transfer-Encoding": "chunked"})
        self.assertJsonError(response, 400, "Invalid chunk size")

    def test_a_body_past_its_deadline_is_a_408(self):
        class Trickle(io.RawIOBase):
            def read(self, *args):
                raise clients.ClientTimeout(30)
        self.assertJsonError(call(self.app, "POST", "/m/echo", Trickle(), content_length="10"),
                             408, "within 30 seconds (BODY_TIMEOUT)")

    def test_error_response_is_the_apps_json_error_logged_and_counted(self):
        status, headers, body = self.app.error_response(
            503, "busy", method="POST", path="/m/echo", headers=[("Retry-After", "1")])
        headers = dict(headers)
        self.assertEqual(status, "503 Service Unavailable")
        self.assertEqual(headers["Retry-After"], "1")
        self.assertEqual(headers["Content-Length"], str(len(body)))
        error = json.loads(body)["error"]
        self.assertEqual((error["status"], error["message"]), (503, "busy"))
        [logged] = self.logs.events("request")
        self.assertEqual((logged["status"], logged["path"], logged["request_id"]),
                         (503, "/m/echo", error["request_id"]))
        self.assertIn('status="503"', self.app.metrics.render())

    def test_without_debug_nothing_of_the_body_is_logged(self):
        self.post("/m/echo", {"card": "1234"}, query="debug=false")
        self.assertEqual(self.logs.events("debug_request"), [])
        self.assertNotIn("1234", json.dumps(self.logs.lines))

    def test_non_finite_numbers_become_null_so_responses_stay_strict_json(self):
        status, _, body = call(self.app, "POST", "/m/echo", b"[NaN, Infinity, 1.5]")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body.decode(), parse_constant=self.fail),
                         {"payload": [None, None, 1.5]})


    def test_a_body_that_is_not_an_object_or_array_is_a_400_wrong_shape(self):
        for raw, named in ((b'"text"', "a string"), (b"42", "a number"), (b"true", "true/false"),
                           (b"null", "null")):
            with self.subTest(body=raw):
                response = call(self.app, "POST", "/m/echo", raw)
                self.assertJsonError(response, 400, "must be a JSON object or array, not " + named)
        self.assertEqual(self.post("/m/echo", {"a": 1})[0], 200)
        self.assertEqual(self.post("/m/echo", [])[0], 200)

    def test_a_content_type_other_than_json_is_a_415_without_reading_the_body(self):
        for content_type in ("text/plain", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x", "application/jsonp"):
            with self.subTest(content_type=content_type):
                response = call(self.app, "POST", "/m/echo", _Unreadable(), content_length="2",
                                headers={"Content-Type": content_type}, lint=False)
                self.assertJsonError(response, 415, "must be JSON")
        for content_type in ("application/json", "application/json; charset=utf-8",
                             "Application/JSON", "application/vnd.api+json", ""):
            with self.subTest(content_type=content_type):
                status = call(self.app, "POST", "/m/echo", b"[1]", lint=False,
                              headers={"Content-Type": content_type})[0]
                self.assertEqual(status, 200)

    def test_a_target_raising_system_exit_is_a_500_and_the_app_keeps_serving(self):
        self.assertJsonError(self.post("/m/quit", {}), 500, "prediction failed")
        self.assertIn("SystemExit", self.logs.events("request_failed")[0]["traceback"])
        self.assertEqual(self.post("/m/echo", [1])[0], 200)

    def test_service_endpoints_answer_get_only(self):
        for path in ("/ready", "/metrics"):
            with self.subTest(path=path):
                status, headers, _ = response = call(self.app, "POST", path, b"{}")
                self.assertJsonError(response, 405, "use GET " + path)
                self.assertEqual(headers["Allow"], "GET, HEAD")

    def test_ready_once_loaded_and_health_always(self):
        status, _, body = call(self.app, "GET", "/ready")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ready")

    def test_metrics_count_requests_by_route_and_status_with_a_latency_histogram(self):
        self.post("/m/echo", [1])
        self.post("/m/echo", [2])
        call(self.app, "POST", "/m/echo", b"{bad")
        self.post("/m/explode", {})
        self.post("/no/such", {})
        status, headers, body = call(self.app, "GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        samples = parse_exposition(body.decode())
        self.assertEqual(samples['cortex_s2i_requests_total{route="m/echo",status="200"}'], 2)
        self.assertEqual(samples['cortex_s2i_requests_total{route="m/echo",status="400"}'], 1)
        self.assertEqual(samples['cortex_s2i_requests_total{route="m/explode",status="500"}'], 1)
        self.assertEqual(samples['cortex_s2i_requests_total{route="<unmatched>",status="404"}'], 1)
        self.assertEqual(samples['cortex_s2i_request_duration_seconds_count{route="m/echo"}'], 3)
        self.assertEqual(
            samples['cortex_s2i_request_duration_seconds_bucket{route="m/echo",le="+Inf"}'], 3)
        self.assertEqual(
            samples['cortex_s2i_request_duration_seconds_bucket{route="m/echo",le="60.0"}'], 3)
        self.assertGreater(samples['cortex_s2i_request_duration_seconds_sum{route="m/echo"}'], 0)
        # Every route has a histogram, used or not; the series are of the declared types.
        self.assertEqual(samples['cortex_s2i_request_duration_seconds_count{route="m/odd"}'], 0)
        self.assertIn("# TYPE cortex_s2i_requests_total counter", body.decode())
        self.assertIn("# TYPE cortex_s2i_request_duration_seconds histogram", body.decode())
        self.assertNotIn("no/such", body.decode())


def parse_exposition(text):
    """{'name{labels}': value} of a Prometheus text exposition; fails on a malformed line."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        if not re.fullmatch(r'[a-z_][a-z0-9_]*(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})?', name):
            raise AssertionError("malformed sample line %r" % line)
        samples[name] = float(value)
    return samples


def loaded_app(targets, **options):
    app = predict_server.PredictApp(list(targets), **options)
    app.set_targets(targets)
    return app


class RequestIdTest(unittest.TestCase):
    def test_ids_are_distinct_across_threads_and_a_forked_child_draws_its_own_prefix(self):
        ids = []
        threads = [threading.Thread(target=lambda: ids.extend(
            predict_server.new_request_id() for _ in range(2000))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(set(ids)), 8000)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(write_end, predict_server.new_request_id().encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        child = os.read(read_end, 64).decode()
        os.close(read_end)
        self.assertRegex(child, r"^[0-9a-f]{32}$")
        self.assertNotEqual(child[:20], predict_server.new_request_id()[:20])


class DeadlineTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)
        self.release = threading.Event()
        self.addCleanup(self.drain)

        def stuck(msg):
            self.release.wait(30)
            return "late"
        self.app = loaded_app({"stuck": stuck, "echo": lambda msg: msg},
                              timeout=0.2, threads=2)

    def drain(self):
        """Let abandoned calls finish while their log lines are still captured."""
        self.release.set()
        until = time.monotonic() + 10
        while self.app.abandoned_calls and time.monotonic() < until:
            time.sleep(0.01)

    def test_a_call_past_the_deadline_is_a_504_and_the_app_keeps_serving(self):
        started = time.monotonic()
        response = call(self.app, "POST", "/stuck", b"{}")
        self.assertLess(time.monotonic() - started, 5)
        error = json.loads(response[2])["error"]
        self.assertEqual((response[0], error["status"]), (504, 504))
        self.assertIn("did not finish within", error["message"])
        [timeout] = self.logs.events("request_timeout")
        self.assertEqual((timeout["route"], timeout["request_id"], timeout["abandoned_calls"]),
                         ("stuck", error["request_id"], 1))
        self.assertEqual(call(self.app, "POST", "/echo", b"[1]")[0], 200)

    def test_an_abandoned_call_is_logged_when_it_finally_returns(self):
        call(self.app, "POST", "/stuck", b"{}")
        self.release.set()
        deadline = time.monotonic() + 10
        while not self.logs.events("abandoned_call_finished") and time.monotonic() < deadline:
            time.sleep(0.02)
        [finished] = self.logs.events("abandoned_call_finished")
        self.assertEqual((finished["route"], finished["outcome"]), ("stuck", "returned"))
        self.assertGreaterEqual(finished["duration_ms"], 200)

    def test_as_many_abandoned_calls_as_threads_asks_for_a_fresh_worker(self):
        call(self.app, "POST", "/stuck", b"{}")
        self.assertEqual(self.logs.events("worker_restarting"), [])
        call(self.app, "POST", "/stuck", b"{}")
        [restarting] = self.logs.events("worker_restarting")
        self.assertIn("2 timed-out calls", restarting["reason"])
        # Until that worker is replaced, it still answers.
        self.assertEqual(call(self.app, "POST", "/echo", b"[1]")[0], 200)

    def test_under_a_server_sending_answers_the_call_runs_in_the_request_thread(self):
        # The predict server's worker passes SEND_NOW: the watchdog, not the request thread,
        # answers a call past its deadline, with the same JSON, log line and count.
        sent, seen = [], []
        app = loaded_app({"stuck": lambda msg: seen.append(threading.current_thread())
                          or self.release.wait(30) and "late",
                          "echo": lambda msg: seen.append(threading.current_thread()) or msg},
                         timeout=0.2, threads=2)
        self.app = app  # drained at cleanup
        environ_extra = {predict_server.SEND_NOW: lambda *answer: sent.append(
            answer + (threading.current_thread(),))}

        def post(path):
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": "2",
                       "wsgi.input": io.BytesIO(b"{}")}
            environ.update(environ_extra)
            outcome = []
            try:
                outcome.append(app(environ, lambda status, headers: outcome.append(status)))
            except deadline.Abandoned:
                outcome.append("abandoned")
            return outcome

        self.assertEqual(post("/echo")[0], "200 OK")
        self.assertIs(seen.pop(), threading.current_thread())
        self.assertEqual(sent, [])
        outcome = []
        thread = threading.Thread(target=lambda: outcome.extend(post("/stuck")), daemon=True)
        started = time.monotonic()
        thread.start()
        until = time.monotonic() + 5
        while not sent and time.monotonic() < until:
            time.sleep(0.01)
        self.assertLess(time.monotonic() - started, 2)
        [(status, headers, body, sender)] = sent
        self.assertIsNot(sender, thread)
        self.assertIs(seen[0], thread)
        error = json.loads(body)["error"]
        self.assertEqual((status, error["status"]), ("504 Gateway Timeout", 504))
        self.assertIn("did not finish within", error["message"])
        self.assertEqual(dict(headers)["X-Request-Id"], error["request_id"])
        self.assertEqual(outcome, [])  # the call goes on
        self.release.set()
        thread.join(5)
        self.assertEqual(outcome, ["abandoned"])  # and its answer is dropped
        self.assertEqual([line["status"] for line in self.logs.events("request")
                          if line["route"] == "stuck"], [504])
        [timeout] = self.logs.events("request_timeout")
        self.assertEqual(timeout["request_id"], error["request_id"])
        self.assertIn('cortex_s2i_requests_total{route="stuck",status="504"} 1',
                      app.metrics.render())

    def test_timeout_0_calls_the_function_in_the_request_thread(self):
        seen = []
        app = loaded_app({"who": lambda msg: seen.append(threading.current_thread())},
                         timeout=0)
        self.assertEqual(call(app, "POST", "/who", b"{}")[0], 200)
        self.assertIs(seen[0], threading.current_thread())


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)
        self.state = tempfile.mkdtemp(prefix="cortex-s2i-state-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def test_before_loading_health_is_200_ready_503_and_a_prediction_waits_then_503s(self):
        app = predict_server.PredictApp(["echo"], timeout=0.2)
        self.assertEqual(call(app, "GET", "/health")[0], 200)
        status, headers, body = call(app, "GET", "/ready")
        self.assertEqual((status, headers["Retry-After"]), (503, "1"))
        self.assertIn("0 of 1 workers", json.loads(body)["error"]["message"])
        status, _, body = call(app, "POST", "/echo", b"[1]")
        self.assertEqual(status, 503)
        self.assertIn("still loading", json.loads(body)["error"]["message"])

        app.set_targets({"echo": lambda msg: msg})
        self.assertEqual(call(app, "GET", "/ready")[0], 200)
        self.assertEqual(call(app, "POST", "/echo", b"[1]")[0], 200)

    def test_a_prediction_during_loading_is_answered_once_loaded(self):
        app = predict_server.PredictApp(["echo"], timeout=10)
        timer = threading.Timer(0.3, app.set_targets, [{"echo": lambda msg: msg}])
        timer.start()
        self.addCleanup(timer.cancel)
        status, _, body = call(app, "POST", "/echo", b"[1]")
        self.assertEqual((status, json.loads(body)), (200, {"payload": [1]}))

    def test_ready_needs_every_live_worker_of_the_server(self):
        workers = WorkerSet(self.state, expected=2)
        app = loaded_app({"echo": lambda msg: msg}, workers=workers)
        status, _, body = call(app, "GET", "/ready")
        self.assertEqual(status, 503)
        self.assertIn("1 of 2 workers", json.loads(body)["error"]["message"])
        # A marker of a process that has gone does not count.
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        workers.mark_ready(dead.pid)
        self.assertEqual(call(app, "GET", "/ready")[0], 503)
        workers.mark_ready(os.getppid())  # stands in for a second live worker
        status, _, body = call(app, "GET", "/ready")
        self.assertEqual((status, json.loads(body)["workers_ready"]), (200, 2))
        workers.forget(os.getppid())
        self.assertEqual(call(app, "GET", "/ready")[0], 503)

    def test_metrics_are_summed_over_every_worker_file(self):
        labels = ["echo", "health", "ready", "metrics", "<unmatched>"]
        mine = metrics.Metrics(labels, self.state)
        other = metrics.Metrics(labels, self.state, pid=os.getpid() + 100000)
        with open(os.path.join(self.state, "metrics.1"), "wb") as handle:
            handle.write(b"another layout")  # skipped, not an error
        app = loaded_app({"echo": lambda msg: msg}, metrics=mine)
        call(app, "POST", "/echo", b"[1]")
        other.observe("echo", 200, 0.5)
        other.observe("echo", 504, 61.0)
        samples = parse_exposition(call(app, "GET", "/metrics")[2].decode())
        self.assertEqual(samples['cortex_s2i_requests_total{route="echo",status="200"}'], 2)
        self.assertEqual(samples['cortex_s2i_requests_total{route="echo",status="504"}'], 1)
        self.assertEqual(
            samples['cortex_s2i_request_duration_seconds_bucket{route="echo",le="0.5"}'], 2)
        self.assertEqual(
            samples['cortex_s2i_request_duration_seconds_bucket{route="echo",le="60.0"}'], 2)
        self.assertEqual(
            samples['cortex_s2i_request_duration_seconds_bucket{route="echo",le="+Inf"}'], 3)
        # A worker that exits and is replaced under the same pid keeps its counts.
        again = metrics.Metrics(labels, self.state, pid=os.getpid() + 100000)
        self.assertEqual(again.totals()[:len(metrics.STATUSES)].tolist(), [2.0] + [0.0] * 7
                         + [1.0])


class CreateAppTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)
        self.logs = LogCapture(self)

    def test_a_route_that_fails_to_load_stops_the_app_and_is_logged_by_name(self):
        good = self.code.module("def f(msg):\n    return msg\n")
        bad = self.code.module("raise ImportError('xgboost is not installed')\n")
        environ = {"ROUTES": "a:%s:f,b/predict:%s:f" % (good, bad)}
        with self.assertRaises(routes.RouteLoadError) as raised:
            predict_server.create_app(environ)
        self.assertIn("b/predict", str(raised.exception))
        [logged] = self.logs.events("route_load_failed")
        self.assertEqual((logged["route"], logged["module"], logged["level"]),
                         ("b/predict", bad, "error"))
        self.assertIn("xgboost is not installed", logged["error"])

    def test_malformed_routes_or_limits_are_rejected(self):
        with self.assertRaisesRegex(routes.RoutesError, "'a:b'"):
            predict_server.create_app({"ROUTES": "a:b"})
        for value in ("10MB", "0", "-1"):
            with self.subTest(value=value), self.assertRaisesRegex(ValueError, "MAX_BODY_BYTES"):
                predict_server.create_app({"ROUTES": "a:m:f", "MAX_BODY_BYTES": value})

    def test_default_body_limit_is_ten_mebibytes(self):
        self.assertEqual(predict_server.max_body_bytes_from({}), 10 * 1024 * 1024)

    def test_the_served_app_answers_at_once_and_loads_in_the_background(self):
        slow = self.code.module("import time\ntime.sleep(0.5)\ndef f(msg):\n    return msg\n")
        app = predict_server.create_served_app({"ROUTES": "a:%s:f" % slow})
        self.assertFalse(app.loaded)
        self.assertEqual(call(app, "GET", "/health")[0], 200)
        self.assertEqual(call(app, "GET", "/ready")[0], 503)
        self.assertEqual(call(app, "POST", "/a", b"[1]")[0], 200)  # waited for the load
        self.assertEqual(call(app, "GET", "/ready")[0], 200)
        [loaded] = self.logs.events("routes_loaded")
        self.assertGreaterEqual(loaded["duration_ms"], 500)

    def test_a_served_app_whose_route_fails_to_load_ends_the_worker_with_status_3(self):
        bad = self.code.module("raise ImportError('xgboost is not installed')\n")
        script = ("import time\nfrom cortex_s2i_runtime import predict_server\n"
                  "predict_server.create_served_app({'ROUTES': 'b:%s:f'})\ntime.sleep(30)\n" % bad)
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_DIR, self.code.root]))
        done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, predict_server.WORKER_BOOT_ERROR, done.stderr)
        self.assertIn("xgboost is not installed", done.stderr)

    def test_the_first_worker_whose_routes_fail_leaves_why_and_only_it_ends_with_status_3(self):
        directory = tempfile.mkdtemp(prefix="cortex-s2i-state-")
        self.addCleanup(shutil.rmtree, directory, True)
        bad = self.code.module("raise ImportError('libgomp.so.1: cannot open')\n")
        script = ("import time\nfrom cortex_s2i_runtime import predict_server\n"
                  "predict_server.create_served_app()\ntime.sleep(30)\n")
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_DIR, self.code.root]),
                       ROUTES="b/predict:%s:f" % bad, CORTEX_S2I_STATE_DIR=directory,
                       CORTEX_S2I_WORKERS="2")
        statuses = [subprocess.run([sys.executable, "-c", script], env=environ,
                                   capture_output=True, timeout=60).returncode for _ in range(2)]
        self.assertEqual(statuses, [predict_server.WORKER_BOOT_ERROR, predict_server.WORKER_FAILED])
        failure = WorkerSet(directory, 2).first_failure()
        self.assertEqual((failure["route"], failure["module"]), ("b/predict", bad))
        self.assertIn("ImportError: libgomp.so.1: cannot open", failure["error"])
        self.assertEqual([name for name in os.listdir(directory) if "fail" in name], ["failed"])

    def test_settings_come_from_the_environment(self):
        good = self.code.module("def f(msg):\n    return msg\n")
        app = predict_server.create_app({"ROUTES": "a:%s:f" % good, "TIMEOUT": "7",
                                         "THREADS": "3", "MAX_BODY_BYTES": "99"})
        self.assertEqual((app.timeout, app.max_body_bytes, app.threads), (7, 99, 3))
        for name, value in (("TIMEOUT", "soon"), ("THREADS", "0")):
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, name):
                predict_server.create_app({"ROUTES": "a:%s:f" % good, name: value})


if __name__ == "__main__":
    unittest.main()
