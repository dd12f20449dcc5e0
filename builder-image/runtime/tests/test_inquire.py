"""Tests of the one-shot inquiry, run as the image runs it: a subprocess through the run script."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from tests.support import RUN_DIR, RUNTIME_DIR

ROUTES_SOURCE = """
    import logging, os

    def predict(msg):
        print("print inside predict")
        os.write(1, b"file descriptor 1 write\\n")
        logging.getLogger("model").warning("a model log line")
        if isinstance(msg, dict) and "fail" in msg:
            raise ValueError("asked to fail: %s" % msg["fail"])
        if isinstance(msg, dict) and "refuse" in msg:
            from cortex_s2i_runtime import ClientError
            raise ClientError("feature x is missing", status=422)
        return {"sum": sum(msg["x"]) if isinstance(msg, dict) else len(msg)}

    def odd(msg):
        return object()

    def other(msg):
        return {"other": msg}

    class Scorer:
        def __init__(self, config):
            self.greeting = config.get("GREETING")

        def predict(self, payload):
            return {"greeting": self.greeting, "n": len(payload)}
"""

MODULE_STYLE_SOURCE = """
    import os
    state = {}

    def init(model_path, metadata):
        with open(os.path.join(model_path, "offset.txt")) as handle:
            state["offset"] = int(handle.read())

    def predict(sample, metadata):
        return [x + state["offset"] for x in sample["x"]]
