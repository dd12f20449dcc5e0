#!/usr/bin/env bash
# Type-checks the Python runtime the images carry with mypy (settings: builder-image/runtime/pyproject.toml).
# Installs Debian's mypy when it is missing and this is Debian as root; elsewhere says what to do.
set -euo pipefail
cd "$(dirname "$0")/../builder-image/runtime"
if ! command -v mypy >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
    echo "mypy: installing Debian's mypy"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mypy >/dev/null 2>&1 || {
      DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mypy >/dev/null
    }
  else
    echo "mypy: not installed (apt-get install mypy, or pip install mypy)" >&2
    exit 1
  fi
fi
mypy cortex_s2i_runtime
