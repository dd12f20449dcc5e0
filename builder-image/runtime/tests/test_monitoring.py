"""Tests of prediction monitoring: classes and values counted per API, bounded, summed over workers."""

import re
import shutil
import tempfile
import unittest

from cortex_s2i_runtime import monitoring
from cortex_s2i_runtime.monitoring import ApiMonitoring, PredictionMonitor


def series(text):
    """The samples of an exposition, as {'name{labels}': value}."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^([a-z0-9_]+(?:\{[^}]*\})?) (\S+)$", text, re.M)}


class PredictionOfTest(unittest.TestCase):
    def test_the_key_of_an_object_answer_else_the_answer(self):
        self.assertEqual(monitoring.prediction_of({"label": "a", "p": 0.9}, "label"), "a")
        self.assertEqual(monitoring.prediction_of("a", "label"), "a")
        self.assertEqual(monitoring.prediction_of(3.5, None), 3.5)

    def test_an_unknown_model_type_is_refused(self):
        with self.assertRaises(ValueError):
            ApiMonitoring("iris", None, "clustering")


class SpecTest(unittest.TestCase):
    def test_reads_apis_model_types_and_keys(self):
        apis = monitoring.parse_spec("iris:classification:label, price:regression")
        self.assertEqual([(a.api, a.model_type, a.key) for a in apis],
                         [("iris", "classification", "label"), ("price", "regression", None)])
        self.assertIsNone(monitoring.from_environ({}))
        self.assertIsInstance(monitoring.from_environ({"CORTEX_S2I_MONITORING": "a:regression"}),
                              PredictionMonitor)

    def test_a_bad_entry_is_refused_by_name(self):
        for text, message in (("iris", "not api:model_type"), ("iris:clustering", "clustering"),
                              ("iris:regression:", "not api:model_type"),
                              ("a:regression,a:classification", "listed twice")):
            with self.assertRaisesRegex(ValueError, message):
                monitoring.parse_spec(text)


class ClassificationTest(unittest.TestCase):
    def test_counts_each_predicted_class_of_each_api(self):
        m = PredictionMonitor([ApiMonitoring("iris", "label", "classification"),
                               ApiMonitoring("spam", None, "classification")])
        for answer in ({"label": "setosa"}, {"label": "setosa"}, {"label": "virginica"}):
            m.observe("iris", answer)
        m.observe("spam", True)
        m.observe("unmonitored", {"label": "setosa"})
        s = series(m.render())
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="setosa"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="virginica"}'], 1)
        self.assertEqual(s['cortex_s2i_predictions_total{api="spam",class="true"}'], 1)
        self.assertNotIn("unmonitored", m.render())

    def test_classes_beyond_the_limit_count_as_other(self):
        m = PredictionMonitor([ApiMonitoring("iris", None, "classification")], max_classes=3)
        for i in range(10):
            m.observe("iris", "class-%d" % i)
        m.observe("iris", "class-0")
        s = series(m.render())
        classes = {k for k in s if k.startswith("cortex_s2i_predictions_total")}
        self.assertEqual(len(classes), 4)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="class-0"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="other"}'], 7)

    def test_answers_without_a_class_are_counted_apart(self):
        m = PredictionMonitor([ApiMonitoring("iris", "label", "classification")])
        m.observe("iris", {"score": 1})
        m.observe("iris", {"label": [1, 2]})
        s = series(m.render())
        self.assertEqual(s['cortex_s2i_predictions_unrecorded_total{api="iris"}'], 2)
        self.assertFalse(any(k.startswith("cortex_s2i_predictions_total{") for k in s))

    def test_a_long_or_odd_class_name_is_truncated_and_escaped(self):
        m = PredictionMonitor([ApiMonitoring("iris", None, "classification")])
        m.observe("iris", 'é"' * 100)
        text = m.render()
        line = [l for l in text.splitlines() if l.startswith("cortex_s2i_predictions_total{")][0]
        self.assertIn('\\"', line)
        self.assertLess(len(line), 200)


class RegressionTest(unittest.TestCase):
    def test_a_histogram_of_predicted_values(self):
        m = PredictionMonitor([ApiMonitoring("price", "value", "regression")],
                              buckets=(0.0, 10.0, 100.0))
        for v in (5, 50, 50.5, 500, -1):
            m.observe("price", {"value": v})
        m.observe("price", {"value": "n/a"})
        s = series(m.render())
        self.assertEqual(s['cortex_s2i_prediction_value_bucket{api="price",le="0.0"}'], 1)
        self.assertEqual(s['cortex_s2i_prediction_value_bucket{api="price",le="10.0"}'], 2)
        self.assertEqual(s['cortex_s2i_prediction_value_bucket{api="price",le="100.0"}'], 4)
        self.assertEqual(s['cortex_s2i_prediction_value_bucket{api="price",le="+Inf"}'], 5)
        self.assertEqual(s['cortex_s2i_prediction_value_count{api="price"}'], 5)
        self.assertAlmostEqual(s['cortex_s2i_prediction_value_sum{api="price"}'], 604.5)
        self.assertEqual(s['cortex_s2i_predictions_unrecorded_total{api="price"}'], 1)


class WorkersTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.directory)

    def test_a_scrape_sums_every_workers_file_and_keeps_those_of_exited_workers(self):
        apis = [ApiMonitoring("iris", None, "classification"),
                ApiMonitoring("price", None, "regression")]
        first = PredictionMonitor(apis, self.directory, pid=101)
        second = PredictionMonitor(apis, self.directory, pid=102)
        first.observe("iris", "a")
        second.observe("iris", "b")
        second.observe("iris", "a")
        first.observe("price", 2.0)
        second.observe("price", 3.0)
        del first  # an exited worker's counts stay in its file
        s = series(second.render())
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="a"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="b"}'], 1)
        self.assertEqual(s['cortex_s2i_prediction_value_sum{api="price"}'], 5.0)

    def test_a_new_worker_with_a_reused_pid_keeps_the_classes_counted_before(self):
        apis = [ApiMonitoring("iris", None, "classification")]
        PredictionMonitor(apis, self.directory, pid=7, max_classes=2).observe("iris", "a")
        again = PredictionMonitor(apis, self.directory, pid=7, max_classes=2)
        again.observe("iris", "b")
        again.observe("iris", "a")
        again.observe("iris", "c")
        s = series(again.render())
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="a"}'], 2)
        self.assertEqual(s['cortex_s2i_predictions_total{api="iris",class="other"}'], 1)


if __name__ == "__main__":
    unittest.main()
