#!/usr/bin/env bash
# `make bench`: runs every benchmark under bench/ in turn. Benchmarks print numbers and ratios
# measured side by side in one run; none of them fails on an absolute time.
#   BENCH="gateway sched json anthropic sim kv tokenize epp pd pdx stream" selects a subset (default: all).
#   BENCH=soak runs the 30-minute fault soak (bench/fault_soak.py; not in the default set).
set -uo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-"gateway sched json anthropic sim kv tokenize epp pd pdx stream"}
rc=0
for b in $BENCH; do
    echo "=================== $b"
    case "$b" in
    gateway) bash bench/gateway_vs_nginx.sh || rc=1 ;;
    sched) bash bench/sched_bench.sh || rc=1 ;;
    json) bash bench/json_scan_bench.sh || rc=1 ;;
    anthropic) bash bench/anthropic_bench.sh || rc=1 ;;
    sim) BUILD=build python3 bench/sim_efficiency.py || rc=1 ;;
    kv) bash bench/kv_events_bench.sh || rc=1 ;;
    tokenize) bash bench/tokenize_bench.sh || rc=1 ;;
    epp) bash bench/epp_bench.sh || rc=1 ;;
    pd) BUILD=build python3 bench/pd_bench.py || rc=1 ;;
    pdx) bash bench/pd_exchange_bench.sh || rc=1 ;;
    stream) bash bench/stream_scale.sh || rc=1 ;;
    soak) BUILD=build python3 bench/fault_soak.py || rc=1 ;;
    *) echo "unknown benchmark '$b'" >&2; rc=2 ;;
    esac
done
exit $rc
