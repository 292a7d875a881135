#!/usr/bin/env bash
# The llm-d reference experiment (inference-scheduling guide) on the simulator: Qwen3-32B TP2
# profile, 8 replicas, inference-perf shared_prefix 150 groups x 5 prompts, system prompt 6000
# tokens, question 1200, output 1000 (ignore_eos), Poisson 40 req/s or llm-d's rate stages;
# round-robin ("Kubernetes Service") versus Switchyard with llm-d's default scheduling, same
# fleet, same workload, one run.
#
#   bash bench/llm-d-reference/run.sh                        llm-d's shape, Poisson 40 req/s
#   STAGES=llm-d bash bench/llm-d-reference/run.sh           llm-d's 17 Poisson stages, 3..60 req/s
#   TIME_SCALE=1 STAGES=llm-d STAGE_DURATION_SCALE=0.25 bash ...  the same rates, each stage 1/4
#                                                            as long (the run in docs/bench.md)
#   STAGES="3:60s,10:60s,40:60s" bash ...                    any other stages
#   OUTPUT_LEN=100 TIME_SCALE=1 bash ...                     the earlier real-time, short-output run
#
# Time scale: with 1000-token outputs every token is one SSE event through the simulator, a
# gateway and the client (5-9k per simulated second at this shape), on a shared 2-core machine.
# TIME_SCALE=X (default 0.25) runs the simulated GPUs X times as fast as the wall clock
# (`sim --time-scale X`, i.e. 4x slower than H100s at 0.25) and `bench --time-scale X` sends the
# simulated-time schedule at wall = sim / X (40 req/s -> 10 per wall second) and converts every
# latency and rate back to simulated time, so the table reads in H100 units. The gateways read the
# replicas' metrics every 50 ms of simulated time (llm-d's interval): scrapeInterval 50 ms / X.
#
# llm-d's stages (guides/inference-scheduling benchmark report, inference-perf load.stages, Poisson):
# 15/s x 50 s, 3 x 20, 10 x 20, 15 x 20, 20 x 38, 22 x 34, 25 x 30, 30 x 25, 35 x 21, 40 x 38,
# 43 x 36, 46 x 33, 49 x 30, 52 x 29, 55 x 27, 57 x 26, 60 x 25: 502 s and ~17,800 requests per
# target; the simulated fleet saturates (round-robin completes ~5.5 req/s), so one target takes
# ~55 simulated minutes (220 wall minutes at X = 0.25). STAGE_DURATION_SCALE=F multiplies every
# duration by F.
#
# Variables: OUTPUT_LEN (1000), TIME_SCALE (0.25), RATE (40), STAGES, STAGE_DURATION_SCALE (1),
# BUILD (build) or BIN (the switchyard binary; default $BUILD/switchyard, built by make),
# BASE (18001: replicas on BASE..BASE+7), RR_PORT (18080), SY_PORT (18081), OUT (/tmp), TIMEOUT
# (3600: seconds of simulated time a request may go without a byte, in the bench and in both
# gateways' timeouts.request and timeouts.streamIdle, which are wall time: TIMEOUT / X there; the gateways' default of 300
# wall seconds would cut requests queued for 75 simulated seconds at X = 0.25).
# Results: ref.json, ref.html and ref-*.log in OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
BUILD=${BUILD:-build}
if [ -z "${BIN:-}" ]; then
    make -s BUILD="$BUILD" "$BUILD/switchyard"
    BIN=$PWD/$BUILD/switchyard
fi
OUTPUT_LEN=${OUTPUT_LEN:-1000}
TIME_SCALE=${TIME_SCALE:-0.25}
RATE=${RATE:-40}
STAGE_DURATION_SCALE=${STAGE_DURATION_SCALE:-1}
OUT=${OUT:-/tmp}
BASE=${BASE:-18001}
RR_PORT=${RR_PORT:-18080}
SY_PORT=${SY_PORT:-18081}
TIMEOUT=${TIMEOUT:-3600}
LLMD_STAGES="15:50,3:20,10:20,15:20,20:38,22:34,25:30,30:25,35:21,40:38,43:36,46:33,49:30,52:29,55:27,57:26,60:25"

