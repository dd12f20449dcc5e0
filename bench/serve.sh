#!/usr/bin/env bash
# `make bench-serve`: the example project's predict image under a bounded load, served by its own
# server (gunicorn) with its default settings and with THREADS=1, and by Flask's development
# server running the same function in the same image (bench/flask_dev_server.py). The load comes from wrk, a second process on
# 127.0.0.1: BENCH_REQUESTS requests (20000) over BENCH_CONNECTIONS connections (32), at most
# BENCH_SECONDS (120) per run, after a warm-up of BENCH_WARMUP requests (2000), each server in a
# fresh container. BENCH_ROUNDS rounds (5) alternate the servers, so that a burst of load from
# elsewhere on the machine does not decide the comparison; the median round of each counts.
# Prints a table and the throughput ratio, and writes bench/results/serve.json.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-20000}
connections=${BENCH_CONNECTIONS:-32}
seconds=${BENCH_SECONDS:-120}
warmup=${BENCH_WARMUP:-2000}
rounds=${BENCH_ROUNDS:-5}
wrk_threads=2
# shellcheck source=scripts/quiet-build.sh
source scripts/quiet-build.sh
project=fixtures/finance_income_prediction
model=logisticRegression
route=adult_income_lr/predict
body=$project/$model/test/test_instances.json
prefix=cortex-s2i-bench
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

load() { # <requests> <port>
  local done_file
  done_file=$(mktemp "$work/done.XXXXXX")
  wrk -t "$wrk_threads" -c "$connections" -d "${seconds}s" -s bench/wrk-post.lua \
    "http://127.0.0.1:$2/$route" -- $(( ($1 + wrk_threads - 1) / wrk_threads )) "$PWD/$body" \
    "$wrk_threads" "$done_file" | grep '^{"requests"'
}

measure() { # <name> [docker run arguments and command...]
  local name=$1; shift
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
  local at_start warmed after figures
  at_start=$(memory)
  echo "bench: $name: warm-up, $warmup requests" >&2
  load "$warmup" "$port" >/dev/null
  warmed=$(memory)
  echo "bench: $name: $requests requests over $connections connections" >&2
  figures=$(load "$requests" "$port")
  after=$(memory)
  docker rm -f "$container" >/dev/null
  printf '{"server": "%s", "load": %s, "memory_bytes": {"at_start": %s, "warmed_up": %s, "after": %s}}\n' \
    "$name" "$figures" "$at_start" "$warmed" "$after"
}

mkdir -p "$results"
for round in $(seq "$rounds"); do
  echo "bench: round $round of $rounds" >&2
  measure gunicorn "$prefix-predict"
  measure gunicorn-threads1 -e THREADS=1 "$prefix-predict"
  measure flask-dev "$prefix-predict" python3 /bench/flask_dev_server.py
done >"$work/runs.jsonl"
python3 bench/report.py "$work/runs.jsonl" "$results/serve.json" \
  --requests "$requests" --connections "$connections" --route "$route"
