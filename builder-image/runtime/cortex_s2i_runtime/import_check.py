"""Checks, without running the model's code, that the modules its code imports can be found.

`cortex-s2i build` runs this in the image right after the dependency step, with the top-level
names the model's code imports from outside its own folders (the project's own modules were
checked before the build). importlib.util.find_spec only looks a top-level name up on sys.path;
it imports nothing, so no model or library code runs. A name written `?name` comes from shared
code that other models may be the ones to need: its absence is a warning, not a failure.

Prints one line, `cortex-s2i import check: {"missing": [...], "warnings": [...]}`, which the CLI
turns into messages naming the file and line of each import; exits 3 when a required name is
missing, so that the build fails before anything is tagged.
"""

from __future__ import annotations

import importlib.util
import json
import sys

MARKER = "cortex-s2i import check:"
EXIT_MISSING = 3


def find(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check(names: list[str]) -> tuple[dict[str, list[str]], int]:
    """({"missing": [...], "warnings": [...]}, exit status) for names as the CLI passes them."""
    missing: list[str] = []
    warnings: list[str] = []
    for raw in names:
        optional = raw.startswith("?")
        name = raw[1:] if optional else raw
        if not find(name):
            (warnings if optional else missing).append(name)
    return {"missing": missing, "warnings": warnings}, (EXIT_MISSING if missing else 0)


def main(argv: list[str] | None = None) -> int:
    result, status = check(sys.argv[1:] if argv is None else argv)
    sys.stdout.write("%s %s\n" % (MARKER, json.dumps(result, sort_keys=True)))
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
