#!/usr/bin/env python3
"""Smoke test of bench/llmd_sweep.py: each experiment in its quickest mode (--quick: llm-d's 17
stages at 2% of their length on 2 simulated replicas, output 32 tokens, time scale 4) runs the
real simulator, gateways and bench, and prints and writes the shape the docs describe: one row
per stage, every arm's summary, llm-d's figures beside ours. Checks shape and sanity (every
request answered, rates scaled x 4 to 8-replica equivalents), never a timing ratio."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import BIN, ROOT, check, run, test

SCRIPT = os.path.join(ROOT, "bench", "llmd_sweep.py")
STAGES = 17


def sweep(experiment, *extra):
    out = tempfile.NamedTemporaryFile(prefix="llmd-sweep-", suffix=".json", delete=False).name
    env = dict(os.environ, BUILD=os.path.relpath(os.path.dirname(BIN), ROOT))
    p = subprocess.run([sys.executable, SCRIPT, "--quick", "--experiment", experiment,
                        "--json", out, *extra], capture_output=True, text=True, timeout=120,
                       env=env, cwd=ROOT)
    check(p.returncode == 0, "exit %d\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    return p.stdout, data


def check_arms(data, names):
    check(sorted(data["arms"]) == sorted(names), data["arms"].keys())
    check(data["replicas"] == 2 and data["groups"] == 38 and data["scale_up"] == 4, data)
    sent = set()
    for name in names:
        arm = data["arms"][name]
        check(arm["error"] is None, (name, arm["error"]))
        r = arm["result"]
        check(r["completed"] == r["requests"] > 0 and r["errors"] == 0, (name, r))
        check(len(r["stages"]) == STAGES, (name, len(r["stages"])))
        check(sum(s["requests"] for s in r["stages"]) == r["requests"], name)
        # the scaled rates: 15 req/s x 0.25 for the warm-up stage, 60 x 0.25 for the last
        check(r["stages"][0]["rate"] == 3.75 and r["stages"][-1]["rate"] == 15, r["stages"][0])
        for s in r["stages"]:
            if s["completed"]:
                check(s["itl_p50_s"] is not None and s["itl_p90_s"] >= s["itl_p50_s"] > 0, s)
                check(s["ntpot_p50_s"] > 0 and s["ttft_p90_s"] >= s["ttft_p50_s"] > 0, s)
        sent.add(r["requests"])
        check(arm["wall_s"] > 0 and "bench" in arm["cpu_s"], arm.keys())
    check(len(sent) == 1, "every arm sends the same seeded schedule: %s" % sent)


def check_stage_table(text, names):
    lines = text.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("Per stage")]
    check(len(head) == 1, text)
    rows = lines[head[0] + 3:head[0] + 3 + STAGES]
    check(rows[0].strip().startswith("15 (warm-up)"), rows[0])
    check([r.split("|")[0].strip() for r in rows[1:]] ==
          ["3", "10", "15", "20", "22", "25", "30", "35", "40", "43", "46", "49", "52", "55", "57",
           "60"], rows)
    for name in names:
        check("TTFT p90 s " + name in lines[head[0] + 1], name)


@test
def test_sweep_quick():
    text, data = sweep("sweep")
    names = ["round-robin", "llm-d-default"]
    check_arms(data, names)
    check_stage_table(text, names)
    check("Beside llm-d's per-stage report" in text, text)
    h = data["headline"]
    check(h["req/s, 40 req/s stage (8-eq)"]["llm-d"] == [6.34, 15.39], h)
    check(all(v is not None for v in h["TTFT mean s, 40 stage"]["ours"]), h)
    check(data["max_concurrency"] is None and "client: open loop, no in-flight cap" in text, text)
    check(data["stage_interval_s"] is None and "stages: back to back" in text, text)
    check(all(data["arms"][n]["result"]["max_concurrency"] is None for n in names), "no cap")
    check(data["kv_blocks"] == "profile", data["kv_blocks"])


@test
def test_sweep_quick_max_concurrency():
    # 40 in flight fleet-wide at llm-d's 8 replicas is 10 at 2 (x R/8, like the rates)
    text, data = sweep("sweep", "--max-concurrency", "40", "--stage-interval", "1",
                       "--kv-blocks", "19262")
    names = ["round-robin", "llm-d-default"]
    check_arms(data, names)
    check_stage_table(text, names)
    check(data["max_concurrency"] == 40 and data["bench_max_concurrency"] == 10, data)
    check("client in-flight cap: 40 fleet-wide at 8 replicas (bench --max-concurrency 10 at 2)"
          in text, text)
    for n in names:
        r = data["arms"][n]["result"]
        check(r["max_concurrency"] == 10 and r["unsent"] == 0, (n, r))
        check(r["schedule_delay_max_s"] >= r["schedule_delay_p90_s"] >=
              r["schedule_delay_p50_s"] >= 0, (n, r))
        check(all(s["schedule_delay_p90_s"] is not None for s in r["stages"] if s["requests"]),
              (n, r["stages"]))
    check("schedule delay p90 s" in text and "delay p90 s round-robin" in text, text)
    # and inference-perf's stage barrier, 1 s as in llm-d's guide
    check(data["stage_interval_s"] == 1 and "stages: each starts 1 s after" in text, text)
    check(all(data["arms"][n]["result"]["stage_interval_s"] == 1 for n in names), "barrier")
    # the replicas' KV capacity passed through (gpu-memory-utilization 0.95's 308,192 tokens)
    check(data["kv_blocks"] == 19262, data["kv_blocks"])
    check_replica_view(text, data, names, STAGES)


def check_replica_view(text, data, names, nstages):
    """The per-replica view (bench/sweep_metrics.py): one entry per stage and arm, two replicas
    each, and the ITL decomposition's measured rows within their physical bounds."""
    for n in names:
        rs = data["arms"][n]["replica_stages"]
        check(len(rs) == nstages, (n, len(rs)))
        sampled = [g for g in rs if g and g["fleet"]["replicas_sampled"] == 2]
        check(sampled, (n, rs))
        # the bench's t0 is on this process's monotonic clock (the sampler's, for Sampler.rebase)
        t0 = data["arms"][n]["result"].get("t0_monotonic_s")
        check(t0 is not None and 0 < t0 <= time.monotonic(), (n, t0))
        total = sum(r["requests"] for g in rs if g for r in g["replicas"])
        check(total == data["arms"][n]["result"]["completed"], (n, total))
        for g in sampled:
            f, c = g["fleet"], g["fleet"]["components"]
            check(len(g["replicas"]) == 2 and f["running_min"] <= f["running_mean"] <=
                  f["running_max"], f)
            check(f["preemptions"] >= 0, f)
            # None when the window's samples saw no token computed (a short --quick stage)
            check(f["prefill_token_share"] is None or 0 <= f["prefill_token_share"] <= 1, f)
            if len(c) == 6:
                # the rows add up to the client's ITL by construction (each is a difference of
                # the next); what can fail: a step is at least its decode-only part (the same
                # batch without its prefill chunks), and the decode-only step takes time
                check(c["prefill_ms"] >= -1e-6, c)
                check(c["balanced_ms"] > 0, c)
        check("Replicas of %s per stage" % n in text and "ITL of %s split by cause" % n in text,
              text)
    check("Replica by replica at the 40 req/s stage" in text, text)


