"""Tests of the predict server's settings: CPU detection, defaults, overrides, bad values."""

import os
import shutil
import tempfile
import unittest

from cortex_s2i_runtime import settings
from cortex_s2i_runtime.settings import ServerSettings


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
        self.assertEqual(settings.usable_cpus(root, affinity=8), 2)

    def test_cgroup_v2_without_quota_leaves_the_affinity(self):
        root = fake_cgroup(self, {"cpu.max": "max 100000"})
        self.assertEqual(settings.usable_cpus(root, affinity=6), 6)

    def test_cgroup_v1_quota_and_no_quota(self):
        for controller in ("cpu", "cpu,cpuacct"):
            with self.subTest(controller=controller):
                root = fake_cgroup(self, {controller + "/cpu.cfs_quota_us": "300000",
                                          controller + "/cpu.cfs_period_us": "100000"})
                self.assertEqual(settings.usable_cpus(root, affinity=16), 3)
        root = fake_cgroup(self, {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"})
        self.assertEqual(settings.usable_cpus(root, affinity=5), 5)

    def test_affinity_below_the_quota_wins_and_a_fraction_is_at_least_one(self):
        self.assertEqual(settings.usable_cpus(
            fake_cgroup(self, {"cpu.max": "800000 100000"}), affinity=2), 2)
        self.assertEqual(settings.usable_cpus(
            fake_cgroup(self, {"cpu.max": "20000 100000"}), affinity=4), 1)
        self.assertEqual(settings.usable_cpus(fake_cgroup(self, {}), affinity=3), 3)
        self.assertGreaterEqual(settings.usable_cpus(), 1)


class ServerSettingsTest(unittest.TestCase):
    def test_defaults(self):
        found = ServerSettings.from_environ({}, cpus=2)
        self.assertEqual(found, ServerSettings(workers=2))
        self.assertEqual((found.port, found.threads, found.timeout, found.graceful_timeout,
                          found.header_timeout, found.body_timeout, found.send_timeout,
                          found.max_pending, found.max_body_bytes, found.debug_logging,
                          found.debug_log_bytes, found.access_log_flush, found.log_level,
                          found.cors_origins, found.gzip_min_bytes),
                         (5000, 4, 60, 8, 10, 30, 30, 64, 10 * 1024 * 1024, False, 4096, 0.5,
                          "info", (), 1024))

    def test_default_workers_are_the_usable_cpus_at_most_four(self):
        self.assertEqual(ServerSettings.from_environ({}, cpus=32).workers, 4)
        self.assertEqual(ServerSettings.from_environ({}, cpus=1).workers, 1)

    def test_the_environment_overrides_every_default(self):
        found = ServerSettings.from_environ({
            "PORT": "8080", "WEB_CONCURRENCY": "9", "THREADS": "2", "TIMEOUT": "0",
            "GRACEFUL_TIMEOUT": "25", "LOG_LEVEL": "WARNING", "HEADER_TIMEOUT": "3",
            "BODY_TIMEOUT": "4", "SEND_TIMEOUT": "5", "MAX_BODY_BYTES": "99",
            "DEBUG_LOGGING": "on", "DEBUG_LOG_BYTES": "7", "ACCESS_LOG_FLUSH": " 1.5 ",
            "CORS_ORIGINS": "https://a.example, http://localhost:3000/", "GZIP_MIN_BYTES": "0"},
            cpus=2)
        self.assertEqual(found, ServerSettings(
            port=8080, workers=9, threads=2, timeout=0, graceful_timeout=25, log_level="warning",
            header_timeout=3, body_timeout=4, send_timeout=5, max_pending=32, max_body_bytes=99,
            debug_logging=True, debug_log_bytes=7, access_log_flush=1.5,
            cors_origins=("https://a.example", "http://localhost:3000"), gzip_min_bytes=0))
        self.assertEqual(ServerSettings.from_environ({"MAX_PENDING": "5"}, cpus=1).max_pending, 5)
        self.assertEqual(ServerSettings.from_environ({"CORS_ORIGINS": "*"}, cpus=1).cors_origins,
                         ("*",))

    def test_bad_values_are_errors_naming_the_variable(self):
        for name, value in [("PORT", "abc"), ("PORT", "70000"), ("PORT", "0"),
                            ("WEB_CONCURRENCY", "0"), ("THREADS", "-1"), ("TIMEOUT", "1.5"),
                            ("GRACEFUL_TIMEOUT", "0"), ("LOG_LEVEL", "loud"),
                            ("MAX_BODY_BYTES", "10MB"), ("HEADER_TIMEOUT", "0"),
                            ("BODY_TIMEOUT", "soon"), ("SEND_TIMEOUT", "0"), ("MAX_PENDING", "0"),
                            ("DEBUG_LOGGING", "maybe"), ("DEBUG_LOG_BYTES", "-5"),
                            ("ACCESS_LOG_FLUSH", "-1"), ("ACCESS_LOG_FLUSH", "nan"),
                            ("ACCESS_LOG_FLUSH", "61"), ("CORS_ORIGINS", "a.example"),
                            ("CORS_ORIGINS", "https://a.example/path"),
                            ("CORS_ORIGINS", "*, https://a.example"), ("GZIP_MIN_BYTES", "1k")]:
            with self.subTest(name=name, value=value):
                with self.assertRaisesRegex(ValueError, name):
                    ServerSettings.from_environ({name: value}, cpus=2)

    def test_the_started_line_says_the_settings(self):
        fields = ServerSettings(workers=3).log_fields()
        self.assertEqual((fields["workers"], fields["threads"], fields["request_timeout"],
                          fields["cors_origins"]), (3, 4, 60, []))


if __name__ == "__main__":
    unittest.main()
