#!/usr/bin/env bash
# Makes sure buildah is installed, as CI runners without a Docker daemon build images with it:
# already there, nothing to do; as root on Debian, installs Debian's buildah; elsewhere says what to do.
set -euo pipefail

if command -v buildah >/dev/null 2>&1; then
  echo "buildah: $(buildah --version)"
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "buildah: not installed." >&2
  echo "hint: install buildah (Debian and Ubuntu: 'sudo apt-get install buildah'), or run this as root on Debian." >&2
  exit 1
fi

echo "buildah: installing Debian's buildah"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No recommends: the vfs storage driver and chroot isolation need neither fuse-overlayfs nor slirp.
apt-get install -y -qq --no-install-recommends buildah >/dev/null
echo "buildah: $(buildah --version)"
