#!/usr/bin/env python3
"""Switchyard's default scheduling vs round-robin vs llm-d's default, across workloads and loads.

One `switchyard sim` fleet (4 replicas of qwen3-8b-h100 by default, scaled time) behind three
gateways on the same replicas, run one after the other per cell with the replicas' prefix caches
reset before each run:

  rr       scheduler = round-robin-picker (what a plain load balancer does)
  llm-d    `scheduler: llm-d-default` (queue 2, kv-cache-utilization 2, prefix-cache 3: llm-d's
           built-in default, Switchyard's default before issue 19)
  default  no scheduler section: Switchyard's default (cache-load-scorer, docs/scheduler.md)

Workloads (`switchyard bench` generators, lengths in tokens, sizes per cell from --requests):
  random      independent 1024-token prompts, 128 output tokens
  repeated    64-token prompts, 300 output tokens, the same prompts sent twice: the second pass is
              measured (the issue-19 case: every prompt is a full prefix hit on its first replica)
  shared      shared-prefix: 16 system prompts of 2048 tokens, 128-token questions, 128 output
  multiturn   multi-turn chat: 1000-token shared system prompt, 5 rounds per user
  agentic     tool loop: 4000-token tool preamble, 8 iterations per agent
  prefixrep   prefix-repetition: 10 prefixes of 256 tokens + 256-token suffixes, 128 output

For each (workload, concurrency) cell the bench runs the closed loop (N requests in flight) and
the table gives output tok/s and ITL p99 per target, with default/rr and llm-d/rr ratios, and the
spread of requests per replica (min-max share). Times and rates are the simulated GPUs' (bench
--time-scale). --repeat W:C runs cell W:C a second time to show the run-to-run noise.

Workload seeds: run i of a cell passes `switchyard bench --seed` base + i (--seed-base, default 1,
bench's own default) to every target of that run, so the arms see the same prompts in the same
order; --seeds N makes N runs per cell, each another order (default 1: one run on seed 1, the
behaviour before --seeds). A seed draws new texts for every workload; shared-prefix and
prefix-repetition are also shuffled by it (which group comes when); random and repeated prompts
are alike, and multi-turn and agentic keep their round-by-round order of alike sessions, so for
those a seed mainly replays the same schedule with other texts (tests/unit/bench/test_workload.c).
With N > 1 each cell ends with a POOLED line per target: ITL p99 over every gap of all N runs
together (not a mean of per-run p99s), output tok/s as the sum of output tokens over the sum of
run durations, their ratios to rr's pooled figures, the median of the per-run ratios and how many
runs met the bars, the share of the target's gaps at or above rr's pooled p99, the pooled p99
without the late gaps at or above it (tail_gaps()'s class: the host's stalls), and per run the
seed, ratios and load average (--json: "pooled").

--pool-json F1 F2 ... runs nothing: it pools the rows of earlier --json files per cell (all their
runs of a workload:concurrency together, pooled() as above; e.g. 32 orders from two runs of
--seeds 16) and prints the same POOLED lines, plus each target's cached-token ratio (mean, range
over the runs). Its targets are rr, default and --pool-arms A,B (default: every target all the
files' rows have).

  python3 bench/default_vs_rr.py --targets rr,default --alternate  # the README table (~30 min)
  python3 bench/default_vs_rr.py --repeat repeated:128  # with llm-d's default (~1 h on 2 loaded cores)
  python3 bench/default_vs_rr.py --workloads repeated --concurrency 1000 --requests 3000
  python3 bench/default_vs_rr.py --json out.json
  python3 bench/default_vs_rr.py --workloads prefixrep --concurrency 128 --targets rr,default \
      --alternate --seeds 6  # six prompt orders, pooled
  python3 bench/default_vs_rr.py --workloads multiturn --concurrency 1000 --logs /tmp/dvr
  python3 bench/default_vs_rr.py --workloads agentic --concurrency 128 --targets rr,default \
      --variant unweighted=bench/default_vs_rr_unweighted.yaml --repeat agentic:128

--targets leaves out targets (llm-d's default takes longest on shared-prefix workloads);
--variant NAME=FILE adds a target running another scheduler on the same fleet in the same cells
(before/after). Each cell also prints, per target, the cached-token ratio, TTFT p90 and requests
per replica, and per replica from the simulator's /metrics the run's prompt tokens, prefix hit
rate, output tokens and preemptions, and the peak running / waiting requests and KV usage, and
the placement from every request's record (bench --json-requests): how many requests went to
another replica than their group's (session's, agent's, prefix's) previous one ("moves", by
turn), the groups' first requests per replica, replicas per group, and when each replica's last
request finished (the run's tail), and where the ITL tail comes from (tail_gaps(): the gaps at or
above the pooled p99 sorted into late deliveries, the host's, and steps with a prefill on the
replica, scheduling's) with TPOT p99 and the p99 without late gaps beside ITL p99. --json keeps
the request records too, with every request's gaps. --alternate runs the
targets in reverse order in every other cell, so a drift of the host's load within a cell favours
each target equally often. Measured runs use bench's default for multi-turn and agentic
workloads: a session's next turn leaves only once its previous request has ended, as a chat user
or an agent waits. --no-session-wait passes bench --no-session-wait to every measured run: items
leave in index order, so a session can have several turns in flight (the order of the figures
before docs/scheduler.md's ninth session); the warm-up's random prompts have no sessions.

Warm-up: before its first measured cell, each new fleet (one per time scale) runs one unmeasured
closed loop through the rr gateway: min(conc, 256) random prompts (1024 tokens in, 128 out) at the
concurrency of the cell that follows; the replicas' caches are reset and every gateway restarted
before each measured run as always, so it carries nothing over but a simulator (and host) past its
first seconds. Without it the first cell after the simulators start had late gaps (a burst after
a host stall) in at least one arm in every command of docs/scheduler.md's sixth session.
--no-warmup leaves it out.

Every measured run records the host's 1-minute load average as it starts (printed per target,
load_avg in --json). A cell run more than once (--repeat) gets a summary at the end: per target,
the median and range of its ratios to rr over the runs and ITL p99 over all the runs' gaps pooled.

A cell that lost requests prints, per target, the errors by kind and the first message of each
kind (`switchyard bench`'s errors_by_kind / first_error); --logs keeps the gateways' logs (scrape
timeouts, upstream failures) per target to find out why.

Not a test: prints numbers, never fails on them (exit 1 only when a process fails).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
from harness import (BIN, consecutive_ports, free_ports, metrics, request,  # noqa: E402
                     start_gateway, start_process, stop_process, wait_endpoints_ready, wait_port,
                     write_file)

MODEL = "m"
TARGETS = ("rr", "llm-d", "default")
SCHEDULERS = {
    "rr": "scheduler:\n  plugins:\n    - type: round-robin-picker\n",
    "llm-d": "scheduler: llm-d-default\n",
    "default": "# no scheduler section: Switchyard's default\n",
}
WORKLOADS = ("random", "repeated", "shared", "multiturn", "agentic", "prefixrep")
# per replica, from the simulator's /metrics: counters as the run's delta, gauges as their maximum
# over the run (sampled every SAMPLE_S wall seconds)
COUNTERS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total",
            "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total",
            "vllm:num_preemptions_total", "vllm:request_success_total")
GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
SAMPLE_S = 0.5


def series_sum(m, name):
    """Sum of every series of metric name (any labels) in a metrics() dict."""
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def workload_args(w, n):
    """`switchyard bench` arguments for about n requests of workload w (once)."""
    if w == "random":
        return ["--workload", "random", "--num-prompts", str(n), "--input-len", "1024",
                "--output-len", "128"]
    if w == "repeated":
        return ["--workload", "random", "--num-prompts", str(n), "--input-len", "64",
                "--output-len", "300"]
    if w == "shared":
        g = 16
        return ["--workload", "shared-prefix", "--num-groups", str(g), "--num-prompts-per-group",
                str(max(1, n // g)), "--system-prompt-len", "2048", "--question-len", "128",
                "--output-len", "128"]
    if w == "multiturn":
        return ["--workload", "multi-turn", "--num-users", str(max(1, n // 5)), "--num-rounds",
                "5", "--shared-system-prompt", "1000", "--user-history-prompt", "1000",
                "--question-len", "128", "--answer-len", "100"]
    if w == "agentic":
        return ["--workload", "agentic", "--num-agents", str(max(1, n // 8)), "--num-iterations",
                "8", "--tool-preamble-len", "4000", "--question-len", "128", "--observation-len",
                "200", "--output-len", "128"]
    if w == "prefixrep":
        return ["--workload", "prefix-repetition", "--num-prompts", str(n), "--num-prefixes",
                "10", "--prefix-len", "256", "--suffix-len", "256", "--output-len", "128"]
    raise ValueError(w)


class Fleet:
    def __init__(self, replicas, profile, scale, timeout, logs="", gw_log_level="warn"):
        self.replicas, self.scale = replicas, scale
        self.logs = []  # files the processes write their logs to (--logs)

        def log(name):
            if not logs:
                return {"stdout": subprocess.DEVNULL}  # warnings go to this script's stderr
            os.makedirs(logs, exist_ok=True)
            f = open(os.path.join(logs, "%s-x%g.log" % (name, scale)), "a")
            self.logs.append(f)
            return {"stdout": f, "stderr": subprocess.STDOUT}
        self.base = consecutive_ports(replicas)
        self.sim = start_process([BIN, "sim", "--port", str(self.base), "--replicas",
                                  str(replicas), "--model", MODEL, "--profile", profile,
                                  "--time-scale", str(scale), "--log-level", "warn"],
                                 **log("sim"))
        for i in range(replicas):
            wait_port(self.base + i, proc=self.sim)
        self.gw = {}
        self._log, self._timeout, self._level = log, timeout, gw_log_level
        for t in SCHEDULERS:
            self.start_gateway(t)

    def start_gateway(self, t):
        """Starts target t's gateway (new ports). A fresh gateway has an empty prefix index:
        the replicas' caches are reset before every run, and a gateway kept from an earlier run
        of the same prompts would still "see" them cached where it sent them then (the workloads
        are seeded, so a repeat sends the same texts) and replay that placement."""
        scrape = 50.0 / self.scale  # 50 ms of simulated time
        eps = "".join("    - address: 127.0.0.1:%d\n" % (self.base + i)
                      for i in range(self.replicas))
        timeout = self._timeout
        listen, admin = free_ports(2)
        # timeouts are wall time: a request queued on a saturated replica sends nothing
        # after its response head for many simulated seconds (llm-d's default puts every
        # multiturn request on one replica), which the default streamIdle (300 s wall, 30
        # simulated s at time scale 0.1) cut mid-stream; both bounds are the bench's own
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\nlogLevel: %s\n"
               "timeouts: {request: %ds, streamIdle: %ds}\n"
               "pool:\n  engine: vllm\n  scrapeInterval: %.0fms\n"
               "  metricsStalenessThreshold: %.0fms\n  endpoints:\n%s%s"
               % (listen, admin, self._level, timeout, timeout, scrape, 40 * scrape, eps,
                  SCHEDULERS[t]))
        p = start_gateway(write_file(cfg), listen, admin, **self._log("gw-" + t))
        wait_endpoints_ready(admin, timeout=30)
        self.gw[t] = (p, listen)

    def restart_gateway(self, t):
        stop_process(self.gw[t][0])
        self.start_gateway(t)

    def reset(self):
        for i in range(self.replicas):
            request(self.base + i, "POST", "/reset_prefix_cache", b"", timeout=30)

    def snapshot(self):
        """Each replica's counters (COUNTERS) now."""
        snap = []
        for i in range(self.replicas):
            m = metrics(self.base + i)[0]
            snap.append({k: series_sum(m, k) for k in COUNTERS})
        return snap

    def bench(self, target, args, conc, timeout, replica_stats=None):
        """One `switchyard bench` run; with replica_stats (a list), appends per replica the
        counters' deltas and the gauges' maxima over the run."""
        out = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
        out.close()
        before = self.snapshot() if replica_stats is not None else None
        peaks = [dict.fromkeys(GAUGES, 0.0) for _ in range(self.replicas)]
        done = threading.Event()

        def sample():  # bounded by the run: stops when the bench process returns
            while not done.wait(SAMPLE_S):
                for i in range(self.replicas):
                    try:
                        m = metrics(self.base + i)[0]
                    except Exception:  # a stalled simulator: skip this sample
                        continue
                    for k in GAUGES:
                        peaks[i][k] = max(peaks[i][k], series_sum(m, k))
        th = threading.Thread(target=sample, daemon=True)
        if before is not None:
            th.start()
        cmd = ([BIN, "bench", "--target", "%s=http://127.0.0.1:%d" % (target, self.gw[target][1]),
                "--model", MODEL, "--concurrency", str(conc), "--time-scale", str(self.scale),
                "--timeout", "600", "--no-progress", "--json", out.name, "--json-requests"] + args)
        try:
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=timeout)
        finally:
            done.set()
            if before is not None:
                th.join()
        if before is not None:
            after = self.snapshot()
            for i in range(self.replicas):
                d = {k: after[i][k] - before[i][k] for k in COUNTERS}
                d.update(peaks[i])
                replica_stats.append(d)
        if r.returncode != 0:
            raise RuntimeError("bench failed (%d): %s" % (r.returncode, r.stderr.decode()[-500:]))
        with open(out.name) as f:
            data = json.load(f)
        os.unlink(out.name)
        run = data["runs"][0]
        run["workload_desc"] = data["meta"].get("workload", "")  # names the seed bench used
        return run

    def warm_up(self, conc, n, timeout):
        """One unmeasured closed loop of n random prompts at conc through the rr gateway (see the
        top of the file); the measured runs reset the caches and restart their gateway after it.
        Returns what it ran, for the --json record."""
        t0 = time.monotonic()
        run = self.bench("rr", workload_args("random", n), conc, timeout)
        return {"workload": "random", "concurrency": conc, "requests": n,
                "completed": run["completed"], "errors": run["errors"], "time_scale": self.scale,
                "wall_s": round(time.monotonic() - t0, 1)}

    def stop(self):
        for p, _ in self.gw.values():
            stop_process(p)
        stop_process(self.sim)
        for f in self.logs:
            f.close()


