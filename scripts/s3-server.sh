#!/usr/bin/env bash
# Makes sure an S3-compatible server that checks request signatures answers on 127.0.0.1 for the
# tests: Debian's radosgw (Ceph's S3 gateway) on a one-node Ceph cluster of its own (one monitor,
# one OSD on a sparse file), with one user whose keys are fixed below. Starts it only when its port
# does not answer yet; where Ceph is missing and this is Debian as root, installs Debian's packages.
#
#   bash scripts/s3-server.sh          start it (about 10 s on 2 cores once the packages are there)
#   bash scripts/s3-server.sh --stop   stop the daemons this script started (by their pid files)
#                                      and remove the cluster's data
#
# Why radosgw: the real gateway many clusters run, which checks AWS Signature V4 (a wrong secret is
# 403 SignatureDoesNotMatch) and speaks path-style addressing, ranged GETs, MD5 ETags, ListObjectsV2
# and multipart uploads as S3 does. The cluster is a throwaway: each start makes a new, empty one,
# and Ceph's own authentication (cephx) is off because every daemon listens on 127.0.0.1 only.
#
# Ports: the S3 port (CORTEX_S2I_S3_PORT, default 5303), the monitor on the next one, and the OSD
# on the eight after that.
set -euo pipefail

port=${CORTEX_S2I_S3_PORT:-5303}
access_key=${CORTEX_S2I_S3_ACCESS_KEY:-cortex-s2i-test}
secret_key=${CORTEX_S2I_S3_SECRET_KEY:-cortex-s2i-test-secret}
# One folder per port: two servers on two ports never share (or wipe) each other's cluster.
state_dir=${CORTEX_S2I_S3_DIR:-${TMPDIR:-/tmp}/cortex-s2i-s3-$port}
wait_seconds=${CORTEX_S2I_S3_WAIT:-90}
mon_port=$((port + 1))
conf="$state_dir/ceph.conf"

answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null; }

# s3 <curl arguments...>: one request signed with the test user's keys. radosgw wants the payload's
# hash as a header, which curl's signer leaves out unless it is given.
s3() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 --aws-sigv4 'aws:amz:us-east-1:s3' \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# Stops the daemons whose pid files this script wrote, each only while that pid is still the daemon
# it started (a recycled pid belongs to someone else), and waits for them to go.
stop_daemons() {
  local name pid pids=()
  for name in radosgw ceph-osd ceph-mon; do
    [ -f "$state_dir/run/$name.pid" ] || continue
    pid=$(cat "$state_dir/run/$name.pid")
    if [ -r "/proc/$pid/comm" ] && grep -qx "$name" "/proc/$pid/comm" &&
      tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$conf"; then
      echo "s3: stopping $name (pid $pid)"
      kill "$pid"
      pids+=("$pid")
    fi
    rm -f "$state_dir/run/$name.pid"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 30); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  done
}

if [ "${1:-}" = "--stop" ]; then
  stop_daemons
  [ -f "$conf" ] && rm -rf "$state_dir"
  exit 0
fi

if answers; then
  echo "s3: 127.0.0.1:$port already answers; leaving it as it is"
  exit 0
fi

missing=()
command -v radosgw >/dev/null 2>&1 || missing+=(radosgw)
command -v ceph-mon >/dev/null 2>&1 || missing+=(ceph-mon)
command -v ceph-osd >/dev/null 2>&1 || missing+=(ceph-osd)
command -v radosgw-admin >/dev/null 2>&1 || missing+=(ceph-common)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
    echo "s3: ${missing[*]} missing, and this is not Debian as root." >&2
    echo "hint: install Ceph's radosgw, ceph-mon, ceph-osd and ceph-common, or start any S3-compatible server" >&2
    echo "      (MinIO, say) on 127.0.0.1:$port with the access key '$access_key' and its secret yourself." >&2
    exit 1
  fi
  echo "s3: installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# What is left of an earlier start whose gateway no longer answers goes, data and all.
stop_daemons
rm -rf "$state_dir"
mkdir -p "$state_dir"/{mon,osd,rgw,run,log}