"""

VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


class InquireTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-inquire-test-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.code = os.path.join(self.root, "program")
        self.workdir = os.path.join(self.root, "action")
        os.makedirs(self.code)
        os.makedirs(os.path.join(self.workdir, "models"))
        for name, source in (("scorer", ROUTES_SOURCE), ("modstyle", MODULE_STYLE_SOURCE)):
            with open(os.path.join(self.code, name + ".py"), "w") as handle:
                handle.write(textwrap.dedent(source))
        with open(os.path.join(self.workdir, "models", "offset.txt"), "w") as handle:
            handle.write("100")

    def inquire(self, args, routes="score:scorer:predict", stdin=None, **extra):
        # The run script's python3 is this interpreter, as the image's is the one its runtime's
        # libraries are installed for.
        path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "/bin")
        environ = {"PATH": path,
                   "PYTHONPATH": RUNTIME_DIR + os.pathsep + self.code, "ROUTES": routes}
        environ.update(extra)
        done = subprocess.run(["sh", os.path.join(RUN_DIR, "daemon")] + list(args),
                              cwd=self.workdir, env=environ, capture_output=True, text=True,
                              timeout=60, input=stdin)
        return done.returncode, done.stdout, done.stderr

    def answer(self, stdout):
        lines = stdout.splitlines()
        self.assertEqual(len(lines), 1, stdout)
        return json.loads(lines[0])

    def log(self, stderr):
        return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]

    def assertFailed(self, args, exit_code, message, **kwargs):
        code, stdout, stderr = self.inquire(args, **kwargs)
        self.assertEqual(code, exit_code, stderr)
        error = self.answer(stdout)["error"]
        self.assertIn(message, error["message"])
        self.assertEqual(error["exit_code"], exit_code)
        self.assertRegex(error["version"], VERSION)
        failed = [line for line in self.log(stderr) if line.get("event") == "inquiry_failed"]
        self.assertEqual([(f["error"], f["version"]) for f in failed],
                         [(error["message"], error["version"])])
        return stderr

    def test_the_one_route_answers_on_stdout_and_logs_carry_one_version_on_stderr(self):
        code, stdout, stderr = self.inquire(["--inquire", '{"x": [1, 2, 3]}'])
        self.assertEqual(code, 0, stderr)
        self.assertEqual(self.answer(stdout), {"payload": {"sum": 6}})
        log = self.log(stderr)
        self.assertEqual([line.get("event") for line in log],
                         ["inquiry_started", None, "inquiry_finished"])
        self.assertEqual(log[0]["route"], "score")
        self.assertEqual(log[1]["message"], "a model log line")
        self.assertEqual(len({line["version"] for line in log}), 1)
        self.assertRegex(log[0]["version"], VERSION)
        self.assertIn("print inside predict", stderr)
        self.assertIn("file descriptor 1 write", stderr)

    def test_an_image_of_cortex_apis_answers_for_the_chosen_api_in_cortex_shape(self):
        apis = os.path.join(self.root, "apis.json")
        with open(apis, "w") as handle:
            json.dump([{"name": "offset", "route": "v1/offset", "config": {"k": 2},
                        "predictor": os.path.join(self.code, "modstyle.py"), "model": None},
                       {"name": "score", "route": "score",
                        "predictor": os.path.join(self.code, "scorer.py")}],
                      handle)
        code, stdout, stderr = self.inquire(["--inquire", '{"x": [1, 2]}', "--route", "/v1/offset"],
                                            routes="", CORTEX_S2I_APIS=apis)
        self.assertEqual(code, 0, stderr)
        self.assertEqual(self.answer(stdout), [101, 102])
        code, stdout, _ = self.inquire(["--inquire", "{}"], routes="", CORTEX_S2I_APIS=apis)
        self.assertEqual(code, 2)
        self.assertIn("--route", self.answer(stdout)["error"]["message"])

    def test_each_inquiry_has_its_own_version(self):
        versions = {self.log(self.inquire(["--inquire", "[1]"])[2])[0]["version"]
                    for _ in range(2)}
        self.assertEqual(len(versions), 2)

    def test_the_inquiry_may_come_on_stdin_or_after_an_equals_sign(self):
        code, stdout, _ = self.inquire(["--inquire", "-"], stdin='{"x": [4, 5]}')
        self.assertEqual((code, self.answer(stdout)), (0, {"payload": {"sum": 9}}))
        code, stdout, _ = self.inquire(["--inquire=[1, 2]"])
        self.assertEqual((code, self.answer(stdout)), (0, {"payload": {"sum": 2}}))

    def test_with_several_routes_route_chooses_and_without_it_the_routes_are_named(self):
        routes = "score:scorer:predict,other/v1:scorer:other,cls:scorer:Scorer,mod:modstyle:predict"
        self.assertFailed(["--inquire", "{}"], 2,
                          "ROUTES has 4 routes (score, other/v1, cls, mod): choose one with "
                          "--route",
                          routes=routes)
        self.assertFailed(["--inquire", "{}", "--route", "nope"], 2,
                          "no route 'nope'; the routes are: score, other/v1, cls, mod",
                          routes=routes)
        code, stdout, _ = self.inquire(["--route", "/other/v1", "--inquire", '{"a": 1}'],
                                       routes=routes)
        self.assertEqual((code, self.answer(stdout)), (0, {"payload": {"other": {"a": 1}}}))
        code, stdout, _ = self.inquire(["--inquire", "[1, 2]", "--route=cls"], routes=routes,
                                       GREETING="hi")
        self.assertEqual(self.answer(stdout), {"payload": {"greeting": "hi", "n": 2}})
        code, stdout, _ = self.inquire(["--inquire", '{"x": [1]}', "--route", "mod"],
                                       routes=routes)
        self.assertEqual(self.answer(stdout), {"payload": [101]})

    def test_a_raising_function_exits_1_with_the_error_on_stdout_and_the_traceback_logged(self):
        stderr = self.assertFailed(["--inquire", '{"fail": "now"}'], 1,
                                   "route 'score' raised ValueError: asked to fail: now")
        failed = [line for line in self.log(stderr) if line.get("event") == "inquiry_failed"][0]
        self.assertIn("Traceback", failed["traceback"])
        self.assertIn("asked to fail", failed["traceback"])

    def test_a_client_error_from_the_model_is_bad_input_exit_2_with_its_message(self):
        self.assertFailed(["--inquire", '{"refuse": 1}'], 2,
                          "route 'score' refused the inquiry (422): feature x is missing")

    def test_a_result_json_cannot_encode_exits_1(self):
        self.assertFailed(["--inquire", "{}"], 1, "returned something JSON cannot encode",
                          routes="odd:scorer:odd")

    def test_bad_input_exits_2(self):
        cases = [
            (["--inquire", "{not json"], "the inquiry is not valid JSON", {}),
            (["--inquire", '"text"'], "must be a JSON object or array, not str", {}),
            (["--inquire", "-"], "the inquiry is empty", {"stdin": ""}),
            (["--inquire"], "--inquire needs a value", {}),
            (["--route", "score"], "--inquire JSON is missing", {}),
            (["--inquire", "{}", "--bogus"], "unexpected argument '--bogus'", {}),
            (["--inquire", "{}"], "ROUTES is not set", {"routes": ""}),
            (["--inquire", "{}"], "cannot import module: ModuleNotFoundError",
             {"routes": "x:no_such_module:predict"}),
        ]
        for args, message, kwargs in cases:
            with self.subTest(message=message):
                self.assertFailed(args, 2, message, **kwargs)

    def test_help_prints_usage_on_stdout(self):
        code, stdout, _ = self.inquire(["--help"])
        self.assertEqual(code, 0)
        for text in ("--inquire", "--route", "/action/models", "score:scorer:predict"):
            self.assertIn(text, stdout)


if __name__ == "__main__":
    unittest.main()
