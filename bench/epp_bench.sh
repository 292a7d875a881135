#!/usr/bin/env bash
# EPP-mode cost: `switchyard epp` driven over ext_proc (h2c) by a real gRPC client
# (tests/node/epp_client.mjs, @grpc/grpc-js) on loopback, open loop at RATE req/s for SECONDS.
# Four simulated model servers (`switchyard sim`, publishing KV events) give the pool. Prints, per
# scheduler (approximate: llm-d's default profile; precise: token-producer + precise prefix index
# fed by the servers' KV events) and prompt size: EPP CPU per request (utime+stime from /proc over the run / requests), decision
# latency p50/p99 as the client sees it (request body sent -> route answer), errors.
#   RATE=100 SECONDS=10 bash bench/epp_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-100}
SECONDS_=${SECONDS:-10}
BUILD=${BUILD:-build} # the build directory (BIN=path: that binary instead)
BIN=${BIN:-$BUILD/switchyard}
make --no-print-directory -s BUILD="$BUILD" "$BIN"
[ -d tests/node/node_modules/@grpc/grpc-js ] || (cd tests/node && npm ci --no-audit --no-fund --silent)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIMP=$(port)
KVP=$(port)
"$BIN" sim --port "$SIMP" --replicas 4 --model m1 --time-scale 100 \
    --kv-events "tcp://127.0.0.1:$KVP" >"$tmp/sim.log" 2>&1 &
pids+=($!)
cpu() { awk '{print $14 + $15}' "/proc/$EPP/stat"; }
hz=$(getconf CLK_TCK)
printf "%-8s %-8s %-8s %6s %6s %11s %8s %8s %6s\n" mode prompt rate sent ok "cpu ms/req" \
    "p50 ms" "p99 ms" errors
for mode in approx precise; do
    XP=$(port); HP=$(port); AP=$(port)
    {
        echo "admin: 127.0.0.1:$AP"
        echo "workers: 1"
        echo "extProc: {listen: 127.0.0.1:$XP, healthListen: 127.0.0.1:$HP, secureServing: false}"
        echo "pool:"
        echo "  scrapeInterval: 50ms"
        echo "  endpoints:"
        for i in 0 1 2 3; do
            echo "    - address: 127.0.0.1:$((SIMP + i))"
            [ "$mode" = precise ] && echo "      kvEvents: tcp://127.0.0.1:$((KVP + i))"
        done
        if [ "$mode" = precise ]; then
            cat <<'YAML'
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: token-producer
      parameters: {backend: simulator}
    - type: precise-prefix-cache-producer
      parameters: {tokenProcessorConfig: {blockSize: 16}}
    - type: prefix-cache-scorer
      parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
    - type: queue-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - {pluginRef: prefix-cache-scorer, weight: 2}
        - {pluginRef: queue-scorer, weight: 1}
        - pluginRef: max-score-picker
YAML
        fi
    } >"$tmp/epp-$mode.yaml"
    "$BIN" epp --config "$tmp/epp-$mode.yaml" >"$tmp/epp-$mode.log" 2>&1 &
    EPP=$!
    pids+=($EPP)
    for _ in $(seq 100); do curl -sf "127.0.0.1:$AP/ready" >/dev/null && break; sleep 0.1; done
    for size in 2048 409600; do
        echo "{\"bench\": {\"rate\": $RATE, \"seconds\": $SECONDS_, \"bodyBytes\": $size}}" \
            >"$tmp/s.json"
        c0=$(cpu)
        out=$(cd tests/node && node epp_client.mjs "127.0.0.1:$XP" "$tmp/s.json" | tail -1)
        c1=$(cpu)
        python3 - "$out" "$c0" "$c1" "$hz" "$size" "$RATE" "$mode" <<'PY'
import json, sys
b = json.loads(sys.argv[1])["bench"]
c0, c1, hz = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
cpu_ms = (c1 - c0) / hz * 1000 / max(1, b["sent"])
label = "2 KB" if sys.argv[5] == "2048" else "400 KB"
f = lambda v: "%.2f" % v if v is not None else "-"
print("%-8s %-8s %-8s %6d %6d %11.3f %8s %8s %6d" % (sys.argv[7], label, sys.argv[6] + "/s",
      b["sent"], b["ok"], cpu_ms, f(b["p50"]), f(b["p99"]), b["errors"]))
PY
    done
    kill "$EPP"
    wait "$EPP" 2>/dev/null || true
done
echo "(EPP on 1 worker thread; client and EPP share this machine's cores; llm-d anchor: 0.5-1 CPU core per req/s at 100k-token prompts, llm-d-scheduler.md section 10)"
