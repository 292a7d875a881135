"""`switchyard sim --calibrate`: the calibration report of the simulator's profiles against the
published figures (docs/simulator.md, "Calibration report"). Runs the real binary and checks the
output's shape (the markdown table and the JSON agree), that every row is within its documented
tolerance or flagged, the load scenarios' sanity, and bad arguments."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, run, test  # noqa: E402

# documented tolerances by figure kind (docs/simulator.md)
TOL = {"peak prefill": (2.0, 10.0), "KV capacity": (1.0, 5.0), "decode step": (10.0, 10.0)}
FLEET_TOL = 15.0


def calibrate(*args):
    p = subprocess.run([BIN, "sim", "--calibrate"] + list(args), capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def rows_ok(rows):
    for r in rows:
        err = 100.0 * (r["model_value"] - r["source_value"]) / r["source_value"]
        check(abs(err - r["err_pct"]) < 1e-2, "err_pct recomputes: %r" % r)
        check(r["flagged"] == (abs(err) > r["tol_pct"]), "flag follows tolerance: %r" % r)
        check(r["kind"] in ("measured", "derived"), "kind: %r" % r)
        if r["load"]:
            check(r["tol_pct"] == FLEET_TOL, "fleet tolerance: %r" % r)
        else:
            tol = [v for k, v in TOL.items() if r["figure"].startswith(k)]
            check(len(tol) == 1, "a static row of a known kind: %r" % r)
            meas, der = tol[0]
            check(r["tol_pct"] == (meas if r["kind"] == "measured" else der),
                  "documented tolerance: %r" % r)


@test
def test_calibrate_default_profile_json_and_table():
    rc, out, err = calibrate("--json")
    check(rc == 0, "rc %d %s" % (rc, err))
    d = json.loads(out)
    check(d["profile"] == "qwen3-32b-tp2-h100", d["profile"])
    rows = d["rows"]
    check(len(rows) == 21, "rows %d" % len(rows))
    rows_ok(rows)
    check(d["flagged"] == sum(r["flagged"] for r in rows), "flagged count")
    # measured single-figure rows the profile is built from are exact
    peak = [r for r in rows if r["figure"].startswith("peak prefill")][0]
    check(peak["kind"] == "measured" and peak["source_value"] == 15928 and not peak["flagged"],
          "peak prefill %r" % peak)
    cap = [r for r in rows if r["figure"].startswith("KV capacity, gpu")][0]
    check(cap["model_value"] == 275760 and not cap["flagged"], "capacity %r" % cap)
    # the four load scenarios ran, and their rows are the fleet figures
    check(len(d["scenarios"]) == 4, "scenarios %r" % d["scenarios"])
    check(sum(r["load"] for r in rows) == 8, "8 load rows")
    for s in d["scenarios"]:
        check(s["finished"] > 0 and s["out_tok_s"] > 0 and s["tpot_ms"] > 0, "ran: %r" % s)
        check(0 < s["batch"] <= 1024, "batch %r" % s)
        check(s["req_s"] <= s["rate"] * 1.2, "cannot finish more than arrives: %r" % s)
    routed = [s for s in d["scenarios"] if s["groups"] == 19]
    service = [s for s in d["scenarios"] if s["groups"] == 150]
    check(len(routed) == 2 and len(service) == 2, "scenario kinds")
    # prefix affinity shows in the cache: the routed replica reuses its 19 system prompts
    check(min(s["hit_rate"] for s in routed) > max(s["hit_rate"] for s in service),
          "routed hit rate above the Service's")

    # the markdown table says the same
    rc, text, err = calibrate()
    check(rc == 0, "rc %d %s" % (rc, err))
    # the first table is the report (the step-model comparison and step-time tables follow)
    first = text.split("\n\n")[1]
    lines = [ln for ln in first.splitlines() if ln.startswith("| ") and "---" not in ln]
    check(lines[0].startswith("| figure | unit |"), "header %r" % lines[0])
    body = lines[1:]
    check(len(body) == len(rows), "table rows %d" % len(body))
    for ln, r in zip(body, rows):
        cells = [c.strip() for c in ln.strip("|").split("|")]
        check(len(cells) == 8, "8 columns: %r" % ln)
        check(cells[0] == r["figure"], "same order: %r" % ln)
        check(cells[7] == ("FLAG" if r["flagged"] else "ok"), "status: %r" % ln)
        check(re.fullmatch(r"[+-]\d+\.\d%", cells[5]) is not None, "error column: %r" % ln)
    m = re.search(r"(\d+) rows, (\d+) within tolerance, (\d+) flagged", text)
    check(m and int(m.group(1)) == len(rows) and int(m.group(3)) == d["flagged"], "summary line")
    check("load runs (one replica" in text, "scenario lines")


@test
def test_calibrate_step_models():
    # the text report sets both step models side by side on every row, fleet rows included
    rc, text, err = calibrate()
    check(rc == 0, err)
    check("step models compared" in text, "comparison table")
    rc, out, err = calibrate("--json")
    add = json.loads(out)
    rc2, out2, err2 = calibrate("--json", "--step-model", "overlap")
    check(rc == 0 and rc2 == 0, err + err2)
    ovl = json.loads(out2)
    check(add["step_model"] == "additive" and ovl["step_model"] == "overlap", "step_model field")
    check(ovl["weight_read_us"] > 0 and ovl["linear_us_per_token"] > 0, "overlap constants")
    rows_ok(ovl["rows"])
    comp = [ln for ln in text.split("step models compared")[1].split("step time by model")[0]
            .splitlines()
            if ln.startswith("| ") and "---" not in ln][1:]
    check(len(comp) == len(add["rows"]), "one comparison line per row: %d" % len(comp))
    for ln, a, o in zip(comp, add["rows"], ovl["rows"]):
        cells = [c.strip() for c in ln.strip("|").split("|")]
        check(cells[0] == a["figure"] == o["figure"], "same rows: %r" % ln)
        check(cells[4].split()[0] == "%+.1f%%" % a["err_pct"] and
              cells[6].split()[0] == "%+.1f%%" % o["err_pct"], "errors agree with JSON: %r" % ln)
    # the figures both models are built from are identical: peak prefill and capacity exact,
    # decode steps below the crossover (batch <= 242) equal
    for a, o in zip(add["rows"], ovl["rows"]):
        if a["figure"].startswith(("peak prefill", "KV capacity")) or (
                a["figure"].startswith("decode step") and "batch 256" not in a["figure"]):
            check(abs(a["model_value"] - o["model_value"]) < 1e-6 * a["model_value"],
                  "same value: %r %r" % (a, o))
    # the bound of any mixed-step model: prefill that costs a decode step nothing
    rc, out, err = calibrate("--json", "--step-model", "additive", "--prefill-us", "0")
    check(rc == 0, err)
    free = json.loads(out)
    check(free["prefill_us_per_token"] == 0, "override applied")
    for f, a in zip(free["rows"], add["rows"]):
        if a["load"] and a["unit"] == "tok/s":
            check(f["model_value"] >= a["model_value"], "free prefill never slower: %r" % f)
    rc, out, err = calibrate("--step-model", "overlap", "--profile",
                             "deepseek-r1-wideep-decode-h200")
    check(rc == 2 and "no constants for step model overlap" in err, err)


@test
def test_calibrate_other_profiles():
    rc, out, err = calibrate("--profile", "qwen3-8b-h100", "--json", "--static-only")
    check(rc == 0, err)
    d = json.loads(out)
    check(len(d["rows"]) == 12 and d["scenarios"] == [], "8b static rows")
    rows_ok(d["rows"])
    rc, out, err = calibrate("--profile=deepseek-r1-wideep-decode-h200")
    check(rc == 0 and "has no figures for this profile" in out, out + err)


@test
def test_calibrate_kv_read_override():
    # the replaced coefficient reproduces the derived decode table it was fitted to
    rc, out, err = calibrate("--json", "--static-only", "--kv-read-us", "0.0763")
    check(rc == 0, err)
    d = json.loads(out)
    check(d["decode_us_per_ctx_token"] == 0.0763, "override applied")
    dec = [r for r in d["rows"] if r["figure"].startswith("decode step")]
    check(len(dec) == 10 and all(abs(r["err_pct"]) < 1.0 for r in dec), "BLIS table: %r" % dec)


@test
def test_calibrate_bad_arguments():
    for args, what in ((["--profile", "nope"], "unknown profile 'nope'"),
                       (["--kv-read-us", "-1"], "--kv-read-us"),
                       (["--kv-read-us", "x"], "--kv-read-us"),
                       (["--step-model", "fused"], "--step-model"),
                       (["--prefill-us", "-3"], "--prefill-us"),
                       (["--step-model", "overlap", "--prefill-us", "0"],
                        "--prefill-us applies to the additive step model only"),
                       (["--port", "8000"], "unexpected argument '--port'")):
        rc, out, err = calibrate(*args)
        check(rc == 2 and what in err and out == "", "%r -> %d %r" % (args, rc, err))


if __name__ == "__main__":
    run()
