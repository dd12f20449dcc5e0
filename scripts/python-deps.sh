#!/usr/bin/env bash
# What the Python runtime's checks and tests need on this machine: Debian's python3 with the
# libraries the images have (the offline base image installs the same Debian packages:
# scripts/base-image.sh), plus the tools named as arguments (mypy, flake8). The PATH's python3 may
# be another build without them, which is why the checks run /usr/bin/python3. Installs what is
# missing when this is Debian as root; elsewhere says what to install and exits 1.
set -euo pipefail
libraries=(python3-uvicorn python3-uvloop python3-httptools python3-prometheus-client
           python3-boto3 python3-gunicorn)
tools=()
for tool in "$@"; do
  case $tool in
    mypy) command -v mypy >/dev/null 2>&1 || tools+=(mypy) ;;
    flake8) /usr/bin/python3 -c 'import flake8, flake8_comprehensions' 2>/dev/null \
              || tools+=(flake8 python3-flake8-comprehensions) ;;
  esac
done
missing=("${tools[@]}")
if ! /usr/bin/python3 -c 'import uvicorn, uvloop, httptools, prometheus_client, boto3, gunicorn' \
    2>/dev/null; then
  missing+=("${libraries[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  echo "python: installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  }
else
  echo "python: missing ${missing[*]} (on Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
