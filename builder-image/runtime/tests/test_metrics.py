"""Tests of the request metrics: prometheus_client's names and labels, summed over processes."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from cortex_s2i_runtime import metrics

from tests.support import RUNTIME_DIR
from tests.test_predict_server import parse_exposition

WORKER = r"""
import sys
from cortex_s2i_runtime import metrics
registry = metrics.Registry(sys.argv[1])
counts = metrics.RequestMetrics(["a/predict", "health"], registry)
for label, status, seconds in (("a/predict", 200, 0.002), ("a/predict", 200, 0.3),
                               ("/scanner/" + sys.argv[2], 404, 0.001), ("health", 200, 0.0)):
    counts.observe(label, status, seconds)
if sys.argv[3] == "scrape":
    sys.stdout.write(registry.render().decode())
"""


class RequestMetricsTest(unittest.TestCase):
    def test_one_process_counts_by_route_and_status_and_unknown_labels_are_unmatched(self):
        registry = metrics.Registry()
        counts = metrics.RequestMetrics(["a/predict"], registry)
        counts.observe("a/predict", 200, 0.005)
        counts.observe("a/predict", 504, 61.0)
        for path in ("/wp-admin", "/.env", "/a/predict/x"):
            counts.observe(path, 404, 0.001)
        s = parse_exposition(registry.render().decode())
        self.assertEqual(s['cortex_s2i_requests_total{route="a/predict",status="200"}'], 1)
        self.assertEqual(s['cortex_s2i_requests_total{route="a/predict",status="504"}'], 1)
        self.assertEqual(s['cortex_s2i_requests_total{route="<unmatched>",status="404"}'], 3)
        bucket = 'cortex_s2i_request_duration_seconds_bucket{le="%s",route="a/predict"}'
        self.assertEqual((s[bucket % "0.005"], s[bucket % "60.0"], s[bucket % "+Inf"]), (1, 1, 2))
        self.assertNotIn("wp-admin", registry.render().decode())

    def test_a_scrape_sums_every_workers_files_those_of_exited_workers_included(self):
        directory = tempfile.mkdtemp(prefix="cortex-s2i-metrics-")
        self.addCleanup(shutil.rmtree, directory, True)
        environ = dict(os.environ, PYTHONPATH=RUNTIME_DIR, PROMETHEUS_MULTIPROC_DIR=directory)

        def worker(name, scrape):
            done = subprocess.run([sys.executable, "-c", WORKER, directory, name, scrape],
                                  env=environ, capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            return done.stdout

        worker("one", "")
        worker("two", "")  # both have exited: their counts stay
        s = parse_exposition(worker("three", "scrape"))
        self.assertEqual(s['cortex_s2i_requests_total{route="a/predict",status="200"}'], 6)
        self.assertEqual(s['cortex_s2i_requests_total{route="<unmatched>",status="404"}'], 3)
        self.assertEqual(s['cortex_s2i_request_duration_seconds_count{route="a/predict"}'], 6)
        self.assertEqual(
            s['cortex_s2i_request_duration_seconds_bucket{le="0.005",route="a/predict"}'], 3)
        self.assertAlmostEqual(s['cortex_s2i_request_duration_seconds_sum{route="a/predict"}'],
                               0.906)
        self.assertEqual(s['cortex_s2i_request_duration_seconds_count{route="health"}'], 3)
        self.assertFalse([key for key in s if "scanner" in key])
        # Multiprocess mode writes no _created samples, and every file is this server's.
        self.assertFalse([key for key in s if "_created" in key])
        self.assertTrue(all(name.endswith(".db") for name in os.listdir(directory)))


if __name__ == "__main__":
    unittest.main()
