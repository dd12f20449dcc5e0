#!/usr/bin/env bash
# `make bench-serve`: the example project's predict image under a bounded load, against the limit.
# Rows, each server in a fresh container of the predict image:
#   limit-uvicorn   a bare JSON echo (bench/apps/bare_asgi.py) on uvicorn with uvloop and httptools,
#                   as many workers as the image's own server: the fastest Python server there is,
#                   with no routing, checks, metrics, logs or thread for the model
#   ours-identity   the image's own server, every default, routing to a model returning its payload
#   ours-example    the image's own server, every default, with the example's model
#   flask-dev       Flask's development server running the same function in the same image
#                   (bench/flask_dev_server.py): what the older tooling served with
# Targets (bench/report.py): ours-identity >= 0.75x the limit's requests per second, <= 1.4x its
# CPU time per request and <= 2x its 99th percentile latency; ours-example >= 4x flask-dev; the
# predict image ready (200 on /ready) within 2.5 s of `docker run`.
# The load comes from wrk, a second process on 127.0.0.1: BENCH_REQUESTS requests (4000) over
# BENCH_CONNECTIONS connections (32), at most BENCH_SECONDS (30) per run, after a warm-up of
# BENCH_WARMUP requests (500); the container's CPU time per request is measured over the same
# requests. BENCH_ROUNDS rounds (3) alternate the servers, so that a burst of load from elsewhere
# on the machine does not decide the comparison; the median round of each counts, and each ratio
# is also given round by round. BENCH_SERVERS (every row) names the rows to run, e.g.
# "limit-uvicorn ours-identity" while working on the server. Then the time from `docker run` to 200 on /ready (median of
# BENCH_READY_RUNS, 5) and the predict image's size next to its base's. Prints a table with each
# target and its result, and writes bench/results/serve.json.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-4000}
connections=${BENCH_CONNECTIONS:-32}
seconds=${BENCH_SECONDS:-30}
warmup=${BENCH_WARMUP:-500}
rounds=${BENCH_ROUNDS:-3}
ready_runs=${BENCH_READY_RUNS:-5}
servers=" ${BENCH_SERVERS:-limit-uvicorn ours-identity ours-example flask-dev} "
wanted() { case $servers in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
wrk_threads=2
# shellcheck source=scripts/quiet-build.sh
source scripts/quiet-build.sh
project=fixtures/finance_income_prediction
model=logisticRegression
route=adult_income_lr/predict
body=$project/$model/test/test_instances.json
# Named after the test prefix when one is set, so that two checkouts can bench side by side.
prefix=${CORTEX_S2I_TEST_PREFIX:-cortex-s2i}-bench
results=bench/results

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing wrk (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else
    echo "bench: wrk is needed (apt-get install wrk, or brew install wrk)" >&2
    exit 1
  fi
fi

work=$(mktemp -d /tmp/cortex-s2i-bench.XXXXXX)
container=$prefix-serve-$$
cleanup() {
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker rmi -f "$prefix-train" "$prefix-predict" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building and training the example's $model model"
quiet_build "$project/$model" train "$prefix-train"
quiet_build "$project/$model" daemon "$prefix-predict"
mkdir -p "$work/models"
chmod 755 "$work" "$work/models"
docker run --rm -v "$PWD/$project/data:/model/data:ro" -v "$work/models:/model/models" \
  --env-file "$project/.env" -e TRAIN=1 \
  -e PAYLOAD='{"$ref": "data/adult_income-prepped.csv", "model_name": "adult_income_lr"}' \
  "$prefix-train" >/dev/null

# The container's memory without page cache: cgroup v2 "anon", cgroup v1 "total_rss".
memory() {
  docker exec "$container" sh -c '
    if [ -f /sys/fs/cgroup/memory.stat ]; then awk "\$1 == \"anon\" {print \$2}" /sys/fs/cgroup/memory.stat
    else awk "\$1 == \"total_rss\" {print \$2}" /sys/fs/cgroup/memory/memory.stat; fi'
}

# The container's CPU time so far in microseconds: cgroup v2 cpu.stat, cgroup v1 cpuacct. Per
# request, it compares servers far more steadily than throughput on a machine others share.
cpu_us() {
  docker exec "$container" sh -c '
    if [ -f /sys/fs/cgroup/cpu.stat ]; then awk "\$1 == \"usage_usec\" {print \$2}" /sys/fs/cgroup/cpu.stat
    else echo $(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000 )); fi'
}

load() { # <requests> <port> <route>
  local done_file
  done_file=$(mktemp "$work/done.XXXXXX")
  wrk -t "$wrk_threads" -c "$connections" -d "${seconds}s" -s bench/wrk-post.lua \
    "http://127.0.0.1:$2/$3" -- $(( ($1 + wrk_threads - 1) / wrk_threads )) "$PWD/$body" \
    "$wrk_threads" "$done_file" | grep '^{"requests"'
}

measure() { # <name> <route> [docker run arguments and command...]
  local name=$1 route=$2; shift 2
  wanted "$name" || return 0
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --name "$container" -v "$work/models:/action/models:ro" -v "$PWD/bench:/bench:ro" \
    --env-file "$project/.env" -p 127.0.0.1::5000 "$@" >/dev/null
  local port
  port=$(docker port "$container" 5000/tcp | head -n 1 | sed 's/.*://')
  local ok=
  for _ in $(seq 120); do
    if curl -fs -X POST -H 'Content-Type: application/json' --data @"$body" \
        "http://127.0.0.1:$port/$route" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [ -n "$ok" ] || { echo "bench: $name never answered; its log:" >&2; docker logs "$container" 2>&1 | tail -n 20 >&2; exit 1; }
  # One worker answering is not all of them loaded: the image's server says so on /ready (the
  # development server has no /ready and answers 404).
  for _ in $(seq 120); do
    case $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready") in 200|404) break ;; esac
    sleep 0.5
  done
  local at_start warmed after figures cpu_before cpu_after
  at_start=$(memory)
  echo "bench: $name: warm-up, $warmup requests" >&2
  load "$warmup" "$port" "$route" >/dev/null
  warmed=$(memory)
  echo "bench: $name: $requests requests over $connections connections" >&2
  cpu_before=$(cpu_us)
  figures=$(load "$requests" "$port" "$route")
  cpu_after=$(cpu_us)
  after=$(memory)
  docker rm -f "$container" >/dev/null
  printf '{"server": "%s", "round": %s, "load": %s, "cpu_us": %s, "memory_bytes": {"at_start": %s, "warmed_up": %s, "after": %s}}\n' \
    "$name" "$round" "$figures" "$(( cpu_after - cpu_before ))" "$at_start" "$warmed" "$after"
}

# The image's own server runs min(usable CPUs, 4) workers by default (settings.py); the limit gets
# the same.
workers=$(docker run --rm --entrypoint python3 "$prefix-predict" -c \
  'import os; print(max(1, min(4, len(os.sched_getaffinity(0)))))')
bare_env=(-e PYTHONPATH=/bench/apps -e ROUTES=echo:identity:predict)

mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
  echo "bench: round $round of $rounds" >&2
  measure limit-uvicorn echo "${bare_env[@]}" --entrypoint python3 "$prefix-predict" -m uvicorn \
    --workers "$workers" --loop uvloop --http httptools --host 0.0.0.0 --port 5000 \
    --no-access-log --log-level warning --app-dir /bench/apps bare_asgi:app
  measure ours-identity echo "${bare_env[@]}" "$prefix-predict"
  measure ours-example "$route" "$prefix-predict"
  measure flask-dev "$route" "$prefix-predict" python3 /bench/flask_dev_server.py
done >"$work/runs.jsonl"

# Time to ready: from `docker run` (the client's start) to the first 200 on /ready; each line of
# the file is "<start> <ready>" in seconds.
ready_file="$work/ready.txt"
: >"$ready_file"
for _ in $(seq "$ready_runs"); do
  docker rm -f "$container" >/dev/null 2>&1 || true
  started=$(date +%s.%N)
  docker run -d --name "$container" -v "$work/models:/action/models:ro" \
    --env-file "$project/.env" -p 127.0.0.1::5000 "$prefix-predict" >/dev/null
  port=$(docker port "$container" 5000/tcp | head -n 1 | sed 's/.*://')
  ready=
  for _ in $(seq 1200); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/ready" 2>/dev/null; then ready=1; break; fi
    sleep 0.05
  done
  [ -n "$ready" ] || { echo "bench: the predict image never became ready" >&2; exit 1; }
  echo "$started $(date +%s.%N)" >>"$ready_file"
done
docker rm -f "$container" >/dev/null 2>&1 || true

base=
for candidate in python:3.11-slim cortex-s2i/python-base:bookworm; do
  if docker image inspect "$candidate" >/dev/null 2>&1; then base=$candidate; break; fi
done
size() { docker image inspect --format '{{.Size}}' "$1"; }

python3 bench/report.py "$work/runs.jsonl" "$results/serve.json" \
  --load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --requests "$requests" --connections "$connections" --route "$route" \
  --ready-times "$ready_file" --image-bytes "$(size "$prefix-predict")" \
  --base "$base" --base-bytes "$(size "$base")"