@test
def test_sweep_quick_only_stages():
    text, data = sweep("sweep", "--stage-interval", "1", "--only-stages", "warm-up,35,40,43")
    names = ["round-robin", "llm-d-default"]
    check(data["stages"] == [15, 35, 40, 43], data["stages"])
    for n in names:
        r = data["arms"][n]["result"]
        check(r["errors"] == 0 and r["completed"] == r["requests"] > 0, r)
        # llm-d's rates x 2/8, durations x 0.02
        check([s["rate"] for s in r["stages"]] == [3.75, 8.75, 10, 10.75], r["stages"])
    lines = text.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("Per stage")][0]
    check([x.split("|")[0].strip() for x in lines[head + 3:head + 7]] ==
          ["15 (warm-up)", "35", "40", "43"], lines[head:head + 7])
    check(data["headline"]["req/s, 40 req/s stage (8-eq)"]["ours"][0] > 0, data["headline"])
    check_replica_view(text, data, names, 4)


@test
def test_no_hit_lru_quick():
    # llm-d's default against the same plus no-hit-lru-scorer; the stage tails of both
    text, data = sweep("no-hit-lru", "--stage-interval", "1")
    names = ["llm-d-default", "default+no-hit-lru"]
    check_arms(data, names)
    check_stage_table(text, names)
    check("Stage tails" in text and "headline" not in data, text)
    for n in names:
        tails = data["arms"][n]["replica_tails"]
        check(len(tails) == STAGES, (n, tails))
        r = data["arms"][n]["result"]
        for t, st in zip(tails, r["stages"]):
            if t:
                check(t["requests_min"] <= t["requests_max"] and t["endpoints"] <= 2, t)
                check(t["req_per_s_at_mean_end"] >= t["req_per_s"] > 0, t)
                # the bench's own per-stage req/s over the same span
                check(abs(t["req_per_s"] - st["req_per_s"]) < 1e-6 * st["req_per_s"], (t, st))


