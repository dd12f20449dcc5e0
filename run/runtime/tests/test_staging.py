"""Tests of the models stage: mirrored working directory, publish only new or changed files."""

import errno
import os
import shutil
import tempfile
import unittest
from unittest import mock

from cortex_s2i_runtime import staging
from cortex_s2i_runtime.staging import ModelsStage


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)


def read(path):
    with open(path) as handle:
        return handle.read()


class ModelsStageTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cortex-s2i-workdir-")
        self.tmp = tempfile.mkdtemp(prefix="cortex-s2i-tmp-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        write(os.path.join(self.workdir, "data", "train.csv"), "a,b\n1,2\n")
        write(os.path.join(self.workdir, "models", "old.pkl"), "old")
        write(os.path.join(self.workdir, "models", "keep.pkl"), "keep")
        self.stage = ModelsStage(self.workdir, tmp_root=self.tmp)
        self.addCleanup(self.stage.discard)
        self.root = self.stage.prepare()
        self.models = os.path.join(self.workdir, "models")

    def test_the_stage_mirrors_the_working_directory_with_a_private_models_copy(self):
        self.assertEqual(sorted(os.listdir(self.root)), ["data", "models"])
        self.assertEqual(read(os.path.join(self.root, "data", "train.csv")), "a,b\n1,2\n")
        self.assertTrue(os.path.islink(os.path.join(self.root, "data")))
        self.assertFalse(os.path.islink(os.path.join(self.root, "models")))
        self.assertEqual(read(os.path.join(self.root, "models", "old.pkl")), "old")

    def test_writes_reach_the_real_models_directory_only_on_publish(self):
        write(os.path.join(self.root, "models", "old.pkl"), "new")
        write(os.path.join(self.root, "models", "fresh", "m.json"), "{}")
        self.assertEqual(read(os.path.join(self.models, "old.pkl")), "old")
        self.assertFalse(os.path.exists(os.path.join(self.models, "fresh")))

        published = self.stage.publish("v1")

        self.assertEqual(sorted(published), ["fresh/m.json", "old.pkl"])
        self.assertEqual(read(os.path.join(self.models, "old.pkl")), "new")
        self.assertEqual(read(os.path.join(self.models, "fresh", "m.json")), "{}")
        self.assertEqual(sorted(os.listdir(self.models)), ["fresh", "keep.pkl", "old.pkl"])

    def test_untouched_and_rewritten_identical_files_are_not_republished(self):
        write(os.path.join(self.root, "models", "keep.pkl"), "keep")
        self.assertEqual(self.stage.publish("v1"), [])

    def test_discard_leaves_the_models_directory_as_it_was(self):
        write(os.path.join(self.root, "models", "old.pkl"), "half-written")
        self.stage.discard()
        self.assertFalse(os.path.exists(self.root))
        self.assertEqual(read(os.path.join(self.models, "old.pkl")), "old")
        self.assertEqual(sorted(os.listdir(self.models)), ["keep.pkl", "old.pkl"])

    def test_a_missing_models_directory_is_created_on_publish(self):
        shutil.rmtree(self.models)
        stage = ModelsStage(self.workdir, tmp_root=self.tmp)
        self.addCleanup(stage.discard)
        root = stage.prepare()
        self.assertEqual(os.listdir(os.path.join(root, "models")), [])
        write(os.path.join(root, "models", "m.pkl"), "m")
        self.assertEqual(stage.publish("v2"), ["m.pkl"])
        self.assertEqual(read(os.path.join(self.models, "m.pkl")), "m")

    def test_publish_copies_everything_before_renaming_anything(self):
        write(os.path.join(self.root, "models", "old.pkl"), "new")
        write(os.path.join(self.root, "models", "keep.pkl"), "changed")
        write(os.path.join(self.root, "models", "deep", "er", "m.json"), "{}")
        self.assertEqual(self.stage.changes(), ["deep/er/m.json", "keep.pkl", "old.pkl"])
        real_copy = shutil.copy2
        copies = []

        def copy_then_fill_the_disk(source, target):
            if copies:
                raise OSError(errno.ENOSPC, "No space left on device")
            copies.append(target)
            return real_copy(source, target)

        with mock.patch.object(staging.shutil, "copy2", copy_then_fill_the_disk):
            with self.assertRaises(OSError) as raised:
                self.stage.publish("v1", ["deep/er/m.json", "old.pkl", "keep.pkl"])
        self.assertEqual(raised.exception.errno, errno.ENOSPC)
        self.assertEqual(len(copies), 1)
        # Nothing published, no temporary file or new directory left behind.
        self.assertEqual(sorted(os.listdir(self.models)), ["keep.pkl", "old.pkl"])
        self.assertEqual((read(os.path.join(self.models, "old.pkl")),
                          read(os.path.join(self.models, "keep.pkl"))), ("old", "keep"))

        self.assertEqual(self.stage.publish("v2", ["keep.pkl", "old.pkl"]), ["keep.pkl", "old.pkl"])
        self.assertEqual(read(os.path.join(self.models, "keep.pkl")), "changed")
        self.assertEqual(sorted(os.listdir(self.models)), ["keep.pkl", "old.pkl"])


if __name__ == "__main__":
    unittest.main()
