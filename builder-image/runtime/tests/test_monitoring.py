"""Tests of prediction monitoring: classes and values counted per API, bounded, summed over
workers."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from cortex_s2i_runtime import metrics, monitoring
from cortex_s2i_runtime.monitoring import ApiMonitoring, PredictionMonitor

from tests.support import RUNTIME_DIR


def series(text):
    """The samples of an exposition, as {'name{labels}': value}."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^([a-z0-9_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


def monitor(apis, **options):
    registry = metrics.Registry()
    return PredictionMonitor(apis, registry, **options), registry


class PredictionOfTest(unittest.TestCase):
    def test_the_key_of_an_object_answer_else_the_answer(self):
        self.assertEqual(monitoring.prediction_of({"label": "a", "p": 0.9}, "label"), "a")
        self.assertEqual(monitoring.prediction_of("a", "label"), "a")
        self.assertEqual(monitoring.prediction_of(3.5, None), 3.5)

    def test_an_unknown_model_type_is_refused(self):
        with self.assertRaises(ValueError):
            ApiMonitoring("iris", None, "clustering")


class ClassificationTest(unittest.TestCase):
    def test_counts_each_predicted_class_of_each_api(self):
        watch, registry = monitor([ApiMonitoring("iris", "label", "classification"),
                                   ApiMonitoring("spam", None, "classification")])
        for answer in ({"label": "setosa"}, {"label": "setosa"}, {"label": "virginica"}):
            watch.observe("iris", answer)
        watch.observe("spam", True)
        watch.observe("other-api", "ignored")
        s = series(registry.render().decode())
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="setosa"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="virginica"}'], 1)
        self.assertEqual(s['cortex_s2i_predictions_total{api="spam",class="true"}'], 1)
        self.assertNotIn("other-api", registry.render().decode())

    def test_classes_beyond_the_limit_count_as_other(self):
        watch, registry = monitor([ApiMonitoring("iris", None, "classification")], max_classes=3)
        for i in range(10):
            watch.observe("iris", "class-%d" % (i % 5))
        s = series(registry.render().decode())
        classes = {k for k in s if k.startswith("cortex_s2i_predictions_total")}
        self.assertEqual(len(classes), 4)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="class-0"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="other"}'], 4)

    def test_answers_without_a_class_are_counted_apart(self):
        watch, registry = monitor([ApiMonitoring("iris", "label", "classification")])
        for answer in ({"nothing": 1}, [1, 2], {"label": None}, {"label": float("nan")}):
            watch.observe("iris", answer)
        s = series(registry.render().decode())
        self.assertEqual(s['cortex_s2i_predictions_unrecorded_total{api="iris"}'], 4)

    def test_a_long_class_name_is_cut_and_an_odd_one_escaped(self):
        watch, registry = monitor([ApiMonitoring("iris", None, "classification")])
        watch.observe("iris", "é" * 100)
        watch.observe("iris", 'quote " and \\ backslash\nnewline')
        text = registry.render().decode()
        [long] = re.findall(r'predictions_total{api="iris",class="(é+)"', text)
        self.assertEqual(len(long.encode("utf-8")), 62)  # cut to 63 bytes, whole characters
        self.assertIn('class="quote \\" and \\\\ backslash\\nnewline"', text)


class RegressionTest(unittest.TestCase):
    def test_a_histogram_of_predicted_values_and_unusable_ones_apart(self):
        watch, registry = monitor([ApiMonitoring("price", "value", "regression")])
        for value in (5, 50.5, -3, 2e6):
            watch.observe("price", {"value": value})
        for unusable in ({"value": "n/a"}, {"value": True}, {"value": float("inf")}):
            watch.observe("price", unusable)
        s = series(registry.render().decode())
        bucket = 'cortex_s2i_prediction_value_bucket{api="price",le="%s"}'
        self.assertEqual(s[bucket % "-1.0"], 1)
        self.assertEqual(s[bucket % "10.0"], 2)
        self.assertEqual(s[bucket % "100.0"], 3)
        self.assertEqual(s[bucket % "+Inf"], 4)
        self.assertEqual(s['cortex_s2i_prediction_value_count{api="price"}'], 4)
        self.assertEqual(s['cortex_s2i_predictions_unrecorded_total{api="price"}'], 3)


WORKER = r"""
import sys
from cortex_s2i_runtime import metrics
from cortex_s2i_runtime.monitoring import ApiMonitoring, PredictionMonitor
registry = metrics.Registry(sys.argv[1])
watch = PredictionMonitor([ApiMonitoring("iris", None, "classification"),
                           ApiMonitoring("price", None, "regression")], registry, max_classes=2)
for answer in sys.argv[2].split(","):
    watch.observe("iris", answer)
watch.observe("price", float(sys.argv[3]))
if len(sys.argv) > 4:
    sys.stdout.write(registry.render().decode())
"""


class WorkersTest(unittest.TestCase):
    def test_a_scrape_sums_every_workers_values_those_of_exited_workers_included(self):
        directory = tempfile.mkdtemp(prefix="cortex-s2i-metrics-")
        self.addCleanup(shutil.rmtree, directory, True)
        environ = dict(os.environ, PYTHONPATH=RUNTIME_DIR, PROMETHEUS_MULTIPROC_DIR=directory)

        def worker(*args):
            done = subprocess.run([sys.executable, "-c", WORKER, directory] + list(args),
                                  env=environ, capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            return done.stdout

        worker("setosa,setosa,virginica", "5")
        worker("versicolor,setosa,other-a,other-b", "-20")  # its own first two classes
        s = series(worker("setosa", "100", "scrape"))
        total = 'cortex_s2i_predictions_total{api="iris",class="%s"}'
        self.assertEqual(s[total % "setosa"], 4)
        self.assertEqual(s[total % "virginica"], 1)
        self.assertEqual(s[total % "versicolor"], 1)
        self.assertEqual(s[total % "other"], 2)
        self.assertEqual(s['cortex_s2i_prediction_value_count{api="price"}'], 3)
        self.assertEqual(s['cortex_s2i_prediction_value_sum{api="price"}'], 85)


if __name__ == "__main__":
    unittest.main()
