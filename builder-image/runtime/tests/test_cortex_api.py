"""Tests of serving cortex.yaml's APIs: both predictor styles, Cortex's answer shape, run-time
overrides, monitoring."""

import json
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

from cortex_s2i_runtime import cortex_api, predict_server, routes

from tests.support import AsgiClient, LogCapture

CLASS_PREDICTOR = """
    from scaling import scale

    class PythonPredictor:
        def __init__(self, config):
            self.config = config
        def predict(self, payload):
            return {"price": scale(payload["x"], self.config["factor"]), "config": self.config}
"""
MODULE_PREDICTOR = """
    import os
    state = {}
    def init(model_path, metadata):
        state["model_path"] = model_path
        with open(os.path.join(model_path, "label.txt")) as handle:
            state["label"] = handle.read().strip()
    def predict(sample, metadata):
        if sample.get("fail"):
            raise ValueError("secret detail")
        return metadata["labels"][sample["i"]] if "i" in sample else state["label"]
"""


class CortexApisTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-apis-")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        path_before = list(sys.path)
        self.addCleanup(lambda: sys.path.__setitem__(slice(None), path_before))
        self.write("housing/predictor.py", CLASS_PREDICTOR)
        self.write("housing/lib/scaling.py", "def scale(x, f):\n    return x * f\n")
        self.write("iris/predictor.py", MODULE_PREDICTOR)
        self.write("models/iris/label.txt", "setosa\n")
        self.apis = [
            {"name": "house-price", "route": "house-price",
             "predictor": self.at("housing/predictor.py"),
             "python_path": self.at("housing/lib"), "config": {"factor": 3, "nested": {"a": [1]}},
             "model": None, "monitoring": {"key": "price", "model_type": "regression"}},
            {"name": "iris", "route": "v1/iris", "predictor": self.at("iris/predictor.py"),
             "python_path": None, "config": {"labels": ["setosa", "versicolor"]},
             "model": "iris", "monitoring": {"key": None, "model_type": "classification"}},
        ]

    def at(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, text):
        os.makedirs(os.path.dirname(self.at(rel)), exist_ok=True)
        with open(self.at(rel), "w") as handle:
            handle.write(textwrap.dedent(text))

    def environ(self, **extra):
        self.write("apis.json", json.dumps(self.apis))
        return dict({"CORTEX_S2I_APIS": self.at("apis.json")}, **extra)

    def app(self, **extra):
        return predict_server.create_app(self.environ(**extra), models_dir=self.at("models"))

    def call(self, app, method, path, body=b""):
        response = AsgiClient(self, app).request(method, path, body,
                                                 {"content-type": "application/json"})
        return response.status, response.headers, response.body

    def post(self, app, path, payload):
        status, _, body = self.call(app, "POST", path, json.dumps(payload).encode())
        return status, json.loads(body)

    def test_the_class_style_gets_its_config_as_given_and_answers_without_an_envelope(self):
        status, answer = self.post(self.app(), "/house-price", {"x": 2})
        self.assertEqual((status, answer),
                         (200, {"price": 6, "config": {"factor": 3, "nested": {"a": [1]}}}))

    def test_the_module_style_gets_its_model_folder_and_the_metadata(self):
        app = self.app()
        self.assertEqual(self.post(app, "/v1/iris", {}), (200, "setosa"))
        self.assertEqual(self.post(app, "/v1/iris", {"i": 1}), (200, "versicolor"))

    def test_errors_keep_the_servers_json_shape_and_codes(self):
        LogCapture(self, "cortex_s2i")
        app = self.app()
        status, answer = self.post(app, "/v1/iris", {"fail": True})
        self.assertEqual(status, 500)
        self.assertEqual(answer["error"]["status"], 500)
        self.assertNotIn("secret", json.dumps(answer))
        status, _, body = self.call(app, "POST", "/v1/iris", b"{not json")
        self.assertEqual((status, json.loads(body)["error"]["status"]), (400, 400))
        self.assertEqual(self.call(app, "POST", "/iris", b"{}")[0], 404)

    def test_metrics_count_predicted_classes_and_observe_predicted_values(self):
        app = self.app()
        for payload in ({}, {"i": 1}, {"i": 1}):
            self.post(app, "/v1/iris", payload)
        self.post(app, "/house-price", {"x": 5})
        status, _, body = self.call(app, "GET", "/metrics")
        text = body.decode()
        self.assertEqual(status, 200)
        self.assertIn('cortex_s2i_predictions_total{api="iris",class="setosa"} 1.0', text)
        self.assertIn('cortex_s2i_predictions_total{api="iris",class="versicolor"} 2.0', text)
        self.assertIn('cortex_s2i_prediction_value_bucket{api="house-price",le="10.0"} 0.0', text)
        self.assertIn('cortex_s2i_prediction_value_bucket{api="house-price",le="100.0"} 1.0', text)
        self.assertIn('cortex_s2i_prediction_value_count{api="house-price"} 1.0', text)
        self.assertIn('cortex_s2i_predictions_unrecorded_total{api="iris"} 0.0', text)
        self.assertIn('cortex_s2i_requests_total{route="v1/iris",status="200"} 3.0', text)

    def test_one_api_of_the_image_is_served_when_cortex_s2i_api_names_it(self):
        app = self.app(CORTEX_S2I_API="iris")
        self.assertEqual(app.route_paths, ["v1/iris"])
        self.assertEqual(self.call(app, "POST", "/house-price", b"{}")[0], 404)
        with self.assertRaisesRegex(cortex_api.CortexApisError,
                                    "no API of that name.*house-price, iris"):
            cortex_api.from_environ(self.environ(CORTEX_S2I_API="nope"))

    def test_the_mounted_predictor_config_replaces_the_baked_one(self):
        self.write("config.json", json.dumps({"factor": 10}))
        app = self.app(CORTEX_S2I_API="house-price",
                       CORTEX_S2I_PREDICTOR_CONFIG=self.at("config.json"))
        self.assertEqual(self.post(app, "/house-price", {"x": 2}),
                         (200, {"price": 20, "config": {"factor": 10}}))

    def test_the_mounted_config_needs_to_know_its_api_when_several_are_served(self):
        self.write("config.json", "{}")
        with self.assertRaisesRegex(cortex_api.CortexApisError, "set CORTEX_S2I_API"):
            cortex_api.from_environ(
                self.environ(CORTEX_S2I_PREDICTOR_CONFIG=self.at("config.json")))
        self.write("config.json", "[1]")
        with self.assertRaisesRegex(cortex_api.CortexApisError, "must hold a JSON object"):
            cortex_api.from_environ(self.environ(
                CORTEX_S2I_API="iris", CORTEX_S2I_PREDICTOR_CONFIG=self.at("config.json")))

    def test_a_predictor_in_neither_style_fails_to_load_naming_its_file(self):
        LogCapture(self, "cortex_s2i")
        self.write("iris/predictor.py", "def serve(x):\n    return x\n")
        with self.assertRaisesRegex(routes.RouteLoadError,
                                    "predictor.py.*neither a PythonPredictor"):
            self.app()

    def test_without_an_api_list_the_image_serves_routes(self):
        self.assertIsNone(cortex_api.from_environ({"ROUTES": "a:b:c"}))


if __name__ == "__main__":
    unittest.main()
