#!/usr/bin/env bash
# Makes sure a Python base image for the builder images is on the engine, once.
# Prefers the official python:3.11-slim (present, or pulled); offline, bootstraps an equivalent
# from Debian's packages with debootstrap and `docker import`, and reuses it on later runs as long
# as its recipe (this file) is unchanged.
set -euo pipefail

official=${CORTEX_OFFICIAL_BASE:-python:3.11-slim}
local_base=${CORTEX_LOCAL_BASE:-cortex-s2i/python-base:bookworm}
mirror=${CORTEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
recipe_label=io.cortex-s2i.base.recipe
# Debian's builds of the scientific stack, so that pip finds the usual requirements already
# satisfied when no package index can be reached. The predict server's parts: uvicorn (with uvloop
# and httptools) serves, gunicorn manages its worker processes, prometheus_client counts; boto3
# reads and writes models in object storage (and Cortex projects import it, as Cortex's images had
# it). flask is only for comparing against the development server that older tooling ran.
packages=ca-certificates,python3,python3-venv,python3-pip,python-is-python3,python3-numpy,python3-pandas,python3-sklearn,python3-xgboost,python3-gunicorn,python3-uvicorn,python3-uvloop,python3-httptools,python3-prometheus-client,python3-boto3,python3-flask

here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$here/base-image.sh" | cut -c1-16)

if [ -n "$(docker image ls -q "$official" 2>/dev/null)" ]; then
  echo "base: using $official (present)"; exit 0
fi
if [ "${CORTEX_BASE_PULL:-1}" = 1 ] && timeout 300 docker pull -q "$official" >/dev/null 2>&1; then
  echo "base: using $official (pulled)"; exit 0
fi
if [ "$(docker image inspect -f "{{ index .Config.Labels \"$recipe_label\" }}" "$local_base" 2>/dev/null)" = "$recipe" ]; then
  echo "base: using $local_base (bootstrapped earlier, recipe $recipe)"; exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "base: $official cannot be pulled and bootstrapping $local_base needs root (debootstrap)." >&2
  echo "hint: run 'make base' as root, or make $official available (docker pull / docker load)." >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "base: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

rootfs=$(mktemp -d /var/tmp/cortex-s2i-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
started=$(date +%s)
echo "base: $official cannot be pulled; bootstrapping $local_base from $mirror ($suite), about 2 minutes"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  echo "base: debootstrap failed; last lines of its log:" >&2; tail -n 20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1
}
rm -f "$rootfs.log"
# Keep the image small and its apt usable by setup.sh scripts, which run apt-get update first.
echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/tmp/*
# As Debian's official images do: apt keeps no package caches, so a setup.sh that runs
# apt-get update and install does not leave tens of megabytes of them in its layer.
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT

tar -C "$rootfs" --numeric-owner -cf - . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL $recipe_label=$recipe" \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite with Python 3 and its scientific packages, bootstrapped by cortex-s2i\"" \
  - "$local_base" >/dev/null
echo "base: bootstrapped $local_base in $(( $(date +%s) - started ))s"
