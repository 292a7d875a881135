#!/usr/bin/env bash
# Cost of the P/D exchange inside the gateway (issue 13): what the two-leg NixlConnector exchange
# adds over calling the decode server directly, and the gateway's CPU per request, for 2 KB and
# 220 KB chat bodies, in one run against fast stub servers (nginx `return 200`):
#
#   prefill stub  answers every POST with a 1-token completion carrying kv_transfer_params
#   decode stub   answers every POST with a plain completion
#
#   direct        wrk -> decode stub
#   decode-only   wrk -> gateway -> decode stub        (P/D config, decider never approves)
#                 (both gateways run llm-d's approximate prefix producer and scorer, as llm-d's
#                 P/D samples do, so both hash the prompt: the difference is the exchange)
#   P/D           wrk -> gateway -> prefill stub, then -> decode stub with the prefill's
#                 kv_transfer_params; the answer rewritten (always-disagg-pd-decider)
#
#   bash bench/pd_exchange_bench.sh   (DURATION=4s REPEATS=3 SIZES="2048 225280" CONCS="1 16")
#
# Each cell is the median of REPEATS runs, interleaved direct/decode-only/P/D so that drift in the
# machine's load falls on all alike. "added" is the p50 over the direct call; "exchange" is P/D
# minus decode-only (the second leg, its splice and the answer's rewrite). CPU per request is
# the gateway's user+system time from /proc over the requests wrk completed. The stubs answer in
# microseconds, so every figure is the gateway's and the loopback's own cost; a real prefill adds
# its compute time on top.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${BUILD:-build} # the build directory
make -s BUILD="$BUILD" "$BUILD/switchyard" >/dev/null
BIN=$(cd "$BUILD" && pwd)/switchyard # BUILD relative or absolute
DURATION=${DURATION:-4s}
REPEATS=${REPEATS:-3}
SIZES=${SIZES:-2048 225280}
CONCS=${CONCS:-1 16}
TMP=$(mktemp -d /tmp/sy-pdx-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    [ -f "$TMP/backend.pid" ] && kill "$(cat "$TMP/backend.pid")" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PP=$(port)
DP=$(port)
METRICS='vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n'
KV='{"do_remote_prefill":true,"do_remote_decode":false,"remote_block_ids":[[1,2,3,4,5,6,7,8]],"remote_engine_id":"0f6b0a1c-2d4e-4c55-9a77-3b1f2e0c9d11","remote_request_id":"chatcmpl-p","remote_host":"127.0.0.1","remote_port":5600,"tp_size":2}'
PANS='{"id":"chatcmpl-p","object":"chat.completion","model":"m1","choices":[{"index":0,"message":{"role":"assistant","content":"The"},"finish_reason":"length"}],"usage":{"prompt_tokens":512,"completion_tokens":1,"total_tokens":513,"prompt_tokens_details":{"cached_tokens":0}},"kv_transfer_params":'$KV'}'
DANS='{"id":"chatcmpl-d","object":"chat.completion","model":"m1","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox"},"finish_reason":"length"}],"usage":{"prompt_tokens":512,"completion_tokens":16,"total_tokens":528,"prompt_tokens_details":{"cached_tokens":512}},"kv_transfer_params":null}'
esc() { sed 's/\\/\\\\/g; s/'"'"'/\\'"'"'/g' <<<"$1"; }
{
    echo "worker_processes 1; pid $TMP/backend.pid; error_log $TMP/backend-error.log;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_max_body_size 64m; client_body_buffer_size 1m;"
    echo "  keepalive_requests 1000000;"
    for pair in "$PP:$PANS" "$DP:$DANS"; do
        p=${pair%%:*}
        ans=${pair#*:}
        echo "  server { listen 127.0.0.1:$p;"
        echo "    location = /metrics { default_type text/plain; return 200 '$METRICS'; }"
        echo "    location = /v1/models { default_type application/json; return 200 '{\"object\":\"list\",\"data\":[{\"id\":\"m1\"}]}'; }"
        echo "    location / { default_type application/json; return 200 '$(esc "$ans")'; }"
        echo "  }"
    done
    echo "}"
} >"$TMP/backend.conf"
nginx -c "$TMP/backend.conf" -p "$TMP" 2>>"$TMP/backend-error.log"

start_gateway() { # name decider-plugin decider-params -> sets GW_PORT GW_PID GW_ADMIN
    local port admin
    port=$(port)
    admin=$(port)
    cat >"$TMP/$1.yaml" <<EOF
listen: 127.0.0.1:$port
admin: 127.0.0.1:$admin
workers: 1
logLevel: warn
pool:
  endpoints:
    - { address: 127.0.0.1:$PP, labels: { llm-d.ai/role: prefill } }
    - { address: 127.0.0.1:$DP, labels: { llm-d.ai/role: decode } }
  disaggregation: { connector: nixlv2 }
scheduler:
  plugins:
  - type: approx-prefix-cache-producer
  - type: prefix-cache-scorer
  - type: prefill-filter
  - type: decode-filter
  - type: max-score-picker
  - type: $2
$3
  - type: disagg-profile-handler
    parameters: { deciders: { prefill: $2 } }
  schedulingProfiles:
  - { name: prefill, plugins: [{pluginRef: prefill-filter}, {pluginRef: prefix-cache-scorer},
                               {pluginRef: max-score-picker}] }
  - { name: decode, plugins: [{pluginRef: decode-filter}, {pluginRef: prefix-cache-scorer},
                              {pluginRef: max-score-picker}] }
EOF
    "$BIN" gateway --config "$TMP/$1.yaml" 2>"$TMP/$1.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    GW_PORT=$port
    GW_ADMIN=$admin
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && return 0
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "pd_exchange_bench.sh: the $1 gateway did not become ready:" >&2
    cat "$TMP/$1.log" >&2
    exit 1
}
start_gateway decode-only prefix-based-pd-decider "    parameters: { nonCachedTokens: 0 }"
DO=$GW_PORT
DO_PID=$GW_PID
DO_ADMIN=$GW_ADMIN
start_gateway pd always-disagg-pd-decider ""
PD=$GW_PORT
PD_PID=$GW_PID
PD_ADMIN=$GW_ADMIN

mkbody() { # size -> chat body of about that many bytes
    python3 - "$1" "$2" <<'PY'
import json, sys
size, path = int(sys.argv[1]), sys.argv[2]
content = ("The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:max(0, size - 120)]
body = {"model": "m1", "messages": [{"role": "user", "content": content}], "max_tokens": 16}
open(path, "w").write(json.dumps(body))
PY
}
mklua() {
    cat >"$2" <<LUA
local f = io.open("$1", "rb"); local b = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = b
wrk.headers["Content-Type"] = "application/json"
LUA
}
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") print n; else if (u == "ms") print n * 1000; else if (u == "s") print n * 1e6; else print n }'
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
run_wrk() { # url script conns [pid] -> "rps p50us p99us cpu_us_per_request"
    local url=$1 script=$2 conns=$3 pid=${4:-} out t0=0 t1=0 rps p50 p99 n
    [ -n "$pid" ] && t0=$(ticks "$pid")
    out=$(wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$script" "$url/v1/chat/completions" 2>&1)
    [ -n "$pid" ] && t1=$(ticks "$pid")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "pd_exchange_bench.sh: non-2xx responses from $url: $(grep Non-2xx <<<"$out")" >&2
        exit 1
    fi
    echo "$rps $(to_us "$p50") $(to_us "$p99") $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$HZ" \
        'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
}
median() { tr ' ' '\n' <<<"$*" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# sanity: the P/D gateway really runs the exchange and hides kv_transfer_params
mkbody 2048 "$TMP/check.json"
h=$(curl -s -D - -o "$TMP/check.out" -H 'Content-Type: application/json' --data-binary @"$TMP/check.json" \
    "http://127.0.0.1:$PD/v1/chat/completions")
grep -qi "^x-gateway-prefill-endpoint: 127.0.0.1:$PP" <<<"$h" || { echo "no P/D exchange: $h" >&2; exit 1; }
! grep -q kv_transfer_params "$TMP/check.out" || { echo "kv_transfer_params leaked" >&2; exit 1; }

printf "\nP/D exchange cost in the gateway: stub prefill + decode servers (nginx), 1 gateway worker, %s per run, median of %s interleaved runs\n" \
    "$DURATION" "$REPEATS"
printf "%-6s %-4s | %-22s | %-30s | %-30s | %s\n" body conc "direct rps p50us p99us" \
    "decode-only rps p50 p99 cpu/req" "P/D rps p50 p99 cpu/req" "added p50 over direct: decode-only, P/D; exchange p50, cpu"
declare -A R
for size in $SIZES; do
    mkbody "$size" "$TMP/body-$size.json"
    mklua "$TMP/body-$size.json" "$TMP/post-$size.lua"
    for conns in $CONCS; do
        R=()
        for _ in $(seq 1 "$REPEATS"); do
            read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$DP" "$TMP/post-$size.lua" "$conns")"
            R[d_rps]+="$a " R[d_p50]+="$b " R[d_p99]+="$c "
            read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$DO" "$TMP/post-$size.lua" "$conns" "$DO_PID")"
            R[o_rps]+="$a " R[o_p50]+="$b " R[o_p99]+="$c " R[o_cpu]+="$d "
            read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$PD" "$TMP/post-$size.lua" "$conns" "$PD_PID")"
            R[p_rps]+="$a " R[p_p50]+="$b " R[p_p99]+="$c " R[p_cpu]+="$d "
        done
        for k in "${!R[@]}"; do R[$k]=$(median ${R[$k]}); done
        awk -v l="$((size / 1024))KB" -v c="$conns" \
            -v dr="${R[d_rps]}" -v d5="${R[d_p50]}" -v d9="${R[d_p99]}" \
            -v or="${R[o_rps]}" -v o5="${R[o_p50]}" -v o9="${R[o_p99]}" -v oc="${R[o_cpu]}" \
            -v pr="${R[p_rps]}" -v p5="${R[p_p50]}" -v p9="${R[p_p99]}" -v pc="${R[p_cpu]}" \
            'BEGIN { printf "%-6s %-4s | %6.0f %6.0f %6.0f | %6.0f %6.0f %6.0f %7.1f | %6.0f %6.0f %6.0f %7.1f | %+.0fus, %+.0fus; %+.0fus, %+.1fus cpu (x%.2f)\n",
                l, c, dr, d5, d9, or, o5, o9, oc, pr, p5, p9, pc, o5 - d5, p5 - d5, p5 - o5, pc - oc, (oc > 0 ? pc / oc : 0) }'
    done
done
m=$(curl -s "http://127.0.0.1:$PD_ADMIN/metrics")
echo
echo "P/D gateway: $(grep -E '^switchyard_pd_exchanges_total' <<<"$m" | tr '\n' ' ')"
echo "cpu/req = CPU microseconds the gateway process spent per request (user+system, /proc)."
echo "The P/D column pays two upstream round trips (prefill stub, then decode stub) where"
echo "decode-only pays one; a real prefill's compute time comes on top of this."
