"""Tests of the readiness gate and of the state a server's workers share."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from cortex_s2i_runtime import readiness
from cortex_s2i_runtime.readiness import Readiness, WorkerSet

from tests.support import LogCapture


class ReadinessTest(unittest.TestCase):
    def setUp(self):
        self.logs = LogCapture(self)
        self.directory = tempfile.mkdtemp(prefix="cortex-s2i-state-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.workers = WorkerSet(self.directory, expected=2)

    def dead_pid(self):
        done = subprocess.Popen([sys.executable, "-c", "pass"])
        done.wait()
        return done.pid

    def test_alone_a_worker_is_ready_unless_it_holds_its_gate(self):
        gate = Readiness()
        self.assertTrue(gate.status().ready)
        gate.hold("m/predict: FileNotFoundError: models/m.pkl")
        status = gate.status()
        self.assertEqual((status.ready, status.reason, gate.held),
                         (False, "m/predict: FileNotFoundError: models/m.pkl",
                          "m/predict: FileNotFoundError: models/m.pkl"))
        self.assertEqual(status.message(), "not ready because m/predict: FileNotFoundError: "
                                           "models/m.pkl; 0 of 1 workers are ready")
        gate.release()
        self.assertTrue(gate.status().ready)

    def test_a_hold_is_logged_once_per_reason(self):
        gate = Readiness()
        for reason in ("a", "a", "b", "a"):
            gate.hold(reason)
        self.assertEqual([line["reason"] for line in self.logs.events("not_ready")],
                         ["a", "b", "a"])

    def test_the_server_is_ready_when_every_live_worker_is_and_none_holds_its_gate(self):
        mine = Readiness(self.workers)
        other = Readiness(self.workers, pid=os.getppid())  # a second live process
        mine.hold(readiness.LOADING)
        other.hold(readiness.LOADING)
        self.assertEqual(mine.status().message(),
                         "not ready because the routes are loading; 0 of 2 workers are ready")
        mine.release()
        self.assertEqual(mine.status().reason, readiness.LOADING)  # the other's
        other.hold("b/predict: ValueError: bad test instances")
        mine.hold(readiness.LOADING)
        self.assertEqual(mine.status().reason, readiness.LOADING)  # its own reason comes first
        mine.release()
        self.assertEqual(mine.status().reason, "b/predict: ValueError: bad test instances")
        other.release()
        status = mine.status()
        self.assertEqual((status.ready, status.workers_ready, status.workers), (True, 2, 2))

    def test_files_of_dead_workers_do_not_count_and_forget_removes_a_workers_files(self):
        dead = self.dead_pid()
        Readiness(self.workers, pid=dead).release()
        Readiness(self.workers, pid=self.dead_pid()).hold("stale reason")
        mine = Readiness(self.workers)
        mine.release()
        status = mine.status()
        self.assertEqual((status.ready, status.workers_ready, status.reason), (False, 1, None))
        self.assertEqual(status.message(), "not ready: 1 of 2 workers are ready")
        self.workers.forget(os.getpid())
        self.workers.forget(dead)
        self.assertEqual(self.workers.ready_count(), 0)

    def test_only_the_first_failure_is_kept(self):
        self.assertIsNone(self.workers.first_failure())
        self.assertTrue(self.workers.record_failure(1, {"route": "a", "error": "first"}))
        self.assertFalse(self.workers.record_failure(2, {"route": "b", "error": "second"}))
        self.assertEqual(self.workers.first_failure(), {"route": "a", "error": "first"})
        self.assertEqual([name for name in os.listdir(self.directory) if "fail" in name],
                         ["failed"])

    def test_the_server_finds_its_state_from_the_environment(self):
        self.assertIsNone(WorkerSet.from_environ({}))
        found = WorkerSet.from_environ({readiness.STATE_DIR_VARIABLE: self.directory,
                                        readiness.WORKERS_VARIABLE: "3"})
        self.assertEqual((found.directory, found.expected), (self.directory, 3))
        made = readiness.create_state_dir()
        self.assertTrue(os.path.isdir(made))
        readiness.remove_state_dir(made)
        self.assertFalse(os.path.exists(made))


if __name__ == "__main__":
    unittest.main()
