#!/usr/bin/env bash
# Gateway overhead benchmark: switchyard gateway vs nginx, both as round-robin keep-alive reverse
# proxies in front of the same fast stub backends (nginx `return 200` servers), on one machine,
# in one run. For 2 KB and 220 KB request bodies at concurrency 1 and 64 it prints req/s, p50 and
# p99 latency through each proxy and the latency each adds over calling a backend directly.
#
#   bash bench/gateway_vs_nginx.sh     (DURATION=5s REPEATS=3 WORKERS=1 BACKENDS=2 by default;
#                                       SIZES="2048 225280" CONCS="1 64" pick the cells,
#                                       VERBOSE=1 prints every run; PROMPT=code makes the
#                                       message this repository's C sources, an escape every
#                                       25 bytes, instead of plain English;
#                                       BUSY_POLL=200us also runs a second gateway with that
#                                       busyPoll, the latency mode; BUSY_POLL=0 or empty skips
#                                       it)
#
# Both proxies get the same number of worker processes/threads (WORKERS). wrk runs with one thread.
# Each cell is the median of REPEATS runs, interleaved direct/nginx/switchyard(/busyPoll) so that
# drift in the machine's load falls on all alike. Beside req/s and latency it prints the CPU time
# each proxy spent per request (from /proc), which varies far less from run to run than req/s
# on a shared 2-core machine. Absolute numbers depend on the machine; compare the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD=${BUILD:-build} # the build directory
make -s BUILD="$BUILD" "$BUILD/switchyard" >/dev/null
BIN=$(cd "$BUILD" && pwd)/switchyard # BUILD relative or absolute
DURATION=${DURATION:-5s}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-1}
BACKENDS=${BACKENDS:-2}
SIZES=${SIZES:-2048 225280}
CONCS=${CONCS:-1 64}
BUSY_POLL=${BUSY_POLL-200us}
case $BUSY_POLL in 0 | 0s | 0ms | 0us | 0ns) BUSY_POLL= ;; esac # off: no second gateway
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

# ---- switchyard gateway, round-robin picker (and the same with busyPoll) ----
start_gateway() { # name extra-config-line -> sets GW_PORT and GW_PID
    local port admin
    port=$(port)
    admin=$(port)
    {
        echo "listen: 127.0.0.1:$port"
        echo "admin: 127.0.0.1:$admin"
        echo "workers: $WORKERS"
        echo "logLevel: warn"
        echo "$2"
        echo "pool:"
        echo "  endpoints:"
        for p in "${BPORTS[@]}"; do echo "    - address: 127.0.0.1:$p"; done
        echo "scheduler:"
        echo "  plugins: [{type: round-robin-picker}]"
        echo "  schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]"
    } >"$TMP/$1.yaml"
    "$BIN" gateway --config "$TMP/$1.yaml" 2>"$TMP/$1.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    GW_PORT=$port
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$admin/ready" >/dev/null 2>&1 && return 0
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "gateway_vs_nginx.sh: the $1 gateway did not become ready:" >&2
    cat "$TMP/$1.log" >&2
    exit 1
}
start_gateway gw ""
GW=$GW_PORT
SY_PID=$GW_PID
CONTENDERS="n s"
if [ -n "$BUSY_POLL" ]; then
    start_gateway gw-bp "busyPoll: $BUSY_POLL"
    BP=$GW_PORT
    BP_PID=$GW_PID
    CONTENDERS="n s b"
fi

