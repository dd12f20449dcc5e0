#!/usr/bin/env bash
# The demo: builds the example project's three models into train and predict images, trains each on
# the project's data, serves each and prints its answer to the model's test instances; then builds
# the project's all image with all/Makefile and asks it the same three questions.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/quiet-build.sh
source scripts/quiet-build.sh
project=fixtures/finance_income_prediction
models="logisticRegression:adult_income_lr:adult-income-lr randomForest:adult_income_rf:adult-income-rf xgBoost:adult_income_xgb:adult-income-xgb"
containers=()
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  make -s -C "$project/all" stop CONTAINER_PREFIX=cortex-s2i-demo- >/dev/null 2>&1 || true
}
trap cleanup EXIT
command -v curl >/dev/null || { echo "demo: curl is needed to query the models (apt-get install curl)" >&2; exit 1; }

mkdir -p "$project/models"
for entry in $models; do
  IFS=: read -r dir model image <<<"$entry"
  echo "=== $model: build"
  quiet_build "$project/$dir" train "$image-train"
  quiet_build "$project/$dir" daemon "$image-predict"

  echo "=== $model: train"
  docker run --rm -v "$PWD/$project/data:/model/data:ro" -v "$PWD/$project/models:/model/models" \
    --env-file "$project/.env" -e TRAIN=1 \
    -e PAYLOAD="{\"\$ref\": \"data/adult_income-prepped.csv\", \"model_name\": \"$model\"}" "$image-train"

  echo "=== $model: serve"
  name="cortex-s2i-demo-$image"
  docker rm -f "$name" >/dev/null 2>&1 || true
  containers+=("$name")
  docker run -d --name "$name" -v "$PWD/$project/models:/action/models:ro" --env-file "$project/.env" \
    -p 127.0.0.1::5000 "$image-predict" >/dev/null
  port=$(docker port "$name" 5000/tcp | head -n 1 | sed 's/.*://')
  for _ in $(seq 60); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 1
  done
  route=$(docker inspect -f '{{ index .Config.Labels "io.cortex-s2i.routes" }}' "$image-predict")
  echo "=== $model: POST /$route with $dir/test/test_instances.json"
  curl -fsS -X POST -H 'Content-Type: application/json' \
    --data @"$project/$dir/test/test_instances.json" "http://127.0.0.1:$port/$route"
  echo
  docker rm -f "$name" >/dev/null
done
echo "=== all: one container serving every model's route (all/Makefile)"
all_port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
make -s -C "$project/all" build-all predict-all test-all stop \
  CORTEX_S2I="node $PWD/bin/cortex-s2i.js" CONTAINER_PREFIX=cortex-s2i-demo- PORT="$all_port" \
  | grep -E '^(built|POST|\{)'

echo "=== demo finished: three models built, trained, served and queried, alone and in one all image"
