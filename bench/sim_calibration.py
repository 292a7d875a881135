#!/usr/bin/env python3
"""Simulator calibration benchmark: `switchyard sim --calibrate` for every profile, the current
model beside the one it replaced and beside the other step model, figure by figure.

For each profile the script runs the calibration report in the same run:
  before  the decode KV-read cost the profile used until issue 19 (BLIS's fitted coefficient,
          passed as --kv-read-us),
  overlap the profile as built under `--step-model overlap` (a mixed prefill+decode step as one
          forward pass; profiles that have its constants), and
  after   the profile as built, under the default step model (additive),
and prints one table with both errors against every published figure (static rows: the step
model at the figure's shape; load rows: the engine run in simulated time under llm-d's
shared-prefix workload at the figure's per-replica rate, which is how the fleet-level figures are
checked). --sensitivity adds the KV read at 100% and at 55% of HBM peak (the roofline and the
small-batch FlashAttention-3 figure, docs/simulator.md).

    python3 bench/sim_calibration.py                       # all profiles, ~10 s
    python3 bench/sim_calibration.py --profile qwen3-32b-tp2-h100 --sensitivity --json out.json

Exit status 0 when every run completed (flagged rows are results, not failures).
Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# The decode KV-read coefficient each profile used before issue 19 (src/sim/profiles.c history:
# BLIS trained-physics beta2b = 1.947 x the roofline, fitted through engine-calibration.md 4.3).
BEFORE_KV_US = {"qwen3-32b-tp2-h100": 0.0763, "qwen3-8b-h100": 0.08596}
HBM_BYTES_PER_US = 3.35e6  # H100 SXM5


def run_calibrate(binary, profile, kv_us=None, static_only=False, step_model=None):
    args = [binary, "sim", "--calibrate", "--json", "--profile", profile]
    if kv_us is not None:
        args += ["--kv-read-us", repr(kv_us)]
    if step_model:
        args += ["--step-model", step_model]
    if static_only:
        args.append("--static-only")
    p = subprocess.run(args, capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.decode()))
    return json.loads(p.stdout)


def profiles(binary):
    p = subprocess.run([binary, "sim", "--list-profiles"], capture_output=True, timeout=30)
    if p.returncode != 0:
        sys.exit("--list-profiles failed: %s" % p.stderr.decode())
    return [ln.split()[0] for ln in p.stdout.decode().splitlines() if ln.strip()]


def fmt(v, unit):
    if unit == "ms":
        return "%.1f" % v
    if unit == "req/s":
        return "%.3f" % v
    return "{:,.0f}".format(v)


def mean_abs(rows, load):
    xs = [abs(r["err_pct"]) for r in rows if r["load"] == load]
    return "%.1f%%" % (sum(xs) / len(xs)) if xs else "-"


def report(name, runs, out):
    """runs: list of (label, json) with the same rows; the last one is the profile as built."""
    base = runs[-1][1]
    print("\n## %s (%s)\n" % (name, base["model"]), file=out)
    for label, d in runs:
        print("- %s: step model %s, decode KV read %.5f us per context token" %
              (label, d.get("step_model", "additive"), d["decode_us_per_ctx_token"]), file=out)
    if not base["rows"]:
        print("\nengine-calibration.md has no figures for this profile.", file=out)
        return
    head = "| figure | source (kind) |"
    sep = "|---|---|"
    for label, _ in runs:
        head += " %s | err |" % label
        sep += "---|---|"
    head += " tol | status (%s) |" % runs[-1][0]
    sep += "---|---|"
    print("\n" + head + "\n" + sep, file=out)
    for i, r in enumerate(base["rows"]):
        line = "| %s (%s) | %s %s (%s) |" % (r["figure"], r["unit"], fmt(r["source_value"], r["unit"]),
                                            r["unit"], r["kind"])
        for _, d in runs:
            x = d["rows"][i]
            line += " %s | %+.1f%% |" % (fmt(x["model_value"], x["unit"]), x["err_pct"])
        line += " %.0f%% | %s |" % (r["tol_pct"], "FLAG" if r["flagged"] else "ok")
        print(line, file=out)
    print("", file=out)
    for label, d in runs:
        rows = d["rows"]
        ok = sum(not r["flagged"] for r in rows)
        print("%-28s %2d/%d rows within tolerance; mean |error| static %s, load %s" %
              (label + ":", ok, len(rows), mean_abs(rows, False), mean_abs(rows, True)), file=out)
    scen = base.get("scenarios") or []
    if scen:
        print("\nload runs (one replica of llm-d's 8-pod fleet, %g simulated s, last %g s measured):" %
              (scen[0]["duration_s"], scen[0]["window_s"]), file=out)
        for label, d in runs:
            for s in d["scenarios"]:
                print("  %-10s %-58s out %5.0f tok/s, done %.3f req/s, TPOT %5.1f ms, batch %5.1f, "
                      "hit %4.1f%%, preemptions %d" %
                      (label, s["name"], s["out_tok_s"], s["req_s"], s["tpot_ms"], s["batch"],
                       100 * s["hit_rate"], s["preemptions"]), file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, os.environ.get("BUILD", "build"), "switchyard"))
    ap.add_argument("--profile", action="append", help="profile (repeatable; default: all)")
    ap.add_argument("--static-only", action="store_true", help="skip the load runs")
    ap.add_argument("--sensitivity", action="store_true",
                    help="also run the KV read at 100%% and 55%% of HBM peak")
    ap.add_argument("--json", help="write every report here")
    a = ap.parse_args()
    names = a.profile or profiles(a.bin)
    everything = {}
    print("# switchyard sim --calibrate, before/after (bench/sim_calibration.py)")
    for name in names:
        runs = []
        if name in BEFORE_KV_US:
            runs.append(("before", run_calibrate(a.bin, name, BEFORE_KV_US[name], a.static_only)))
        after = run_calibrate(a.bin, name, None, a.static_only)
        if a.sensitivity and after["rows"]:
            # per-GPU KV bytes recovered from the profile's own term at its stream efficiency
            per_gpu = after["decode_us_per_ctx_token"] * HBM_BYTES_PER_US * 0.7687
            for label, eff in (("roofline", 1.0), ("eff 0.55", 0.55)):
                runs.append((label, run_calibrate(a.bin, name, per_gpu / (HBM_BYTES_PER_US * eff),
                                                  a.static_only)))
        if after.get("linear_us_per_token"):
            runs.append(("overlap", run_calibrate(a.bin, name, None, a.static_only, "overlap")))
        runs.append(("after", after))
        report(name, runs, sys.stdout)
        everything[name] = {label: d for label, d in runs}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)
    print("\ncommand: python3 bench/sim_calibration.py%s" %
          ("" if not sys.argv[1:] else " " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