# ---- load ----
mkbody() { # size in bytes -> file with a chat body of about that size
    python3 - "$1" "$2" "${PROMPT:-text}" <<'PY'
import glob, json, sys
size, path, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if kind == "code":
    text = "".join(open(f).read() for f in sorted(glob.glob("src/*/*.c")))
    content = text[:max(0, size - 120)]
    while len(json.dumps(content)) > max(2, size - 120):  # size counts the escaped bytes
        content = content[: len(content) * (size - 120) // len(json.dumps(content)) - 1]
else:
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
ticks() { # pids... -> utime+stime clock ticks summed (a process's line covers all its threads)
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}
HZ=$(getconf CLK_TCK)
run_wrk() { # url script conns pids... -> "rps p50us p99us cpu_us_per_request"
    local url=$1 script=$2 conns=$3
    shift 3
    local out t0 t1
    t0=$(ticks "$@")
    out=$(wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$script" "$url/v1/chat/completions" 2>&1)
    t1=$(ticks "$@")
    local rps p50 p99 n
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then echo "warning: non-2xx responses: $(grep Non-2xx <<<"$out")" >&2; fi
    echo "$rps $(to_us "$p50") $(to_us "$p99") $(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$HZ" \
        'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }')"
}
rotate() { # k words... -> the words starting from the k-th (mod their count), wrapping round
    local k=$1
    shift
    local w=("$@") i
    for ((i = 0; i < ${#w[@]}; i++)); do printf "%s " "${w[$(((i + k) % ${#w[@]}))]}"; done
}
paired() { # "rps..." "nginx rps..." -> the per-repetition ratios, lowest to highest, and wins
    awk -v s="$1" -v n="$2" 'BEGIN {
        k = split(s, a, " "); split(n, b, " "); won = 0
        for (i = 1; i <= k; i++) { r[i] = (b[i] > 0 ? a[i] / b[i] : 0); if (r[i] >= 1) won++ }
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
        printf "x%.2f-x%.2f, %d of %d runs >= nginx", r[1], r[k], won, k }'
}
median() { tr ' ' '\n' <<<"$*" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

NGX_PIDS=$(pgrep -P "$(cat "$TMP/proxy.pid")" | tr '\n' ' ')
printf "\nGateway overhead: switchyard vs nginx (round-robin, keep-alive), %s backends, %s worker(s), %s per run, median of %s interleaved runs, %s prompts\n" \
    "$BACKENDS" "$WORKERS" "$DURATION" "$REPEATS" "${PROMPT:-text}"
printf "%-7s %-4s | %-24s | %-32s | %-32s | %s\n" body conc "direct  rps  p50us p99us" \
    "nginx  rps  p50us p99us cpu/req" "switchyard  rps  p50us p99us cpu/req" \
    "sy/nginx: rps, cpu/req; added p50 | paired runs: sy/nginx rps range"
for size in $SIZES; do
    mkbody "$size" "$TMP/body-$size.json"
    mklua "$TMP/body-$size.json" "$TMP/post-$size.lua"
    for conns in $CONCS; do
        declare -A R=()
        for rep in $(seq 1 "$REPEATS"); do
            # interleaved, so drift in machine load hits all alike
            read -r a b c d <<<"$(run_wrk "http://127.0.0.1:${BPORTS[0]}" "$TMP/post-$size.lua" "$conns")"
            R[d_rps]+="$a " R[d_p50]+="$b " R[d_p99]+="$c "
            # the proxies take turns going first, so none always follows another
            # shellcheck disable=SC2086
            for who in $(rotate $((rep - 1)) $CONTENDERS); do
                case $who in
                n) # shellcheck disable=SC2086
                    read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$NGX" "$TMP/post-$size.lua" "$conns" $NGX_PIDS)" ;;
                s) read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$GW" "$TMP/post-$size.lua" "$conns" "$SY_PID")" ;;
                b) read -r a b c d <<<"$(run_wrk "http://127.0.0.1:$BP" "$TMP/post-$size.lua" "$conns" "$BP_PID")" ;;
                esac
                R[${who}_rps]+="$a " R[${who}_p50]+="$b " R[${who}_p99]+="$c " R[${who}_cpu]+="$d "
                [ -n "${VERBOSE:-}" ] && echo "  run $rep $who: rps $a p50 ${b}us p99 ${c}us cpu/req ${d}us" >&2
            done
        done
        # each repetition's proxy runs follow one another: their ratio is the paired comparison
        paired_s=$(paired "${R[s_rps]}" "${R[n_rps]}")
        paired_b=
        [ -n "$BUSY_POLL" ] && paired_b=$(paired "${R[b_rps]}" "${R[n_rps]}")
        for k in "${!R[@]}"; do R[$k]=$(median ${R[$k]}); done
        label="$((size / 1024))KB"
        awk -v l="$label" -v c="$conns" -v dr="${R[d_rps]}" -v d5="${R[d_p50]}" -v d9="${R[d_p99]}" \
            -v nr="${R[n_rps]}" -v n5="${R[n_p50]}" -v n9="${R[n_p99]}" -v nc="${R[n_cpu]}" \
            -v sr="${R[s_rps]}" -v s5="${R[s_p50]}" -v s9="${R[s_p99]}" -v sc="${R[s_cpu]}" \
            -v pr="$paired_s" \
            'BEGIN { printf "%-7s %-4s | %7.0f %7.0f %7.0f | %7.0f %7.0f %7.0f %7.1f | %7.0f %7.0f %7.0f %7.1f | x%.2f, x%.2f; nginx %+.0fus, sy %+.0fus | %s\n",
                l, c, dr, d5, d9, nr, n5, n9, nc, sr, s5, s9, sc, (nr > 0 ? sr / nr : 0), (nc > 0 ? sc / nc : 0), n5 - d5, s5 - d5, pr }'
        if [ -n "$BUSY_POLL" ]; then
            awk -v bp="busyPoll $BUSY_POLL" -v d5="${R[d_p50]}" -v nr="${R[n_rps]}" -v nc="${R[n_cpu]}" \
                -v br="${R[b_rps]}" -v b5="${R[b_p50]}" -v b9="${R[b_p99]}" -v bc="${R[b_cpu]}" \
                -v pr="$paired_b" \
                'BEGIN { printf "%-12s | %24s | %32s | %7.0f %7.0f %7.0f %7.1f | x%.2f, x%.2f;              sy %+.0fus | %s\n",
                    "", bp, "", br, b5, b9, bc, (nr > 0 ? br / nr : 0), (nc > 0 ? bc / nc : 0), b5 - d5, pr }'
        fi
        unset R
    done
done
echo
echo "cpu/req = CPU microseconds the proxy process(es) spent per request (user+system, from /proc)."
echo "paired runs = each switchyard run against the nginx run of the same repetition (run one after the other),"
echo "lowest to highest, and how many of them favour switchyard."
[ -n "$BUSY_POLL" ] && echo "busyPoll rows: the same gateway with busyPoll: $BUSY_POLL (workers poll instead of sleeping for that long after I/O)."
echo "added p50 = proxied p50 - direct p50 (same backend, same load). For scale: llm-d's endpoint"
echo "picker spends ~286 ms per 220 KB request and tops out near 130 req/s."