def config_lines(name):
    """A scheduler yaml's lines without comments, blank lines or trailing spaces."""
    with open(os.path.join(ROOT, "bench", "llm-d-reference", name)) as f:
        return [ln.rstrip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def beside_optimized(text, data, names):
    """The table printed beside llm-d's optimized baseline (optimized-lru, switchyard,
    switchyard-lru): each arm's peak in the headline, one row per ladder stage ending with every
    arm's NTPOT p50. Returns its header cells and its rows by stage."""
    h = data["headline"]["peak output tok/s (8-eq)"]
    check(h["llm-d"] == [7049, 14941] and len(h["ours"]) == len(names), h)
    for i, n in enumerate(names):
        best = max(s["output_tok_per_s"] for s in data["arms"][n]["result"]["stages"][1:])
        check(abs(h["ours"][i] - 4 * best) < 1e-6 * max(1, h["ours"][i]), (h, best))
    lines = text.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("Beside llm-d's optimized baseline")]
    check(len(head) == 1, text)
    cols = [c.strip() for c in lines[head[0] + 1].split("|")]
    check(cols[-len(names):] == ["NTPOT p50 ms %s" % n for n in names], cols)
    rows = {r.split("|")[0].strip(): [c.strip() for c in r.split("|")]
            for r in lines[head[0] + 3:head[0] + 3 + STAGES - 1]}
    check(len(rows) == STAGES - 1 and "60" in rows, rows)
    for i, n in enumerate(names):
        last = data["arms"][n]["result"]["stages"][-1]
        check(rows["60"][i - len(names)] == "%.1f" % (1000 * last["ntpot_p50_s"]),
              (rows["60"], last))
    return cols, rows


@test
def test_optimized_lru_quick():
    # the optimized baseline, unchanged, against the same plus no-hit-lru-scorer: both configs
    base = config_lines("optimized-baseline.yaml")
    lru = config_lines("optimized-baseline-no-hit-lru.yaml")
    added = ["  - type: no-hit-lru-scorer", "      - {pluginRef: no-hit-lru-scorer, weight: 2}"]
    check([ln for ln in lru if ln not in added] == base and all(ln in lru for ln in added),
          (base, lru))
    keep = tempfile.mkdtemp(prefix="llmd-sweep-keep-")
    text, data = sweep("optimized-lru", "--stage-interval", "1", "--keep", keep)
    names = ["optimized-baseline", "optimized+no-hit-lru"]
    check_arms(data, names)
    check_stage_table(text, names)
    for n, cfg in zip(names, ("optimized-baseline.yaml", "optimized-baseline-no-hit-lru.yaml")):
        with open(os.path.join(keep, n, "gateway.yaml")) as f:
            gw = f.read()
        check(gw.endswith("/bench/llm-d-reference/%s\n" % cfg), gw)
        # the gateway took the config as it is: no plugin left out of the profile, no warning
        with open(os.path.join(keep, n, "gateway.log")) as f:
            log = f.read()
        check("not referenced" not in log and "ignored" not in log, log)
        check(len(data["arms"][n]["replica_tails"]) == STAGES, n)
    cols, rows = beside_optimized(text, data, names)
    check(rows["60"][4] == "13,528", rows["60"])
    shutil.rmtree(keep, ignore_errors=True)


