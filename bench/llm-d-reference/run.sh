#!/usr/bin/env bash
# The llm-d reference experiment (inference-scheduling guide) on the simulator: Qwen3-32B TP2
# profile, 8 replicas, shared_prefix 150 groups x 5 prompts, system prompt 6000 tokens, question
# 1200, Poisson 40 req/s; round-robin ("Kubernetes Service") versus Switchyard with llm-d's
# default scheduling, same fleet, same workload, one run.
#
#   bash bench/llm-d-reference/run.sh                 OUTPUT_LEN=100 (default; see below)
#   OUTPUT_LEN=1000 bash bench/llm-d-reference/run.sh llm-d's exact shape (needs more than 2 cores)
#   STAGES="3:60s,10:60s,15:60s,20:60s,40:60s,60:60s" bash bench/llm-d-reference/run.sh
#
# With 1000-token outputs the 8 simulated replicas stream ~40k tokens/s through the gateway and
# the benchmark client, more than a 2-core machine can carry beside them; 100 keeps the prefill
# side (which decides TTFT) identical. Results: ref.json and ref.html in OUT (default /tmp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
make -s build/switchyard
BIN=$PWD/build/switchyard
OUTPUT_LEN=${OUTPUT_LEN:-100}
OUT=${OUT:-/tmp}
BASE=${BASE:-18001}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$BIN" sim --replicas 8 --port "$BASE" --profile qwen3-32b-tp2-h100 --time-scale 1 \
    --model Qwen/Qwen3-32B 2>"$OUT/ref-sim.log" &
PIDS+=($!)
tmp=$(mktemp -d)
for f in gw-rr gw-sy; do sed "s/@BASE@/$BASE/g" "$here/$f.yaml.in" |
    awk -v b="$BASE" '{ if ($0 ~ /@EP@/) { for (i = 0; i < 8; i++) printf "    - address: 127.0.0.1:%d\n", b + i } else print }' \
    >"$tmp/$f.yaml"; done
"$BIN" gateway --config "$tmp/gw-rr.yaml" 2>"$OUT/ref-gw-rr.log" &
PIDS+=($!)
"$BIN" gateway --config "$tmp/gw-sy.yaml" 2>"$OUT/ref-gw-sy.log" &
PIDS+=($!)
for p in 18080 18081; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/ready" >/dev/null && break; sleep 0.1; done
done
load=(--rate 40)
[ -n "${STAGES:-}" ] && load=(--stages "$STAGES")
metrics=()
for i in $(seq 0 7); do metrics+=(--metrics-url "http://127.0.0.1:$((BASE + i))/metrics"); done
"$BIN" bench --target k8s-service=http://127.0.0.1:18080 --target switchyard=http://127.0.0.1:18081 \
    --workload shared-prefix --num-groups 150 --num-prompts-per-group 5 \
    --system-prompt-len 6000 --question-len 1200 --output-len "$OUTPUT_LEN" "${load[@]}" \
    "${metrics[@]}" --reset-prefix-cache --json "$OUT/ref.json" --report "$OUT/ref.html" \
    --title "llm-d reference experiment (simulated, output $OUTPUT_LEN)"
