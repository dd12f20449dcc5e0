"""Tests of the batch worker: shares, retries, outcomes, job_spec and config, on_job_complete."""

import json
import os
import shutil
import tempfile
import unittest

from cortex_s2i_runtime import batch_worker

from tests.support import LogCapture, UserCode

PREDICTOR = """
import json, os

class Scorer:
    def __init__(self, config, job_spec):
        self.config = config
        self.job_spec = job_spec
        self.out = config["OUT"]
        with open(os.path.join(self.out, "init.ndjson"), "a") as h:
            h.write(json.dumps({"config": {k: config.get(k) for k in ("MODE", "FROM_ENV")},
                                "job_spec": job_spec}) + "\\n")

    def predict(self, payload, batch_id):
        tries = os.path.join(self.out, "tries-" + batch_id)
        with open(tries, "a") as h:
            h.write("x")
        if batch_id in self.config.get("always_fail", []):
            raise ValueError("always " + batch_id)
        if batch_id in self.config.get("fail_once", []) and os.path.getsize(tries) == 1:
            raise ValueError("once " + batch_id)
        with open(os.path.join(self.out, "predictions.ndjson"), "a") as h:
            for item in payload:
                h.write(json.dumps({"batch": batch_id, "item": item}) + "\\n")

    def on_job_complete(self):
        with open(os.path.join(self.out, "complete"), "a") as h:
            h.write("called\\n")
"""


