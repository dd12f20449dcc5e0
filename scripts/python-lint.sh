#!/usr/bin/env bash
# Lints the Python runtime the images carry with flake8 (settings: builder-image/runtime/.flake8),
# Debian's, installed by python-deps.sh as mypy is.
#
# Why flake8 and not ruff: ruff is a single binary from PyPI (or a distribution's package), and
# neither reaches this project's machines: PyPI is not reachable, ruff is not on npm, and Debian
# bookworm and trixie do not package it. flake8 with pycodestyle, pyflakes and
# flake8-comprehensions runs the same rules (E, W, F, C4), and pyproject.toml sets ruff to exactly
# those, so that a machine with ruff (`ruff check builder-image/runtime`) finds what this finds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-deps.sh flake8
cd builder-image/runtime
/usr/bin/python3 -m flake8 cortex_s2i_runtime tests
