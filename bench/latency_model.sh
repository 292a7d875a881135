#!/usr/bin/env bash
# Latency model benchmark (docs/slo-scheduling.md): the C model's variants on a virtual-time
# heterogeneous simulated fleet (bench/latency_model_bench.c), then XGBoost trained offline on the
# same samples (bench/latency_model_xgb.py; installs Debian's python3-xgboost when missing: a
# benchmark dependency only, never a runtime one).
#   bash bench/latency_model.sh          (BUILD=dir selects the build directory, default build)
# Not a test: prints numbers, never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/latency_model_bench"
csv=$(mktemp /tmp/latency_samples.XXXXXX.csv)
trap 'rm -f "$csv"' EXIT
"$BUILD/latency_model_bench" "$csv"
echo
PY=/usr/bin/python3 # Debian's interpreter: python3-xgboost installs there
if ! "$PY" -c 'import xgboost' 2>/dev/null; then
    echo "installing python3-xgboost (benchmark only)..."
    if [ "$(id -u)" = 0 ]; then apt-get install -y python3-xgboost >/dev/null
    else sudo apt-get install -y python3-xgboost >/dev/null; fi
fi
"$PY" bench/latency_model_xgb.py "$csv"