# Undo a half-made start: nothing of it keeps running.
trap 'status=$?; if [ $status != 0 ]; then
  echo "s3: starting failed; last lines of $state_dir/log/*.log:" >&2
  tail -n 5 "$state_dir"/log/*.log >&2 || true
  echo "hint: ports $port-$((port + 9)) on 127.0.0.1 must be free; CORTEX_S2I_S3_PORT=<port> moves them all." >&2
  stop_daemons; fi' EXIT

fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind port min = $((port + 2))
ms bind port max = $((port + 9))
# No cephx between the daemons: they all listen on loopback. S3 signatures are radosgw's own check.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc secure
ms client mode = crc secure
# One OSD: pools of one copy, few placement groups.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
paxos propose interval = 0.1
osd crush chooseleaf type = 0
# The monitor stops at 5% free disk by default; this cluster's data is a throwaway.
mon data avail crit = 1
run dir = $state_dir/run
admin socket = $state_dir/run/\$name.asok
log file = $state_dir/log/\$name.log
mon data = $state_dir/mon
osd data = $state_dir/osd
# BlueStore on a sparse file: objects live on disk, so a test's gigabyte does not live in memory.
osd objectstore = bluestore
bluestore block path = $state_dir/osd-block
bluestore block create = true
bluestore block size = 17179869184
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 1073741824

[client.admin]
# The command-line tools give up rather than wait forever for a cluster that is not there.
client mount timeout = 30
rados mon op timeout = 30
rados osd op timeout = 30

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $state_dir/rgw
EOF

# start <name> <command...>: detached, in its own session, its pid recorded for --stop.
start() {
  local name=$1
  shift
  setsid nohup "$@" -f -c "$conf" >>"$state_dir/log/$name.out" 2>&1 </dev/null &
  echo $! >"$state_dir/run/$name.pid"
}

echo "s3: making a one-node Ceph cluster in $state_dir"
monmaptool --create --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$state_dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$state_dir/monmap" >/dev/null
start ceph-mon ceph-mon -i a
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_id=$(ceph -c "$conf" --connect-timeout 30 osd new "$osd_uuid")
ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$state_dir/log/ceph-osd.out" 2>&1
start ceph-osd ceph-osd -i "$osd_id"
echo "s3: starting radosgw on 127.0.0.1:$port (logs: $state_dir/log)"
start radosgw radosgw -n client.rgw

for _ in $(seq "$wait_seconds"); do answers && break || sleep 1; done
if ! answers; then
  echo "s3: radosgw did not answer on 127.0.0.1:$port within ${wait_seconds}s." >&2
  echo "hint: CORTEX_S2I_S3_WAIT=<seconds> waits longer; a port already taken shows in $state_dir/log/client.rgw.log." >&2
  exit 1
fi
radosgw-admin -c "$conf" user create --uid=cortex-s2i-test --display-name='cortex-s2i tests' \
  --access-key="$access_key" --secret-key="$secret_key" >/dev/null

# Make the pools radosgw would otherwise make during a test's first upload (several seconds), and
# check that a request signed with a wrong secret is refused.
# expect <status> <what> <curl arguments...>
expect() {
  local want=$1 what=$2 got
  shift 2
  got=$(s3 "$@")
  if [ "$got" != "$want" ]; then
    echo "s3: radosgw answered $got, not $want, to $what." >&2
    exit 1
  fi
}
url="http://127.0.0.1:$port/cortex-s2i-warm-up"
keys="$access_key:$secret_key"
expect 200 'creating a bucket' --user "$keys" -X PUT "$url"
expect 200 'an upload' --user "$keys" -X PUT --data-binary warm "$url/object"
expect 403 'a request signed with a wrong secret' --user "$access_key:wrong-$secret_key" "$url/object"
expect 204 'deleting an object' --user "$keys" -X DELETE "$url/object"
expect 204 'deleting a bucket' --user "$keys" -X DELETE "$url"
echo "s3: ready on http://127.0.0.1:$port (path-style; access key '$access_key'; signatures checked)"
