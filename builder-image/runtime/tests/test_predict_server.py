"""Tests of the predict server's ASGI app, called in-process on an event loop of its own."""

import asyncio
import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

from cortex_s2i_runtime import predict_server, request_context, routes
from cortex_s2i_runtime.answers import Answer
from cortex_s2i_runtime.readiness import Readiness, WorkerSet
from cortex_s2i_runtime.settings import ServerSettings

from tests.support import RUNTIME_DIR, AsgiClient, LogCapture, UserCode

MODEL_SOURCE = """
    import logging
    from cortex_s2i_runtime import ClientError

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

    def picky(msg):
        if "age" not in msg:
            raise ClientError("feature 'age' is missing", status=422)
        if msg["age"] < 0:
            raise ClientError("age must not be negative")
        if msg["age"] > 200:
            raise ClientError("a status that is not a client error", status=500)
        return msg["age"]

    def chatty(msg):
        logging.getLogger("model.chatty").warning("scoring %d rows", len(msg))
        return len(msg)

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

JSON = {"content-type": "application/json"}


def loaded_app(targets, **settings):
    app = predict_server.PredictApp(list(targets), ServerSettings(**settings))
    app.set_targets(targets)
    return app


def parse_exposition(text):
    """{'name{labels, sorted}': value} of a Prometheus text exposition; fails on a bad line."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        found = re.fullmatch(r'([a-z_][a-z0-9_]*)(?:\{(.*)\})?', name)
        if not found:
            raise AssertionError("malformed sample line %r" % line)
        labels = re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', found.group(2) or "")
        key = found.group(1) + "{" + ",".join('%s="%s"' % pair for pair in sorted(labels)) + "}"
        samples[key] = float(value)
    return samples


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
            "m/picky:%s:picky" % self.model,
            "m/chatty:%s:chatty" % self.model,
            "m/scale:%s:Scaler" % self.model,
            "cortex/predict:%s:predict" % self.cortex,
        ])
        self.app = predict_server.create_app({"ROUTES": routes_value, "FACTOR": "10",
                                              "MAX_BODY_BYTES": "64"})
        self.client = AsgiClient(self, self.app)

    def post(self, path, document, headers=None, **kwargs):
        return self.client.request("POST", path, json.dumps(document).encode(),
                                   dict(JSON, **(headers or {})), **kwargs)

    def assertJsonError(self, response, status, message_part):
        self.assertEqual(response.status, status, response.body)
        self.assertEqual(response.headers["content-type"], "application/json")
        error = response.json()["error"]
        self.assertEqual(error["status"], status)
        self.assertIn(message_part, error["message"])
        self.assertEqual(error["request_id"], response.headers["x-request-id"])
        return error

    def test_post_passes_the_body_as_is_and_wraps_the_result_in_payload(self):
        document = {"instances": [[1, "a", None]], "nested": {"k": 1.5}}
        response = self.post("/m/echo", document)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["content-type"], "application/json")
        self.assertEqual(int(response.headers["content-length"]), len(response.body))
        self.assertEqual(response.json(), {"payload": document})

    def test_array_like_results_are_encoded_through_tolist(self):
        response = self.post("/m/double", {"instances": [1, 2, 3]})
        self.assertEqual((response.status, response.json()), (200, {"payload": [2, 4, 6]}))

    def test_class_style_target_gets_the_environment_as_config(self):
        response = self.post("/m/scale", [1, 2])
        self.assertEqual((response.status, response.json()), (200, {"payload": [10, 20]}))

    def test_module_style_target_was_initialised_and_gets_metadata(self):
        response = self.post("/cortex/predict", {"x": 1})
        self.assertEqual(response.json(), {"payload": {"value": 101, "route": "cortex/predict"}})

    def test_trailing_slash_reaches_the_route(self):
        self.assertEqual(self.post("/m/echo/", [1]).status, 200)

    def test_health_lists_the_routes_and_head_answers_its_headers(self):
        response = self.client.request("GET", "/health")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["routes"][:2], ["m/echo", "m/double"])
        head = self.client.request("HEAD", "/health")
        self.assertEqual((head.status, head.headers["content-length"]),
                         (200, response.headers["content-length"]))

    def test_malformed_json_or_the_wrong_shape_is_a_400_that_says_so(self):
        cases = [(b'{"instances": [1, 2', "not valid JSON"),
                 (b"\xff\xfe\x00garbage", "not valid JSON"),
                 (b"", "empty"), (b"  ", "empty"), (b'"text"', "not a string"),
                 (b"12", "not a number"), (b"null", "not null"), (b"true", "not true/false"),
                 (b"[" * 2000 + b"]" * 2000, "nested too deeply")]
        app = loaded_app({"echo": lambda msg: msg})
        client = AsgiClient(self, app)
        for body, message in cases:
            with self.subTest(body=body[:20]):
                self.assertJsonError(client.request("POST", "/echo", body, JSON), 400, message)

    def test_unknown_route_is_a_404_naming_the_path(self):
        error = self.assertJsonError(self.post("/no/such/route", {}), 404, "/no/such/route")
        self.assertNotIn("m/echo", error["message"])
        self.assertJsonError(self.client.request("GET", "/"), 404, "no route GET /")
        long = self.client.request("GET", "/" + "x" * 5000)
        self.assertLess(len(long.body), 600)

    def test_wrong_method_is_a_405_with_allow(self):
        response = self.client.request("GET", "/m/echo")
        self.assertJsonError(response, 405, "use POST /m/echo")
        self.assertEqual(response.headers["allow"], "POST")
        for path in ("/health", "/ready", "/metrics"):
            with self.subTest(path=path):
                response = self.post(path, {})
                self.assertJsonError(response, 405, "use GET " + path)
                self.assertEqual(response.headers["allow"], "GET, HEAD")

    def test_body_over_the_limit_is_a_413_decided_from_content_length_without_reading(self):
        reads = []

        async def receive():
            reads.append(1)
            return {"type": "http.request", "body": b"x" * 65, "more_body": False}

        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/m/echo", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", b"65")]}
        self.client.run(self.app(scope, receive, send))
        self.assertEqual((sent[0]["status"], reads), (413, []))
        self.assertIn(b"limit is 64", sent[1]["body"])

    def test_a_body_at_the_limit_is_accepted_and_a_chunked_one_over_it_is_a_413(self):
        body = json.dumps(["x" * 60]).encode()
        self.assertEqual(len(body), 64)
        self.assertEqual(self.client.request("POST", "/m/echo", body, JSON).status, 200)
        chunks = [b'["', b"x" * 40, b"x" * 40, b'"]']
        response = self.client.request("POST", "/m/echo", headers=JSON, body_chunks=chunks)
        self.assertJsonError(response, 413, "exceeds the limit of 64")
        small = self.client.request("POST", "/m/echo", headers=JSON, body_chunks=[b"[1", b"]"])
        self.assertEqual((small.status, small.json()), (200, {"payload": [1]}))

    def test_a_raising_target_is_a_generic_500_with_the_traceback_in_the_log(self):
        response = self.post("/m/explode", {"card": "1234"})
        error = self.assertJsonError(response, 500, "prediction failed")
        self.assertNotIn(b"secret detail", response.body)
        self.assertNotIn(b"1234", response.body)
        [failed] = self.logs.events("request_failed")
        self.assertEqual((failed["request_id"], failed["route"]),
                         (error["request_id"], "m/explode"))
        self.assertIn("ValueError: secret detail", failed["traceback"])
        self.assertEqual(self.post("/m/echo", [1]).status, 200)  # the app keeps serving

    def test_system_exit_or_an_unserialisable_result_is_a_500_and_the_app_keeps_serving(self):
        self.assertJsonError(self.post("/m/quit", {}), 500, "prediction failed")
        self.assertJsonError(self.post("/m/odd", {}), 500, "prediction failed")
        tracebacks = [line["traceback"] for line in self.logs.events("request_failed")]
        self.assertIn("SystemExit", tracebacks[0])
        self.assertIn("not JSON serializable", tracebacks[1])
        self.assertEqual(self.post("/m/echo", [1]).status, 200)

    def test_client_error_answers_its_status_and_message_and_any_other_status_is_a_500(self):
        self.assertJsonError(self.post("/m/picky", {}), 422, "feature 'age' is missing")
        self.assertJsonError(self.post("/m/picky", {"age": -1}), 400, "must not be negative")
        error = self.assertJsonError(self.post("/m/picky", {"age": 300}), 500, "prediction failed")
        [failed] = self.logs.events("request_failed")
        self.assertEqual(failed["request_id"], error["request_id"])
        self.assertIn("ClientError status must be a whole number from 400 to 499",
                      failed["traceback"])
        self.assertEqual(self.post("/m/picky", {"age": 30}).json(), {"payload": 30})

    def test_each_request_is_logged_once_with_route_status_duration_and_its_ids(self):
        ok = self.post("/m/echo", [1])
        self.post("/nowhere", [1])
        requests = self.logs.events("request")
        self.assertEqual(len(requests), 2)
        logged, missing = requests
        self.assertEqual((logged["route"], logged["status"], logged["method"], logged["level"]),
                         ("m/echo", 200, "POST", "info"))
        self.assertEqual(logged["request_id"], ok.headers["x-request-id"])
        self.assertEqual(logged["trace_id"], ok.headers["traceparent"].split("-")[1])
        self.assertIsInstance(logged["duration_ms"], (int, float))
        self.assertEqual((missing["route"], missing["status"], missing["path"]),
                         (None, 404, "/nowhere"))

    def test_the_request_id_is_taken_when_safe_and_made_otherwise(self):
        made = self.post("/m/echo", [1]).headers["x-request-id"]
        self.assertRegex(made, r"^[0-9a-f]{32}$")
        self.assertNotEqual(made, self.post("/m/echo", [1]).headers["x-request-id"])
        kept = self.post("/m/echo", [1], headers={"X-Request-Id": "trace-42.a_b:c"})
        self.assertEqual(kept.headers["x-request-id"], "trace-42.a_b:c")
        for unsafe in ("has space", "x" * 65, "semi;colon", "quote\"", ""):
            with self.subTest(unsafe=unsafe):
                replaced = self.post("/m/echo", [1], headers={"X-Request-Id": unsafe})
                self.assertRegex(replaced.headers["x-request-id"], r"^[0-9a-f]{32}$")

    def test_a_valid_traceparent_is_continued_with_a_span_of_the_servers_own(self):
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        answer = self.post("/m/echo", [1], headers={"traceparent": parent}).headers["traceparent"]
        version, trace, span, flags = answer.split("-")
        self.assertEqual((version, trace, flags), ("00", "0af7651916cd43dd8448eb211c80319c", "01"))
        self.assertRegex(span, r"^[0-9a-f]{16}$")
        self.assertNotEqual(span, "b7ad6b7169203331")
        for invalid in ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "garbage"):
            with self.subTest(invalid=invalid):
                made = self.post("/m/echo", [1], headers={"traceparent": invalid})
                self.assertRegex(made.headers["traceparent"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")
                self.assertNotIn("0af7651916cd43dd8448eb211c80319c", made.headers["traceparent"])

    def test_the_models_own_log_lines_carry_the_request_id_and_trace(self):
        model_logs = LogCapture(self, "model")
        response = self.post("/m/chatty", [1, 2, 3], headers={"X-Request-Id": "req-7"})
        self.assertEqual(response.status, 200)
        [line] = model_logs.lines
        self.assertEqual((line["message"], line["request_id"], line["trace_id"]),
                         ("scoring 3 rows", "req-7", response.headers["traceparent"].split("-")[1]))
        self.assertIsNone(request_context.current.get())  # nothing left behind in this context

    def test_debug_logs_the_raw_body_and_the_result_when_the_operator_allows_it(self):
        app = loaded_app({"double": lambda msg: [2 * x for x in msg["instances"]]},
                         debug_logging=True, debug_log_bytes=100)
        raw = b'{"instances": [1, 2]}'
        AsgiClient(self, app).request("POST", "/double", raw, JSON, query=b"debug=true")
        [request] = self.logs.events("debug_request")
        [result] = self.logs.events("debug_result")
        self.assertEqual((request["body"], result["result"]), (raw.decode(), [2, 4]))
        self.assertEqual(request["request_id"], result["request_id"])

    def test_debug_is_off_by_default_served_as_usual_and_said_once(self):
        for _ in range(3):
            response = self.client.request("POST", "/m/echo", b'{"card": "4242"}', JSON,
                                           query=b"debug=true")
            self.assertEqual(response.json(), {"payload": {"card": "4242"}})
        self.assertEqual(self.logs.events("debug_request") + self.logs.events("debug_result"), [])
        self.assertEqual(len(self.logs.events("debug_logging_off")), 1)
        self.assertNotIn("4242", json.dumps(self.logs.lines))

    def test_a_content_type_other_than_json_is_a_415_and_json_or_none_is_served(self):
        for content_type in ("text/plain", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x", "application/jsonp"):
            with self.subTest(content_type=content_type):
                response = self.client.request("POST", "/m/echo", b"[1]",
                                               {"content-type": content_type})
                self.assertJsonError(response, 415, "must be JSON")
        for content_type in ("application/json", "application/json; charset=utf-8",
                             "Application/JSON", "application/vnd.api+json"):
            with self.subTest(content_type=content_type):
                self.assertEqual(self.client.request(
                    "POST", "/m/echo", b"[1]", {"content-type": content_type}).status, 200)
        self.assertEqual(self.client.request("POST", "/m/echo", b"[1]").status, 200)

    def test_metrics_count_requests_by_route_and_status_with_a_latency_histogram(self):
        self.post("/m/echo", [1])
        self.post("/m/echo", [2])
        self.client.request("POST", "/m/echo", b"{bad", JSON)
        self.post("/m/explode", {})
        self.post("/no/such", {})
        response = self.client.request("GET", "/metrics")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers["content-type"],
                         "text/plain; version=0.0.4; charset=utf-8")
        text = response.body.decode()
        samples = parse_exposition(text)
        total = 'cortex_s2i_requests_total{route="%s",status="%s"}'
        self.assertEqual(samples[total % ("m/echo", 200)], 2)
        self.assertEqual(samples[total % ("m/echo", 400)], 1)
        self.assertEqual(samples[total % ("m/explode", 500)], 1)
        self.assertEqual(samples[total % ("<unmatched>", 404)], 1)
        histogram = "cortex_s2i_request_duration_seconds"
        self.assertEqual(samples[histogram + '_count{route="m/echo"}'], 3)
        self.assertEqual(samples[histogram + '_bucket{le="+Inf",route="m/echo"}'], 3)
        self.assertEqual(samples[histogram + '_bucket{le="60.0",route="m/echo"}'], 3)
        self.assertGreater(samples[histogram + '_sum{route="m/echo"}'], 0)
        # Every route has a histogram, used or not; unknown paths never become labels.
        self.assertEqual(samples[histogram + '_count{route="m/odd"}'], 0)
        self.assertIn("# TYPE cortex_s2i_requests_total counter", text)
        self.assertIn("# TYPE %s histogram" % histogram, text)
        self.assertNotIn("no/such", text)

    def test_gzip_when_asked_and_the_answer_is_long_enough(self):
        app = loaded_app({"echo": lambda msg: msg}, gzip_min_bytes=100)
        client = AsgiClient(self, app)
        long = json.dumps({"text": "y" * 500}).encode()
        for accept in ("gzip", "br, gzip;q=0.5", "deflate, GZIP"):
            with self.subTest(accept=accept):
                response = client.request("POST", "/echo", long,
                                          dict(JSON, **{"accept-encoding": accept}))
                self.assertEqual(response.headers["content-encoding"], "gzip")
                self.assertEqual(int(response.headers["content-length"]), len(response.body))
                self.assertLess(len(response.body), 200)
                self.assertEqual(json.loads(gzip.decompress(response.body)),
                                 {"payload": {"text": "y" * 500}})
                self.assertIn(("vary", "accept-encoding"), response.header_list)
        for accept, body in (("gzip;q=0", long), ("identity", long), (None, long),
                             ("gzip", b"[1]")):
            with self.subTest(accept=accept, length=len(body)):
                headers = dict(JSON, **({"accept-encoding": accept} if accept else {}))
                response = client.request("POST", "/echo", body, headers)
                self.assertNotIn("content-encoding", response.headers)
                self.assertEqual(response.json()["payload"], json.loads(body))
        off = AsgiClient(self, loaded_app({"echo": lambda msg: msg}, gzip_min_bytes=0))
        response = off.request("POST", "/echo", long, dict(JSON, **{"accept-encoding": "gzip"}))
        self.assertNotIn("content-encoding", response.headers)

    def test_a_body_slower_than_body_timeout_is_a_408_that_closes_the_connection(self):
        app = loaded_app({"echo": lambda msg: msg}, body_timeout=1)
        started = time.monotonic()
        response = AsgiClient(self, app).request("POST", "/echo", headers=dict(
            JSON, **{"content-length": "100"}), body_chunks=[b"[1,"], hold_body=True)
        self.assertLess(time.monotonic() - started, 5)
        self.assertJsonError(response, 408, "BODY_TIMEOUT")
        self.assertIn(("connection", "close"), response.header_list)

    def test_a_client_gone_before_its_body_arrived_gets_no_answer_and_a_log_line(self):
        response = self.client.request("POST", "/m/echo", headers=dict(
            JSON, **{"content-length": "10"}), body_chunks=[], disconnect=True)
        self.assertIsNone(response)
        self.assertEqual([line["status"] for line in self.logs.events("request")], [499])

    def test_add_get_serves_another_endpoint_and_refuses_a_routes_path(self):
        self.app.add_get("openapi.json", lambda request: Answer(200, b'{"openapi": "3.1.0"}'))
        response = self.client.request("GET", "/openapi.json")
        self.assertEqual((response.status, response.json()), (200, {"openapi": "3.1.0"}))
        self.assertEqual(self.client.request("HEAD", "/openapi.json").status, 200)
        self.assertEqual(self.post("/openapi.json", {}).headers["allow"], "GET, HEAD")
        with self.assertRaisesRegex(ValueError, "m/echo is a route"):
            self.app.add_get("/m/echo", lambda request: Answer(200, b""))

    def test_a_refusal_is_json_closing_the_connection_counted_and_logged(self):
        raw = self.app.refusal(431, "the request has more than 100 header fields")
        head, body = raw.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        self.assertIn(b"connection: close", head)
        self.assertIn(b"content-length: %d" % len(body), head)
        self.assertEqual(json.loads(body)["error"]["status"], 431)
        [line] = self.logs.events("request")
        self.assertEqual((line["status"], line["route"]), (431, None))
        samples = parse_exposition(self.client.request("GET", "/metrics").body.decode())
        self.assertEqual(samples['cortex_s2i_requests_total{route="<unmatched>",status="431"}'], 1)


class CorsTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)

    def client(self, origins):
        return AsgiClient(self, loaded_app({"echo": lambda msg: msg}, cors_origins=origins))

    def preflight(self, client, origin, path="/echo"):
        return client.request("OPTIONS", path, headers={
            "origin": origin, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type"})

    def test_off_by_default_no_answer_says_cors_and_options_lists_the_methods(self):
        client = self.client(())
        answer = client.request("POST", "/echo", b"[1]", dict(JSON, origin="https://a.example"))
        self.assertFalse([name for name, _ in answer.header_list if name.startswith("access-")])
        preflight = self.preflight(client, "https://a.example")
        self.assertEqual((preflight.status, preflight.headers["allow"]), (204, "POST, OPTIONS"))
        self.assertNotIn("access-control-allow-origin", preflight.headers)
        self.assertEqual(client.request("OPTIONS", "/health").headers["allow"],
                         "GET, HEAD, OPTIONS")
        self.assertEqual(client.request("OPTIONS", "/nowhere").status, 404)

    def test_an_allowed_origin_gets_its_preflight_and_may_read_the_answers(self):
        client = self.client(("https://a.example", "http://localhost:3000"))
        preflight = self.preflight(client, "https://a.example")
        self.assertEqual(preflight.status, 204)
        self.assertEqual(preflight.headers["access-control-allow-origin"], "https://a.example")
        self.assertIn("POST", preflight.headers["access-control-allow-methods"])
        self.assertIn("content-type", preflight.headers["access-control-allow-headers"])
        self.assertEqual(preflight.headers["vary"], "origin")
        answer = client.request("POST", "/echo", b"[1]", dict(JSON, origin="http://localhost:3000"))
        self.assertEqual(answer.headers["access-control-allow-origin"], "http://localhost:3000")
        self.assertIn("x-request-id", answer.headers["access-control-expose-headers"])
        refused = self.preflight(client, "https://evil.example")
        self.assertEqual(refused.status, 403)
        self.assertIn("https://evil.example", refused.json()["error"]["message"])
        other = client.request("POST", "/echo", b"[1]", dict(JSON, origin="https://evil.example"))
        self.assertEqual(other.status, 200)  # served; the browser keeps the page from reading it
        self.assertNotIn("access-control-allow-origin", other.headers)

    def test_a_star_allows_any_origin(self):
        client = self.client(("*",))
        self.assertEqual(self.preflight(client, "https://any.example")
                         .headers["access-control-allow-origin"], "*")
        answer = client.request("POST", "/echo", b"[1]", dict(JSON, origin="https://b.example"))
        self.assertEqual(answer.headers["access-control-allow-origin"], "*")


class RequestIdTest(unittest.TestCase):
    def test_ids_are_distinct_across_threads_and_a_forked_child_draws_its_own_prefix(self):
        ids = []
        threads = [threading.Thread(target=lambda: ids.extend(
            request_context.new_request_id() for _ in range(2000))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(set(ids)), 8000)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            context = request_context.from_headers(None, None)
            os.write(write_end, (request_context.new_request_id() + context.trace_id).encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        child = os.read(read_end, 128).decode()
        os.close(read_end)
        mine = request_context.new_request_id() + request_context.from_headers(None, None).trace_id
        self.assertNotEqual(child[:20], mine[:20])
        self.assertNotEqual(child[32:], mine[32:])


class DeadlineTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)
        self.release = threading.Event()
        self.apps = []
        self.addCleanup(self.drain)

        def stuck(msg):
            self.release.wait(30)
            return "late"
        self.app = self.loaded({"stuck": stuck, "echo": lambda msg: msg}, timeout=1, threads=2)
        self.client = AsgiClient(self, self.app)

    def loaded(self, targets, **settings):
        app = loaded_app(targets, **settings)
        self.apps.append(app)
        return app

    def drain(self):
        """Lets the abandoned calls finish while their log lines are still captured."""
        self.release.set()
        self.wait_for(lambda: all(app.abandoned_calls == 0 for app in self.apps))

    def wait_for(self, condition, seconds=10):
        until = time.monotonic() + seconds
        while not condition() and time.monotonic() < until:
            time.sleep(0.02)

    def test_a_call_past_the_deadline_is_a_504_and_the_app_keeps_serving(self):
        started = time.monotonic()
        response = self.client.request("POST", "/stuck", b"{}", JSON)
        self.assertLess(time.monotonic() - started, 5)
        error = response.json()["error"]
        self.assertEqual((response.status, error["status"]), (504, 504))
        self.assertIn("did not finish within 1 seconds (TIMEOUT)", error["message"])
        [timeout] = self.logs.events("request_timeout")
        self.assertEqual((timeout["route"], timeout["request_id"], timeout["abandoned_calls"]),
                         ("stuck", error["request_id"], 1))
        self.assertEqual(self.client.request("POST", "/echo", b"[1]", JSON).status, 200)

    def test_an_abandoned_call_is_logged_under_its_request_when_it_finally_returns(self):
        response = self.client.request("POST", "/stuck", b"{}", JSON)
        self.release.set()
        self.wait_for(lambda: self.logs.events("abandoned_call_finished"))
        [finished] = self.logs.events("abandoned_call_finished")
        self.assertEqual((finished["route"], finished["outcome"], finished["request_id"]),
                         ("stuck", "returned", response.headers["x-request-id"]))
        self.assertGreaterEqual(finished["duration_ms"], 1000)
        self.wait_for(lambda: self.app.abandoned_calls == 0)
        self.assertEqual(self.app.abandoned_calls, 0)

    def test_as_many_abandoned_calls_as_threads_asks_for_a_fresh_worker_once(self):
        self.client.request("POST", "/stuck", b"{}", JSON)
        self.assertEqual(self.logs.events("worker_restarting"), [])

        async def two():
            return await asyncio.gather(*(self.client.request_async("POST", "/stuck", b"{}", JSON)
                                          for _ in range(2)))
        self.client.run(two())
        [restarting] = self.logs.events("worker_restarting")
        self.assertIn("timed-out calls are still running", restarting["reason"])
        # Until that worker is replaced, it still answers: the stuck calls keep their threads.
        self.assertEqual(self.client.request("POST", "/echo", b"[1]", JSON).status, 200)

    def test_past_max_pending_a_prediction_is_a_503_with_retry_after(self):
        app = self.loaded({"stuck": lambda msg: self.release.wait(30), "echo": lambda msg: msg},
                          threads=1, max_pending=2, timeout=0)
        client = AsgiClient(self, app)

        async def busy_then_one_more():
            waiting = [asyncio.ensure_future(client.request_async("POST", "/stuck", b"{}", JSON))
                       for _ in range(2)]
            await asyncio.sleep(0.2)
            refused = await client.request_async("POST", "/echo", b"[1]", JSON)
            self.release.set()
            return refused, await asyncio.gather(*waiting)

        refused, served = client.run(busy_then_one_more())
        self.assertEqual((refused.status, refused.headers["retry-after"]), (503, "1"))
        self.assertIn("MAX_PENDING", refused.json()["error"]["message"])
        self.assertEqual([response.status for response in served], [200, 200])
        self.assertEqual(client.request("POST", "/echo", b"[1]", JSON).status, 200)


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)

    def test_before_loading_health_is_200_ready_503_and_a_prediction_waits_then_503s(self):
        app = predict_server.PredictApp(["echo"], ServerSettings(timeout=1))
        client = AsgiClient(self, app)
        self.assertEqual(client.request("GET", "/health").status, 200)
        ready = client.request("GET", "/ready")
        self.assertEqual((ready.status, ready.headers["retry-after"]), (503, "1"))
        self.assertIn("not ready because the routes are loading", ready.json()["error"]["message"])
        waited = client.request("POST", "/echo", b"[1]", JSON)
        self.assertEqual(waited.status, 503)
        self.assertIn("still loading", waited.json()["error"]["message"])
        app.set_targets({"echo": lambda msg: msg})
        self.assertEqual(client.request("GET", "/ready").status, 200)
        self.assertEqual(client.request("POST", "/echo", b"[1]", JSON).status, 200)

    def test_a_prediction_during_loading_is_answered_once_loaded(self):
        app = predict_server.PredictApp(["echo"], ServerSettings(timeout=10))
        client = AsgiClient(self, app)

        async def load_later():
            await asyncio.sleep(0.3)
            app.set_targets({"echo": lambda msg: msg})

        async def both():
            loading = asyncio.ensure_future(load_later())
            response = await client.request_async("POST", "/echo", b"[1]", JSON)
            await loading
            return response
        response = client.run(both())
        self.assertEqual((response.status, response.json()), (200, {"payload": [1]}))

    def test_a_hold_keeps_ready_at_503_with_its_reason_until_released(self):
        app = loaded_app({"echo": lambda msg: msg})
        client = AsgiClient(self, app)
        app.readiness.hold("echo: FileNotFoundError: models/lr.pkl")
        ready = client.request("GET", "/ready")
        self.assertEqual(ready.status, 503)
        self.assertEqual(ready.json()["error"]["message"], "not ready because echo: "
                         "FileNotFoundError: models/lr.pkl; 0 of 1 workers are ready")
        self.assertEqual(client.request("POST", "/echo", b"[1]", JSON).status, 200)
        app.readiness.release()
        self.assertEqual(client.request("GET", "/ready").json()["status"], "ready")
        self.assertEqual([line["reason"] for line in self.logs.events("not_ready")],
                         ["the routes are loading", "echo: FileNotFoundError: models/lr.pkl"])


class CreateAppTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)
        self.logs = LogCapture(self)

    def test_a_route_that_fails_to_load_stops_the_app_and_is_logged_by_name(self):
        good = self.code.module("def f(msg):\n    return msg\n")
        bad = self.code.module("raise ImportError('xgboost is not installed')\n")
        with self.assertRaises(routes.RouteLoadError) as raised:
            predict_server.create_app({"ROUTES": "a:%s:f,b/predict:%s:f" % (good, bad)})
        self.assertIn("b/predict", str(raised.exception))
        [logged] = self.logs.events("route_load_failed")
        self.assertEqual((logged["route"], logged["module"], logged["level"]),
                         ("b/predict", bad, "error"))
        self.assertIn("xgboost is not installed", logged["error"])

    def test_malformed_routes_or_settings_are_refused(self):
        with self.assertRaisesRegex(routes.RoutesError, "'a:b'"):
            predict_server.create_app({"ROUTES": "a:b"})
        for name, value in (("MAX_BODY_BYTES", "10MB"), ("TIMEOUT", "soon"), ("THREADS", "0")):
            with self.subTest(name=name), self.assertRaisesRegex(ValueError, name):
                predict_server.create_app({"ROUTES": "a:m:f", name: value})

    def test_the_served_app_answers_at_once_and_loads_in_the_background_once_started(self):
        slow = self.code.module("import time\ntime.sleep(0.5)\ndef f(msg):\n    return msg\n")
        app = predict_server.create_served_app({"ROUTES": "a:%s:f" % slow})
        client = AsgiClient(self, app)
        self.assertEqual(client.start(), {"type": "lifespan.startup.complete"})
        self.assertFalse(app.loaded)
        self.assertEqual(client.request("GET", "/health").status, 200)
        self.assertEqual(client.request("GET", "/ready").status, 503)
        self.assertEqual(client.request("POST", "/a", b"[1]", JSON).status, 200)  # waited
        self.assertEqual(client.request("GET", "/ready").status, 200)
        [loaded] = self.logs.events("routes_loaded")
        self.assertGreaterEqual(loaded["duration_ms"], 500)

    def test_a_served_app_whose_route_fails_to_load_ends_the_worker_with_status_3(self):
        bad = self.code.module("raise ImportError('libgomp.so.1: cannot open')\n")
        script = ("import asyncio, time\n"
                  "from cortex_s2i_runtime import predict_server\n"
                  "from tests.support import AsgiClient\n"
                  "class Case:\n    def addCleanup(self, *a): pass\n"
                  "app = predict_server.create_served_app()\n"
                  "AsgiClient(Case(), app).start()\n"
                  "time.sleep(30)\n")
        directory = self.code.root + "-state"
        os.makedirs(directory)
        self.addCleanup(lambda: __import__("shutil").rmtree(directory, True))
        environ = dict(os.environ, PYTHONPATH=os.pathsep.join([RUNTIME_DIR, self.code.root]),
                       ROUTES="b/predict:%s:f" % bad, CORTEX_S2I_STATE_DIR=directory,
                       CORTEX_S2I_WORKERS="2")
        statuses = [subprocess.run([sys.executable, "-c", script], env=environ, cwd=RUNTIME_DIR,
                                   capture_output=True, timeout=60).returncode for _ in range(2)]
        self.assertEqual(statuses, [predict_server.WORKER_BOOT_ERROR, predict_server.WORKER_FAILED])
        failure = WorkerSet(directory, 2).first_failure()
        self.assertEqual((failure["route"], failure["module"]), ("b/predict", bad))
        self.assertIn("ImportError: libgomp.so.1: cannot open", failure["error"])

    def test_settings_come_from_the_environment(self):
        good = self.code.module("def f(msg):\n    return msg\n")
        app = predict_server.create_app({"ROUTES": "a:%s:f" % good, "TIMEOUT": "7",
                                         "THREADS": "3", "MAX_BODY_BYTES": "99",
                                         "CORS_ORIGINS": "*"})
        self.assertEqual((app.settings.timeout, app.settings.max_body_bytes,
                          app.settings.threads, app.cors.any), (7, 99, 3, True))


class ServedReadinessTest(unittest.TestCase):
    def test_ready_counts_every_live_worker_and_shows_another_workers_reason(self):
        import shutil
        import tempfile
        directory = tempfile.mkdtemp(prefix="cortex-s2i-state-")
        self.addCleanup(shutil.rmtree, directory, True)
        workers = WorkerSet(directory, expected=2)
        logs = LogCapture(self)
        app = predict_server.PredictApp(["echo"], readiness=Readiness(workers))
        app.set_targets({"echo": lambda msg: msg})
        client = AsgiClient(self, app)
        self.assertIn("1 of 2 workers are ready", client.request("GET", "/ready").json()
                      ["error"]["message"])
        other = Readiness(workers, pid=os.getppid())  # stands in for a second live worker
        other.hold("echo: ValueError: the test instances fail")
        self.assertIn("not ready because echo: ValueError", client.request("GET", "/ready")
                      .json()["error"]["message"])
        other.release()
        ready = client.request("GET", "/ready").json()
        self.assertEqual((ready["workers_ready"], ready["workers"]), (2, 2))
        self.assertEqual(len(logs.events("not_ready")), 2)


if __name__ == "__main__":
    unittest.main()
