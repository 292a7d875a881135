#!/usr/bin/env bash
# Streaming scale (issue 20): many concurrent SSE streams, one token event every 30 ms each, sent
# by a C stub model server (bench/stream_scale_bench.c, `backend`) and read by a C load generator
# (same file, `load`), side by side in one run:
#   direct   load generator -> stub                      (the baseline)
#   gateway  load generator -> switchyard gateway -> stub
#   nginx    load generator -> nginx (proxy_buffering off, HTTP/1.1 keep-alive upstream) -> stub
# Two phases per contender and repetition:
#   active   ACTIVE streams at INTERVAL_MS: events/s, per-event delivery latency (stub write ->
#            client read) and inter-token gaps, CPU seconds of the proxy per forwarded event
#            (utime+stime from /proc/PID/stat: the gateway process; nginx's worker processes)
#   hold     HOLD streams open at IDLE_INTERVAL_MS (idle-ish): proxy RSS with all of them open
#            minus RSS before the first, divided by HOLD
# Added latency = proxied percentile - direct percentile of the same repetition (paired).
#
#   bash bench/stream_scale.sh   (ACTIVE=500 HOLD=10000 INTERVAL_MS=30 IDLE_INTERVAL_MS=1000
#                                 WORKERS=2 REPEATS=3 MEASURE_MS=10000 by default;
#                                 SMOKE=1: 100/200 streams, one short repetition;
#                                 VERBOSE=1 also prints every RESULT line; KEEP_TMP=1 keeps
#                                 the logs and configs; NO_BUILD=1 skips make; BUILD=dir picks
#                                 the build; RAMP_MS WARMUP_MS HOLD_RAMP_MS HOLD_WARMUP_MS
#                                 HOLD_MEASURE_MS PAUSE tune the phases; PERF=1 adds perf stat
#                                 counts per event: syscalls, epoll_wait, context switches, CPU)
#
# Every process (stub, gateway, load generator; nginx by itself) runs in its own session, so
# autogroup scheduling treats them alike (see the comment at the stub's start).
# HOLD is capped by the descriptor limit (a proxied stream holds two descriptors in the gateway's
# one process); the cap is printed. Every phase is bounded in time by the load generator.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ -z "${NO_BUILD:-}" ]; then
    bash scripts/install-deps.sh
    nice make -s BUILD="$BUILD" "$BUILD/switchyard" "$BUILD/stream_scale_bench" >/dev/null
fi
BDIR=$(cd "$BUILD" && pwd) # BUILD relative or absolute
BIN=$BDIR/switchyard
SB=$BDIR/stream_scale_bench
if [ -n "${SMOKE:-}" ]; then
    ACTIVE=${ACTIVE:-100} HOLD=${HOLD:-200} REPEATS=${REPEATS:-1}
    RAMP_MS=${RAMP_MS:-200} WARMUP_MS=${WARMUP_MS:-500} MEASURE_MS=${MEASURE_MS:-1000}
    HOLD_RAMP_MS=${HOLD_RAMP_MS:-200} HOLD_WARMUP_MS=${HOLD_WARMUP_MS:-300} HOLD_MEASURE_MS=${HOLD_MEASURE_MS:-300}
fi
ACTIVE=${ACTIVE:-500}
HOLD=${HOLD:-10000}
INTERVAL_MS=${INTERVAL_MS:-30}
IDLE_INTERVAL_MS=${IDLE_INTERVAL_MS:-1000}
WORKERS=${WORKERS:-2}
REPEATS=${REPEATS:-3}
RAMP_MS=${RAMP_MS:-2000}
WARMUP_MS=${WARMUP_MS:-3000}
MEASURE_MS=${MEASURE_MS:-10000}
HOLD_RAMP_MS=${HOLD_RAMP_MS:-4000}
HOLD_WARMUP_MS=${HOLD_WARMUP_MS:-3000}
HOLD_MEASURE_MS=${HOLD_MEASURE_MS:-1000}