def cell(fleet, w, conc, n, timeout, targets=TARGETS, session_wait=True, seed=1):
    """One run of cell (w, conc): every target in turn on workload seed `seed` (the same prompts
    in the same order for every target, so the arms are paired)."""
    res = {}
    for t in targets:
        fleet.reset()
        fleet.restart_gateway(t)  # an empty prefix index, like the replicas' reset caches
        args = (workload_args(w, n) + ["--seed", str(seed)] +
                ([] if session_wait else ["--no-session-wait"]))
        if w == "repeated":  # first pass warms caches and the gateway's prefix index
            fleet.bench(t, args, conc, timeout)
        reps = []
        load = os.getloadavg()[0]  # the host's 1-minute load average as the run starts
        run = fleet.bench(t, args, conc, timeout, reps)
        shares = [e["share"] for e in run.get("endpoints", [])]
        res[t] = {"tok_s": run["output_tok_per_s"], "itl_p99": run["itl_p99_s"],
                  "tpot_p99": run.get("tpot_p99_s"),
                  "ttft_p90": run["ttft_p90_s"], "errors": run["errors"],
                  "completed": run["completed"],
                  "seed": seed, "workload_desc": run.get("workload_desc", ""),
                  "output_tokens": run.get("output_tokens"), "duration_s": run.get("duration_s"),
                  "errors_by_kind": {k: v for k, v in run.get("errors_by_kind", {}).items() if v},
                  "first_error": run.get("first_error", {}),
                  "share_min": min(shares) if shares else None,
                  "share_max": max(shares) if shares else None,
                  "cached": run.get("cached_token_ratio"),
                  "per_replica": [e.get("requests") for e in run.get("endpoints", [])],
                  "replicas": reps,
                  "load_avg": load,
                  "session_held": run.get("session_held", 0),
                  "placement": placement(run.get("request_log", [])),
                  "tail": tail_gaps(run.get("request_log", []), run["itl_p99_s"]),
                  "request_log": run.get("request_log", [])}
    return res


