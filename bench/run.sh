#!/usr/bin/env bash
# `make bench`: runs every benchmark under bench/ in turn. Benchmarks print numbers and ratios
# measured side by side in one run; none of them fails on an absolute time.
#   BENCH="gateway sched json anthropic sim kv tokenize epp pd pdx stream sse decode flow memory
#          precise flowctl" selects a subset (default: all of these; each ends on its own, the
#          longest in minutes: stream, pd, flowctl ~3 min).
#   Long runs, not in the default set, one name each (BENCH=soak etc.):
#     soak       the 30-minute fault soak (bench/fault_soak.py)
#     rr         default scheduling vs round-robin, the full workload x concurrency table
#                (bench/default_vs_rr.py; the README's runs use --seeds and --alternate)
#     sweep      llm-d's 17-stage sweep, round-robin vs llm-d's default (bench/llmd_sweep.py)
#     reference  the llm-d reference experiment at its shape (bench/llm-d-reference/run.sh)
#   BUILD=dir selects the build directory for every one of them (default build; `make bench`
#   passes its own BUILD).
set -uo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
BENCH=${BENCH:-"gateway sched json anthropic sim kv tokenize epp pd pdx stream sse decode flow memory precise flowctl"}
rc=0
for b in $BENCH; do
    echo "=================== $b"
    case "$b" in
    gateway) bash bench/gateway_vs_nginx.sh || rc=1 ;;
    sched) bash bench/sched_bench.sh || rc=1 ;;
    json) bash bench/json_scan_bench.sh || rc=1 ;;
    anthropic) bash bench/anthropic_bench.sh || rc=1 ;;
    sim) python3 bench/sim_efficiency.py || rc=1 ;;
    kv) bash bench/kv_events_bench.sh || rc=1 ;;
    tokenize) bash bench/tokenize_bench.sh || rc=1 ;;
    epp) bash bench/epp_bench.sh || rc=1 ;;
    pd) python3 bench/pd_bench.py || rc=1 ;;
    pdx) bash bench/pd_exchange_bench.sh || rc=1 ;;
    stream) bash bench/stream_scale.sh || rc=1 ;;
    sse) bash bench/sse_lines_bench.sh || rc=1 ;;
    decode) bash bench/decode_sse_bench.sh || rc=1 ;;
    flow) bash bench/flow_bench.sh || rc=1 ;;
    memory) python3 bench/gateway_memory.py && python3 bench/gateway_memory.py --idle || rc=1 ;;
    precise) python3 bench/precise_vs_approx.py || rc=1 ;;
    flowctl) python3 bench/flow_control.py || rc=1 ;;
    soak) python3 bench/fault_soak.py || rc=1 ;;
    rr) python3 bench/default_vs_rr.py || rc=1 ;;
    sweep) python3 bench/llmd_sweep.py || rc=1 ;;
    reference) bash bench/llm-d-reference/run.sh || rc=1 ;;
    *) echo "unknown benchmark '$b'" >&2; rc=2 ;;
    esac
done
exit $rc
