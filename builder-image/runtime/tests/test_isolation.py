"""Tests of loading several models' routes into one process, each as its own image would."""

import importlib
import itertools
import os
import shutil
import sys
import tempfile
import textwrap
import types
import unittest

from cortex_s2i_runtime import isolation
from cortex_s2i_runtime.routes import RouteLoadError

_counter = itertools.count()

# The names the models below use bare. Nothing else in the test process may own them, or the
# tests would not be looking at a collision.
BARE_NAMES = ("predict", "features", "helpers")


class Project:
    """A throwaway project laid out as in an image: `<root>/<project>/<model>/...`.

    `<project>/all`, the project folder and `root` (as /opt/program) are put on sys.path as
    PYTHONPATH does in the "all" image; the project name is unique per test because its namespace
    package, being outside every model folder, stays cached.
    """

    def __init__(self, test_case):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-isolation-")
        self.name = "proj_%d_%d" % (os.getpid(), next(_counter))
        self.folder = os.path.join(self.root, self.name)
        os.makedirs(self.folder)
        saved_path = list(sys.path)
        sys.path[:0] = [os.path.join(self.folder, "all"), self.folder, self.root]
        test_case.addCleanup(self.close, saved_path)

    def write(self, files):
        """Write {relative path: source} under the project folder; returns nothing."""
        for relative, source in files.items():
            path = os.path.join(self.folder, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as handle:
                handle.write(textwrap.dedent(source))
        importlib.invalidate_caches()

    def model(self, name):
        return os.path.join(self.folder, name)

    def close(self, saved_path):
        sys.path[:] = saved_path
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(self.root + os.sep):
                del sys.modules[name]
        shutil.rmtree(self.root, ignore_errors=True)


def model_files(model, recipe, predict_source=None):
    """A model folder whose predict.py imports its own features.py by bare name."""
    return {
        "%s/features.py" % model: """
            RECIPE = %r
            def describe(instances):
                return [RECIPE + ":" + str(x) for x in instances]
        """ % recipe,
        "%s/predict.py" % model: predict_source or """
            import features
            from features import RECIPE

            def predict_%s(msg):
                return {"recipe": RECIPE, "described": features.describe(msg["instances"])}
        """ % model,
    }


def cached(names):
    return [name for name in names if name in sys.modules]


class LoadModelRouteTest(unittest.TestCase):
    def setUp(self):
        self.assertEqual(cached(BARE_NAMES), [], "another test left these cached")
        self.project = Project(self)
        self.addCleanup(isolation._model_modules.clear)

    def load(self, model, module, function, **kwargs):
        return isolation.load_model_route(self.project.model(model), "%s/predict" % model,
                                          module, function, **kwargs)

    def assertNoModuleFrom(self, *models):
        folders = tuple(self.project.model(m) + os.sep for m in models)
        leaked = sorted(name for name, module in sys.modules.items()
                        if (getattr(module, "__file__", None) or "").startswith(folders))
        self.assertEqual(leaked, [])

    def test_bare_helpers_answer_with_each_models_own_module(self):
        self.project.write(model_files("model_a", "recipe-a"))
        self.project.write(model_files("model_b", "recipe-b"))
        a = self.load("model_a", "predict", "predict_model_a")
        b = self.load("model_b", "predict", "predict_model_b")
        payload = {"instances": [1, 2]}
        self.assertEqual(a(payload),
                         {"recipe": "recipe-a", "described": ["recipe-a:1", "recipe-a:2"]})
        self.assertEqual(b(payload),
                         {"recipe": "recipe-b", "described": ["recipe-b:1", "recipe-b:2"]})
        self.assertEqual(cached(BARE_NAMES), [])
        self.assertNoModuleFrom("model_a", "model_b")

    def test_a_model_without_its_own_helper_gets_the_projects_not_another_models(self):
        self.project.write(model_files("model_a", "recipe-a"))
        self.project.write({
            "features.py": "RECIPE = 'the project folder'\n",
            "model_c/predict.py":
                "import features\ndef predict_model_c(msg):\n    return features.RECIPE\n",
        })
        self.load("model_a", "predict", "predict_model_a")
        c = self.load("model_c", "predict", "predict_model_c")
        self.assertEqual(c({}), "the project folder")

    def test_package_qualified_modules_are_isolated_too(self):
        qualified = """
            from {project}.{model} import helpers
            import features

            def predict_{model}(msg):
                return [helpers.NAME, features.RECIPE]
        """
        for model in ("model_a", "model_b"):
            self.project.write(model_files(model, "recipe-" + model, qualified.format(
                project=self.project.name, model=model)))
            self.project.write({"%s/helpers.py" % model: "NAME = %r\n" % ("helpers-" + model)})
        a = self.load("model_a", "%s.model_a.predict" % self.project.name, "predict_model_a")
        b = self.load("model_b", "%s.model_b.predict" % self.project.name, "predict_model_b")
        self.assertEqual(a({}), ["helpers-model_a", "recipe-model_a"])
        self.assertEqual(b({}), ["helpers-model_b", "recipe-model_b"])
        self.assertNoModuleFrom("model_a", "model_b")
        self.assertNotIn("%s.model_a.predict" % self.project.name, sys.modules)

    def test_class_and_init_styles_get_what_their_own_image_gives(self):
        self.project.write(model_files("model_a", "recipe-a", """
            import features

            class Predictor:
                def __init__(self, config):
                    self.prefix = config["PREFIX"]
                def predict(self, payload):
                    return self.prefix + features.RECIPE
        """))
        self.project.write(model_files("model_b", "recipe-b", """
            from features import RECIPE
            seen = []

            def init(model_path, metadata):
                seen.append((model_path, metadata))

            def predict(sample, metadata):
                return [RECIPE, sample, metadata, seen]
        """))
        a = self.load("model_a", "predict", "Predictor", environ={"PREFIX": "class:"})
        b = self.load("model_b", "predict", "predict")
        self.assertEqual(a({}), "class:recipe-a")
        metadata = {"route": "model_b/predict", "module": "predict", "function": "predict"}
        self.assertEqual(b(7), ["recipe-b", 7, metadata, [(os.path.abspath("models"), metadata)]])

    def test_the_class_gets_the_process_environment_by_default(self):
        self.project.write(model_files("model_a", "recipe-a", """
            class Predictor:
                def __init__(self, config):
                    self.config = config
                def predict(self, payload):
                    return self.config.get(payload)
        """))
        os.environ["CORTEX_S2I_ISOLATION_TEST"] = "from-env"
        self.addCleanup(os.environ.pop, "CORTEX_S2I_ISOLATION_TEST")
        a = self.load("model_a", "predict", "Predictor")
        self.assertEqual(a("CORTEX_S2I_ISOLATION_TEST"), "from-env")

    def test_shared_code_outside_the_folders_stays_one_cached_module(self):
        shared = "shared_%d_%d" % (os.getpid(), next(_counter))
        self.project.write({"%s/__init__.py" % shared: "loads = []\nloads.append(1)\n"})
        source = """
            import %s as shared
            import features

            def predict_{model}(msg):
                return shared, features.RECIPE
        """ % shared
        self.project.write(model_files("model_a", "recipe-a", source.format(model="model_a")))
        self.project.write(model_files("model_b", "recipe-b", source.format(model="model_b")))
        a = self.load("model_a", "predict", "predict_model_a")
        b = self.load("model_b", "predict", "predict_model_b")
        (shared_a, recipe_a), (shared_b, recipe_b) = a({}), b({})
        self.assertIs(shared_a, shared_b)
        self.assertIs(sys.modules[shared], shared_a)
        self.assertEqual(shared_a.loads, [1])
        self.assertEqual([recipe_a, recipe_b], ["recipe-a", "recipe-b"])

    def test_a_cached_module_of_the_same_name_wins_back_after_the_load(self):
        # As the "all" image's own generated predict.py is `predict` while the models load.
        generated = types.ModuleType("predict")
        sys.modules["predict"] = generated
        self.addCleanup(sys.modules.pop, "predict", None)
        self.project.write(model_files("model_a", "recipe-a"))
        a = self.load("model_a", "predict", "predict_model_a")
        self.assertEqual(a({"instances": []})["recipe"], "recipe-a")
        self.assertIs(sys.modules["predict"], generated)

    def test_the_model_folder_comes_before_the_all_folder_and_the_project(self):
        # Not cached yet, but earlier on PYTHONPATH than the model folder would be without it.
        self.project.write({
            "all/predict.py": "def predict_model_a(msg):\n    return 'the all folder'\n",
            "all/features.py": "RECIPE = 'the all folder'\n",
            "features.py": "RECIPE = 'the project folder'\n",
        })
        self.project.write(model_files("model_a", "recipe-a"))
        a = self.load("model_a", "predict", "predict_model_a")
        self.assertEqual(a({"instances": []})["recipe"], "recipe-a")

    def test_routes_of_one_model_share_its_modules(self):
        self.project.write(model_files("model_a", "recipe-a", """
            import features
            calls = []

            def first(msg):
                calls.append("first")
                return features, calls

            def second(msg):
                calls.append("second")
                return features, calls
        """))
        folder = self.project.model("model_a")
        first = isolation.load_model_route(folder, "a/first", "predict", "first")
        second = isolation.load_model_route(folder, "a/second", "predict", "second")
        (features_1, calls), (features_2, _) = first({}), second({})
        self.assertIs(features_1, features_2)
        self.assertEqual(calls, ["first", "second"])

    def test_sys_path_is_restored_after_a_load_and_after_a_failure(self):
        self.project.write(model_files("model_a", "recipe-a"))
        self.project.write({"broken/predict.py": "import features\n"})
        path = list(sys.path)
        self.load("model_a", "predict", "predict_model_a")
        self.assertEqual(sys.path, path)
        with self.assertRaises(RouteLoadError):
            self.load("broken", "predict", "predict_broken")
        self.assertEqual(sys.path, path)

    def test_a_failing_import_names_the_model_folder_and_leaves_nothing_behind(self):
        self.project.write({
            "broken/helpers.py": "VALUE = 1\n",
            "broken/predict.py": "import helpers\nimport no_such_module_for_cortex_s2i_42\n",
        })
        with self.assertRaises(RouteLoadError) as raised:
            self.load("broken", "predict", "predict_broken")
        message = str(raised.exception)
        self.assertIn(self.project.model("broken"), message)
        self.assertIn("no_such_module_for_cortex_s2i_42", message)
        self.assertIn("cannot import module", message)
        self.assertEqual(message.count("route 'broken/predict'"), 1)
        self.assertEqual(raised.exception.route.path, "broken/predict")
        self.assertNoModuleFrom("broken")

    def test_other_load_errors_name_the_model_folder(self):
        self.project.write(model_files("model_a", "recipe-a"))
        with self.assertRaises(RouteLoadError) as raised:
            self.load("model_a", "predict", "not_there")
        self.assertIn("in model folder %s: module predict has no attribute 'not_there'"
                      % self.project.model("model_a"), str(raised.exception))
        with self.assertRaises(RouteLoadError) as raised:
            self.load("no_such_model", "predict", "predict")
        self.assertIn(self.project.model("no_such_model"), str(raised.exception))


if __name__ == "__main__":
    unittest.main()
