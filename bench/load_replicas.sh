#!/usr/bin/env bash
# bench/load.py through nginx (scripts/serve.sh) with 1, then 2 replicas: STUDENTS students (default 30),
# THINK s think time (default 2). Results in bench/results/load-nginx-N-replicas.{txt,json}.
#   bash bench/load_replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STUDENTS="${STUDENTS:-30}"
THINK="${THINK:-2}"
for n in 1 2; do
    run_dir="$(mktemp -d /tmp/unrolled-serve-XXXXXX)"
    export UNROLLED_RUN_DIR="$run_dir" UNROLLED_LISTEN=127.0.0.1:8640 UNROLLED_BASE_PORT=8641
    bash scripts/serve.sh "$n" >"$run_dir/serve.out" 2>&1 &
    serve=$!
    .venv/bin/python bench/load.py --url http://127.0.0.1:8640 --run-dir "$run_dir" --students "$STUDENTS" \
        --think "$THINK" --json "bench/results/load-nginx-$n-replicas.json" \
        | tee "bench/results/load-nginx-$n-replicas.txt" || true
    bash scripts/serve.sh stop
    wait "$serve" || true
done
