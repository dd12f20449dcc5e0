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


def snapshot(directory):
    """Every entry under directory, hidden ones included: its type and bytes, or its link text."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            relative = os.path.relpath(path, directory)
            if os.path.islink(path):
                entries[relative] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                entries[relative] = ("folder", os.lstat(path).st_mode)
            else:
                with open(path, "rb") as handle:
                    entries[relative] = ("file", handle.read(), os.lstat(path).st_mtime_ns)
    return entries


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


class AllOrNothingTest(unittest.TestCase):
    """A publish that fails, before or during its renames, leaves models/ byte-identical."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cortex-s2i-workdir-")
        self.tmp = tempfile.mkdtemp(prefix="cortex-s2i-tmp-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.models = os.path.join(self.workdir, "models")
        write(os.path.join(self.models, "a.bin"), "old a")
        write(os.path.join(self.models, "folder", "inside.bin"), "inside")
        write(os.path.join(self.models, "file"), "a file")
        os.symlink("a.bin", os.path.join(self.models, "latest"))

    def stage(self):
        stage = ModelsStage(self.workdir, tmp_root=self.tmp)
        self.addCleanup(stage.discard)
        return stage, os.path.join(stage.prepare(), "models")

    def assertFailsUntouched(self, stage, *messages):
        before = snapshot(self.models)
        with self.assertRaises(staging.PublishError) as raised:
            stage.publish("v1")
        for message in messages:
            self.assertIn(message, str(raised.exception))
        self.assertIn("nothing was published", str(raised.exception))
        self.assertEqual(snapshot(self.models), before)
        return raised.exception

    def test_a_staged_file_where_the_published_folder_has_a_folder_publishes_nothing(self):
        stage, staged = self.stage()
        write(os.path.join(staged, "a.bin"), "new a")
        shutil.rmtree(os.path.join(staged, "folder"))
        write(os.path.join(staged, "folder"), "now a file")
        self.assertEqual(stage.changes(), ["a.bin", "folder"])
        self.assertFailsUntouched(
            stage, "%s is a folder in %s, but a file in the run's models"
            % (os.path.join(self.models, "folder"), self.models))

    def test_a_staged_folder_where_the_published_folder_has_a_file_publishes_nothing(self):
        stage, staged = self.stage()
        write(os.path.join(staged, "a.bin"), "new a")
        os.unlink(os.path.join(staged, "file"))
        write(os.path.join(staged, "file", "x.bin"), "x")
        self.assertFailsUntouched(
            stage, "%s is a file in %s, but a folder in the run's models (models/file/x.bin"
            % (os.path.join(self.models, "file"), self.models))

    def test_every_problem_is_reported_at_once(self):
        stage, staged = self.stage()
        shutil.rmtree(os.path.join(staged, "folder"))
        write(os.path.join(staged, "folder"), "now a file")
        os.unlink(os.path.join(staged, "file"))
        write(os.path.join(staged, "file", "x.bin"), "x")
        error = self.assertFailsUntouched(stage)
        self.assertEqual(len(error.problems), 2)

    def test_a_rename_that_fails_midway_is_rolled_back(self):
        stage, staged = self.stage()
        write(os.path.join(staged, "a.bin"), "new a")              # replaces a file
        write(os.path.join(staged, "b.bin"), "new b")              # a new file
        write(os.path.join(staged, "new", "deep", "c.bin"), "c")  # in new folders
        os.unlink(os.path.join(staged, "latest"))
        os.symlink("b.bin", os.path.join(staged, "latest"))        # replaces a link
        write(os.path.join(staged, "z.bin"), "z")                  # the rename that fails
        paths = stage.changes()
        self.assertEqual(paths, ["a.bin", "b.bin", "latest", "new/deep/c.bin", "z.bin"])
        before = snapshot(self.models)
        real_replace = os.replace

        def replace_failing_last(source, target):
            if target.endswith("z.bin"):
                raise OSError(errno.EIO, "Input/output error")
            return real_replace(source, target)

        with mock.patch.object(staging.os, "replace", replace_failing_last):
            with self.assertRaises(OSError) as raised:
                stage.publish("v1")
        self.assertEqual(raised.exception.errno, errno.EIO)
        self.assertEqual(snapshot(self.models), before)

        self.assertEqual(stage.publish("v2"), paths)
        self.assertEqual(read(os.path.join(self.models, "latest")), "new b")
        self.assertEqual(sorted(name for name in os.listdir(self.models)),
                         ["a.bin", "b.bin", "file", "folder", "latest", "new", "z.bin"])

    def test_a_failure_while_keeping_backups_changes_nothing(self):
        stage, staged = self.stage()
        write(os.path.join(staged, "a.bin"), "new a")
        write(os.path.join(staged, "b.bin"), "new b")
        before = snapshot(self.models)
        with mock.patch.object(staging, "_keep", side_effect=OSError(errno.ENOSPC, "full")):
            with self.assertRaises(OSError):
                stage.publish("v1")
        self.assertEqual(snapshot(self.models), before)

    def test_without_hard_links_backups_are_copies_and_success_removes_them(self):
        stage, staged = self.stage()
        write(os.path.join(staged, "a.bin"), "new a")
        os.unlink(os.path.join(staged, "latest"))
        os.symlink("file", os.path.join(staged, "latest"))
        with mock.patch.object(staging.os, "link", side_effect=OSError(errno.EPERM, "no")):
            self.assertEqual(stage.publish("v1"), ["a.bin", "latest"])
        self.assertEqual(read(os.path.join(self.models, "a.bin")), "new a")
        self.assertEqual(os.readlink(os.path.join(self.models, "latest")), "file")
        self.assertEqual(sorted(os.listdir(self.models)), ["a.bin", "file", "folder", "latest"])


class LinksTest(unittest.TestCase):
    """Links are published only when they stay inside the models folder."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cortex-s2i-workdir-")
        self.tmp = tempfile.mkdtemp(prefix="cortex-s2i-tmp-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.models = os.path.join(self.workdir, "models")
        write(os.path.join(self.workdir, "data", "train.csv"), "a,b\n")
        write(os.path.join(self.models, "old.pkl"), "old")
        self.stage = ModelsStage(self.workdir, tmp_root=self.tmp)
        self.addCleanup(self.stage.discard)
        self.staged = os.path.join(self.stage.prepare(), "models")

    def assertRefused(self, link, target):
        write(os.path.join(self.staged, "model.pkl"), "new")
        os.symlink(target, os.path.join(self.staged, link))
        before = snapshot(self.models)
        with self.assertRaises(staging.PublishError) as raised:
            self.stage.publish("v1")
        self.assertIn("models/%s is a link to %s, outside the models folder" % (link, target),
                      str(raised.exception))
        self.assertEqual(snapshot(self.models), before)

    def test_a_link_to_a_host_path_is_refused_naming_the_link_and_its_target(self):
        self.assertRefused("evil", "/etc/shadow")

    def test_a_relative_link_leaving_the_folder_is_refused(self):
        self.assertRefused("data.csv", "../data/train.csv")

    def test_a_link_to_a_folder_outside_is_refused(self):
        os.makedirs(os.path.join(self.staged, "sub"))
        self.assertRefused(os.path.join("sub", "etc"), "/etc")

    def test_a_models_folder_replaced_by_a_link_is_refused(self):
        shutil.rmtree(self.staged)
        os.symlink("/etc", self.staged)
        with self.assertRaises(staging.PublishError) as raised:
            self.stage.publish("v1", ["passwd"])
        self.assertIn("replaced its models folder with a link to /etc", str(raised.exception))
        self.assertEqual(os.listdir(self.models), ["old.pkl"])

    def test_a_link_inside_the_folder_is_published_as_a_relative_link(self):
        write(os.path.join(self.staged, "v2", "model.pkl"), "v2")
        os.symlink("v2/model.pkl", os.path.join(self.staged, "latest.pkl"))
        os.symlink(os.path.join(self.staged, "v2"), os.path.join(self.staged, "current"))
        os.symlink("../models/old.pkl", os.path.join(self.staged, "previous.pkl"))
        os.symlink(os.path.join(self.models, "old.pkl"), os.path.join(self.staged, "v2", "old"))
        self.assertEqual(self.stage.publish("v1"),
                         ["current", "latest.pkl", "previous.pkl", "v2/model.pkl", "v2/old"])
        self.assertEqual(os.readlink(os.path.join(self.models, "v2", "old")), "../old.pkl")
        self.assertEqual(os.readlink(os.path.join(self.models, "latest.pkl")), "v2/model.pkl")
        self.assertEqual(os.readlink(os.path.join(self.models, "current")), "v2")
        self.assertEqual(os.readlink(os.path.join(self.models, "previous.pkl")), "old.pkl")
        self.assertEqual(read(os.path.join(self.models, "current", "model.pkl")), "v2")


if __name__ == "__main__":
    unittest.main()