def late_flags(seqs):
    """The "late gap" rule tail_gaps() and flag_late() share. seqs: each request's inter-token
    gaps, in order. A gap is late when the request's next gap is under a quarter of the median of
    all the gaps of seqs: its tokens were ready and came in a burst, so the gap is the host's
    (delivery), not a long step. Returns (that median, per sequence a list of one bool per gap);
    (None, []) without gaps."""
    allg = sorted(g for gs in seqs for g in gs)
    if not allg:
        return None, []
    med = allg[len(allg) // 2]
    return med, [[i + 1 < len(gs) and gs[i + 1] < med / 4 for i in range(len(gs))]
                 for gs in seqs]


def tail_gaps(log, p99):
    """Where the ITL tail comes from, from the request records' gaps (bench --json-requests
    itl_gaps_s). Every gap >= the run's pooled p99 (a "tail gap", on the replica that served its
    request, ending at start_s + ttft_s + the request's gaps so far) is put in one class:

      late      the request's next gap is under a quarter of the run's median gap: its tokens
                were ready and arrived in a burst, so the gap is delivery, not a long step. The
                simulator models every step at its simulated time but writes tokens when its one
                event loop (all replicas) runs, in wall time; the gateway and the bench client are
                one process each: a CPU stall of any of the three shows as a late gap (x 1/time
                scale in simulated ms) on every stream at once, whatever the scheduling.
      prefill   not late, and a request on the same replica got its first token within the gap
                (or a quarter of its length after it): a prefill ran in that replica's step,
                which is where scheduling shows (prefills counts them: how many in the step).
      other     neither.

    "everywhere" counts the tail gaps during which every other replica with a stream in flight
    also had a gap of at least half the length covering the same moment (a stall, or every
    replica's wave ending at once). Returns None without records; else the counts, the mean
    prefills per prefill gap, and the pooled p99 without the late gaps (what the replicas' steps
    gave: scheduling and model, without the host)."""
    recs = [q for q in log
            if not q.get("error") and q.get("ttft_s") is not None and q.get("itl_gaps_s")]
    med, flags = late_flags([q["itl_gaps_s"] for q in recs])
    gaps = []  # (end, length, replica, late)
    live = {}  # replica -> [(first token, end)]
    for q, fs in zip(recs, flags):
        e = q.get("endpoint") or "-"
        t = q["start_s"] + q["ttft_s"]
        live.setdefault(e, []).append((t, q["end_s"]))
        for g, late in zip(q["itl_gaps_s"], fs):
            t += g
            gaps.append((t, g, e, late))
    if not gaps or not p99:
        return None
    firsts = {e: sorted(a for a, _ in v) for e, v in live.items()}
    longish = {}  # per replica, the gaps that can cover half of a tail gap
    for t, g, e, _ in gaps:
        if g >= p99 / 2:
            longish.setdefault(e, []).append((t - g, t, g))
    c = {"tail": 0, "late": 0, "prefill": 0, "other": 0, "everywhere": 0, "prefills": 0}
    late_gaps = set()
    for t, g, e, late in gaps:
        if g < p99:
            continue
        c["tail"] += 1
        m = t - g / 2
        others = [o for o in live if o != e and any(a < m < b for a, b in live[o])]
        if others and all(any(lo <= m <= hi and gl >= g / 2 for lo, hi, gl in longish.get(o, ()))
                          for o in others):
            c["everywhere"] += 1
        pre = sum(1 for f in firsts.get(e, ()) if t - g <= f <= t + g / 4)
        if late:
            c["late"] += 1
            late_gaps.add((t, e))
        elif pre:
            c["prefill"] += 1
            c["prefills"] += pre
        else:
            c["other"] += 1
    c["prefills_per_gap"] = c["prefills"] / c["prefill"] if c["prefill"] else None
    kept = sorted(g for t, g, e, _ in gaps if (t, e) not in late_gaps)
    c["p99_not_late"] = kept[min(len(kept) - 1, int(0.99 * len(kept)))] if kept else None
    c["gaps"] = len(gaps)
    c["median"] = med
    return c


def placement(log):
    """Where each group's (session's, prefix's) requests went, from bench --json-requests:
    moves = requests sent to another replica than the group's previous request (in send order),
    homes = groups per replica by where their first request went, spread = replicas per group
    (mean), end = per replica, when its last request finished (simulated s): the tail."""
    if not log:
        return None
    eps = sorted({r["endpoint"] for r in log if r.get("endpoint")})
    by_group = {}
    for r in sorted(log, key=lambda r: r["item"] if r["item"] is not None else -1):
        by_group.setdefault(r["group"], []).append(r)
    moves, by_turn, homes = 0, {}, dict.fromkeys(eps, 0)
    spread = 0
    for reqs in by_group.values():
        seq = [r["endpoint"] for r in reqs]
        if seq[0] in homes:
            homes[seq[0]] += 1
        spread += len(set(seq))
        for k in range(1, len(seq)):
            if seq[k] != seq[k - 1]:
                moves += 1
                by_turn[str(reqs[k]["turn"])] = by_turn.get(str(reqs[k]["turn"]), 0) + 1
    end = {e: max(r["end_s"] for r in log if r.get("endpoint") == e) for e in eps}
    return {"groups": len(by_group), "moves": moves,
            "moves_by_turn": by_turn,
            "homes": [homes[e] for e in eps], "replicas_per_group": spread / len(by_group),
            "end_s": [round(end[e], 2) for e in eps]}


def replica_line(r):
    """One replica's run: prompt tokens prefilled (not from cache), output tokens, hit rate,
    preemptions, peak running / waiting / KV usage."""
    q = r["vllm:prefix_cache_queries_total"]
    hit = r["vllm:prefix_cache_hits_total"] / q if q else float("nan")
    return ("%d req, %.0fk prompt (%.2f hit), %.0fk out, %d preempt, peak %d run %d wait "
            "%.0f%% kv" % (r["vllm:request_success_total"],
                           r["vllm:prompt_tokens_total"] / 1000, hit,
                           r["vllm:generation_tokens_total"] / 1000,
                           r["vllm:num_preemptions_total"], r["vllm:num_requests_running"],
                           r["vllm:num_requests_waiting"], 100 * r["vllm:kv_cache_usage_perc"]))


def ratio(a, b):
    return a / b if a is not None and b else float("nan")


NOT_RUN = {"tok_s": None, "itl_p99": None, "errors": 0, "share_min": None, "share_max": None}


def num(fmt, v, k=1.0):
    return fmt % (k * v) if v is not None else "-"


def fmt_row(w, conc, res):
    rr, ll, df = (res.get(t, NOT_RUN) for t in TARGETS)
    spread = "%2.0f-%2.0f%%" % (100 * df["share_min"], 100 * df["share_max"]) \
        if df["share_min"] is not None else "-"
    spread_ll = "%2.0f-%2.0f%%" % (100 * ll["share_min"], 100 * ll["share_max"]) \
        if ll["share_min"] is not None else "-"
    errs = "/".join(str(res.get(t, NOT_RUN)["errors"]) for t in TARGETS) \
        if any(r["errors"] for r in res.values()) else ""
    return ("| %-9s | %4d | %7s | %7s | %7s | **%.3f** | %.3f | %6s | %6s | %6s "
            "| **%.3f** | %.3f | %s | %s | %s |"
            % (w, conc, num("%.0f", rr["tok_s"]), num("%.0f", ll["tok_s"]),
               num("%.0f", df["tok_s"]), ratio(df["tok_s"], rr["tok_s"]),
               ratio(ll["tok_s"], rr["tok_s"]), num("%.1f", rr["itl_p99"], 1000),
               num("%.1f", ll["itl_p99"], 1000), num("%.1f", df["itl_p99"], 1000),
               ratio(df["itl_p99"], rr["itl_p99"]), ratio(ll["itl_p99"], rr["itl_p99"]),
               spread_ll, spread, errs))


HEADER = ("| workload | conc | rr tok/s | llm-d tok/s | default tok/s | default/rr | llm-d/rr "
          "| rr ITL p99 ms | llm-d ITL p99 ms | default ITL p99 ms | default/rr | llm-d/rr "
          "| llm-d spread | default spread | errors rr/llm-d/default |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def pool_gaps(logs):
    """Every inter-token gap of every request (bench --json-requests records) of the runs' logs
    together, sorted; requests that failed are left out."""
    return sorted(g for log in logs for q in log for g in (q.get("itl_gaps_s") or ())
                  if not q.get("error"))


def p99_of(gaps):
    """The p99 of sorted gaps (the index rule bench's own summary uses), or None if empty."""
    return gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))] if gaps else None


