#!/usr/bin/env bash
# Gateway overhead benchmark: switchyard gateway vs nginx, both as round-robin keep-alive reverse
# proxies in front of the same fast stub backends (nginx `return 200` servers), on one machine,
# in one run. For 2 KB and 220 KB request bodies at concurrency 1 and 64 it prints req/s, p50 and
# p99 latency through each proxy and the latency each adds over calling a backend directly.
#
#   bash bench/gateway_vs_nginx.sh            (DURATION=10s WORKERS=1 BACKENDS=2 by default)
#
# Both proxies get the same number of worker processes/threads (WORKERS). wrk runs with one thread.
# Absolute numbers depend on the machine; the ratios are what this prints for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -s build/switchyard >/dev/null
BIN=$PWD/build/switchyard
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-1}
BACKENDS=${BACKENDS:-2}
TMP=$(mktemp -d /tmp/sy-bench-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    [ -f "$TMP/backend.pid" ] && kill "$(cat "$TMP/backend.pid")" 2>/dev/null || true
    [ -f "$TMP/proxy.pid" ] && kill "$(cat "$TMP/proxy.pid")" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- backends: one nginx, BACKENDS server blocks answering fixed JSON ----
BPORTS=()
for i in $(seq 1 "$BACKENDS"); do BPORTS+=("$(port)"); done
{
    echo "worker_processes 1; pid $TMP/backend.pid; error_log $TMP/backend-error.log;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_max_body_size 64m; client_body_buffer_size 1m;"
    echo "  keepalive_requests 1000000;"
    for p in "${BPORTS[@]}"; do
        echo "  server { listen 127.0.0.1:$p reuseport;"
        echo "    location = /metrics { default_type text/plain; return 200 'vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n'; }"
        echo "    location = /v1/models { default_type application/json; return 200 '{\"object\":\"list\",\"data\":[{\"id\":\"m1\"}]}'; }"
        echo "    location / { default_type application/json; return 200 '{\"id\":\"cmpl\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"ok\",\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}'; }"
        echo "  }"
    done
    echo "}"
} >"$TMP/backend.conf"
nginx -c "$TMP/backend.conf" -p "$TMP" 2>>"$TMP/backend-error.log"

# ---- nginx as the round-robin keep-alive reverse proxy ----
NGX=$(port)
{
    echo "worker_processes $WORKERS; pid $TMP/proxy.pid; error_log $TMP/proxy-error.log;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; client_max_body_size 64m; client_body_buffer_size 1m;"
    echo "  keepalive_requests 1000000; proxy_request_buffering on; proxy_buffering off;"
    echo "  upstream models { keepalive 256;"
    for p in "${BPORTS[@]}"; do echo "    server 127.0.0.1:$p;"; done
    echo "  }"
    echo "  server { listen 127.0.0.1:$NGX;"
    echo "    location / { proxy_pass http://models; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
    echo "  }"
    echo "}"
} >"$TMP/proxy.conf"
nginx -c "$TMP/proxy.conf" -p "$TMP" 2>>"$TMP/proxy-error.log"

# ---- switchyard gateway, round-robin picker ----
GW=$(port)
ADMIN=$(port)
{
    echo "listen: 127.0.0.1:$GW"
    echo "admin: 127.0.0.1:$ADMIN"
    echo "workers: $WORKERS"
    echo "logLevel: warn"
    echo "pool:"
    echo "  endpoints:"
    for p in "${BPORTS[@]}"; do echo "    - address: 127.0.0.1:$p"; done
    echo "scheduler:"
    echo "  plugins: [{type: round-robin-picker}]"
    echo "  schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]"
} >"$TMP/gw.yaml"
"$BIN" gateway --config "$TMP/gw.yaml" 2>"$TMP/gw.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break
    sleep 0.05
done

# ---- load ----
mkbody() { # size in bytes -> file with a chat body of about that size
    python3 - "$1" "$2" <<'PY'
import json, sys
size, path = int(sys.argv[1]), sys.argv[2]
content = ("The quick brown fox jumps over the lazy dog. " * (size // 45 + 1))[:max(0, size - 120)]
body = {"model": "m1", "messages": [{"role": "user", "content": content}], "max_tokens": 16}
open(path, "w").write(json.dumps(body))
PY
}
mklua() { # body file -> wrk script
    cat >"$2" <<LUA
local f = io.open("$1", "rb"); local b = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = b
wrk.headers["Content-Type"] = "application/json"
LUA
}
# wrk prints latency with units; convert to microseconds
to_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") print n; else if (u == "ms") print n * 1000; else if (u == "s") print n * 1e6; else print n }'
}
run_wrk() { # url script conns -> "rps p50us p99us"
    local out
    out=$(wrk -t1 -c"$3" -d"$DURATION" --latency -s "$2" "$1/v1/chat/completions" 2>&1)
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then echo "warning: non-2xx responses: $(grep Non-2xx <<<"$out")" >&2; fi
    echo "$rps $(to_us "$p50") $(to_us "$p99")"
}

printf "\nGateway overhead: switchyard vs nginx (round-robin, keep-alive), %s backends, %s worker(s), %s per run\n" "$BACKENDS" "$WORKERS" "$DURATION"
printf "%-7s %-4s | %-31s | %-31s | %-31s | %s\n" body conc "direct backend  rps  p50us p99us" "nginx  rps  p50us  p99us" "switchyard  rps  p50us  p99us" "sy/nginx rps, added p50 (sy vs nginx)"
for size in 2048 225280; do
    mkbody "$size" "$TMP/body-$size.json"
    mklua "$TMP/body-$size.json" "$TMP/post-$size.lua"
    for conns in 1 64; do
        read -r d_rps d_p50 d_p99 <<<"$(run_wrk "http://127.0.0.1:${BPORTS[0]}" "$TMP/post-$size.lua" "$conns")"
        read -r n_rps n_p50 n_p99 <<<"$(run_wrk "http://127.0.0.1:$NGX" "$TMP/post-$size.lua" "$conns")"
        read -r s_rps s_p50 s_p99 <<<"$(run_wrk "http://127.0.0.1:$GW" "$TMP/post-$size.lua" "$conns")"
        label=$([ "$size" = 2048 ] && echo 2KB || echo 220KB)
        awk -v l="$label" -v c="$conns" -v dr="$d_rps" -v d5="$d_p50" -v d9="$d_p99" \
            -v nr="$n_rps" -v n5="$n_p50" -v n9="$n_p99" -v sr="$s_rps" -v s5="$s_p50" -v s9="$s_p99" \
            'BEGIN { printf "%-7s %-4s | %9.0f %8.0f %8.0f   | %9.0f %8.0f %8.0f   | %9.0f %8.0f %8.0f   | x%.2f, nginx +%.0fus sy +%.0fus\n",
                l, c, dr, d5, d9, nr, n5, n9, sr, s5, s9, (nr > 0 ? sr / nr : 0), n5 - d5, s5 - d5 }'
    done
done
echo
echo "added p50 = proxied p50 - direct p50 (same backend, same load). For scale: llm-d's endpoint"
echo "picker spends ~286 ms per 220 KB request and tops out near 130 req/s."
