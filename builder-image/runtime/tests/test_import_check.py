import unittest

from cortex_s2i_runtime import import_check


class ImportCheckTest(unittest.TestCase):
    def test_a_missing_required_name_fails_and_an_optional_one_warns(self):
        result, status = import_check.check(["json", "no_such_module_x1", "?no_such_module_x2"])
        self.assertEqual(result,
                         {"missing": ["no_such_module_x1"], "warnings": ["no_such_module_x2"]})
        self.assertEqual(status, import_check.EXIT_MISSING)

    def test_found_names_pass(self):
        self.assertEqual(import_check.check(["os", "?json"]), ({"missing": [], "warnings": []}, 0))

    def test_looks_up_without_importing(self):
        import sys

        self.assertNotIn("xml.dom.minidom", sys.modules)
        import_check.check(["xml"])
        self.assertNotIn("xml.dom.minidom", sys.modules)


if __name__ == "__main__":
    unittest.main()
