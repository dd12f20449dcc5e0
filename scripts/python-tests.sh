#!/usr/bin/env bash
# The Python runtime's unit tests, run by Debian's python3 against the same library versions as
# the images (python-deps.sh). Arguments go to unittest, e.g. tests.test_call_pool.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-deps.sh
cd builder-image/runtime
if [ $# -eq 0 ]; then set -- discover -s tests -t .; fi
PYTHONPATH=. exec /usr/bin/python3 -m unittest "$@"