awk -v x="$TIME_SCALE" -v f="$STAGE_DURATION_SCALE" -v t="$TIMEOUT" \
    'BEGIN { exit !(x > 0 && x <= 1000 && f > 0 && t > 0) }' || {
    echo "run.sh: TIME_SCALE must be in (0, 1000], STAGE_DURATION_SCALE and TIMEOUT > 0" >&2
    exit 2
}
for p in "$RR_PORT" "$SY_PORT" $(seq "$BASE" $((BASE + 7))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "run.sh: port $p is in use (set BASE, RR_PORT, SY_PORT)" >&2
        exit 1
    fi
done

PIDS=()
tmp=$(mktemp -d)
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$BIN" sim --replicas 8 --port "$BASE" --profile qwen3-32b-tp2-h100 --time-scale "$TIME_SCALE" \
    --model Qwen/Qwen3-32B --log-level warn 2>"$OUT/ref-sim.log" &
PIDS+=($!)
for i in $(seq 0 7); do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((BASE + i))/health" >/dev/null && break; sleep 0.1; done
done
# 50 ms of simulated time between metric reads (at least 10 ms of wall time), staleness 2 s.
scrape=$(awk -v x="$TIME_SCALE" 'BEGIN { s = 50 / x; if (s < 10) s = 10; printf "%.0f", s }')
stale=$((scrape * 40))
req_timeout=$(awk -v x="$TIME_SCALE" -v t="$TIMEOUT" 'BEGIN { printf "%.0f", t / x }')
for f in gw-rr gw-sy; do
    port=$RR_PORT
    [ "$f" = gw-sy ] && port=$SY_PORT
    awk -v b="$BASE" -v port="$port" -v scrape="$scrape" -v stale="$stale" -v rt="$req_timeout" '{
        gsub(/@PORT@/, port); gsub(/@SCRAPE@/, scrape); gsub(/@STALE@/, stale); gsub(/@REQ_TIMEOUT@/, rt)
        if ($0 ~ /@EP@/) { for (i = 0; i < 8; i++) printf "    - address: 127.0.0.1:%d\n", b + i }
        else print }' "$here/$f.yaml.in" >"$tmp/$f.yaml"
done
"$BIN" gateway --config "$tmp/gw-rr.yaml" 2>"$OUT/ref-gw-rr.log" &
PIDS+=($!)
"$BIN" gateway --config "$tmp/gw-sy.yaml" 2>"$OUT/ref-gw-sy.log" &
PIDS+=($!)
for p in "$RR_PORT" "$SY_PORT"; do
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/ready" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$p/ready" >/dev/null || { echo "run.sh: gateway on $p not ready" >&2; exit 1; }
done

load=(--rate "$RATE")
what="Poisson $RATE req/s"
if [ -n "${STAGES:-}" ]; then
    st=$STAGES
    [ "$st" = llm-d ] && st=$LLMD_STAGES
    # durations x STAGE_DURATION_SCALE (a bare number is seconds; s, ms, m suffixes kept)
    st=$(echo "$st" | tr ',' '\n' | awk -F: -v f="$STAGE_DURATION_SCALE" '{
        d = $2; u = "s"
        if (d ~ /ms$/) { u = "ms"; sub(/ms$/, "", d) } else if (d ~ /s$/) sub(/s$/, "", d)
        else if (d ~ /m$/) { u = "m"; sub(/m$/, "", d) }
        printf "%s%s:%g%s", (NR > 1 ? "," : ""), $1, d * f, u }')
    load=(--stages "$st")
    what="stages $st"
fi
metrics=()
for i in $(seq 0 7); do metrics+=(--metrics-url "http://127.0.0.1:$((BASE + i))/metrics"); done
echo "run.sh: output $OUTPUT_LEN, $what, time scale $TIME_SCALE (gateways scrape every ${scrape} ms wall)" >&2
"$BIN" bench --target "k8s-service=http://127.0.0.1:$RR_PORT" --target "switchyard=http://127.0.0.1:$SY_PORT" \
    --workload shared-prefix --num-groups 150 --num-prompts-per-group 5 \
    --system-prompt-len 6000 --question-len 1200 --output-len "$OUTPUT_LEN" --ignore-eos \
    "${load[@]}" --time-scale "$TIME_SCALE" --timeout "${TIMEOUT}s" \
    "${metrics[@]}" --reset-prefix-cache --json "$OUT/ref.json" --report "$OUT/ref.html" \
    --title "llm-d reference experiment (simulated, output $OUTPUT_LEN, time scale $TIME_SCALE)"