@test
def test_switchyard_quick():
    # Switchyard's built-in default (no scheduler in the gateway config) beside llm-d's two
    keep = tempfile.mkdtemp(prefix="llmd-sweep-keep-")
    text, data = sweep("switchyard", "--stage-interval", "1", "--keep", keep)
    names = ["llm-d-default", "optimized-baseline", "switchyard"]
    check_arms(data, names)
    check_stage_table(text, names)
    files = {"llm-d-default": "llm-d-default.yaml", "optimized-baseline": "optimized-baseline.yaml"}
    for n in names:
        with open(os.path.join(keep, n, "gateway.yaml")) as f:
            gw = f.read()
        if n in files:
            check(gw.endswith("/bench/llm-d-reference/%s\n" % files[n]), gw)
            check(data["arms"][n]["scheduler"] == "llm-d-reference/" + files[n], data["arms"][n])
        else:  # what a user gets: no scheduler key at all
            check("scheduler" not in gw, gw)
            check(data["arms"][n]["scheduler"] == "built-in default", data["arms"][n])
    # what each gateway really ran, read back from its recorded decisions
    sc = {n: data["arms"][n]["scorers"] for n in names}
    check(sc == {"llm-d-default": ["kv-cache-utilization-scorer", "prefix-cache-scorer",
                                   "queue-scorer"],
                 "optimized-baseline": ["token-load-scorer"],
                 "switchyard": ["cache-load-scorer"]}, sc)
    check("switchyard: cache-load-scorer" in text, text)
    cols, rows = beside_optimized(text, data, names)
    check(cols[1:5] == ["out tok/s %s" % n for n in names] + ["out tok/s llm-d opt."], cols)
    check(rows["60"][4] == "13,528", rows["60"])
    for i, n in enumerate(names):
        last = data["arms"][n]["result"]["stages"][-1]
        check(rows["60"][1 + i] == "{:,.0f}".format(4 * last["output_tok_per_s"]),
              (rows["60"], last))
        check(len(data["arms"][n]["replica_tails"]) == STAGES, n)
    shutil.rmtree(keep, ignore_errors=True)


@test
def test_switchyard_lru_quick():
    # the built-in default against the same plus no-hit-lru-scorer (bench/default_vs_rr_lru.yaml)
    keep = tempfile.mkdtemp(prefix="llmd-sweep-keep-")
    text, data = sweep("switchyard-lru", "--stage-interval", "1", "--keep", keep)
    names = ["switchyard", "switchyard+no-hit-lru"]
    check_arms(data, names)
    check_stage_table(text, names)
    with open(os.path.join(ROOT, "bench", "default_vs_rr_lru.yaml")) as f:
        section = f.read()
    check("\nscheduler:\n" in section and "no-hit-lru-scorer" in section, section)
    for n in names:
        with open(os.path.join(keep, n, "gateway.yaml")) as f:
            gw = f.read()
        if n == "switchyard":  # what a user gets: no scheduler key at all
            check("scheduler" not in gw and data["arms"][n]["scheduler"] == "built-in default",
                  (gw, data["arms"][n]))
        else:  # the file's section as it is, the one default_vs_rr.py --variant takes
            check(gw.endswith(section) and gw.count("scheduler:") == 1, gw)
            check(data["arms"][n]["scheduler"] == "default_vs_rr_lru.yaml", data["arms"][n])
        with open(os.path.join(keep, n, "gateway.log")) as f:
            log = f.read()
        check("not referenced" not in log and "ignored" not in log, log)
        check(len(data["arms"][n]["replica_tails"]) == STAGES, n)
    # what each gateway really ran, read back from its recorded decisions: the second arm fails
    # here if the section was not loaded or its no-hit-lru-scorer never scored
    sc = {n: data["arms"][n]["scorers"] for n in names}
    check(sc == {"switchyard": ["cache-load-scorer"],
                 "switchyard+no-hit-lru": ["cache-load-scorer", "no-hit-lru-scorer"]}, sc)
    check("switchyard+no-hit-lru: cache-load-scorer, no-hit-lru-scorer" in text, text)
    cols, rows = beside_optimized(text, data, names)
    # the gain column after the arms' output: the second arm's over the first's
    check(cols[1:5] == ["out tok/s %s" % n for n in names] + ["ratio", "out tok/s llm-d opt."],
          cols)
    out = [4 * data["arms"][n]["result"]["stages"][-1]["output_tok_per_s"] for n in names]
    check(rows["60"][1:3] == ["{:,.0f}".format(v) for v in out], (rows["60"], out))
    check(rows["60"][3] == "%.2fx" % (out[1] / out[0]) and rows["60"][4] == "13,528", rows["60"])
    shutil.rmtree(keep, ignore_errors=True)


