#!/usr/bin/env bash
# `make demo`: the one-command tour. Builds (make already did) and runs `switchyard demo`:
# a simulated fleet, a round-robin gateway and a Switchyard gateway, side by side.
# Extra arguments go to the demo, e.g. `bash scripts/demo.sh --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ ! -x "$BUILD/switchyard" ]; then
    make --no-print-directory BUILD="$BUILD"
fi
exec "$BUILD/switchyard" demo "$@"
