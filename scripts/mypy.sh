#!/usr/bin/env bash
# Type-checks the Python runtime the images carry with mypy in strict mode (settings:
# builder-image/runtime/pyproject.toml), against Debian's python3 and the libraries the offline
# base image has (scripts/python-deps.sh installs them). Installs Debian's mypy when it is
# missing and this is Debian as root; elsewhere says what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-deps.sh mypy
cd builder-image/runtime
mypy cortex_s2i_runtime
