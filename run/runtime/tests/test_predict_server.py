"""Tests of the predict server's WSGI app, called directly (wrapped in wsgiref's validator)."""

import io
import json
import unittest
import wsgiref.util
import wsgiref.validate

from cortex_s2i_runtime import predict_server, routes

from tests.support import LogCapture, UserCode

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
        environ["HTTP_" + name.upper().replace("-", "_")] = value
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
        self.assertEqual(self.post("/m/echo/", 1)[0], 200)

    def test_health_lists_the_routes(self):
        status, headers, body = call(self.app, "GET", "/health")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok", "routes": [
            "m/echo", "m/double", "m/explode", "m/odd", "m/scale", "cortex/predict"]})
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
        body = json.dumps("x" * 62).encode()
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
        self.assertEqual(self.post("/m/echo", 1)[0], 200)

    def test_an_unserialisable_result_is_a_500(self):
        self.assertJsonError(self.post("/m/odd", {}), 500, "prediction failed")
        self.assertIn("not JSON serializable",
                      self.logs.events("request_failed")[0]["traceback"])

    def test_each_request_is_logged_once_with_route_status_duration_and_request_id(self):
        _, headers, _ = self.post("/m/echo", 1)
        self.post("/nowhere", 1)
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
        generated = self.post("/m/echo", 1)[1]["X-Request-Id"]
        self.assertRegex(generated, r"^[0-9a-f]{32}$")
        self.assertNotEqual(generated, self.post("/m/echo", 1)[1]["X-Request-Id"])
        kept = self.post("/m/echo", 1, headers={"X-Request-Id": "trace-42.a_b"})
        self.assertEqual(kept[1]["X-Request-Id"], "trace-42.a_b")
        for unsafe in ("has space", "x" * 65, "semi;colon", "quote\"", ""):
            with self.subTest(unsafe=unsafe):
                replaced = self.post("/m/echo", 1, headers={"X-Request-Id": unsafe})
                self.assertRegex(replaced[1]["X-Request-Id"], r"^[0-9a-f]{32}$")

    def test_debug_logs_the_raw_body_and_the_result(self):
        raw = b'{"instances": [1, 2]}'
        call(self.app, "POST", "/m/double", raw, query="debug=true")
        [request] = self.logs.events("debug_request")
        [result] = self.logs.events("debug_result")
        self.assertEqual(request["body"], raw.decode())
        self.assertEqual(result["result"], [2, 4])
        self.assertEqual(request["request_id"], result["request_id"])

    def test_without_debug_nothing_of_the_body_is_logged(self):
        self.post("/m/echo", {"card": "1234"}, query="debug=false")
        self.assertEqual(self.logs.events("debug_request"), [])
        self.assertNotIn("1234", json.dumps(self.logs.lines))

    def test_non_finite_numbers_become_null_so_responses_stay_strict_json(self):
        status, _, body = call(self.app, "POST", "/m/echo", b"[NaN, Infinity, 1.5]")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body.decode(), parse_constant=self.fail),
                         {"payload": [None, None, 1.5]})


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


if __name__ == "__main__":
    unittest.main()