def pooled_p99(runs):
    """The p99 of every inter-token gap of every request of the runs together (bench
    --json-requests), or None without records."""
    return p99_of(pool_gaps(runs))


def flag_late(log):
    """A run's gaps (request records, failed requests left out) as (gap, late): late_flags()'s
    rule, as in tail_gaps()."""
    seqs = [q.get("itl_gaps_s") or () for q in log if not q.get("error")]
    _, flags = late_flags(seqs)
    return [(g, late) for gs, fs in zip(seqs, flags) for g, late in zip(gs, fs)]


def median(v):
    v = sorted(v)
    if not v:
        return None
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def pooled(runs, targets):
    """A cell's runs (each a cell() result; one per seed, and per --repeat) pooled per target:
      itl_p99        p99 of all the runs' ITL gaps together (not a mean of per-run p99s)
      tok_s          sum of output tokens / sum of run durations (simulated s) over the runs
      over_rr_p99    share of the target's gaps at or above rr's pooled p99 (rr's own is ~1%)
    and for targets other than rr their ratios to rr's pooled figures, the median of the per-run
    ratios, how many runs were within the bars (tok/s >= 0.98x, ITL p99 <= 1.05x), and per run
    (seed, tok/s, ITL p99, load average)."""
    gaps = {t: pool_gaps([x[t].get("request_log", []) for x in runs]) for t in targets}
    rr_p99 = p99_of(gaps["rr"])
    out = {}
    for t in targets:
        g = gaps[t]
        toks = sum(x[t].get("output_tokens") or 0 for x in runs)
        dur = sum(x[t].get("duration_s") or 0 for x in runs)
        p99 = p99_of(g)
        # without the late gaps at or above the pooled p99 (tail_gaps()'s p99_not_late, pooled):
        # what the replicas' steps gave, without the host's stalls
        fl = [f for x in runs for f in flag_late(x[t].get("request_log", []))]
        late = sum(1 for v, lt in fl if lt and p99 is not None and v >= p99)
        d = {"runs": len(runs), "gaps": len(g), "itl_p99": p99,
             "itl_p99_not_late": p99_of(sorted(v for v, lt in fl
                                              if not (lt and p99 is not None and v >= p99))),
             "late_tail": late, "tail": sum(1 for v in g if p99 is not None and v >= p99),
             "tok_s": toks / dur if dur > 0 else None,
             "over_rr_p99": (sum(1 for v in g if v >= rr_p99) / len(g)) if g and rr_p99 else None,
             "per_run": [{"seed": x[t].get("seed"), "tok_s": x[t]["tok_s"],
                          "itl_p99": x[t]["itl_p99"], "load_avg": x[t].get("load_avg")}
                         for x in runs]}
        out[t] = d
    for t in targets:
        if t == "rr":
            continue
        d = out[t]
        d["tok_ratio"] = ratio(d["tok_s"], out["rr"]["tok_s"])
        d["itl_ratio"] = ratio(d["itl_p99"], out["rr"]["itl_p99"])
        d["itl_not_late_ratio"] = ratio(d["itl_p99_not_late"], out["rr"]["itl_p99_not_late"])
        tr = [ratio(x[t]["tok_s"], x["rr"]["tok_s"]) for x in runs]
        ir = [ratio(x[t]["itl_p99"], x["rr"]["itl_p99"]) for x in runs]
        d["tok_ratio_per_run"], d["itl_ratio_per_run"] = tr, ir
        d["tok_ratio_median"], d["itl_ratio_median"] = median(tr), median(ir)
        d["runs_tok_ok"] = sum(1 for v in tr if v >= 0.98)
        d["runs_itl_ok"] = sum(1 for v in ir if v <= 1.05)
    return out


