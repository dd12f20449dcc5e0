#!/usr/bin/env bash
# Makes sure a Docker engine answers. Never restarts one that already answers; where none does and
# this is Debian as root, installs Debian's docker.io and starts dockerd; elsewhere says what to do.
set -euo pipefail

log_file=${CORTEX_DOCKERD_LOG:-/var/log/cortex-s2i-dockerd.log}
wait_seconds=${CORTEX_ENGINE_WAIT:-60}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  echo "engine: a Docker engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  echo "engine: DOCKER_HOST=$DOCKER_HOST does not answer." >&2
  echo "hint: start that engine, or unset DOCKER_HOST to use the local one." >&2
  exit 1
fi

if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  echo "engine: no Docker engine answers on this machine." >&2
  echo "hint: start Docker (Docker Desktop, 'sudo systemctl start docker', or a Podman socket with DOCKER_HOST)," >&2
  echo "      or run this as root on Debian, where it installs and starts docker.io itself." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "engine: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

# An engine killed without a clean shutdown leaves its pid file behind, and dockerd refuses to
# start while the file names a pid. Remove it only when that pid is not a running dockerd.
for pid_file in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [ -z "$pid" ] || ! [ -r "/proc/$pid/comm" ] || ! grep -qE '^(dockerd|containerd)$' "/proc/$pid/comm"; then
    echo "engine: removing stale $pid_file (pid ${pid:-none} is not running)"
    rm -f "$pid_file"
  fi
done

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "engine: starting dockerd (log: $log_file)"
  mkdir -p "$(dirname "$log_file")"
  setsid nohup dockerd >>"$log_file" 2>&1 </dev/null &
fi

for _ in $(seq "$wait_seconds"); do
  if engine_answers; then
    echo "engine: ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
  fi
  sleep 1
done
echo "engine: dockerd did not answer within ${wait_seconds}s; last lines of $log_file:" >&2
tail -n 20 "$log_file" >&2 || true
exit 1