@test
def test_optimized_quick():
    text, data = sweep("optimized")
    check_arms(data, ["round-robin", "optimized-baseline"])
    h = data["headline"]
    check(h["peak output tok/s (8-eq)"]["llm-d"] == [7049, 14941], h)
    peak = h["peak output tok/s (8-eq)"]["ours"]
    # the peak is the best ladder stage's output rate x 4 (llm-d's table leaves out the warm-up)
    st = data["arms"]["round-robin"]["result"]["stages"][1:]
    best = max(s["output_tok_per_s"] for s in st)
    check(abs(peak[0] - 4 * best) < 1e-6 * max(1, peak[0]), (peak, best))
    check(h["NTPOT p50 at rate 60 ms"]["ours"][1] > 0, h)
    check("Optimized baseline vs a Kubernetes Service" in text, text)
    # the per-stage table beside llm-d's ends with each arm's NTPOT p50 (ms), the bench's figure
    lines = text.splitlines()
    head = [i for i, ln in enumerate(lines) if ln.startswith("Beside llm-d's per-stage report")]
    check(len(head) == 1, text)
    cols = [c.strip() for c in lines[head[0] + 1].split("|")]
    check(cols[-2:] == ["RR NTPOT p50 ms ours", "optimized-baseline NTPOT p50 ms ours"], cols)
    rows = {r.split("|")[0].strip(): [c.strip() for c in r.split("|")]
            for r in lines[head[0] + 3:head[0] + 3 + STAGES - 1]}
    check(sorted(rows, key=float) == ["3", "10", "15", "20", "22", "25", "30", "35", "40", "43",
                                      "46", "49", "52", "55", "57", "60"], rows.keys())
    for i, name in enumerate(["round-robin", "optimized-baseline"]):
        last = data["arms"][name]["result"]["stages"][-1]
        check(rows["60"][-2 + i] == "%.1f" % (1000 * last["ntpot_p50_s"]), (rows["60"], last))


@test
def test_print_table_no_rows():
    # an interrupted run prints its tables with no rows: headers only, no exception
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import llmd_sweep
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        llmd_sweep.print_table(["stage", "req/s"], [])
    check(buf.getvalue().splitlines()[:2] == ["stage | req/s", "------+------"], buf.getvalue())


@test
def test_summary_of_an_arm_without_data():
    # an arm that failed before any stage has no figures: its summary says "-", never 0 tok/s
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import llmd_sweep
    import argparse
    import contextlib
    import io
    a = argparse.Namespace(replicas=2, experiment="optimized")
    arms = [argparse.Namespace(name="round-robin"), argparse.Namespace(name="optimized-baseline")]
    srows = [(k, lr, None, [{"output_tok_per_s": 100.0 * k, "req_per_s": 1.0 * k}, {}])
             for k, lr in enumerate([15, 3, 60])]
    summary = {}
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        llmd_sweep.llmd_vs(a, arms, srows, summary)
    h = summary["headline"]
    check(h["peak output tok/s (8-eq)"]["ours"] == [800.0, None], h)
    check(h["req/s at rate 60 (8-eq)"]["ours"] == [8.0, None], h)
    row = [ln for ln in buf.getvalue().splitlines() if ln.startswith("peak output")]
    check(len(row) == 1 and [c.strip() for c in row[0].split("|")][1:4] == ["800", "-", "-"], row)


@test
def test_precise_quick():
    text, data = sweep("precise")
    check_arms(data, ["precise", "approximate", "random"])
    h = data["headline"]
    check(h["precise"]["ttft_p90_s"][1] == 0.542 and h["random"]["output_tok_per_s"][1] == 4429,
          h)
    # the precise arm's gateway indexed the replicas' KV events: cache hits on a shared-prefix load
    check(data["arms"]["precise"]["result"]["prefix_cache_hit_rate"] > 0, h)
    check("Ratios: TTFT p90 approximate/precise" in text, text)


@test
def test_bad_arguments():
    p = subprocess.run([sys.executable, SCRIPT, "--replicas", "9"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--replicas 1..8" in p.stderr, p.stderr)
    p = subprocess.run([sys.executable, SCRIPT, "--experiment", "nope"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "invalid choice" in p.stderr, p.stderr)
    p = subprocess.run([sys.executable, SCRIPT, "--max-concurrency", "-1"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--max-concurrency 0..800000" in p.stderr, p.stderr)
    p = subprocess.run([sys.executable, SCRIPT, "--only-stages", "warm-up,41"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "41 req/s is not one of llm-d's stages" in p.stderr, p.stderr)
    p = subprocess.run([sys.executable, SCRIPT, "--kv-blocks", "0"], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 2 and "--kv-blocks must be a positive block count" in p.stderr,
          p.stderr)


if __name__ == "__main__":
    run()
