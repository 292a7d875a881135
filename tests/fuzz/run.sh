#!/usr/bin/env bash
# Builds and runs every libFuzzer target tests/fuzz/fuzz_*.c (invoked by `make fuzz`).
#
#   FUZZ_SECONDS=20      seconds per target (default 20)
#   FUZZ_TARGETS="a b"   run only these targets (names without .c; default: all)
#   FUZZ_RUNS=N          stop a target after N executions (a campaign: FUZZ_RUNS=10000000 with a
#                        large FUZZ_SECONDS; whichever comes first ends the target)
#   FUZZ_MAX_LEN=N       libFuzzer's -max_len (default: libFuzzer's, from the seeds)
#   FUZZ_MERGE=1         merge inputs that add coverage into the checked-in corpus
#                        tests/fuzz/corpus/<target>/ (-merge=1), so a campaign's corpus is kept
#
# Each finished target appends "target runs seconds cov ft crashes" to $BUILD/results.tsv (the
# README's campaign table is made from it).
#
# The library is built with clang into build-fuzz/ with fuzzer-no-link + ASan + UBSan; each target
# is linked with -fsanitize=fuzzer and run with its checked-in seed corpus
# tests/fuzz/corpus/<target>/ (read only) plus a temporary output corpus. Crash inputs are kept
# as build-fuzz/artifacts/<target>-crash-*. Exits non-zero when a target fails to build or finds
# a crash, leak, timeout or sanitizer error.
set -uo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
BUILD=build-fuzz
CC=${FUZZ_CC:-clang}
PKGS="libuv libcjson yaml-0.1 libxxhash libzmq msgpack libpcre2-8 libnghttp2 openssl" # keep in sync with Makefile
SAN_LIB="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
SAN_BIN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (Debian packages clang and libclang-rt-14-dev)" >&2
    exit 1
fi

echo "fuzz: building the library with $CC into $BUILD/"
if ! make --no-print-directory BUILD=$BUILD CC="$CC" OPT="-O1 -g" SAN="$SAN_LIB" \
    $BUILD/libswitchyard.a; then
    echo "fuzz: library build failed" >&2
    exit 1
fi

# shellcheck disable=SC2086
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
# shellcheck disable=SC2086
PKG_LIBS=$(pkg-config --libs $PKGS)
mkdir -p "$BUILD/fuzz" "$BUILD/artifacts"

targets=()
if [ -n "${FUZZ_TARGETS:-}" ]; then
    for t in $FUZZ_TARGETS; do targets+=("tests/fuzz/$t.c"); done
else
    while IFS= read -r f; do targets+=("$f"); done < <(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | sort)
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no targets (tests/fuzz/fuzz_*.c)" >&2
    exit 1
fi

failed=()
passed=0
for src in "${targets[@]}"; do
    name=$(basename "$src" .c)
    bin="$BUILD/fuzz/$name"
    echo "fuzz: $name: building"
    # shellcheck disable=SC2086
    if ! "$CC" -std=c17 -D_GNU_SOURCE -O1 -g $SAN_BIN -Isrc -Itests -I/usr/share/include/llhttp \
        $PKG_CFLAGS -o "$bin" "$src" "$BUILD/libswitchyard.a" $PKG_LIBS -lresolv -lm -pthread; then
        echo "fuzz: $name: BUILD FAILED"
        failed+=("$name(build)")
        continue
    fi
    out=$(mktemp -d "${TMPDIR:-/tmp}/sy-fuzz-$name.XXXXXX")
    seeds=()
    if [ -d "tests/fuzz/corpus/$name" ]; then seeds+=("tests/fuzz/corpus/$name"); fi
    dict=()
    if [ -f "tests/fuzz/$name.dict" ]; then dict+=("-dict=tests/fuzz/$name.dict"); fi
    echo "fuzz: $name: running ${FUZZ_SECONDS}s"
    log="$BUILD/fuzz/$name.log"
    extra=()
    if [ -n "${FUZZ_RUNS:-}" ]; then extra+=("-runs=$FUZZ_RUNS"); fi
    if [ -n "${FUZZ_MAX_LEN:-}" ]; then extra+=("-max_len=$FUZZ_MAX_LEN"); fi
    t0=$(date +%s)
    "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$name-" "${dict[@]}" "${extra[@]}" "$out" "${seeds[@]}" \
        >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    # merged on failure too: a crash input goes to artifacts, never into the corpus, and a
    # campaign that ends with a leak report has still found the coverage it kept
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        mkdir -p "tests/fuzz/corpus/$name"
        "$bin" -merge=1 "${dict[@]}" "tests/fuzz/corpus/$name" "$out" >"$log.merge" 2>&1 ||
            echo "fuzz: $name: corpus merge failed; log $log.merge"
    fi
    rm -rf "$out"
    runs=$(grep -a -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    last=$(grep -a -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${runs:-?}" "$secs" "${cov:-?}" "${ft:-?}" \
        "$([ $rc -eq 0 ] && echo 0 || echo 1)" >>"$BUILD/results.tsv"
    if [ $rc -ne 0 ]; then
        echo "fuzz: $name: FAILED (exit $rc); log $log, artifacts $BUILD/artifacts/$name-*"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
        failed+=("$name")
    else
        echo "fuzz: $name: ok (${runs:-?} runs, cov ${cov:-?}, ft ${ft:-?})"
        passed=$((passed + 1))
    fi
done

echo "fuzz: $passed passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