class BatchWorkerTest(unittest.TestCase):
    def setUp(self):
        self.code = UserCode(self)
        self.module = self.code.module(PREDICTOR)
        self.dir = tempfile.mkdtemp(prefix="cortex-s2i-batch-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.split = os.path.join(self.dir, "split")
        self.out = os.path.join(self.dir, "out")
        os.makedirs(self.split)
        os.makedirs(self.out)
        LogCapture(self)

    def write_split(self, batches, workers=2, max_receive_count=2, config=None):
        for number, items in enumerate(batches):
            with open(os.path.join(self.split, batch_worker.batch_file_name(number)), "w") as h:
                h.write("".join(json.dumps(item) + "\n" for item in items))
        job = {"job_id": "j1", "config": config or {}, "workers": workers,
               "total_batch_count": len(batches), "start_time": "2026-01-01T00:00:00.000Z",
               "max_receive_count": max_receive_count}
        with open(os.path.join(self.split, "job.json"), "w") as h:
            json.dump(job, h)

    def environ(self, **extra):
        env = {"ROUTES": "score:%s:Scorer" % self.module, "BATCH_SPLIT": self.split,
               "BATCH_OUTCOMES": os.path.join(self.dir, "outcomes"), "OUT": self.out,
               "MODE": "from-env", "FROM_ENV": "kept"}
        env.update(extra)
        return env

    def outcomes(self, index):
        with open(os.path.join(self.dir, "outcomes", "worker-%d.ndjson" % index)) as h:
            return [json.loads(line) for line in h]

    def predictions(self):
        path = os.path.join(self.out, "predictions.ndjson")
        if not os.path.exists(path):
            return []
        with open(path) as h:
            return [json.loads(line) for line in h]

    def test_shares_cover_every_batch_exactly_once(self):
        for workers in (1, 2, 3, 7):
            numbers = [n for i in range(workers) for n in batch_worker.share(i, workers, 10)]
            self.assertEqual(sorted(numbers), list(range(10)))

    def test_file_names_are_padded_to_six_digits_and_widen_past_them(self):
        self.assertEqual(batch_worker.batch_file_name(3), "batch-000003.ndjson")
        self.assertEqual(batch_worker.batch_file_name(1234567), "batch-1234567.ndjson")

    def test_each_worker_predicts_its_share_and_reports_every_batch(self):
        self.write_split([[1, 2], [3], [4, 5], [6]], workers=2)
        self.assertEqual(batch_worker.main(self.environ(BATCH_WORKER_INDEX="0"), False), 0)
        self.assertEqual({p["batch"] for p in self.predictions()}, {"000000", "000002"})
        self.assertEqual(batch_worker.main(self.environ(JOB_COMPLETION_INDEX="1"), False), 0)
        self.assertEqual(sorted(p["item"] for p in self.predictions()), [1, 2, 3, 4, 5, 6])
        self.assertEqual([(o["batch"], o["outcome"], o["final"]) for o in self.outcomes(1)],
                         [("000001", "succeeded", True), ("000003", "succeeded", True)])

    def test_a_failing_batch_is_tried_max_receive_count_times_then_reported_failed(self):
        self.write_split([[1], [2], [3]], workers=1, max_receive_count=3,
                         config={"fail_once": ["000000"], "always_fail": ["000001"]})
        self.assertEqual(batch_worker.main(self.environ(), False), 0)
        got = [(o["batch"], o["attempt"], o["outcome"], o["final"]) for o in self.outcomes(0)]
        self.assertEqual(got, [
            ("000000", 1, "failed", False), ("000000", 2, "succeeded", True),
            ("000001", 1, "failed", False), ("000001", 2, "failed", False),
            ("000001", 3, "failed", True),
            ("000002", 1, "succeeded", True),
        ])
        self.assertIn("ValueError: always 000001", self.outcomes(0)[4]["error"])
        self.assertEqual(sorted(p["item"] for p in self.predictions()), [1, 3])

    def test_the_jobs_config_overrides_the_environment_and_job_spec_is_cortexs(self):
        self.write_split([[1]], workers=1, config={"MODE": "from-job"})
        batch_worker.main(self.environ(), False)
        with open(os.path.join(self.out, "init.ndjson")) as h:
            init = json.loads(h.readline())
        self.assertEqual(init["config"], {"MODE": "from-job", "FROM_ENV": "kept"})
        self.assertEqual(init["job_spec"], {
            "job_id": "j1", "api_name": "score", "config": {"MODE": "from-job"}, "workers": 1,
            "total_batch_count": 1, "start_time": "2026-01-01T00:00:00.000Z"})

    def test_on_job_complete_is_called_once_and_predicts_nothing(self):
        self.write_split([[1]], workers=1)
        self.assertEqual(batch_worker.main(self.environ(BATCH_ON_JOB_COMPLETE="1"), False), 0)
        with open(os.path.join(self.out, "complete")) as h:
            self.assertEqual(h.read(), "called\n")
        self.assertEqual(self.predictions(), [])

    def test_on_job_complete_that_raises_exits_3_and_a_predictor_without_it_is_fine(self):
        self.write_split([[1]], workers=1)
        raising = self.code.module("class Scorer:\n    def __init__(self, config, job_spec):\n"
                                   "        pass\n    def predict(self, payload, batch_id):\n"
                                   "        pass\n    def on_job_complete(self):\n"
                                   "        raise RuntimeError('no summary')\n")
        without = self.code.module("class Scorer:\n    def __init__(self, config, job_spec):\n"
                                   "        pass\n    def predict(self, payload, batch_id):\n"
                                   "        pass\n")
        done = self.environ(BATCH_ON_JOB_COMPLETE="true")
        self.assertEqual(batch_worker.main(dict(done, ROUTES="s:%s:Scorer" % raising), False), 3)
        self.assertEqual(batch_worker.main(dict(done, ROUTES="s:%s:Scorer" % without), False), 0)

    def test_a_predictor_that_cannot_load_exits_3_and_a_bad_setup_2(self):
        self.write_split([[1]], workers=1)
        broken = self.code.module("class Scorer:\n    def __init__(self, config, job_spec):\n"
                                  "        raise RuntimeError('no model')\n"
                                  "    def predict(self, payload, batch_id):\n        pass\n")
        self.assertEqual(batch_worker.main(self.environ(ROUTES="s:%s:Scorer" % broken), False), 3)
        self.assertEqual(batch_worker.main(self.environ(ROUTES="a:m:f,b:m:g"), False), 2)
        self.assertEqual(batch_worker.main(self.environ(BATCH_WORKER_INDEX="1"), False), 2)
        self.assertEqual(batch_worker.main(self.environ(BATCH_SPLIT=self.out), False), 2)

    def test_batch_route_picks_the_predictor_among_several_routes(self):
        self.write_split([[7]], workers=1)
        env = self.environ(ROUTES="other:nowhere:f,score:%s:Scorer" % self.module,
                           BATCH_ROUTE="score")
        self.assertEqual(batch_worker.main(env, False), 0)
        self.assertEqual([p["item"] for p in self.predictions()], [7])


if __name__ == "__main__":
    unittest.main()
