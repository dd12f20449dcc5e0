"""Tests of MODELS_LINK's handling: atomic repointing, and nothing done where there is no link."""

import os
import shutil
import tempfile
import unittest
from unittest import mock

from cortex_s2i_runtime import models_link


class ModelsLinkTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="cortex-s2i-link-test-")
        self.addCleanup(shutil.rmtree, self.root, True)
        self.link = os.path.join(self.root, "opt", "cortex-s2i", "models")
        self.models = os.path.join(self.root, "model", "models")
        self.stage = os.path.join(self.root, "tmp", "stage", "models")
        for directory in (os.path.dirname(self.link), self.models, self.stage):
            os.makedirs(directory)
        os.symlink(self.models, self.link)

    def test_redirect_points_the_link_at_the_stage_and_point_puts_it_back(self):
        self.assertTrue(models_link.redirect(self.link, self.stage))
        self.assertEqual(os.readlink(self.link), self.stage)
        with open(os.path.join(self.link, "x.bin"), "w") as handle:
            handle.write("x")
        self.assertEqual(os.listdir(self.stage), ["x.bin"])
        models_link.point(self.link, self.models)
        self.assertEqual(os.readlink(self.link), self.models)
        self.assertEqual(os.listdir(os.path.dirname(self.link)), ["models"])

    def test_the_link_is_replaced_by_a_rename_never_removed_first(self):
        # A reader must never find the link missing: point() renames a new link over it.
        calls = []
        real_replace, real_unlink = os.replace, os.unlink
        with mock.patch.object(models_link.os, "replace",
                               lambda a, b: calls.append(("replace", b)) or real_replace(a, b)), \
                mock.patch.object(models_link.os, "unlink",
                                  lambda p: calls.append(("unlink", p)) or real_unlink(p)):
            models_link.point(self.link, self.stage)
        self.assertNotIn(("unlink", self.link), calls)
        self.assertIn(("replace", self.link), calls)
        self.assertEqual(os.readlink(self.link), self.stage)

    def test_a_failed_repoint_leaves_the_link_and_no_temporary(self):
        with mock.patch.object(models_link.os, "replace", side_effect=PermissionError(13, "no")):
            with self.assertRaises(PermissionError):
                models_link.point(self.link, self.stage)
        self.assertEqual(os.readlink(self.link), self.models)
        self.assertEqual(os.listdir(os.path.dirname(self.link)), ["models"])

    def test_redirect_does_nothing_where_the_path_is_not_a_link(self):
        missing = os.path.join(self.root, "nowhere", "models")
        self.assertFalse(models_link.redirect(missing, self.stage))
        self.assertFalse(os.path.lexists(missing))
        os.unlink(self.link)
        os.mkdir(self.link)
        self.assertFalse(models_link.redirect(self.link, self.stage))
        self.assertTrue(os.path.isdir(self.link) and not os.path.islink(self.link))


if __name__ == "__main__":
    unittest.main()
