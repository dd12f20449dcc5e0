#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (test/support/browser.ts drives
# it with playwright-core, which downloads no browser of its own): already there, nothing to do;
# as root on Debian, installs Debian's chromium; elsewhere says what to do.
set -euo pipefail

chromium=${CORTEX_S2I_CHROMIUM:-/usr/bin/chromium}

if [ -x "$chromium" ]; then
  echo "chromium: $("$chromium" --version 2>/dev/null)"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  echo "chromium: $chromium not found." >&2
  echo "hint: install Chromium (Debian: 'sudo apt-get install chromium'), or set CORTEX_S2I_CHROMIUM to a Chromium or Chrome binary." >&2
  exit 1
fi

echo "chromium: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "chromium: $("$chromium" --version 2>/dev/null)"