# ---- descriptors: raise the soft limit as far as the hard limit allows ----
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
want=$((2 * (ACTIVE > HOLD ? ACTIVE : HOLD) + 2000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null && ulimit -n "$want" 2>/dev/null || true
fi
NOFILE=$(ulimit -n)
LIMIT_NOTE=
cap=$(((NOFILE - 2000) / 2)) # the gateway: a client and an upstream descriptor per stream
if [ "$HOLD" -gt "$cap" ]; then
    LIMIT_NOTE="hold phase limited to $cap streams by the descriptor limit ($NOFILE; the hard limit cannot be raised here)"
    HOLD=$cap
fi
if [ "$ACTIVE" -gt "$cap" ]; then ACTIVE=$cap; fi

TMP=$(mktemp -d /tmp/sy-stream-XXXXXX)
PIDS=()
NGX_MASTERS=()
cleanup() {
    for p in "${PIDS[@]}" "${NGX_MASTERS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.2
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

USED_PORTS=" "
port() { # a port nothing listens on, below the ephemeral range (outgoing connections never take it)
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        case $USED_PORTS in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    echo "stream_scale.sh: no free port found" >&2
    exit 1
}
probe() { # port -> 0 when a streamed completion answers 200
    curl -sf -m 5 -o /dev/null "http://127.0.0.1:$1/v1/completions" -H 'content-type: application/json' \
        -d '{"model":"m1","prompt":"x","stream":true,"max_tokens":2,"stub_interval_ms":1}'
}
wait_serving() { # name port pid -> waits (at most ~10 s) until a streamed completion succeeds
    local _
    for _ in $(seq 1 100); do
        probe "$2" && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "stream_scale.sh: $1 (port $2) never answered a streamed completion" >&2
    cat "$TMP"/*.log >&2
    exit 1
}

# distinct stub ports per contender, so connections of one never wait on another's TIME_WAITs
P_DIRECT=$(port) P_GW=$(port) P_NGX=$(port)
# Every process runs in a session of its own. With the kernel's autogroup scheduling (on by
# default) CPU time is shared fairly between sessions, not threads: nginx's master calls setsid,
# so its workers form a group of their own, and a gateway left in this script's session would
# share one group's time with the stub, the load generator and whatever else runs in the session.
setsid "$SB" backend --ports "$P_DIRECT,$P_GW,$P_NGX" --interval-ms "$INTERVAL_MS" --max-seconds 3600 \
    2>"$TMP/backend.log" &
STUB_PID=$!
PIDS+=("$STUB_PID")
wait_serving stub "$P_DIRECT" "$STUB_PID"

# nginx: as many workers as the gateway has threads -> sets NGX_PORT NGX_MASTER NGX_WORKERS
start_nginx() { # name
    NGX_PORT=$(port)
    {
        echo "worker_processes $WORKERS; worker_rlimit_nofile $NOFILE;"
        echo "pid $TMP/$1.pid; error_log $TMP/$1-error.log;"
        echo "events { worker_connections $NOFILE; }"
        echo "http { access_log off; keepalive_requests 1000000; proxy_buffering off;"
        echo "  proxy_read_timeout 300s; proxy_http_version 1.1;"
        echo "  upstream stub { server 127.0.0.1:$P_NGX; keepalive 1024; }"
        echo "  server { listen 127.0.0.1:$NGX_PORT reuseport backlog=4096;"
        echo "    location / { proxy_pass http://stub; proxy_set_header Connection \"\"; }"
        echo "  }"
        echo "}"
    } >"$TMP/$1.conf"
    nginx -c "$TMP/$1.conf" -p "$TMP" 2>>"$TMP/$1-error.log"
    NGX_MASTER=$(cat "$TMP/$1.pid")
    NGX_MASTERS+=("$NGX_MASTER")
    wait_serving nginx "$NGX_PORT" "$NGX_MASTER"
    NGX_WORKERS=$(pgrep -P "$NGX_MASTER" | tr '\n' ' ')
}
# the gateway, same worker count -> sets GW_PORT GW_PID
start_gateway() { # name
    GW_PORT=$(port)
    {
        echo "listen: 127.0.0.1:$GW_PORT"
        echo "admin: 127.0.0.1:$(port)"
        echo "workers: $WORKERS"
        echo "logLevel: warn"
        echo "pool:"
        echo "  scrapeInterval: 200ms"
        echo "  endpoints:"
        echo "    - address: 127.0.0.1:$P_GW"
        echo "scheduler:"
        echo "  plugins: [{type: round-robin-picker}]"
        echo "  schedulingProfiles: [{name: default, plugins: [{pluginRef: round-robin-picker}]}]"
    } >"$TMP/$1.yaml"
    setsid "$BIN" gateway --config "$TMP/$1.yaml" 2>"$TMP/$1.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_serving gateway "$GW_PORT" "$GW_PID"
}
stop_pid() { # pid -> SIGTERM, then waits for it to go (bounded)
    kill "$1" 2>/dev/null || return 0
    local _
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

# the active phase's proxies live for the whole run
start_nginx nginx
NGX=$NGX_PORT NGX_PIDS=$NGX_WORKERS
start_gateway gw
GW=$GW_PORT SY_PID=$GW_PID

# PERF=1: also count, with perf stat on the proxy's processes, syscalls, epoll_wait calls, context
# switches and CPU time inside the active phase's measuring window (from 1 s after it opens to
# 1 s before it closes): counts that the other jobs on a shared machine disturb far less than
# CPU time. Skipped, with a note, when perf cannot read the tracepoints.
PERF_ON=
if [ -n "${PERF:-}" ]; then
    if perf stat -x, -e raw_syscalls:sys_enter,context-switches -- true >/dev/null 2>&1; then
        PERF_ON=1
    else
        echo "note: PERF=1 but perf stat cannot count syscalls here; perf columns skipped" >&2
    fi
fi
PERF_EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,context-switches,task-clock
run_load() { # label port pids streams interval ramp warmup measure
    local perf_pid= perf_s=$((${8} / 1000 - 2))
    if [ -n "$PERF_ON" ] && [ "${1#active-}" != "$1" ] && [ "${1#active-direct}" = "$1" ] &&
        [ "$perf_s" -ge 1 ]; then
        (
            sleep "$(((${6} + ${7}) / 1000 + 1))"
            exec perf stat -x, -e "$PERF_EVENTS" -p "$(echo $3 | tr ' ' ,)" -- sleep "$perf_s"
        ) 2>"$TMP/perf-$1" &
        perf_pid=$!
    fi
    local line
    line=$(setsid -w "$SB" load --label "$1" --port "$2" --pids "$3" --streams "$4" --interval-ms "$5" \
        --ramp-ms "$6" --warmup-ms "$7" --measure-ms "$8" 2>>"$TMP/load.log" | grep '^RESULT') ||
        line="RESULT label=$1 failed=1"
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" 2>/dev/null || true
        # perf -x, lines: value,unit,event,... -> perf_<event>=value, and the window's length
        line+=" perf_s=$perf_s$(awk -F, '$1 ~ /^[0-9.]+$/ { e = $3; sub(/.*:/, "", e);
            printf " perf_%s=%s", e, $1 }' "$TMP/perf-$1" 2>/dev/null || true)"
    fi
    echo "$line" >>"$TMP/results"
    [ -n "${VERBOSE:-}" ] && tail -n 1 "$TMP/results" >&2
    sleep "${PAUSE:-0.5}" # let the proxies reap the reset connections before the next phase
}
rotate() { # k words... -> the words starting from the k-th, wrapping round
    local k=$1
    shift
    local w=("$@") i
    for ((i = 0; i < ${#w[@]}; i++)); do printf "%s " "${w[$(((i + k) % ${#w[@]}))]}"; done
}

printf "Streaming scale: %s active streams at %s ms, %s held at %s ms, %s worker(s), %s repetition(s), %s ms windows\n" \
    "$ACTIVE" "$INTERVAL_MS" "$HOLD" "$IDLE_INTERVAL_MS" "$WORKERS" "$REPEATS" "$MEASURE_MS"
[ -n "$LIMIT_NOTE" ] && echo "note: $LIMIT_NOTE"
: >"$TMP/results"
for rep in $(seq 1 "$REPEATS"); do
    # shellcheck disable=SC2046
    for who in $(rotate $((rep - 1)) direct gateway nginx); do
        case $who in
        direct) port=$P_DIRECT pids=$STUB_PID ;;
        gateway) port=$GW pids=$SY_PID ;;
        nginx) port=$NGX pids=$NGX_PIDS ;;
        esac
        run_load "active-$who-$rep" "$port" "$pids" "$ACTIVE" "$INTERVAL_MS" "$RAMP_MS" "$WARMUP_MS" "$MEASURE_MS"
    done
    # RSS per held stream: a fresh proxy each time (memory a process once used is not given back,
    # so a proxy that already served the active phase would hide what the streams cost)
    # shellcheck disable=SC2046
    for who in $(rotate $((rep - 1)) gateway nginx); do
        if [ "$who" = gateway ]; then
            start_gateway "gw-hold-$rep"
            run_load "hold-gateway-$rep" "$GW_PORT" "$GW_PID" "$HOLD" "$IDLE_INTERVAL_MS" \
                "$HOLD_RAMP_MS" "$HOLD_WARMUP_MS" "$HOLD_MEASURE_MS"
            stop_pid "$GW_PID"
        else
            start_nginx "nginx-hold-$rep"
            run_load "hold-nginx-$rep" "$NGX_PORT" "$NGX_WORKERS" "$HOLD" "$IDLE_INTERVAL_MS" \
                "$HOLD_RAMP_MS" "$HOLD_WARMUP_MS" "$HOLD_MEASURE_MS"
            stop_pid "$NGX_MASTER"
        fi
    done
done
kill -0 "$SY_PID" 2>/dev/null || { echo "stream_scale.sh: the gateway died" >&2 && cat "$TMP/gw.log" >&2 && exit 1; }
[ -n "${VERBOSE:-}" ] && cat "$TMP/results" >&2

python3 - "$TMP/results" <<'PY'
import statistics, sys

rows = []
for line in open(sys.argv[1]):
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    rows.append(kv)

def complete(r):  # every stream got its 200 head and none failed
    return r.get("failed") == "0" and r.get("heads") == r.get("streams")

def get(phase, who, rep, key):
    for r in rows:
        if r.get("label") == "%s-%s-%d" % (phase, who, rep) and complete(r):
            try:
                return float(r[key])
            except (KeyError, ValueError):
                return None
    return None

reps = sorted({int(r["label"].rsplit("-", 1)[1]) for r in rows if r.get("label", "").count("-") == 2})
bad = [r["label"] for r in rows if not complete(r)]
def med(xs):
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None
def fmt(m, f="%.0f"):
    if m is None:
        return "n/a"
    return (f % m[0]) + (" [" + (f % m[1]) + ".." + (f % m[2]) + "]" if len(reps) > 1 else "")

print()
print("per run (active phase): events/s (share of the schedule), delivery latency p50/p99 us, gap p50/p99 us, CPU us/event")
for rep in reps:
    for who in ("direct", "gateway", "nginx"):
        g = lambda k: get("active", who, rep, k)
        if g("events") is None:
            print("  run %d %-8s incomplete (see below)" % (rep, who))
            continue
        print("  run %d %-8s %8.0f/s (%4.0f%%)  lat %6.0f %7.0f  gap %6.0f %6.0f  cpu %6.2f%s" % (
            rep, who, g("rate"), 100 * g("sustained"), g("lat_p50_us"), g("lat_p99_us"),
            g("itl_p50_us"), g("itl_p99_us"), g("cpu_us_per_event"),
            "  (the stub's own CPU)" if who == "direct" else ""))
res = {}
for who in ("gateway", "nginx"):
    res[who] = {
        "add50": med([get("active", who, r, "lat_p50_us") - get("active", "direct", r, "lat_p50_us")
                      for r in reps if get("active", who, r, "lat_p50_us") is not None
                      and get("active", "direct", r, "lat_p50_us") is not None]),
        "add99": med([get("active", who, r, "lat_p99_us") - get("active", "direct", r, "lat_p99_us")
                      for r in reps if get("active", who, r, "lat_p99_us") is not None
                      and get("active", "direct", r, "lat_p99_us") is not None]),
        "cpu": med([get("active", who, r, "cpu_us_per_event") for r in reps]),
        "rss": med([get("hold", who, r, "rss_per_stream_b") for r in reps]),
        "held": med([get("hold", who, r, "heads") for r in reps]),
    }
print()
print("summary: median [min..max] over %d repetition(s)" % len(reps))
print("%-34s | %-24s | %-24s | %s" % ("", "switchyard gateway", "nginx", "target (gateway)"))
print("%-34s | %-24s | %-24s | %s" % ("CPU us per forwarded event", fmt(res["gateway"]["cpu"], "%.2f"),
                                     fmt(res["nginx"]["cpu"], "%.2f"), "<= nginx"))
print("%-34s | %-24s | %-24s | %s" % ("added delivery latency p50 (us)", fmt(res["gateway"]["add50"]),
                                     fmt(res["nginx"]["add50"]), ""))
print("%-34s | %-24s | %-24s | %s" % ("added delivery latency p99 (us)", fmt(res["gateway"]["add99"]),
                                     fmt(res["nginx"]["add99"]), "< 1000"))
def perf_per_event(who, key):  # a perf count per forwarded event, per repetition
    out = []
    for r in reps:
        n, rate, secs = (get("active", who, r, k) for k in ("perf_" + key, "rate", "perf_s"))
        if n is not None and rate and secs:
            out.append(n / (rate * secs))
    return med(out)
for key, what, f in (("sys_enter", "syscalls per event (perf)", "%.3f"),
                     ("sys_enter_epoll_wait", "epoll_wait calls per event (perf)", "%.3f"),
                     ("context-switches", "context switches per event (perf)", "%.3f"),
                     ("task-clock", "CPU us per event (perf task-clock)", "%.2f")):
    g_, n_ = perf_per_event("gateway", key), perf_per_event("nginx", key)
    if g_ or n_:
        scale = 1000.0 if key == "task-clock" else 1.0  # task-clock counts milliseconds
        sc = lambda m: None if m is None else tuple(x * scale for x in m)
        print("%-34s | %-24s | %-24s |" % (what, fmt(sc(g_), f), fmt(sc(n_), f)))
print("%-34s | %-24s | %-24s | %s" % ("RSS per held stream (bytes)", fmt(res["gateway"]["rss"]),
                                     fmt(res["nginx"]["rss"]), "< 20480"))
print("%-34s | %-24s | %-24s |" % ("streams held open", fmt(res["gateway"]["held"]), fmt(res["nginx"]["held"])))
def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "MISSED")
g, n = res["gateway"], res["nginx"]
print("targets: cpu/event %s, added p99 %s, rss/stream %s" % (
    verdict(None if not g["cpu"] or not n["cpu"] else g["cpu"][0] <= n["cpu"][0]),
    verdict(None if not g["add99"] else g["add99"][0] < 1000),
    verdict(None if not g["rss"] else g["rss"][0] < 20480)))
if bad:
    print("incomplete runs (not every stream got its 200 head, or the run failed): " + " ".join(bad))
PY
echo
echo "delivery latency = client read time - the stub's write time stamped in each event (one clock);"
echo "added = proxied - direct in the same repetition. gap = time between a stream's consecutive events."
echo "CPU = utime+stime of the gateway process / nginx's worker processes over the window, per event received."
