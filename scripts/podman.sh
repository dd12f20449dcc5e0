#!/usr/bin/env bash
# Makes sure a Podman API service answers on a socket of its own, for the tests that run against
# Podman's Docker-compatible API: installs Debian's podman when it is missing (Debian as root) and
# starts `podman system service` on $CORTEX_S2I_PODMAN_DIR/podman.sock, with its own image store,
# run and network folders there, so it shares nothing with a system Podman, buildah or Docker.
#
#   bash scripts/podman.sh          start the service if the socket does not answer yet
#   bash scripts/podman.sh --stop   stop the service this script started (by its pid file); the
#                                   image store stays, containers started through it keep running
#
# Then: DOCKER_HOST=unix://<dir>/podman.sock for Docker clients, and `podman --url
# unix://<dir>/podman.sock ...` for the podman command on the same store. To remove the store once
# stopped, undo the mount Podman's overlay driver leaves on it first: umount <dir>/storage/overlay.
set -euo pipefail

state_dir=${CORTEX_S2I_PODMAN_DIR:-/var/lib/cortex-s2i-podman}
wait_seconds=${CORTEX_S2I_PODMAN_WAIT:-30}
socket="$state_dir/podman.sock"
pid_file="$state_dir/service.pid"

answers() { curl -s --max-time 2 --unix-socket "$socket" http://podman/_ping 2>/dev/null | grep -qx OK; }

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$pid_file" ]; then
    pid=$(cat "$pid_file")
    # Only a pid that is still our service: a recycled pid belongs to someone else.
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "unix://$socket"; then
      echo "podman: stopping the service (pid $pid)"
      kill "$pid"
      for _ in $(seq 20); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    fi
    rm -f "$pid_file"
  fi
  exit 0
fi

if answers; then
  echo "podman: unix://$socket already answers"
  exit 0
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
# Podman builds the pause image of its pods from catatonit rather than pulling one.
[ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || missing+=(catatonit)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
    echo "podman: ${missing[*]} missing, and this is not Debian as root." >&2
    echo "hint: install Podman (Debian and Ubuntu: 'sudo apt-get install podman catatonit'), or run this as root on Debian." >&2
    exit 1
  fi
  echo "podman: installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No recommends: rootful Podman needs neither fuse-overlayfs, slirp4netns nor uidmap.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$state_dir"/{storage,run,tmp,networks}
rm -f "$socket"

# Rootful Podman 4.3 gives containers 1048576 open files and processes, more than a process without
# CAP_SYS_RESOURCE (in some sandboxes and CI containers) may grant, and then no container starts
# ("error setting rlimit type 7"). There, containers get this shell's open-file limit and the
# process limit Podman sets itself to at start (32768; seen with strace).
: >"$state_dir/containers.conf"
cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if ((((0x$cap_eff >> 24) & 1) == 0)); then
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc" \
    >"$state_dir/containers.conf"
fi
echo "podman: starting 'podman system service' on unix://$socket (log: $state_dir/service.log)"
# --time=0: the service never exits for being idle.
CONTAINERS_CONF="$state_dir/containers.conf" setsid nohup podman --root "$state_dir/storage" \
  --runroot "$state_dir/run" --tmpdir "$state_dir/tmp" --network-config-dir "$state_dir/networks" \
  system service --time=0 "unix://$socket" >>"$state_dir/service.log" 2>&1 </dev/null &
echo $! >"$pid_file"

for _ in $(seq $((wait_seconds * 2))); do
  if answers; then
    echo "podman: ready ($(podman --url "unix://$socket" version --format '{{.Server.Version}}' 2>/dev/null));" \
      "DOCKER_HOST=unix://$socket, or podman --url unix://$socket"
    exit 0
  fi
  sleep 0.5
done
echo "podman: the service did not answer within ${wait_seconds}s; last lines of $state_dir/service.log:" >&2
tail -n 20 "$state_dir/service.log" >&2 || true
kill "$(cat "$pid_file")" 2>/dev/null || true
rm -f "$pid_file"
exit 1
