#!/usr/bin/env bash
# Runs the test suites and prints one closing line "N passed, N failed" summing all of them.
#   tests/run.sh unit|integration|all        (BUILD selects the build directory, default build)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
what=${1:-all}
passed=0
failed=0
failed_names=()

run_unit() {
    local bins
    bins=$(find "$BUILD/tests/unit" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort)
    for b in $bins; do
        local out rc p f
        out=$("$b" 2>&1)
        rc=$?
        p=$(grep -oE '^\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
        f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' <<<"$out" | grep -oE '[0-9]+' | tail -1)
        p=${p:-0}
        f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$f" -ne 0 ]; then
            failed_names+=("$b")
            echo "$out"
        fi
        printf '  unit  %-50s %3d passed, %d failed\n' "${b#$BUILD/tests/unit/}" "$p" "$f"
    done
}

run_integration() {
    local out rc p f
    for t in tests/integration/test_*.py; do
        [ -e "$t" ] || continue
        out=$(timeout 600 python3 "$t" 2>&1)
        rc=$?
        p=$(grep -oE '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1 | cut -d' ' -f1)
        f=$(grep -oE '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -1 | cut -d' ' -f3)
        p=${p:-0}
        f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$f" -ne 0 ]; then
            failed_names+=("$t")
            echo "$out" | tail -60
        fi
        printf '  integ %-50s %3d passed, %d failed\n' "$(basename "$t")" "$p" "$f"
    done
}

case "$what" in
unit) run_unit ;;
integration) run_integration ;;
all) run_unit; run_integration ;;
*) echo "usage: tests/run.sh unit|integration|all" >&2; exit 2 ;;
esac

if [ ${#failed_names[@]} -ne 0 ]; then
    echo "failing suites: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
