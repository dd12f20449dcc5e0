#!/usr/bin/env bash
# Makes sure the two test registries answer on 127.0.0.1: one without auth (default port 5301) and
# one with basic auth (5302, user and password below). Starts only the ones whose port does not
# answer yet and never stops anything: a registry it did not start is left as it is.
# Where Debian's docker-registry (or htpasswd) is missing and this is Debian as root, installs them.
#
#   bash scripts/registry.sh          start what is missing
#   bash scripts/registry.sh --stop   stop the registries this script started (by their pid files)
#
# Plain HTTP is enough: the Docker engine allows insecure registries on 127.0.0.0/8 by default.
set -euo pipefail

open_port=${CORTEX_S2I_REGISTRY_PORT:-5301}
auth_port=${CORTEX_S2I_AUTH_REGISTRY_PORT:-5302}
user=${CORTEX_S2I_REGISTRY_USER:-cortex}
password=${CORTEX_S2I_REGISTRY_PASSWORD:-cortex-test-password}
state_dir=${CORTEX_S2I_REGISTRY_DIR:-/var/lib/cortex-s2i-registry}
wait_seconds=${CORTEX_S2I_REGISTRY_WAIT:-30}

answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/v2/"; }

if [ "${1:-}" = "--stop" ]; then
  for name in open auth; do
    pid_file="$state_dir/$name/registry.pid"
    [ -f "$pid_file" ] || continue
    pid=$(cat "$pid_file")
    # Only a pid that is still a docker-registry: a recycled pid belongs to someone else.
    if [ -r "/proc/$pid/comm" ] && grep -qx 'docker-registry' "/proc/$pid/comm"; then
      echo "registry: stopping the $name registry (pid $pid)"
      kill "$pid"
    fi
    rm -f "$pid_file"
  done
  exit 0
fi

if answers "$open_port" && answers "$auth_port"; then
  echo "registry: 127.0.0.1:$open_port and 127.0.0.1:$auth_port already answer"
  exit 0
fi

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
    echo "registry: ${missing[*]} missing, and this is not Debian as root." >&2
    echo "hint: install Distribution's registry and htpasswd, or start registries on 127.0.0.1:$open_port and :$auth_port yourself." >&2
    exit 1
  fi
  echo "registry: installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# start <name> <port> <auth yaml>: writes the registry's config, starts it detached, records its pid.
start() {
  local name=$1 port=$2 auth=$3 dir="$state_dir/$1"
  if answers "$port"; then
    echo "registry: 127.0.0.1:$port already answers; leaving it as it is"
    return
  fi
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
EOF
  echo "registry: starting the $name registry on 127.0.0.1:$port (log: $dir/registry.log)"
  setsid nohup docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
}

mkdir -p "$state_dir/auth"
# bcrypt: the only hash Distribution's htpasswd backend accepts.
htpasswd -Bbn "$user" "$password" >"$state_dir/auth/htpasswd"
start open "$open_port" ""
start auth "$auth_port" "auth:
  htpasswd:
    realm: cortex-s2i-test
    path: $state_dir/auth/htpasswd"

for _ in $(seq "$wait_seconds"); do
  if answers "$open_port" && answers "$auth_port"; then
    echo "registry: ready on 127.0.0.1:$open_port (no auth) and 127.0.0.1:$auth_port (basic auth, user $user)"
    exit 0
  fi
  sleep 1
done
echo "registry: the registries did not answer within ${wait_seconds}s; see $state_dir/*/registry.log" >&2
exit 1