def print_pooled(w, c, runs, targets, label="POOLED"):
    """The pooled line of a cell (pooled()) and its per-run values; returns pooled()."""
    pl = pooled(runs, targets)
    rr = pl["rr"]
    print("%s %s:%d over %d runs (seeds %s): rr %s tok/s, ITL p99 %s ms of %d gaps (%d of its "
          "%d tail gaps late; without them %s ms)"
          % (label, w, c, len(runs), ",".join(str(x["rr"].get("seed")) for x in runs),
             num("%.0f", rr["tok_s"]), num("%.1f", rr["itl_p99"], 1000), rr["gaps"],
             rr["late_tail"], rr["tail"], num("%.1f", rr["itl_p99_not_late"], 1000)))
    for t in targets:
        if t == "rr":
            continue
        d = pl[t]
        print("  %s: tok/s %s (%s x rr, sum of tokens / sum of time; median of per-run ratios "
              "%s, %d of %d runs >= 0.98); ITL p99 %s ms (%s x rr, over all gaps; median of "
              "per-run ratios %s, %d of %d runs <= 1.05); %s of its gaps >= rr's pooled p99; "
              "%d of its %d tail gaps late, without them %s ms (%s x rr's)"
              % (t, num("%.0f", d["tok_s"]), num("%.3f", d["tok_ratio"]),
                 num("%.3f", d["tok_ratio_median"]), d["runs_tok_ok"], len(runs),
                 num("%.1f", d["itl_p99"], 1000), num("%.3f", d["itl_ratio"]),
                 num("%.3f", d["itl_ratio_median"]), d["runs_itl_ok"], len(runs),
                 num("%.2f%%", d["over_rr_p99"], 100), d["late_tail"], d["tail"],
                 num("%.1f", d["itl_p99_not_late"], 1000),
                 num("%.3f", d["itl_not_late_ratio"])))
        print("    per run (seed: tok/s ratio, ITL p99 ms %s/rr, ratio, load average): %s"
              % (t, "; ".join("%s: %.3f, %s/%s, %.3f, %.1f" % (
                  x["rr"].get("seed"), ratio(x[t]["tok_s"], x["rr"]["tok_s"]),
                  num("%.1f", x[t]["itl_p99"], 1000), num("%.1f", x["rr"]["itl_p99"], 1000),
                  ratio(x[t]["itl_p99"], x["rr"]["itl_p99"]), x[t].get("load_avg") or 0)
                  for x in runs)), flush=True)
    print("  rr over rr's pooled p99: %s of its gaps" % num("%.2f%%", rr["over_rr_p99"], 100),
          flush=True)
    return pl


