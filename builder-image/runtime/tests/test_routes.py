"""Tests of ROUTES parsing and of loading route targets in their three styles."""

import os
import unittest

from cortex_s2i_runtime import routes
from cortex_s2i_runtime.routes import Route, RouteLoadError, RoutesError

from tests.support import UserCode


class ParseRoutesTest(unittest.TestCase):
    def test_parses_triples_in_order_ignoring_surrounding_whitespace(self):
        value = (" adult_income_lr/predict:finance_income_prediction.logisticRegression.predict:"
                 "predict_adult_income_lr ,\n other:predict:run\t")
        self.assertEqual(routes.parse_routes(value), [
            Route("adult_income_lr/predict", "finance_income_prediction.logisticRegression.predict",
                  "predict_adult_income_lr"),
            Route("other", "predict", "run"),
        ])

    def test_leading_slash_on_a_route_is_dropped(self):
        self.assertEqual(routes.parse_routes("/a/b:m:f")[0].path, "a/b")

    def test_malformed_values_fail_naming_the_triple(self):
        cases = {
            "a/predict:mod": "'a/predict:mod'",
            "a:m:f:extra": "'a:m:f:extra'",
            "ok:m:f,bad route:m:f": "'bad route:m:f'",
            "r:1mod:f": "'r:1mod:f'",
            "r:pkg..mod:f": "'r:pkg..mod:f'",
            "r:m:f-x": "'r:m:f-x'",
            "r:m:": "'r:m:'",
            "../up:m:f": "'../up:m:f'",
            "a/./b:m:f": "'a/./b:m:f'",
            "health:m:f": "reserved",
            "ready:m:f": "reserved",
            "/metrics/:m:f": "reserved",
            "x:m:f,x:n:g": "listed twice",
            "x:m:f,,y:m:f": "entry 2 is empty",
            "x:m:f\n": None,  # trailing newline is surrounding whitespace: fine
        }
        for value, expected in cases.items():
            with self.subTest(value=value):
                if expected is None:
                    routes.parse_routes(value)
                    continue
                with self.assertRaises(RoutesError) as raised:
                    routes.parse_routes(value)
                self.assertIn(expected, str(raised.exception))
                self.assertNotIn("\n", str(raised.exception))

    def test_unset_or_blank_routes_is_an_error(self):
        for value in (None, "", "  "):
            with self.subTest(value=value):
                with self.assertRaisesRegex(RoutesError, "ROUTES is not set"):
                    routes.parse_routes(value)

    def test_identifiers_reject_a_trailing_newline(self):
        self.assertFalse(routes.is_identifier("train\n"))
        self.assertTrue(routes.is_module_name("pkg.sub_1.mod"))
        self.assertFalse(routes.is_module_name("pkg.\nmod"))


class LoadTargetTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)

    def load(self, module, function, environ=None, model_path="/action/models"):
        return routes.load_target(Route("r/predict", module, function), environ or {}, model_path)

    def test_plain_function_is_called_with_the_payload(self):
        name = self.code.module("""
            def predict_thing(msg):
                return {"got": msg}
        """)
        self.assertEqual(self.load(name, "predict_thing")({"x": 1}), {"got": {"x": 1}})

    def test_package_qualified_module_imports(self):
        name = self.code.module("def f(msg):\n    return msg * 2\n",
                                name="proj_%d.model_a.predict" % os.getpid())
        self.assertEqual(self.load(name, "f")(21), 42)

    def test_predict_without_init_is_a_plain_function(self):
        name = self.code.module("def predict(msg):\n    return ['plain', msg]\n")
        self.assertEqual(self.load(name, "predict")(1), ["plain", 1])

    def test_class_is_instantiated_once_with_the_environment_and_predict_called(self):
        name = self.code.module("""
            instances = []
            class Predictor:
                def __init__(self, config):
                    instances.append(config)
                    self.scale = int(config["SCALE"])
                def predict(self, payload):
                    return payload * self.scale
        """)
        target = self.load(name, "Predictor", environ={"SCALE": "3", "OTHER": "x"})
        self.assertEqual([target(1), target(2)], [3, 6])
        module = __import__(name)
        self.assertEqual(module.instances, [{"SCALE": "3", "OTHER": "x"}])

    def test_class_gets_a_copy_of_the_environment(self):
        name = self.code.module("""
            class Predictor:
                def __init__(self, config):
                    config["MUTATED"] = "1"
                def predict(self, payload):
                    return payload
        """)
        environ = {"A": "1"}
        self.load(name, "Predictor", environ=environ)
        self.assertEqual(environ, {"A": "1"})

    def test_module_style_calls_init_once_then_predict_with_metadata(self):
        name = self.code.module("""
            calls = []
            def init(model_path, metadata):
                calls.append(("init", model_path, dict(metadata)))
            def predict(sample, metadata):
                calls.append(("predict", sample, metadata["route"]))
                return sample + 1
        """)
        target = self.load(name, "predict", model_path="/somewhere/models")
        self.assertEqual([target(1), target(5)], [2, 6])
        module = __import__(name)
        metadata = {"route": "r/predict", "module": name, "function": "predict"}
        self.assertEqual(module.calls, [
            ("init", "/somewhere/models", metadata),
            ("predict", 1, "r/predict"),
            ("predict", 5, "r/predict"),
        ])

    def test_model_path_defaults_to_models_in_the_working_directory(self):
        name = self.code.module("""
            seen = []
            def init(model_path, metadata):
                seen.append(model_path)
            def predict(sample, metadata):
                return sample
        """)
        routes.load_routes([Route("r", name, "predict")], {})
        self.assertEqual(__import__(name).seen, [os.path.abspath("models")])

    def test_load_errors_name_route_and_module(self):
        good = self.code.module("""
            value = 3
            class NoPredict:
                def __init__(self, config):
                    pass
            class Exploding:
                def __init__(self, config):
                    raise RuntimeError("no model file")
                def predict(self, payload):
                    pass
            def init(model_path, metadata):
                pass
            def predict(sample):
                return sample
        """)
        broken_init = self.code.module("""
            def init(model_path, metadata):
                raise FileNotFoundError("models/x.pkl")
            def predict(sample, metadata):
                return sample
        """)
        broken_import = self.code.module("import does_not_exist_anywhere_42\n")
        cases = [
            ("missing_module_%d" % os.getpid(), "f", "cannot import module"),
            (broken_import, "f", "does_not_exist_anywhere_42"),
            (good, "nothing_here", "has no attribute 'nothing_here'"),
            (good, "value", "is not a function or class (its type is int)"),
            (good, "NoPredict", "has no predict(self, payload) method"),
            (good, "Exploding", "RuntimeError: no model file"),
            (good, "predict", "predict must accept (sample, metadata)"),
            (broken_init, "predict", "init(model_path, metadata) raised FileNotFoundError"),
        ]
        for module, function, expected in cases:
            with self.subTest(function=function, expected=expected):
                with self.assertRaises(RouteLoadError) as raised:
                    self.load(module, function)
                message = str(raised.exception)
                self.assertIn(expected, message)
                self.assertIn("route 'r/predict'", message)
                self.assertIn("module %s" % module, message)
                self.assertEqual(raised.exception.route.module, module)


if __name__ == "__main__":
    unittest.main()
