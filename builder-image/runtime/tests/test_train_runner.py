"""Tests of the train runner, run as the image runs it: a subprocess in a /model-like directory."""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from tests.support import RUN_DIR, RUNTIME_DIR

TRAIN_SOURCE = """
    import os, sys, time
    print("import-time print")

    def train(msg):
        print("print inside train")
        os.system("echo subprocess output")
        os.write(1, b"file descriptor 1 write\\n")
        payload = msg["payload"]
        with open(payload["$ref"]) as handle:
            rows = handle.read().count("\\n")
        with open("models/%s.pkl" % payload["model_name"], "w") as handle:
            handle.write("model of %d rows" % rows)
        return {"rows": rows, "envelope": sorted(msg)}

    def echo(msg):
        return msg

    def fail(msg):
        with open("models/m.pkl", "w") as handle:
            handle.write("half-written")
        raise ValueError("bad data in column 3")

    def slow(msg):
        with open("models/m.pkl", "w") as handle:
            handle.write("half-written")
        with open(os.path.join(os.environ["LINK"], "x.bin"), "w") as handle:
            handle.write("half-written")
        open(os.environ["MARKER"], "w").close()
        time.sleep(60)

    def odd(msg):
        return object()

    def through_link(msg):
        # Writes as code does through a package's models/ path, which the build links to
        # MODELS_LINK.
        link = msg["payload"]["link"]
        with open(os.path.join(link, "x.bin"), "w") as handle:
            handle.write("written through the link")
        if msg["payload"].get("fail"):
            raise RuntimeError("failed after writing through the link")
        return os.readlink(link)

    def conflict(msg):
        with open("models/m.pkl", "w") as handle:
            handle.write("replaced")
        import shutil
        if os.path.isdir("models/sub"):
            shutil.rmtree("models/sub")
            open("models/sub", "w").close()
        else:
            os.unlink("models/sub")
            os.mkdir("models/sub")
            open("models/sub/y.bin", "w").close()

    def link_out(msg):
        with open("models/m.pkl", "w") as handle:
            handle.write("replaced")
        os.symlink(msg["payload"]["target"], "models/evil")

    def exits(msg):
        sys.exit(3)

    not_callable = 5
"""

BROKEN_SOURCE = """
import os
import not_installed_dependency_xyz
"""

# The runner as the image runs it, but with the models link at a test path and every models
# folder taken for a mount point (the tests' folders are not mounts; the script tests the check).
RUNNER = ("import sys; from cortex_s2i_runtime import train_runner; "
          "sys.exit(train_runner.main(models_link_path=%r, is_mount=lambda path: True))")

VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
METADATA = "trainer.train.train.json"


class TrainRunnerTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-train-test-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.code = os.path.join(self.root, "opt", "program")
        self.workdir = os.path.join(self.root, "model")
        self.tmp = os.path.join(self.root, "tmp")
        for directory in (self.code, self.tmp, os.path.join(self.workdir, "data"),
                          os.path.join(self.workdir, "models")):
            os.makedirs(directory)
        with open(os.path.join(self.code, "trainer.py"), "w") as handle:
            handle.write(textwrap.dedent(TRAIN_SOURCE))
        with open(os.path.join(self.code, "broken_trainer.py"), "w") as handle:
            handle.write(BROKEN_SOURCE)
        # As in the train image: MODELS_LINK is a symlink to the real models folder.
        self.link = os.path.join(self.root, "opt", "cortex-s2i", "models")
        os.makedirs(os.path.dirname(self.link))
        os.symlink(os.path.join(self.workdir, "models"), self.link)
        with open(os.path.join(self.workdir, "data", "income.csv"), "w") as handle:
            handle.write("age,income\n30,1\n40,0\n")
        self.write_model("m.pkl", "previous")

    def write_model(self, name, content):
        with open(os.path.join(self.workdir, "models", name), "w") as handle:
            handle.write(content)

    def tree(self):
        directory = os.path.join(self.workdir, "models")
        entries = {}
        for dirpath, dirnames, filenames in os.walk(directory):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                entries[path] = (pathlib.Path(path).read_bytes() if os.path.isfile(path)
                                 else "folder")
        return entries

    def models(self):
        directory = os.path.join(self.workdir, "models")
        return {name: pathlib.Path(directory, name).read_text()
                for name in sorted(os.listdir(directory))}

    def environ(self, **extra):
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": self.tmp,
                   "PYTHONPATH": RUNTIME_DIR + os.pathsep + self.code, "LINK": self.link,
                   "TRAIN": "1", "TRAIN_MODULE": "trainer", "TRAIN_FUNCTION": "train"}
        environ.update(extra)
        return {key: value for key, value in environ.items() if value is not None}

    def command(self, via_script):
        if via_script:
            return ["sh", os.path.join(RUN_DIR, "train")]
        return [sys.executable, "-c", RUNNER % self.link]

    def run_train(self, args=(), via_script=False, stdin=None, **extra):
        done = subprocess.run(self.command(via_script) + list(args), cwd=self.workdir,
                              env=self.environ(**extra), capture_output=True, text=True,
                              timeout=60, input=stdin)
        return done.returncode, self.events(done.stdout), done.stderr

    def events(self, stdout):
        return [json.loads(line) for line in stdout.splitlines()]

    def assertNoStageLeft(self):
        self.assertEqual(os.listdir(self.tmp), [])
        self.assertEqual(os.readlink(self.link), os.path.join(self.workdir, "models"))
        self.assertEqual(os.listdir(os.path.dirname(self.link)), ["models"])

    def test_success_reports_started_and_finished_and_publishes_models(self):
        payload = {"$ref": "data/income.csv", "model_name": "adult_income_lr"}
        code, events, stderr = self.run_train(PAYLOAD=json.dumps(payload))
        self.assertEqual(code, 0, stderr)
        started, finished = events
        self.assertEqual((started["event"], started["module"], started["function"]),
                         ("started", "trainer", "train"))
        self.assertRegex(started["version"], VERSION)
        self.assertRegex(started["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(finished["event"], "finished")
        self.assertEqual(finished["version"], started["version"])
        self.assertEqual(finished["result"], {"rows": 3, "envelope": ["payload"]})
        self.assertEqual(finished["published"], ["adult_income_lr.pkl", METADATA])
        self.assertEqual(finished["metadata"], "models/" + METADATA)
        self.assertIsInstance(finished["duration_seconds"], (int, float))
        models = self.models()
        metadata = json.loads(models.pop(METADATA))
        self.assertEqual(models, {"adult_income_lr.pkl": "model of 3 rows", "m.pkl": "previous"})
        self.assertEqual(metadata, {
            "version": started["version"], "train_module": "trainer", "train_function": "train",
            "started": metadata["started"], "duration_seconds": metadata["duration_seconds"],
            "files": ["adult_income_lr.pkl"], "result": {"rows": 3, "envelope": ["payload"]}})
        self.assertRegex(metadata["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertLessEqual(metadata["duration_seconds"], finished["duration_seconds"])
        for output in ("import-time print", "print inside train", "subprocess output",
                       "file descriptor 1 write"):
            self.assertIn(output, stderr)
        self.assertNoStageLeft()

    def test_every_event_and_the_metadata_carry_one_version_id_per_run(self):
        versions = []
        for _ in range(2):
            code, events, _ = self.run_train(TRAIN_FUNCTION="echo")
            self.assertEqual(code, 0)
            self.assertEqual(len({event["version"] for event in events}), 1)
            metadata = json.loads(self.models()["trainer.echo.train.json"])
            self.assertEqual(metadata["version"], events[0]["version"])
            self.assertEqual(metadata["files"], [])
            versions.append(events[0]["version"])
        self.assertNotEqual(versions[0], versions[1])

    def test_payload_is_wrapped_in_an_envelope_and_defaults_to_an_empty_object(self):
        code, events, _ = self.run_train(TRAIN_FUNCTION="echo")
        self.assertEqual((code, events[-1]["result"]), (0, {"payload": {}}))
        code, events, _ = self.run_train(TRAIN_FUNCTION="echo", PAYLOAD='[1, "two"]')
        self.assertEqual((code, events[-1]["result"]), (0, {"payload": [1, "two"]}))

    def test_a_raising_train_function_exits_1_and_leaves_models_as_they_were(self):
        code, events, stderr = self.run_train(TRAIN_FUNCTION="fail")
        self.assertEqual(code, 1)
        self.assertEqual([e["event"] for e in events], ["started", "failed"])
        failed = events[-1]
        self.assertEqual(failed["error"], "ValueError: bad data in column 3")
        self.assertEqual(failed["exit_code"], 1)
        self.assertIn("duration_seconds", failed)
        self.assertIn("Traceback (most recent call last)", stderr)
        self.assertIn("cortex-s2i train: error: ValueError: bad data in column 3", stderr)
        self.assertEqual(self.models(), {"m.pkl": "previous"})
        self.assertNoStageLeft()

    def test_sys_exit_in_the_train_function_is_a_failure(self):
        code, events, _ = self.run_train(TRAIN_FUNCTION="exits")
        self.assertEqual(code, 1)
        self.assertIn("sys.exit(3)", events[-1]["error"])

    def test_bad_input_exits_2_with_a_single_failed_event_and_one_line_error(self):
        cases = [
            ({"PAYLOAD": "{not json"}, "PAYLOAD is not valid JSON"),
            ({"TRAIN_MODULE": None}, "TRAIN_MODULE is not set"),
            ({"TRAIN_FUNCTION": ""}, "TRAIN_FUNCTION is not set"),
            ({"TRAIN_MODULE": "no_such_module"}, "cannot import TRAIN_MODULE no_such_module"),
            ({"TRAIN_FUNCTION": "missing"}, "has no function 'missing'"),
            ({"TRAIN_FUNCTION": "not_callable"}, "not a function (its type is int)"),
            ({"TRAIN_MODULE": "bad-name"}, "not a dotted Python module name"),
            ({"PAYLOAD": '{"$ref": "data/missing.csv"}'},
             'PAYLOAD "$ref" data/missing.csv does not exist'),
            ({"PAYLOAD": '{"$ref": "nodata/x.csv"}'}, 'mount the data folder: -v "$PWD/data:'),
            ({"PAYLOAD": '{"$ref": 5}'}, 'PAYLOAD "$ref" must be a path'),
        ]
        for extra, message in cases:
            with self.subTest(message=message):
                code, events, stderr = self.run_train(**extra)
                self.assertEqual(code, 2, stderr)
                self.assertEqual(events[-1]["event"], "failed")
                self.assertIn(message, events[-1]["error"])
                self.assertEqual(events[-1]["exit_code"], 2)
                self.assertIn("cortex-s2i train: error: ", stderr)
                self.assertIn(message, stderr.strip().splitlines()[-1])
                self.assertNotIn("Traceback", stderr.strip().splitlines()[-1])
            self.assertNoStageLeft()
        self.assertEqual(self.models(), {"m.pkl": "previous"})

    def test_a_train_module_that_fails_to_import_names_the_module_the_cause_and_the_line(self):
        code, events, stderr = self.run_train(TRAIN_MODULE="broken_trainer")
        self.assertEqual(code, 2)
        last = stderr.strip().splitlines()[-1]
        self.assertEqual(last, "cortex-s2i train: error: cannot import TRAIN_MODULE broken_trainer:"
                         " ModuleNotFoundError: No module named 'not_installed_dependency_xyz'"
                         " (at %s:3)" % os.path.join(self.code, "broken_trainer.py"))
        self.assertEqual(events[-1]["error"], last[len("cortex-s2i train: error: "):])
        self.assertIn("Traceback", stderr)

        # Through importlib: the line is the model's, not importlib's.
        with open(os.path.join(self.code, "broken_trainer.py"), "w") as handle:
            handle.write("import importlib\n\nimportlib.import_module('json.no_such_part')\n")
        code, events, stderr = self.run_train(TRAIN_MODULE="broken_trainer")
        self.assertEqual(code, 2)
        self.assertTrue(stderr.strip().splitlines()[-1].endswith(
            "No module named 'json.no_such_part' (at %s:3)"
            % os.path.join(self.code, "broken_trainer.py")), stderr)

        with open(os.path.join(self.code, "broken_trainer.py"), "w") as handle:
            handle.write("x = 1\ndef train(msg:\n")
        code, events, stderr = self.run_train(TRAIN_MODULE="broken_trainer")
        self.assertEqual(code, 2)
        self.assertRegex(stderr.strip().splitlines()[-1],
                         r"cannot import TRAIN_MODULE broken_trainer: SyntaxError: .* \(at %s:2\)$"
                         % re.escape(os.path.join(self.code, "broken_trainer.py")))
        self.assertNoStageLeft()

    def test_without_a_models_mount_it_exits_2_before_training(self):
        # Through the image's run script: the real mount check, and this models folder is no mount.
        code, events, stderr = self.run_train(via_script=True, TRAIN_FUNCTION="fail")
        self.assertEqual(code, 2, stderr)
        self.assertEqual([e["event"] for e in events], ["failed"])
        models = os.path.join(self.workdir, "models")
        message = ('%s is not a mounted folder, so the models this run publishes would be lost '
                   'with the container: mount one with -v "$PWD/models:%s"' % (models, models))
        self.assertEqual(events[0]["error"], message)
        self.assertEqual(stderr.strip().splitlines(), ["cortex-s2i train: error: " + message])
        self.assertEqual(self.models(), {"m.pkl": "previous"})

    def test_the_mount_check_takes_a_mount_point_and_refuses_a_plain_folder(self):
        from cortex_s2i_runtime import train_runner
        train_runner._check_models_mount("/", os.path.ismount)
        with self.assertRaises(train_runner._Failure) as raised:
            train_runner._check_models_mount(self.workdir, os.path.ismount)
        self.assertEqual(raised.exception.exit_code, 2)

    def test_writes_through_the_models_link_are_staged_and_published(self):
        code, events, stderr = self.run_train(TRAIN_FUNCTION="through_link",
                                              PAYLOAD=json.dumps({"link": self.link}))
        self.assertEqual(code, 0, stderr)
        # During the run the link pointed at the stage's models folder, not the real one.
        stage_models = events[-1]["result"]
        self.assertTrue(stage_models.startswith(self.tmp + os.sep), stage_models)
        self.assertEqual(events[-1]["published"], ["x.bin", "trainer.through_link.train.json"])
        self.assertEqual(self.models()["x.bin"], "written through the link")
        self.assertNoStageLeft()

    def test_writes_through_the_models_link_are_discarded_when_the_run_fails(self):
        code, events, stderr = self.run_train(TRAIN_FUNCTION="through_link",
                                              PAYLOAD=json.dumps({"link": self.link, "fail": 1}))
        self.assertEqual(code, 1, stderr)
        self.assertEqual(events[-1]["error"], "RuntimeError: failed after writing through the link")
        self.assertEqual(self.models(), {"m.pkl": "previous"})
        self.assertNoStageLeft()

    def test_a_published_path_of_the_other_type_fails_the_run_and_publishes_nothing(self):
        for published_is_folder in (True, False):
            with self.subTest(published_is_folder=published_is_folder):
                sub = os.path.join(self.workdir, "models", "sub")
                if published_is_folder:
                    os.mkdir(sub)
                    self.write_model(os.path.join("sub", "x.bin"), "x")
                else:
                    self.write_model("sub", "a file")
                before = self.tree()
                code, events, stderr = self.run_train(TRAIN_FUNCTION="conflict")
                self.assertEqual(code, 1, stderr)
                kinds = ("a folder", "a file") if published_is_folder else ("a file", "a folder")
                self.assertIn("%s is %s in %s, but %s in the run's models"
                              % (sub, kinds[0], os.path.dirname(sub), kinds[1]),
                              events[-1]["error"])
                self.assertTrue(events[-1]["error"].endswith("nothing was published"))
                self.assertEqual(self.tree(), before)
                self.assertNoStageLeft()
                shutil.rmtree(sub) if published_is_folder else os.unlink(sub)

    def test_a_link_leaving_the_models_folder_fails_the_run_and_publishes_nothing(self):
        for target in ("/etc/shadow", "../data/income.csv"):
            with self.subTest(target=target):
                code, events, stderr = self.run_train(TRAIN_FUNCTION="link_out",
                                                      PAYLOAD=json.dumps({"target": target}))
                self.assertEqual(code, 1, stderr)
                last = stderr.strip().splitlines()[-1]
                self.assertIn("models/evil is a link to %s, outside the models folder" % target,
                              last)
                self.assertEqual(self.models(), {"m.pkl": "previous"})
                self.assertNoStageLeft()

    def test_train_on_the_command_line_is_the_same_run_as_train_1_and_payload(self):
        payload = '{"$ref": "data/income.csv", "n": [1, 2]}'
        runs = [self.run_train(TRAIN=None, TRAIN_FUNCTION="echo", args=["--train", payload]),
                self.run_train(TRAIN=None, TRAIN_FUNCTION="echo", args=["--train=" + payload]),
                self.run_train(TRAIN=None, TRAIN_FUNCTION="echo", args=["--train", "-"],
                               stdin=payload),
                self.run_train(TRAIN_FUNCTION="echo", PAYLOAD=payload)]
        shapes = []
        for code, events, stderr in runs:
            self.assertEqual(code, 0, stderr)
            self.assertEqual(len({e["version"] for e in events}), 1)
            self.assertRegex(events[0]["version"], VERSION)
            shapes.append([(e["event"], sorted(e), e.get("result")) for e in events])
        self.assertEqual(shapes[0][-1][2], {"payload": json.loads(payload)})
        for shape in shapes[1:]:
            self.assertEqual(shape, shapes[0])

        code, events, stderr = self.run_train(TRAIN=None, args=["--train", "{not json"])
        self.assertEqual((code, events[-1]["exit_code"]), (2, 2))
        self.assertIn("PAYLOAD is not valid JSON", stderr.strip().splitlines()[-1])
        code, events, stderr = self.run_train(TRAIN=None, args=["--train", "{}", "extra"])
        self.assertEqual((code, events), (2, []))
        self.assertIn("unexpected arguments --train {} extra", stderr)

    def test_without_train_it_prints_usage_and_exits_2(self):
        for value in (None, "0", "no", ""):
            with self.subTest(TRAIN=value):
                code, events, stderr = self.run_train(via_script=True, TRAIN=value)
                self.assertEqual((code, events), (2, []))
                for text in ("docker run", "-v", "/model/data", "/model/models", "TRAIN=1",
                             "PAYLOAD", "trainer.train"):
                    self.assertIn(text, stderr)

    def test_train_accepts_true_and_yes(self):
        for value in ("true", "yes", "TRUE"):
            with self.subTest(TRAIN=value):
                self.assertEqual(self.run_train(TRAIN=value, TRAIN_FUNCTION="echo")[0], 0)

    def test_help_prints_usage_on_stdout(self):
        done = subprocess.run(self.command(False) + ["--help"], cwd=self.workdir,
                              env=self.environ(), capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0)
        self.assertIn("docker run", done.stdout)

    def test_a_result_that_is_not_json_is_reported_as_its_repr(self):
        code, events, _ = self.run_train(TRAIN_FUNCTION="odd")
        self.assertEqual(code, 0)
        self.assertRegex(events[-1]["result"], r"^<object object at 0x[0-9a-f]+>$")

    def test_sigterm_fails_the_run_and_leaves_models_as_they_were(self):
        marker = os.path.join(self.root, "training-started")
        process = subprocess.Popen(self.command(False), cwd=self.workdir,
                                   env=self.environ(TRAIN_FUNCTION="slow", MARKER=marker),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        deadline = time.monotonic() + 30
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(os.path.exists(marker), "the train function never started")
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 128 + signal.SIGTERM)
        failed = self.events(stdout)[-1]
        self.assertEqual((failed["event"], failed["error"]), ("failed", "interrupted by SIGTERM"))
        self.assertEqual(self.models(), {"m.pkl": "previous"})  # x.bin went to the stage
        self.assertNoStageLeft()


if __name__ == "__main__":
    unittest.main()
