#!/usr/bin/env python3
"""Cause 2 of the gap to llm-d's optimized baseline (docs/bench.md, "Measured: cause 2, the
per-token time at 46-60 req/s"): one replica of llm-d's staged sweep in simulated time
(build/stage_sim_bench, bench/stage_sim_bench.c), no wall clock and so no host lag, in six tables:

  default   the documented run: warm-up + 22/35/46/60 req/s, KV of gpu-memory-utilization 0.95
  seeds     the same over seeds 1..N: NTPOT p50, output tok/s, token-weighted batch (min/mean/max)
  placement a replica holding g of the 150 groups receives g/150 of the arrivals (g = 16..22)
  grid      the 60 req/s stage's NTPOT p50 / output tok/s over KV-read cost x KV blocks
  seqs      the same stage under vLLM's max-num-seqs (64, 96, 128, the default 1024)
  ladder    llm-d's whole 17-stage ladder, output tok/s per stage beside llm-d's optimized report,
            at the profile's KV read, at 100% of H100 HBM peak, and at the read that gives ~44 ms

    python3 bench/stage_sim.py                 # ~15 s
    python3 bench/stage_sim.py --quick         # seconds: short stages, one seed (shape only)
    python3 bench/stage_sim.py --json out.json

Every figure is simulated H100 time. Standard library only; exit 0 when every run completed.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
KV_BLOCKS = 19262  # gpu-memory-utilization 0.95 (docs/bench.md, "8 replicas")
PROFILE_KV_US = 0.0509  # the profile's decode KV read: 128 KiB per token per GPU at 2.575 TB/s
PEAK_KV_US = 131072 / 3.35e6  # the same at the H100's 3.35 TB/s peak: 0.0391
FAST_KV_US = 0.025  # the read that brings the 46-60 req/s stages' NTPOT p50 to ~44 ms
LADDER = "warm-up,3,10,15,20,22,25,30,35,40,43,46,49,52,55,57,60"
# llm-d optimized-baseline report (vllm-qwen3-32b-h100), output tok/s per rate (llm-d routing)
LLMD_OUT = {3: 1511, 10: 4597, 15: 8995, 20: 6656, 22: 10809, 25: 10452, 30: 10509, 35: 12290,
            40: 14134, 43: 13522, 46: 14050, 49: 14941, 52: 14542, 55: 14607, 57: 13451,
            60: 13528}
LLMD_NTPOT60 = 43.9


def bench(binary, args):
    p = subprocess.run([binary, "--json"] + args, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s %s: exit %d: %s" % (binary, " ".join(args), p.returncode, p.stderr))
    return json.loads(p.stdout)["stages"]


def by_name(stages):
    return {s["stage"]: s for s in stages}


def spread(vals):
    return "%.1f / %.1f / %.1f" % (min(vals), sum(vals) / len(vals), max(vals))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short stages, one seed, output 100")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", help="write every table's data here")
    a = ap.parse_args()
    build = os.environ.get("BUILD", "build")  # relative to the repository, or absolute
    binary = os.path.join(ROOT, build, "stage_sim_bench")
    # the target as the Makefile's $(BUILD)/%_bench rule spells it
    subprocess.run(["make", "-s", "BUILD=" + build, os.path.join(build, "stage_sim_bench")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    if a.seeds < 1:
        sys.exit("--seeds: at least 1")
    common = []  # every run's arguments but the KV blocks
    stages, top = "warm-up,22,35,46,60", ["46", "60"]
    ladder = LADDER
    seeds = a.seeds
    if a.quick:
        common = ["--output", "100"]
        stages, top, ladder, seeds = "15:6,46:3,60:3", ["46:3", "60:3"], "15:6,22:3,60:3", 1
    base = ["--kv-blocks", str(KV_BLOCKS)] + common
    out = {"kv_blocks": KV_BLOCKS, "quick": a.quick}

    default = bench(binary, base + ["--stages", stages])
    out["default"] = default
    print("== default: one replica (19 of 150 groups, 1/8 of the arrivals), KV %d blocks, seed 1"
          % KV_BLOCKS)
    print("| stage | requests | out tok/s (fleet-eq) | TTFT p90 s | NTPOT p10 / p50 / p90 ms | "
          "E2E max s | token-weighted batch | decode-only step ms | steps ms | ITL mean ms | "
          "preemptions | KV mean | prefix hits |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in default:
        print("| %s | %d | %.0f | %.3f | %.1f / %.1f / %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | "
              "%d | %.0f%% | %.1f%% |" % (
                  s["stage"], s["done"], s["out_tok_s"], s["ttft_p90_s"], s["ntpot_p10_ms"],
                  s["ntpot_p50_ms"], s["ntpot_p90_ms"], s["e2e_max_s"], s["tw_batch"],
                  s["decode_only_ms"], s["step_ms"], s["itl_mean_ms"], s["preemptions"],
                  100 * s["kv_mean"], 100 * s["hit_rate"]))

    runs = [by_name(bench(binary, base + ["--stages", stages, "--seed", str(k)]))
            for k in range(1, seeds + 1)]
    out["seeds"] = runs
    print("\n== seeds 1..%d (min / mean / max)" % seeds)
    print("| stage | NTPOT p50 ms | out tok/s (fleet-eq) | token-weighted batch | E2E max s |")
    print("|---|---|---|---|---|")
    for st in [s["stage"] for s in default]:
        v = [r[st] for r in runs]
        print("| %s | %s | %s | %s | %s |" % (
            st, spread([x["ntpot_p50_ms"] for x in v]), spread([x["out_tok_s"] for x in v]),
            spread([x["tw_batch"] for x in v]), spread([x["e2e_max_s"] for x in v])))

    print("\n== placement: a replica holding g of the 150 groups (g/150 of the arrivals), seed 1")
    print("| groups | " + " | ".join("%s: NTPOT p50 ms / span s / preemptions" % t for t in top)
          + " |")
    print("|---|" + "---|" * len(top))
    out["placement"] = {}
    for g in (16, 17, 18, 19, 20, 21, 22):
        r = by_name(bench(binary, base + ["--stages", stages, "--groups", str(g), "--share",
                                          "%.6f" % (g / 150.0)]))
        out["placement"][g] = r
        print("| %d | %s |" % (g, " | ".join("%.1f / %.1f / %d" % (
            r[t]["ntpot_p50_ms"], r[t]["span_s"], r[t]["preemptions"]) for t in top)))

    kvs = [12000, 14000, 17235, KV_BLOCKS, 22000, 200000]
    reads = [PROFILE_KV_US, PEAK_KV_US, 0.030, FAST_KV_US, 0.020]
    print("\n== grid: the %s stage, NTPOT p50 ms / out tok/s (fleet-eq) by KV read (us per "
          "context token) x KV blocks; llm-d: %.1f ms / %d" % (top[-1], LLMD_NTPOT60,
                                                              LLMD_OUT[60]))
    print("| KV read | " + " | ".join(str(k) for k in kvs) + " |")
    print("|---|" + "---|" * len(kvs))
    out["grid"] = {}
    for kr in reads:
        cells = []
        for kv in kvs:
            s = by_name(bench(binary, common + ["--stages", stages, "--kv-blocks", str(kv),
                                              "--kv-read-us", "%.5f" % kr]))[top[-1]]
            out["grid"]["%.5f/%d" % (kr, kv)] = s
            cells.append("%.1f / %.0f" % (s["ntpot_p50_ms"], s["out_tok_s"]))
        print("| %.4f | %s |" % (kr, " | ".join(cells)))

    print("\n== max-num-seqs: the %s stage with vLLM's running-sequence cap (default 1024), seed 1"
          % top[-1])
    print("| max-num-seqs | NTPOT p10 / p50 / p90 ms | out tok/s (fleet-eq) | TTFT p50 / p90 s | "
          "E2E max s | running mean | token-weighted batch |")
    print("|---|---|---|---|---|---|---|")
    out["max_num_seqs"] = {}
    for m in (64, 96, 128, 1024):
        s = by_name(bench(binary, base + ["--stages", stages, "--max-num-seqs", str(m)]))[top[-1]]
        out["max_num_seqs"][m] = s
        print("| %d | %.1f / %.1f / %.1f | %.0f | %.3f / %.3f | %.1f | %.1f | %.1f |" % (
            m, s["ntpot_p10_ms"], s["ntpot_p50_ms"], s["ntpot_p90_ms"], s["out_tok_s"],
            s["ttft_p50_s"], s["ttft_p90_s"], s["e2e_max_s"], s["running_mean"], s["tw_batch"]))

    print("\n== ladder: llm-d's 17 stages behind the barrier, output tok/s (vs llm-d's optimized "
          "report) / NTPOT p50 ms, mean of seeds 1..%d" % min(seeds, 5))
    lad = {}
    for kr in (PROFILE_KV_US, PEAK_KV_US, FAST_KV_US):
        per = {}
        for k in range(1, min(seeds, 5) + 1):
            for s in bench(binary, base + ["--stages", ladder, "--kv-read-us", "%.5f" % kr,
                                           "--seed", str(k)]):
                per.setdefault(s["stage"], []).append(s)
        lad["%.5f" % kr] = per
    out["ladder"] = lad
    print("| stage | llm-d | " + " | ".join("KV read %s" % k for k in lad) + " |")
    print("|---|---|" + "---|" * len(lad))
    for st in ladder.split(","):
        rate = st.split(":")[0]
        ref = LLMD_OUT.get(int(rate)) if rate.isdigit() and ":" not in st else None
        cells = []
        for per in lad.values():
            v = per[st]
            o = sum(x["out_tok_s"] for x in v) / len(v)
            n = sum(x["ntpot_p50_ms"] for x in v) / len(v)
            cells.append("%.0f (%s) / %.1f" % (o, "%+.0f%%" % (100 * (o / ref - 1)) if ref else "-",
                                               n))
        print("| %s | %s | %s |" % (st, ref if ref else "-", " | ".join(cells)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
