"""Tests of the gunicorn settings: CPU detection, environment parsing, logging, hooks."""

import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
import warnings
from unittest import mock

from cortex_s2i_runtime import gunicorn_conf, workers

from tests.support import LogCapture, RUNTIME_DIR


def fake_cgroup(test_case, files):
    root = tempfile.mkdtemp(prefix="cortex-s2i-cgroup-")
    test_case.addCleanup(shutil.rmtree, root, True)
    for relative, content in files.items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(content + "\n")
    return root


class UsableCpusTest(unittest.TestCase):
    def test_cgroup_v2_quota_caps_the_affinity_rounding_up(self):
        root = fake_cgroup(self, {"cpu.max": "150000 100000"})
        self.assertEqual(gunicorn_conf.usable_cpus(root, affinity=8), 2)

    def test_cgroup_v2_without_quota_leaves_the_affinity(self):
        root = fake_cgroup(self, {"cpu.max": "max 100000"})
        self.assertEqual(gunicorn_conf.usable_cpus(root, affinity=6), 6)

    def test_cgroup_v1_quota(self):
        for controller in ("cpu", "cpu,cpuacct"):
            with self.subTest(controller=controller):
                root = fake_cgroup(self, {controller + "/cpu.cfs_quota_us": "300000",
                                          controller + "/cpu.cfs_period_us": "100000"})
                self.assertEqual(gunicorn_conf.usable_cpus(root, affinity=16), 3)

    def test_cgroup_v1_unlimited(self):
        root = fake_cgroup(self, {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
        self.assertEqual(gunicorn_conf.usable_cpus(root, affinity=5), 5)

    def test_affinity_below_the_quota_wins_and_a_fraction_is_at_least_one(self):
        self.assertEqual(gunicorn_conf.usable_cpus(
            fake_cgroup(self, {"cpu.max": "800000 100000"}), affinity=2), 2)
        self.assertEqual(gunicorn_conf.usable_cpus(
            fake_cgroup(self, {"cpu.max": "20000 100000"}), affinity=4), 1)

    def test_no_cgroup_files_means_the_affinity(self):
        self.assertEqual(gunicorn_conf.usable_cpus(fake_cgroup(self, {}), affinity=3), 3)

    def test_reads_this_machine_without_error(self):
        self.assertGreaterEqual(gunicorn_conf.usable_cpus(), 1)


class SettingsTest(unittest.TestCase):
    def test_defaults(self):
        self.assertEqual(gunicorn_conf.settings_from({}, cpus=2), {
            "bind": ["0.0.0.0:5000"], "workers": 2, "threads": 4, "timeout": 120,
            "graceful_timeout": 8, "loglevel": "info"})

    def test_default_workers_are_capped_at_four(self):
        self.assertEqual(gunicorn_conf.settings_from({}, cpus=32)["workers"], 4)
        self.assertEqual(gunicorn_conf.settings_from({}, cpus=1)["workers"], 1)

    def test_environment_overrides(self):
        settings = gunicorn_conf.settings_from({
            "PORT": "8080", "WEB_CONCURRENCY": "9", "THREADS": "16", "TIMEOUT": "0",
            "GRACEFUL_TIMEOUT": "25", "LOG_LEVEL": "WARNING"}, cpus=2)
        self.assertEqual(settings, {"bind": ["0.0.0.0:8080"], "workers": 9, "threads": 16,
                                    "timeout": 0, "graceful_timeout": 25, "loglevel": "warning"})

    def test_client_deadlines_and_the_queue_limit_have_defaults_and_overrides(self):
        from cortex_s2i_runtime import settings
        self.assertEqual((settings.header_timeout({}), settings.body_timeout({}),
                          settings.max_pending({}), settings.max_pending({"THREADS": "2"}),
                          settings.debug_logging({}), settings.debug_log_bytes({})),
                         (10, 30, 64, 32, False, 4096))
        self.assertEqual((settings.header_timeout({"HEADER_TIMEOUT": "3"}),
                          settings.max_pending({"MAX_PENDING": "5"}),
                          settings.debug_logging({"DEBUG_LOGGING": "on"})), (3, 5, True))
        self.assertEqual((settings.access_log_flush({}),
                          settings.access_log_flush({"ACCESS_LOG_FLUSH": "0"}),
                          settings.access_log_flush({"ACCESS_LOG_FLUSH": " 1.5 "})),
                         (0.5, 0.0, 1.5))

    def test_gunicorn_kills_a_frozen_worker_only_well_past_the_request_deadline(self):
        self.assertEqual(gunicorn_conf.settings_from({"TIMEOUT": "5"}, cpus=2)["timeout"], 65)

    def test_bad_values_are_errors_naming_the_variable(self):
        for name, value in [("PORT", "abc"), ("PORT", "70000"), ("PORT", "0"),
                            ("WEB_CONCURRENCY", "0"), ("THREADS", "-1"), ("TIMEOUT", "1.5"),
                            ("GRACEFUL_TIMEOUT", "0"),
                            ("LOG_LEVEL", "loud"), ("MAX_BODY_BYTES", "10MB"),
                            ("HEADER_TIMEOUT", "0"), ("BODY_TIMEOUT", "soon"),
                            ("MAX_PENDING", "0"), ("DEBUG_LOGGING", "maybe"),
                            ("DEBUG_LOG_BYTES", "-5"), ("ACCESS_LOG_FLUSH", "-1"),
                            ("ACCESS_LOG_FLUSH", "soon"), ("ACCESS_LOG_FLUSH", "nan"),
                            ("ACCESS_LOG_FLUSH", "61")]:
            with self.subTest(name=name, value=value):
                with self.assertRaisesRegex(ValueError, name):
                    gunicorn_conf.settings_from({name: value}, cpus=2)

    def test_module_exports_the_hardened_gthread_worker_without_access_log(self):
        self.assertEqual(gunicorn_conf.worker_class, "cortex_s2i_runtime.server_worker.Worker")
        self.assertIsNone(gunicorn_conf.accesslog)
        self.assertEqual(gunicorn_conf.errorlog, "-")

    def test_bad_environment_exits_2_with_one_json_line(self):
        environ = dict(os.environ, PORT="http", PYTHONPATH=RUNTIME_DIR)
        done = subprocess.run([sys.executable, "-c", "import cortex_s2i_runtime.gunicorn_conf"],
                              env=environ, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2)
        [line] = done.stderr.splitlines()
        self.assertEqual(json.loads(line)["event"], "config_error")
        self.assertIn("PORT", json.loads(line)["error"])


class LoggingConfigTest(unittest.TestCase):
    def test_gunicorn_and_app_loggers_write_json_and_the_access_logger_nothing(self):
        script = (
            "import logging, logging.config\n"
            "from cortex_s2i_runtime import gunicorn_conf, jsonlog\n"
            "logging.config.dictConfig(gunicorn_conf.logconfig_dict)\n"
            "logging.getLogger('gunicorn.error').info('Booting worker with pid: %s', 7)\n"
            "logging.getLogger('gunicorn.access').info('GET / 200')\n"
            "jsonlog.log_event(logging.getLogger('cortex_s2i.predict'), 'request', status=200)\n"
            "logging.getLogger('user.model').warning('user code says hi')\n"
            "try:\n    1 / 0\n"
            "except ZeroDivisionError:\n"
            "    logging.getLogger('gunicorn.error').exception('Exception in worker process')\n"
        )
        environ = dict(os.environ, PYTHONPATH=RUNTIME_DIR)
        done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "")
        lines = [json.loads(line) for line in done.stderr.splitlines()]
        self.assertEqual([line["message"] for line in lines], [
            "Booting worker with pid: 7", "request", "user code says hi",
            "Exception in worker process"])
        self.assertEqual(lines[1]["status"], 200)
        self.assertIn("ZeroDivisionError", lines[3]["traceback"])


class HooksTest(unittest.TestCase):
    def test_on_starting_rejects_malformed_routes_with_exit_2(self):
        logs = LogCapture(self)
        with mock.patch.dict(os.environ, {"ROUTES": "a/predict:mod"}):
            with self.assertRaises(SystemExit) as raised:
                gunicorn_conf.on_starting(object())
        self.assertEqual(raised.exception.code, 2)
        [error] = logs.events("config_error")
        self.assertIn("'a/predict:mod'", error["error"])

    def test_on_starting_accepts_routes_and_when_ready_logs_them(self):
        logs = LogCapture(self)
        warning_logs = LogCapture(self, "py.warnings")
        self.addCleanup(logging.captureWarnings, False)

        class Server:
            pass
        server = Server()
        with mock.patch.dict(os.environ, {"ROUTES": "a/predict:mod:f, b:mod:g",
                                          "ACCESS_LOG_FLUSH": "0.25"}), \
                mock.patch.object(gunicorn_conf.output, "capture") as capture, \
                mock.patch.object(gunicorn_conf.output, "configure") as configure:
            gunicorn_conf.on_starting(server)
            capture.assert_called_once_with()
            configure.assert_called_once_with(0.25)
            self.addCleanup(workers.remove_state_dir, os.environ[workers.STATE_DIR_VARIABLE])
        gunicorn_conf.when_ready(server)
        [started] = logs.events("server_started")
        self.assertEqual(started["routes"], ["a/predict", "b"])
        self.assertEqual(started["workers"], gunicorn_conf.workers)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("X does not have valid feature names")
        self.assertIn("X does not have valid feature names", warning_logs.lines[0]["message"])

    def test_sigterm_in_a_worker_stops_accepting_at_once_then_runs_gunicorns_handler(self):
        original = signal.getsignal(signal.SIGTERM)
        self.addCleanup(signal.signal, signal.SIGTERM, original)
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        poller = selectors.DefaultSelector()
        self.addCleanup(poller.close)
        poller.register(listener, selectors.EVENT_READ)

        class Worker:
            alive = True
            sockets = [listener]

            def handle_exit(self, signum, frame):
                self.alive = False
        worker = Worker()
        worker.poller = poller
        signal.signal(signal.SIGTERM, worker.handle_exit)
        gunicorn_conf.post_worker_init(worker)
        os.kill(os.getpid(), signal.SIGTERM)
        self.assertFalse(worker.alive)
        self.assertEqual(len(poller.get_map()), 0)
        self.assertNotEqual(listener.fileno(), -1)  # the worker loop closes it, as before

    def test_the_master_shares_a_state_directory_with_its_workers_and_removes_it(self):
        logs = LogCapture(self)

        class Server:
            pass

        class Worker:
            pid = 4242
        with mock.patch.dict(os.environ, {"ROUTES": "a:mod:f"}), \
                mock.patch.object(gunicorn_conf.output, "capture"):
            gunicorn_conf.on_starting(Server())
            directory = os.environ[workers.STATE_DIR_VARIABLE]
            self.assertTrue(os.path.isdir(directory))
            self.assertEqual(os.environ[workers.WORKERS_VARIABLE], str(gunicorn_conf.workers))
            shared = workers.WorkerSet.from_environ(os.environ)
            shared.mark_ready(Worker.pid)
            gunicorn_conf.child_exit(Server(), Worker())
            self.assertEqual(os.listdir(directory), [])
            gunicorn_conf.worker_exit(Server(), Worker())
            gunicorn_conf.on_exit(Server())
            self.assertFalse(os.path.exists(directory))
        self.assertEqual([line["event"] for line in logs.lines],
                         ["worker_stopped", "server_stopped"])


if __name__ == "__main__":
    unittest.main()