def print_repeats(rows, targets, seeds=1):
    """For each cell run more often than --seeds (--repeat, or twice in the plan): the pooled line
    over all its runs (print_pooled). One run's p99 at 128 in flight is set by a few synchronised events and swings
    between orders and between identical runs; the pooled p99 and the median over runs are the
    steadier numbers."""
    cells = {}
    for r in rows:
        cells.setdefault((r["workload"], r["concurrency"]), []).append(r["results"])
    out = []
    for (w, c), runs in cells.items():
        if len(runs) <= seeds:  # one pass of --seeds: its POOLED line came with the cell
            continue
        print()
        out.append({"workload": w, "concurrency": c,
                    "targets": print_pooled(w, c, runs, targets, "ALL RUNS")})
    return out


def pool_json(files, arms):
    """--pool-json: the rows of earlier --json files pooled per cell (print_pooled(), label
    "POOLED FILES"), each target's cached ratio after; returns [{workload, concurrency,
    targets}]. Exits with a message on a file without rows or an arm a row lacks."""
    cells = {}
    for path in files:
        with open(path) as f:
            rows = json.load(f).get("rows")
        if not rows:
            sys.exit("--pool-json %s: no rows (not a default_vs_rr.py --json file?)" % path)
        for r in rows:
            cells.setdefault((r["workload"], r["concurrency"]), []).append(r["results"])
    out = []
    for (w, c), runs in cells.items():
        have = set.intersection(*(set(x) for x in runs))
        extra = arms if arms else sorted(have - {"rr", "default"})
        targets = ["rr", "default"] + [t for t in extra if t not in ("rr", "default")]
        missing = [t for t in targets if t not in have]
        if missing:
            sys.exit("--pool-json: %s:%d: not every row has %s" % (w, c, ", ".join(missing)))
        print()
        pl = print_pooled(w, c, runs, targets, "POOLED FILES")
        for t in targets:
            v = [x[t].get("cached") or 0 for x in runs]
            print("  %s cached: %.3f mean, %.3f-%.3f over the runs"
                  % (t, sum(v) / len(v), min(v), max(v)))
        out.append({"workload": w, "concurrency": c, "targets": pl})
    return out


