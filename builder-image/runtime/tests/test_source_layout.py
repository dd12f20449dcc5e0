"""source_layout: the stock s2i source laid out as cortex-s2i builds lay it out, with no image."""

import io
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from cortex_s2i_runtime import source_layout as sl

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "fixtures", "finance_income_prediction")


class LayoutTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cortex-s2i-layout-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.program = os.path.join(self.dir, "program")
        self.layout_dir = os.path.join(self.dir, "layout")
        self.metadata = os.path.join(self.dir, "s2i", "image_metadata.json")

    def lay_out(self, src, **environ):
        return sl.layout(src, program=self.program, layout_dir=self.layout_dir, environ=environ,
                         out=io.StringIO(), metadata=self.metadata)

    def files(self):
        out = []
        for dirpath, dirs, names in os.walk(self.program):
            for n in dirs + names:
                full = os.path.join(dirpath, n)
                if os.path.islink(full) or not os.path.isdir(full):
                    out.append(os.path.relpath(full, self.program))
        return sorted(out)

    def test_project_root_with_the_model_named_keeps_shared_code_and_drops_the_never_list(self):
        record = self.lay_out(EXAMPLE, CORTEX_S2I_MODEL="logisticRegression/")
        self.assertEqual(record["package"], "finance_income_prediction")
        self.assertEqual(self.files(), sorted([
            "finance_income_prediction/common_utils/__init__.py",
            "finance_income_prediction/common_utils/model_io.py",
            "finance_income_prediction/common_utils/preprocessing.py",
            "finance_income_prediction/logisticRegression/Makefile",
            "finance_income_prediction/logisticRegression/features.py",
            "finance_income_prediction/logisticRegression/predict.py",
            "finance_income_prediction/logisticRegression/requirements_predict.txt",
            "finance_income_prediction/logisticRegression/requirements_train.txt",
            "finance_income_prediction/logisticRegression/test/test_instances.json",
            "finance_income_prediction/logisticRegression/train.py",
            "finance_income_prediction/models",
        ]))
        link = os.path.join(self.program, "finance_income_prediction/models")
        self.assertEqual(os.readlink(link), sl.MODELS_LINK)
        left_out = {e["path"]: e["why"] for e in record["leftOut"]}
        for path, why in (("randomForest", "other model"), ("all", "other model"), ("data", "data"),
                          (".env", "dot file"), ("logisticRegression/.s2i", "dot folder")):
            self.assertEqual(left_out.get(path), why, path)
        top = os.path.join(self.program, "finance_income_prediction")
        self.assertEqual(record["pythonPath"], [top + "/logisticRegression", top, self.program])
        with open(self.metadata) as f:
            self.assertEqual(json.load(f), {"labels": [
                {"org.opencontainers.image.title": "logisticRegression"},
                {"io.cortex-s2i.routes": "adult_income_lr/predict"}]})

    def test_env_sh_gives_the_import_roots_and_lets_run_time_values_win(self):
        self.lay_out(EXAMPLE, CORTEX_S2I_MODEL="randomForest",
                     TRAIN_FUNCTION="from_the_command_line")
        script = ('. %s; printf "%%s\\n" "$PYTHONPATH" "$ROUTES" "$TRAIN_FUNCTION" '
                  '"$PREDICT_FUNCTION"' % os.path.join(self.layout_dir, "env.sh"))
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": "/already",
               "PREDICT_FUNCTION": "given at run time"}
        lines = subprocess.run(["sh", "-c", script], env=env, check=True, capture_output=True,
                               text=True).stdout.splitlines()
        top = os.path.join(self.program, "finance_income_prediction")
        self.assertEqual(lines, [
            "%s/randomForest:%s:%s:/already" % (top, top, self.program),
            "adult_income_rf/predict:finance_income_prediction.randomForest.predict:"
            "predict_adult_income_rf",
            "from_the_command_line",
            "given at run time",
        ])

    def test_a_model_folder_alone_is_placed_by_its_module_names_and_missing_shared_code_named(self):
        record = self.lay_out(os.path.join(EXAMPLE, "logisticRegression"))
        self.assertEqual(record["package"], "finance_income_prediction/logisticRegression")
        self.assertIn("finance_income_prediction/logisticRegression/predict.py", self.files())
        out = io.StringIO()
        problems = sl.check(self.layout_dir, out=out)
        self.assertIn("predict.py:21 imports finance_income_prediction.common_utils, which is "
                      "not in what was sent", problems)
        self.assertIn("-e CORTEX_S2I_MODEL=<path/to/model>", out.getvalue())

    def test_a_project_root_without_the_model_named_says_how_to_name_it(self):
        with self.assertRaises(sl.LayoutError) as e:
            self.lay_out(EXAMPLE)
        self.assertIn("-e CORTEX_S2I_MODEL=", str(e.exception))
        with self.assertRaises(sl.LayoutError):
            self.lay_out(EXAMPLE, CORTEX_S2I_MODEL="../elsewhere")

    def test_a_self_contained_model_folder_needs_nothing_above_it(self):
        src = os.path.join(self.dir, "src")
        os.makedirs(os.path.join(src, ".s2i"))
        with open(os.path.join(src, ".s2i", "environment"), "w") as f:
            f.write("# bare module names\nROUTES=score:scorer:score\nPYTHONPATH=/extra\n")
        with open(os.path.join(src, "scorer.py"), "w") as f:
            f.write("import json\n\ndef score(payload):\n    return payload\n")
        with open(os.path.join(src, "notes.pyc"), "wb") as f:
            f.write(b"\0")
        record = self.lay_out(src, CORTEX_S2I_PROJECT="scoring")
        self.assertEqual(self.files(), ["scoring/scorer.py"])
        self.assertEqual(sl.check(self.layout_dir, out=io.StringIO()), [])
        self.assertEqual(record["pythonPath"],
                         [os.path.join(self.program, "scoring"), self.program])
        with open(os.path.join(self.layout_dir, "env.sh")) as f:
            self.assertIn(':/extra"${PYTHONPATH', f.read())

    def test_an_entry_module_that_is_not_sent_fails_the_layout(self):
        src = os.path.join(self.dir, "src")
        os.makedirs(os.path.join(src, ".s2i"))
        with open(os.path.join(src, ".s2i", "environment"), "w") as f:
            f.write("ROUTES=score:nowhere.scorer:score\n")
        with self.assertRaises(sl.LayoutError) as e:
            self.lay_out(src)
        self.assertIn("nowhere.scorer: not in what was sent", str(e.exception))


if __name__ == "__main__":
    unittest.main()