def print_row(w, c, res, targets, session_wait):
    """One run of a cell: its table row and what explains it (per target)."""
    print(fmt_row(w, c, res), flush=True)
    print("  " + "; ".join(
        "%s: cached %s, TTFT p90 %s s, requests per replica %s, load average %.1f%s" % (
            t, num("%.3f", res[t]["cached"]), num("%.3f", res[t]["ttft_p90"]),
            "/".join(str(k) for k in res[t]["per_replica"]), res[t]["load_avg"],
            ", %d waited for their session" % res[t]["session_held"]
            if session_wait else "")
        for t in targets), flush=True)
    for t in targets:
        if t not in TARGETS:
            print("  %s: %.0f tok/s (%.3f x rr), ITL p99 %.1f ms (%.3f x rr), %s spread"
                  % (t, res[t]["tok_s"], ratio(res[t]["tok_s"], res["rr"]["tok_s"]),
                     1000 * res[t]["itl_p99"],
                     ratio(res[t]["itl_p99"], res["rr"]["itl_p99"]),
                     "%2.0f-%2.0f%%" % (100 * res[t]["share_min"],
                                        100 * res[t]["share_max"])), flush=True)
    for t in targets:
        print("  %s per replica: %s" % (t, " | ".join(replica_line(r) for r in
                                                      res[t]["replicas"])), flush=True)
    for t in targets:
        pl = res[t]["placement"]
        if pl:
            turns = {int(k): v for k, v in pl["moves_by_turn"].items()}
            print("  %s placement: %d groups, %d moves (by turn %s), first requests per "
                  "replica %s, %.2f replicas per group, last finish per replica %s s"
                  % (t, pl["groups"], pl["moves"],
                     " ".join("%d:%d" % kv for kv in sorted(turns.items())) or "-",
                     "/".join(str(h) for h in pl["homes"]), pl["replicas_per_group"],
                     "/".join("%.2f" % e for e in pl["end_s"])), flush=True)
    for t in targets:
        tg = res[t]["tail"]
        if tg:
            print("  %s ITL tail: %d gaps >= p99 %.1f ms (of %d, median %.1f ms): late "
                  "(a burst after: the host) %d, a prefill in the replica's step %d "
                  "(%s prefills each), other %d; %d of them on every replica at once; "
                  "p99 without the late gaps %s ms; TPOT p99 %s ms"
                  % (t, tg["tail"], 1000 * res[t]["itl_p99"], tg["gaps"],
                     1000 * tg["median"], tg["late"], tg["prefill"],
                     num("%.1f", tg["prefills_per_gap"]), tg["other"], tg["everywhere"],
                     num("%.1f", tg["p99_not_late"], 1000),
                     num("%.1f", res[t]["tpot_p99"], 1000)), flush=True)
    if all(res[t]["tail"] and res[t]["tail"]["p99_not_late"] for t in ("rr", "default")):
        print("  default/rr: ITL p99 %.3f, without the late gaps %.3f, TPOT p99 %s"
              % (ratio(res["default"]["itl_p99"], res["rr"]["itl_p99"]),
                 ratio(res["default"]["tail"]["p99_not_late"],
                       res["rr"]["tail"]["p99_not_late"]),
                 num("%.3f", ratio(res["default"]["tpot_p99"], res["rr"]["tpot_p99"]))),
              flush=True)
    for t in targets:
        if res[t]["errors"]:
            print("  %s errors: %s first: %s" % (t, res[t]["errors_by_kind"],
                                                res[t]["first_error"]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--concurrency", default="16,128,1000")
    ap.add_argument("--requests", type=int, default=0,
                    help="requests per run (default: 4 x conc up to 16, 2 x up to 128, else conc)")
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--profile", default="qwen3-8b-h100")
    ap.add_argument("--time-scale", type=float, default=0,
                    help="simulated seconds per wall second (default by concurrency: 1 up to "
                    "16, 0.4 up to 128, else 0.1: low loads are latency-bound, high loads "
                    "throughput-bound on the host)")
    ap.add_argument("--repeat", default="", help="W:C cells to run twice (noise), comma list")
    ap.add_argument("--seeds", type=int, default=1,
                    help="runs per cell, run i with workload seed --seed-base + i (the same seed "
                    "for every target of a run: paired arms); with N > 1 a POOLED line per cell "
                    "(ITL p99 over all the runs' gaps, tok/s as sum of tokens / sum of time)")
    ap.add_argument("--seed-base", type=int, default=1,
                    help="the first run's workload seed (default 1, bench's default)")
    ap.add_argument("--timeout", type=float, default=900, help="wall seconds per bench run")
    ap.add_argument("--json", default="")
    ap.add_argument("--logs", default="", help="directory for the simulator's and each "
                    "gateway's log (default: their warnings go to stderr)")
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help="targets to run per cell (rr and default are needed for the ratios; "
                    "leaving out llm-d saves its slow runs on shared-prefix workloads)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FILE",
                    help="an extra target NAME whose gateway runs the `scheduler:` section in "
                    "FILE, on the same fleet in the same cells (before/after comparisons); "
                    "repeatable")
    ap.add_argument("--gateway-log-level", default="warn",
                    help="the gateways' logLevel (debug: cache-load-scorer logs every decision's "
                    "inputs; use with --logs)")
    ap.add_argument("--alternate", action="store_true",
                    help="run the targets in reverse order in every other cell (a drift of the "
                    "host's load during a cell then favours each target equally often)")
    ap.add_argument("--default-scheduler", default="",
                    help="file holding a gateway `scheduler:` section to run as the 'default' "
                    "target instead of the built-in default (to try a variant)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="leave out the unmeasured warm-up run each new fleet makes before its "
                    "first measured cell")
    ap.add_argument("--no-session-wait", dest="session_wait", action="store_false",
                    help="bench --no-session-wait: multi-turn and agentic items leave in index "
                    "order, a session's next turn while its previous one streams (the order "
                    "the figures before docs/scheduler.md's ninth session were measured in); "
                    "default: a session's next turn leaves once its previous request has ended, "
                    "as a user or agent waits")
    ap.add_argument("--session-wait", dest="session_wait", action="store_true",
                    help="the default, accepted")
    ap.add_argument("--pool-json", nargs="+", default=[], metavar="FILE",
                    help="run nothing: pool the rows of earlier --json files per cell and print "
                    "their POOLED lines (with cached ratios)")
    ap.add_argument("--pool-arms", default="",
                    help="with --pool-json: the targets besides rr and default, comma list "
                    "(default: all the rows have)")
    a = ap.parse_args()
    # SIGTERM stops the fleet like Ctrl-C does (the finally below), never leaving it running
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.pool_json:
        pool_json(a.pool_json, [t for t in a.pool_arms.split(",") if t])
        return
    if a.default_scheduler:
        with open(a.default_scheduler) as f:
            SCHEDULERS["default"] = f.read()
    workloads = [w for w in a.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error("unknown workload %s (expected %s)" % (w, ", ".join(WORKLOADS)))
    for v in a.variant:
        name, _, path = v.partition("=")
        if not name or not path or name in TARGETS:
            ap.error("--variant %s: expected NAME=FILE with a new NAME" % v)
        with open(path) as f:
            SCHEDULERS[name] = f.read()
    targets = tuple(t for t in TARGETS if t in a.targets.split(",")) + tuple(
        v.partition("=")[0] for v in a.variant)
    for t in a.targets.split(","):
        if t not in TARGETS:
            ap.error("unknown target %s (expected %s)" % (t, ", ".join(TARGETS)))
    if "rr" not in targets or "default" not in targets:
        ap.error("--targets needs rr and default (the ratios)")
    if a.seeds < 1 or a.seed_base < 0:
        ap.error("--seeds must be >= 1 and --seed-base >= 0")
    concs = [int(c) for c in a.concurrency.split(",") if c]
    repeats = [(r.split(":")[0], int(r.split(":")[1])) for r in a.repeat.split(",") if r]
    rows = []
    warmups = []
    cells = []  # per cell run with --seeds N > 1: its N runs pooled (pooled())

    def scale_of(c):
        return a.time_scale or (1.0 if c <= 16 else 0.4 if c <= 128 else 0.1)

    print("%d x %s; closed loop (conc = requests in flight)%s; output tok/s and ITL p99 in "
          "simulated time" % (a.replicas, a.profile, "; sessions wait for their previous turn"
                              if a.session_wait else "; items in index order (--no-session-wait)"), flush=True)
    print(HEADER, flush=True)
    plan = [(w, c) for c in concs for w in workloads] + repeats
    fleets = {}
    try:
        for w, c in plan:
            x = scale_of(c)
            if x not in fleets:
                for f in fleets.values():
                    f.stop()
                fleets = {x: Fleet(a.replicas, a.profile, x, int(a.timeout), a.logs,
                                   a.gateway_log_level)}
                if not a.no_warmup:
                    wu = fleets[x].warm_up(c, min(c, 256), a.timeout)
                    warmups.append(wu)
                    print("  (warm-up, not measured: %d random requests at conc %d through rr, "
                          "%d completed, %.1f s wall)" % (wu["requests"], c, wu["completed"],
                                                          wu["wall_s"]), flush=True)
            n = a.requests or (4 * c if c <= 16 else 2 * c if c <= 128 else c)
            for i in range(a.seeds):  # run i of the cell: seed base + i for every target
                seed = a.seed_base + i
                order = targets[::-1] if a.alternate and len(rows) % 2 else targets
                res = cell(fleets[x], w, c, n, a.timeout, order, a.session_wait, seed)
                rows.append({"workload": w, "concurrency": c, "requests": n, "time_scale": x,
                             "seed": seed, "order": list(order),
                             "session_wait": a.session_wait, "results": res})
                if a.seeds > 1:
                    print("  (seed %d)" % seed, flush=True)
                print_row(w, c, res, targets, a.session_wait)
            if a.seeds > 1:
                runs = [r["results"] for r in rows[-a.seeds:]]
                cells.append({"workload": w, "concurrency": c, "seeds": [r["seed"] for r in
                                                                       rows[-a.seeds:]],
                              "targets": print_pooled(w, c, runs, targets)})
    finally:
        for f in fleets.values():
            f.stop()
    summary = print_repeats(rows, targets, a.seeds)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"replicas": a.replicas, "profile": a.profile, "warmups": warmups,
                       "session_wait": a.session_wait, "seeds": a.seeds,
                       "seed_base": a.seed_base, "rows": rows, "pooled": cells,
                       "pooled_all_runs": summary}, f, indent=1)
    worst_tok = min(ratio(r["results"]["default"]["tok_s"], r["results"]["rr"]["tok_s"])
                    for r in rows)
    worst_itl = max(ratio(r["results"]["default"]["itl_p99"], r["results"]["rr"]["itl_p99"])
                    for r in rows)
    print("\nworst default/rr: throughput %.3fx (target >= 0.98), ITL p99 %.3fx (target <= 1.05)"
          % (worst_tok, worst_itl))
    if cells:
        print("worst default/rr pooled over seeds: throughput %.3fx, ITL p99 %.3fx"
              % (min(x["targets"]["default"]["tok_ratio"] for x in cells),
                 max(x["targets"]["default"]["itl_ratio"] for x in cells)))


if __name__ == "__main__":
    main()
