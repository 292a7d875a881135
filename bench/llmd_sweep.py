#!/usr/bin/env python3
"""llm-d's staged sweep and its two sibling experiments on a per-replica scaled-down fleet.

llm-d benchmarks its schedulers with inference-perf's shared_prefix workload (150 groups x 5
prompts, system prompt 6000 tokens, question 1200, output 1000, ignore_eos) on 8 vLLM pods of
Qwen3-32B (TP2 on 2 H100), driven through 17 Poisson stages, 15 req/s x 50 s of warm-up then 3 ->
60 req/s. inference-perf runs each stage to its end (every request of the stage answered) and
waits load.interval (1 s in the guide's printed config) before the next: caches carry over from
stage to stage, queues do not (docs/bench.md, "The benchmark client"). --stage-interval S does the
same here; without it the stages run back to back and queues carry over too. Three published
comparisons use that setup; each is one command here:

  --experiment sweep      round-robin (a Kubernetes Service) vs llm-d's default scheduling
                          (bench/llm-d-reference/llm-d-default.yaml: prefix 3, queue 2,
                          kv-cache-utilization 2), the inference-scheduling guide's experiment
  --experiment optimized  round-robin vs llm-d's "optimized baseline"
                          (bench/llm-d-reference/optimized-baseline.yaml: prefix-cache-affinity-
                          filter + token-load-scorer), whose benchmark report gives both arms
                          per stage (peak output 14,941 vs 7,049 tok/s, NTPOT 43.9 vs 135.5 ms)
  --experiment optimized-lru  the optimized baseline vs the same plus llm-d's no-hit-lru-scorer
                          (bench/llm-d-reference/optimized-baseline-no-hit-lru.yaml), which
                          spreads new prefix groups over the replicas: how much of the optimized
                          arm's gap its uneven group placement costs
  --experiment switchyard  Switchyard's own default (the gateway config has no `scheduler:` at
                          all, so the gateway loads its built-in default, cache-load-scorer; no
                          file) beside llm-d's default scheduling (llm-d-default.yaml) and the
                          optimized baseline (optimized-baseline.yaml); the arms' scorers are
                          read back from each gateway's /debug/decisions and printed
  --experiment switchyard-lru  Switchyard's built-in default vs the same plus llm-d's
                          no-hit-lru-scorer at weight 1 (bench/default_vs_rr_lru.yaml, issue 19's
                          candidate default): whether spreading new prefix groups over the
                          replicas wins at llm-d's size; scorers read back as for switchyard
  --experiment precise    precise (KV events) vs approximate prefix-cache scoring vs random,
                          llm-d's "KV-cache wins" blog (TTFT p90 0.542 / 31.1 / 92.6 s, output
                          8,730 / 6,944 / 4,429 tok/s)

Scaling down. A fleet of R replicas gets llm-d's rates x R/8 and round(150 x R/8) groups, so each
replica sees the same arrival rate, the same number of prefixes to keep cached (KV pressure) and
the same prefix reuse as one of llm-d's 8 pods; fleet-wide rates (req/s, output tok/s) are printed
x 8/R ("8-replica equivalent") beside llm-d's. That holds for prefix-routed arms; round-robin and
random send every group to every replica, so their per-replica cache must hold all groups (38 x
6,000 tokens fit one replica's KV, 150 x 6,000 do not): at R < 8 those baselines keep more of their
prefixes than at llm-d's size (hit rate 53.5% at R = 2 vs 16.8% at R = 8, docs/bench.md).
`--replicas 8` runs llm-d's own size, the faithful setting wherever they are the baseline.

Every arm runs on its own `switchyard sim` fleet (profile qwen3-32b-tp2-h100) behind its own
`switchyard gateway`, and the arms run at the same time (same machine noise for all; --serial
runs them one after the other), each driven by `switchyard bench --stages` with the same seed.
--time-scale X (default 0.25, as bench/llm-d-reference/run.sh) runs the simulated GPUs X times
as fast as the wall clock and the bench converts back (docs/bench.md "Time scale"): every printed
time and rate is simulated H100 time, and wall-clock stalls of a loaded machine shrink by X. The
gateways read the replicas' metrics every 50 ms of simulated time.

Keeping up: the script reports per stage the requests the bench sent against the rate x duration
it was asked for, and per arm the CPU time the simulator, the gateway and the bench used against
the wall time; a saturated machine shows as a shortfall or as CPU near the cores available.

  python3 bench/llmd_sweep.py                                    # sweep, 2 replicas, full length
  python3 bench/llmd_sweep.py --replicas 8 --stage-scale 0.1     # per-replica scaling check
  python3 bench/llmd_sweep.py --experiment optimized
  python3 bench/llmd_sweep.py --experiment precise
  python3 bench/llmd_sweep.py --experiment switchyard --replicas 8   # Switchyard's default
  python3 bench/llmd_sweep.py --experiment switchyard-lru --replicas 8 --time-scale 1 \
      --stage-interval 1 --kv-blocks 19262 --only-stages warm-up,22,35,46,60
  python3 bench/llmd_sweep.py --quick                            # seconds: short stages, output 32

Options: --replicas R (1..8), --stage-scale F (multiplies every stage duration), --time-scale X,
--output-len N (1000), --seed N, --serial, --json FILE (everything measured), --keep DIR (bench
JSON and logs), --max-concurrency N (a client that holds at most N requests in flight fleet-wide,
given for llm-d's 8 replicas and scaled x R/8 like the rates: later arrivals wait in the client,
latencies are measured from the send and the wait is reported as schedule delay; default: no cap,
the open loop), --stage-interval S (inference-perf's stage barrier: each stage starts S simulated
seconds after every request of the earlier stages finished; default: back to back),
--step-model additive|overlap (the simulator's step-time model, docs/simulator.md), --kv-blocks N
(each replica's KV blocks of 16 tokens; default the profile's), --only-stages LIST (llm-d's
stages to run, by rate, "warm-up" for the first: e.g. warm-up,35,40,43), --sample-interval S
(simulated seconds between reads of the replicas' /metrics; 1, --quick 0.2), --replica-detail
RATE (the stage printed replica by replica; 40).

Per-replica view (bench/sweep_metrics.py): each arm's replicas' /metrics are read through the
run and, per stage, their running count, preemptions, KV usage and prefill share are printed with
the fleet's ITL split into decode step, replica imbalance, batch variation, prefill chunks,
stalls, and gateway + client. Not a test: prints numbers, never fails on them (exit 1 only if a
process fails).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import (BIN, consecutive_ports, free_ports, request, start_process,  # noqa: E402
                     stop_process, wait_port, wait_until)
sys.path.insert(0, HERE)
import sweep_metrics  # noqa: E402

MODEL = "Qwen/Qwen3-32B"
PROFILE = "qwen3-32b-tp2-h100"
LLMD_REPLICAS = 8
LLMD_GROUPS = 150
# inference-perf load.stages of llm-d's guides (rate req/s, duration s), warm-up first
LLMD_STAGES = [(15, 50), (3, 20), (10, 20), (15, 20), (20, 38), (22, 34), (25, 30), (30, 25),
               (35, 21), (40, 38), (43, 36), (46, 33), (49, 30), (52, 29), (55, 27), (57, 26),
               (60, 25)]

# llm-d optimized-baseline benchmark report (guides/optimized-baseline/benchmark-results/
# vllm-qwen3-32b-h100/README.md), per rate of the main ladder: output tok/s, TTFT p50 and p90 (s)
# for the Kubernetes Service (round-robin) and the optimized baseline. The report prints 0.0 for
# a stage whose latency histogram was empty: None here.
OB_STAGES = {
    3: (1889, 1511, None, None, None, None), 10: (4944, 4597, None, None, None, None),
    15: (6066, 8995, None, None, None, None), 20: (4555, 6656, 0.9, 0.4, 2.4, 4.2),
    22: (6239, 10809, 18.3, 0.2, 46.1, 1.4), 25: (6350, 10452, 0.4, 0.2, 0.9, 0.2),
    30: (6251, 10509, 0.8, 0.1, 4.9, 0.2), 35: (6544, 12290, 21.0, 0.1, 46.2, 0.2),
    40: (6228, 14134, 20.0, 0.1, 37.9, 0.3), 43: (6860, 13522, 25.7, 0.2, 61.9, 0.2),
    46: (6526, 14050, 20.4, 0.1, 66.8, 0.2), 49: (6956, 14941, 66.9, 0.9, 139.9, 2.1),
    52: (7049, 14542, 69.9, 0.3, 143.8, 1.3), 55: (6402, 14607, 78.3, 0.1, 158.5, 0.2),
    57: (6317, 13451, 83.1, 0.2, 153.3, 19.9), 60: (6764, 13528, 88.1, 0.2, 154.1, 0.9),
}
# its summary: peak output tok/s, req/s at rate 60, TTFT p50/p90 and NTPOT p50 at rate 60
OB_SUMMARY = {"peak_out": (7049, 14941), "rps60": (56.14, 57.03), "ttft_p50_60": (88.1, 0.2),
              "ttft_p90_60": (154.1, 0.9), "ntpot_p50_60_ms": (135.5, 43.9)}
# inference-scheduling guide, the 40 req/s stage, Service -> llm-d default scheduling
IS_40 = {"req_per_s": (6.34, 15.39), "ttft_mean_s": (27.7, 0.113), "e2e_mean_s": (97.3, 54.7),
         "itl_mean_s": (0.0695, 0.0545)}
# "KV-cache wins" blog: TTFT p90 (s) and output tok/s over the 3-60 QPS sweep
KVW = {"precise": (0.542, 8730), "approximate": (31.1, 6944), "random": (92.6, 4429)}

RR_CFG = """apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: round-robin-picker
schedulingProfiles:
  - name: default
    plugins:
      - pluginRef: round-robin-picker
"""
RANDOM_CFG = RR_CFG.replace("round-robin-picker", "random-picker")
# The precise / approximate pair of the "KV-cache wins" runs: llm-d's published precise config
# (inference-scheduler deploy/config epp-kvcache-load-config: prefix 2, kv-cache-utilization 1,
# queue 1), and the same weights over the approximate index.
PREFIX_LOAD = """schedulingProfiles:
  - name: default
    plugins:
      - {pluginRef: prefix-cache-scorer, weight: 2}
      - {pluginRef: kv-cache-utilization-scorer, weight: 1}
      - {pluginRef: queue-scorer, weight: 1}
      - {pluginRef: max-score-picker}
"""
APPROX_CFG = """apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: prefix-cache-scorer
  - type: kv-cache-utilization-scorer
  - type: queue-scorer
  - type: max-score-picker
""" + PREFIX_LOAD
PRECISE_CFG = """apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: token-producer
    parameters: {backend: simulator}
  - type: precise-prefix-cache-producer
    parameters:
      tokenProcessorConfig: {blockSize: 16}
      kvEventsConfig: {replayPortOffset: %(off)d}
  - type: prefix-cache-scorer
    parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
  - type: kv-cache-utilization-scorer
  - type: queue-scorer
  - type: max-score-picker
""" + PREFIX_LOAD

EXPERIMENTS = {
    "sweep": [("round-robin", {"file": "llm-d-reference/round-robin.yaml"}),
              ("llm-d-default", {"file": "llm-d-reference/llm-d-default.yaml"})],
    "optimized": [("round-robin", {"file": "llm-d-reference/round-robin.yaml"}),
                  ("optimized-baseline", {"file": "llm-d-reference/optimized-baseline.yaml"})],
    "optimized-lru": [("optimized-baseline", {"file": "llm-d-reference/optimized-baseline.yaml"}),
                      ("optimized+no-hit-lru",
                       {"file": "llm-d-reference/optimized-baseline-no-hit-lru.yaml"})],
    "no-hit-lru": [("llm-d-default", {"file": "llm-d-reference/llm-d-default.yaml"}),
                   ("default+no-hit-lru",
                    {"file": "llm-d-reference/llm-d-default-no-hit-lru.yaml"})],
    # no file and no text: the gateway config has no scheduler key, Switchyard's built-in default
    "switchyard": [("llm-d-default", {"file": "llm-d-reference/llm-d-default.yaml"}),
                   ("optimized-baseline", {"file": "llm-d-reference/optimized-baseline.yaml"}),
                   ("switchyard", {"builtin": True})],
    # the built-in default against the same plus no-hit-lru-scorer (issue 19's candidate); the
    # second arm's gateway config gets the file's `scheduler:` section, as default_vs_rr.py
    # --variant does
    "switchyard-lru": [("switchyard", {"builtin": True}),
                       ("switchyard+no-hit-lru", {"section": "default_vs_rr_lru.yaml"})],
    "precise": [("precise", {"text": PRECISE_CFG, "kv_events": True}),
                ("approximate", {"text": APPROX_CFG}),
                ("random", {"text": RANDOM_CFG})],
}


def scaled_stages(replicas, stage_scale, idx=None):
    """(rate, duration, llm-d's rate) of llm-d's stages idx (default all), scaled."""
    f = replicas / LLMD_REPLICAS
    idx = range(len(LLMD_STAGES)) if idx is None else idx
    return [(LLMD_STAGES[k][0] * f, LLMD_STAGES[k][1] * stage_scale, LLMD_STAGES[k][0])
            for k in idx]


def arm_stages(a):
    return scaled_stages(a.replicas, a.stage_scale, a.stage_idx)


def parse_only_stages(text):
    """--only-stages: llm-d's rates (\"warm-up\" for the first 15 req/s stage) -> stage indices,
    in llm-d's order. Raises ValueError on a rate that is not one of llm-d's stages."""
    idx = set()
    for tok in text.split(","):
        tok = tok.strip()
        if tok in ("warm-up", "warmup", "w"):
            idx.add(0)
            continue
        try:
            rate = float(tok)
        except ValueError:
            raise ValueError("not a stage rate: %r" % tok)
        ks = [k for k, (r, _) in enumerate(LLMD_STAGES) if k > 0 and r == rate]
        if not ks:
            raise ValueError("%s req/s is not one of llm-d's stages" % tok)
        idx.update(ks)
    return sorted(idx)


def proc_wait_s(pid):
    """Seconds the process spent runnable but waiting for a CPU (/proc/PID/schedstat)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def proc_cpu_s(pid):
    """utime + stime of a process and its reaped children, seconds (Linux /proc)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return sum(int(x) for x in parts[11:15]) / tck
    except (OSError, IndexError, ValueError):
        return None


class Arm:
    def __init__(self, name, spec, a, workdir):
        self.name, self.spec, self.a, self.dir = name, spec, a, workdir
        self.procs = []
        self.result = None
        self.error = None
        self.cpu = {}
        self.wall = 0
        self.scrape_failures = None
        self.sampler = None
        self.replica_stages = None
        self.replica_tails = None
        self.scorers = None

    def start(self):
        a = self.a
        base = consecutive_ports(a.replicas)
        cmd = [BIN, "sim", "--replicas", str(a.replicas), "--port", str(base), "--profile",
               PROFILE, "--time-scale", repr(a.time_scale), "--model", MODEL,
               "--log-level", "warn"]
        if a.step_model:
            cmd += ["--step-model", a.step_model]
        if a.kv_blocks:
            cmd += ["--kv-blocks", str(a.kv_blocks)]
        kv = rep = None
        if self.spec.get("kv_events"):
            kv, rep = consecutive_ports(a.replicas), consecutive_ports(a.replicas)
            cmd += ["--kv-events", "tcp://127.0.0.1:%d" % kv,
                    "--kv-events-replay", "tcp://127.0.0.1:%d" % rep]
        self.sim = start_process(cmd, stdout=open(os.path.join(self.dir, "sim.log"), "w"),
                                 stderr=subprocess.STDOUT)
        self.procs.append(self.sim)
        for i in range(a.replicas):
            wait_port(base + i, proc=self.sim, timeout=30)
        self.base = base
        listen, admin = free_ports(2)
        scrape = max(10, round(50 / a.time_scale))
        eps = ""
        for i in range(a.replicas):
            eps += "    - address: 127.0.0.1:%d\n" % (base + i)
            if kv:
                eps += "      kvEvents: tcp://127.0.0.1:%d\n" % (kv + i)
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\nlogLevel: warn\n"
               "timeouts:\n  request: %ds\n  streamIdle: %ds\npool:\n  engine: vllm\n"
               "  scrapeInterval: %dms\n  metricsStalenessThreshold: %dms\n  endpoints:\n%s"
               % (listen, admin, round(a.timeout / a.time_scale), round(a.timeout / a.time_scale),
                  scrape, scrape * 40, eps))
        if self.spec.get("builtin"):
            pass  # no scheduler: what a user gets (docs/scheduler.md, "The default")
        elif "file" in self.spec:
            cfg += "schedulerFile: %s\n" % os.path.join(HERE, self.spec["file"])
        elif "section" in self.spec:  # a gateway config's `scheduler:` section, as it is
            with open(os.path.join(HERE, self.spec["section"])) as f:
                cfg += f.read()
        else:
            text = self.spec["text"] % {"off": (rep - kv) if kv else 0}
            cfg += "scheduler:\n" + "".join("  " + ln + "\n" for ln in text.splitlines())
        path = os.path.join(self.dir, "gateway.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        self.gw = start_process([BIN, "gateway", "--config", path],
                                stdout=open(os.path.join(self.dir, "gateway.log"), "w"),
                                stderr=subprocess.STDOUT)
        self.procs.append(self.gw)
        wait_port(listen, proc=self.gw, timeout=30)

        def ready():
            try:
                st, _, body = request(admin, "GET", "/debug/endpoints")
            except OSError:  # the admin listener may come up a moment after the main one
                return False
            return st == 200 and all(e["ready"] for e in json.loads(body)["endpoints"])
        wait_until(ready, 30, what="%s: endpoints ready" % self.name)
        self.listen = listen
        self.admin = admin

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported with the results, the other arms go on
            self.error = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        a = self.a
        stages = ",".join("%g:%gs" % (r, d) for r, d, _ in arm_stages(a))
        out = os.path.join(self.dir, "bench.json")
        cmd = [BIN, "bench", "--target", "%s=http://127.0.0.1:%d" % (self.name, self.listen),
               "--workload", "shared-prefix", "--num-groups", str(a.groups),
               "--num-prompts-per-group", "5", "--system-prompt-len", "6000",
               "--question-len", "1200", "--output-len", str(a.output_len), "--ignore-eos",
               "--model", MODEL, "--stages", stages, "--time-scale", repr(a.time_scale),
               "--timeout", "%ds" % a.timeout, "--seed", str(a.seed), "--json", out,
               "--no-progress", "--json-requests"]
        if a.bench_cap:
            cmd += ["--max-concurrency", str(a.bench_cap)]
        if a.stage_interval is not None:
            cmd += ["--stage-interval", "%gs" % a.stage_interval]
        for i in range(a.replicas):
            cmd += ["--metrics-url", "http://127.0.0.1:%d/metrics" % (self.base + i)]
        # bounded: the whole sweep plus the drain allowed by --timeout, in wall time
        limit = (sum(d for _, d, _ in arm_stages(a)) + a.timeout) / a.time_scale + 120
        if a.stage_interval is not None:  # each stage drains: allow one more drain's worth
            limit += (a.timeout + len(a.stage_idx) * a.stage_interval) / a.time_scale

        def fetch(i):
            st, _, body = request(self.base + i, "GET", "/metrics", timeout=5)
            if st != 200:
                raise OSError("replica %d /metrics: HTTP %d" % (i, st))
            return body.decode()
        self.sampler = sweep_metrics.Sampler(fetch, a.replicas, a.sample_wall, a.time_scale,
                                             limit)
        self.sampler.start()
        t0 = time.monotonic()
        with open(os.path.join(self.dir, "bench.log"), "w") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(p)
            peak = {}
            while p.poll() is None and time.monotonic() - t0 < limit:
                for label, q in (("sim", self.sim), ("gateway", self.gw), ("bench", p)):
                    c = proc_cpu_s(q.pid)
                    if c is not None:
                        peak[label] = c
                    w = proc_wait_s(q.pid)
                    if w is not None:
                        peak[label + " wait"] = w
                time.sleep(1)
            if p.poll() is None:
                p.terminate()  # the bench writes what it measured on SIGTERM
                p.wait(60)
                self.error = "stopped after %.0f wall seconds" % limit
        self.sampler.stop()
        self.wall = time.monotonic() - t0
        self.cpu = peak
        self.scorers = self.decision_scorers()
        try:
            with open(os.path.join(self.dir, "gateway.log")) as f:
                self.scrape_failures = sweep_metrics.scrape_outages(f)
        except OSError:
            pass
        if p.returncode not in (0, 130, -15) or not os.path.exists(out):
            raise RuntimeError("bench exited %s (%s)" % (p.returncode, os.path.join(
                self.dir, "bench.log")))
        with open(out) as f:
            self.result = json.load(f)["runs"][0]
        # the request log only feeds the per-replica view: kept out of the printed JSON
        log = self.result.pop("request_log", None) or []
        names = ["127.0.0.1:%d" % (self.base + i) for i in range(a.replicas)]
        t0 = self.result.get("t0_monotonic_s")
        if t0:  # the bench's clock (the request log's 0), not the sampler's start
            self.sampler.rebase(t0)
        self.replica_stages = sweep_metrics.summarize(self.sampler.samples, a.replicas, log,
                                                      len(a.stage_idx), names)
        self.replica_tails = sweep_metrics.stage_tails(log, len(a.stage_idx))

    def decision_scorers(self):
        """The scorer names in the gateway's recorded decisions (/debug/decisions): what the
        gateway really ran. None when it cannot be read."""
        try:
            st, _, body = request(self.admin, "GET", "/debug/decisions", timeout=10)
            if st != 200:
                return None
            names = set()
            for d in json.loads(body)["decisions"]:
                for c in d.get("top", []):
                    names.update(c.get("scores", {}))
            return sorted(names)
        except (OSError, ValueError, KeyError):
            return None

    def stop(self):
        if self.sampler:
            self.sampler.stop()
        for p in reversed(self.procs):
            stop_process(p)


def fmt(v, unit="s", digits=None):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if unit == "ms":
        return "%.1f" % (v * 1000)
    if unit == "tok":
        return "{:,.0f}".format(v)
    if digits is not None:
        return "%.*f" % (digits, v)
    return "%.3g" % v if abs(v) < 10 else "%.1f" % v


def ratio(a, b):
    if a is None or b is None or a != a or b != b or a == 0:
        return "-"
    r = b / a
    return ("%.2fx" if r >= 0.1 else "%.2gx") % r


def print_table(headers, rows):
    w = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    line = " | ".join(str(h).rjust(w[i]) for i, h in enumerate(headers))
    print(line)
    print("-+-".join("-" * x for x in w))
    for r in rows:
        print(" | ".join(str(c).rjust(w[i]) for i, c in enumerate(r)))
    print()


def stage_rows(a, arms):
    """Per stage: offered vs sent, and each arm's numbers; rates x 8/R."""
    up = LLMD_REPLICAS / a.replicas
    st = arm_stages(a)
    res = [arm.result["stages"] if arm.result else [] for arm in arms]
    rows = []
    for pos, (rate, dur, llmd_rate) in enumerate(st):
        k = a.stage_idx[pos]  # llm-d's stage index (0: the warm-up)
        gs = [r[pos] if pos < len(r) else {} for r in res]
        row = ["%g%s" % (llmd_rate, " (warm-up)" if k == 0 else "")]
        row.append("/".join(str(g.get("requests", "-")) for g in gs) + " of %.0f" % (rate * dur))
        for key, unit in (("req_per_s", "rate"), ("ttft_p50_s", "s"), ("ttft_p90_s", "s"),
                          ("tpot_p50_s", "ms"), ("tpot_p90_s", "ms"),
                          ("output_tok_per_s", "tok")):
            vals = [g.get(key) for g in gs]
            if unit in ("rate", "tok"):
                vals = [v * up if v is not None else None for v in vals]
            row += [fmt(v, "tok" if unit == "tok" else unit, 2 if unit == "rate" else None)
                    for v in vals]
            if len(arms) == 2 and key in ("req_per_s", "output_tok_per_s", "ttft_p90_s",
                                          "tpot_p50_s"):
                row.append(ratio(vals[0], vals[1]))
        if a.bench_cap:
            row += [fmt(g.get("schedule_delay_p90_s"), "s") for g in gs]
        rows.append((k, llmd_rate, row, gs))
    return rows


def report(a, arms):
    names = [arm.name for arm in arms]
    up = LLMD_REPLICAS / a.replicas
    print("\n== %s: %d replicas of %s, %d groups x 5 prompts, system prompt 6000, question 1200, "
          "output %d; llm-d's 17 stages x %g duration, rates x %g; time scale %g ==" %
          (a.experiment, a.replicas, PROFILE, a.groups, a.output_len, a.stage_scale,
           a.replicas / LLMD_REPLICAS, a.time_scale))
    print("arms: %s (rates and output tok/s below are x %g: 8-replica equivalents)"
          % (", ".join(names), up))
    if a.bench_cap:
        print("client in-flight cap: %d fleet-wide at 8 replicas (bench --max-concurrency %d at"
              " %d): later arrivals wait in the client, latencies from the send, the wait is the"
              " schedule delay\n" % (a.max_concurrency, a.bench_cap, a.replicas))
    else:
        print("client: open loop, no in-flight cap")
    if a.stage_interval is not None:
        print("stages: each starts %g s after every request of the earlier stages finished"
              " (inference-perf's stage barrier)\n" % a.stage_interval)
    else:
        print("stages: back to back (queues carry over from stage to stage)\n")
    for arm in arms:
        if arm.error:
            print("%s: %s" % (arm.name, arm.error))

    # whole run
    heads = ["whole sweep"] + names + (["ratio"] if len(arms) == 2 else [])
    rows = []
    cap_rows = ((("schedule delay p50 s", "schedule_delay_p50_s", "s"),
                 ("schedule delay p90 s", "schedule_delay_p90_s", "s"),
                 ("schedule delay max s", "schedule_delay_max_s", "s"),
                 ("never sent", "unsent", "n")) if a.bench_cap else ())
    for label, key, unit in (("requests", "requests", "n"), ("completed", "completed", "n"),
                             ("errors", "errors", "n"), ("req/s (8-eq)", "req_per_s", "rate"),
                             ("output tok/s (8-eq)", "output_tok_per_s", "tok"),
                             ("TTFT p50 s", "ttft_p50_s", "s"), ("TTFT p90 s", "ttft_p90_s", "s"),
                             ("TTFT mean s", "ttft_mean_s", "s"),
                             ("ITL p50 ms (token gaps)", "itl_p50_s", "ms"),
                             ("ITL p90 ms (token gaps)", "itl_p90_s", "ms"),
                             ("ITL p50 ms (per request)", "tpot_p50_s", "ms"),
                             ("ITL p90 ms (per request)", "tpot_p90_s", "ms"),
                             ("ITL mean ms", "itl_mean_s", "ms"), ("E2E mean s", "e2e_mean_s", "s"),
                             ("prefix-cache hit rate", "prefix_cache_hit_rate", "pct"),
                             ("duration s (simulated)", "duration_s", "s")) + cap_rows:
        vals = [arm.result.get(key) if arm.result else None for arm in arms]
        if unit in ("rate", "tok"):
            vals = [v * up if v is not None else None for v in vals]
        if unit == "n":
            cells = [str(v) if v is not None else "-" for v in vals]
        elif unit == "pct":
            cells = ["%.1f%%" % (100 * v) if v is not None else "-" for v in vals]
        else:
            cells = [fmt(v, "tok" if unit == "tok" else unit, 2 if unit == "rate" else None)
                     for v in vals]
        r = [label] + cells
        if len(arms) == 2:
            r.append(ratio(vals[0], vals[1]) if unit not in ("n", "pct") else "")
        rows.append(r)
    print_table(heads, rows)

    # keeping up
    rows = []
    for arm in arms:
        wall = arm.wall or 1
        cpu = arm.cpu
        sent = arm.result.get("requests") if arm.result else None
        offered = sum(r * d for r, d, _ in arm_stages(a))
        errs = arm.result.get("errors") if arm.result else None
        rows.append([arm.name, "%s of %.0f" % (sent, offered), str(errs), str(arm.scrape_failures),
                     "%.0f" % wall] + ["%.0f%%" % (100 * cpu[k] / wall) if k in cpu else "-"
                                       for k in ("sim", "gateway", "bench", "sim wait",
                                                 "gateway wait")])
    print("Keeping up (requests sent vs rate x duration; failed requests; times the gateway saw a"
          " metrics scrape time out or fail (> max(1 s, 20 scrape intervals) of wall time: the"
          " endpoint is out until the next scrape succeeds); CPU of one core over wall time, and"
          " the time the simulator and the gateway were runnable but waiting for a CPU):")
    print_table(["arm", "sent", "failed", "scrape failures", "wall s", "sim CPU", "gateway CPU",
                 "bench CPU", "sim waited", "gateway waited"], rows)
    bad = [arm.name for arm in arms if not arm.result or arm.result.get("errors")]
    if bad:
        print("WARNING: requests failed in %s: the machine did not keep up (see the gateway logs"
              " and the waiting times above); these numbers are not a valid comparison.\n"
              % ", ".join(bad))

    # per stage
    h = ["stage req/s", "sent (" + "/".join(names) + ")"]
    for key in ("req/s", "TTFT p50 s", "TTFT p90 s", "ITL p50 ms", "ITL p90 ms", "out tok/s"):
        h += ["%s %s" % (key, n) for n in names]
        if len(arms) == 2 and key in ("req/s", "out tok/s", "TTFT p90 s", "ITL p50 ms"):
            h.append("ratio")
    if a.bench_cap:
        h += ["delay p90 s %s" % n for n in names]
    srows = stage_rows(a, arms)
    print("Per stage (requests scheduled in the stage; req/s and tok/s over their own span, 8-eq;"
          " ITL = each request's mean inter-token latency, (E2E - TTFT) / (tokens - 1), p50/p90"
          " over the stage's requests):")
    print_table(h, [r for _, _, r, _ in srows])

    summary = {"experiment": a.experiment, "replicas": a.replicas, "groups": a.groups,
               "stage_scale": a.stage_scale, "time_scale": a.time_scale,
               "output_len": a.output_len, "scale_up": up,
               "max_concurrency": a.max_concurrency or None,
               "bench_max_concurrency": a.bench_cap or None,
               "stage_interval_s": a.stage_interval,
               "step_model": a.step_model or "default",
               "kv_blocks": a.kv_blocks or "profile",
               "stages": [LLMD_STAGES[k][0] for k in a.stage_idx],
               "sample_interval_s": a.sample_interval,
               "arms": {arm.name: {"result": arm.result, "error": arm.error, "cpu_s": arm.cpu,
                                   "wall_s": arm.wall, "scorers": arm.scorers,
                                   "scheduler": arm.spec.get("file") or
                                   arm.spec.get("section") or (
                                       "built-in default" if arm.spec.get("builtin")
                                       else "inline")} for arm in arms}}
    print("Scorers each gateway ran (read back from its /debug/decisions): " + "; ".join(
        "%s: %s" % (arm.name, ", ".join(arm.scorers) if arm.scorers is not None else "-")
        for arm in arms) + "\n")
    if a.experiment in ("sweep", "optimized"):
        llmd_vs(a, arms, srows, summary)
    elif a.experiment in ("optimized-lru", "switchyard", "switchyard-lru"):
        # two arms, the second a change to the first: with its gain over the first
        optimized_vs(a, arms, srows, summary, gain=len(arms) == 2)
    elif a.experiment == "precise":
        precise_vs(a, arms, summary)
    replica_tail(a, arms, summary)
    replica_report(a, arms, summary)
    return summary


def replica_tail(a, arms, summary):
    """Behind the barrier a stage's req/s ends at its slowest replica's last completion: per
    stage and arm, the spread of requests and of last completions over the replicas, and the
    req/s had every replica ended at their mean end (what an even split would approach)."""
    st = arm_stages(a)
    rows = []
    for arm in arms:
        tails = arm.replica_tails or []
        summary["arms"][arm.name]["replica_tails"] = tails
        for pos, t in enumerate(tails):
            if not t or not t["req_per_s"] or not t["req_per_s_at_mean_end"]:
                continue
            rows.append([arm.name, "%g%s" % (st[pos][2], " (warm-up)" if a.stage_idx[pos] == 0
                                             else ""),
                         "%d-%d" % (t["requests_min"], t["requests_max"]),
                         "%.1f-%.1f" % (t["last_min_s"], t["last_max_s"]),
                         "%.2f" % (t["req_per_s"] * LLMD_REPLICAS / a.replicas),
                         "%.2f" % (t["req_per_s_at_mean_end"] * LLMD_REPLICAS / a.replicas),
                         "+%.1f%%" % (100 * (t["req_per_s_at_mean_end"] / t["req_per_s"] - 1))])
    if rows:
        print("Stage tails (requests per replica; each replica's last completion, s after the "
              "stage's first send; req/s (8-eq) as measured and had every replica ended at their "
              "mean end):")
        print_table(["arm", "stage", "requests", "last completion s", "req/s",
                     "at mean end", "gain"], rows)


def pct(v):
    return "%.1f%%" % (100 * v) if v is not None else "-"


def num(v, digits=1):
    return "%.*f" % (digits, v) if v is not None else "-"


def replica_report(a, arms, summary):
    """Per stage and arm, the replicas' own view (bench/sweep_metrics.py): batch spread,
    preemptions, KV, prefill share, and the fleet ITL split into where it comes from."""
    st = arm_stages(a)
    for arm in arms:
        rs = arm.replica_stages
        summary["arms"][arm.name]["replica_stages"] = rs
        summary["arms"][arm.name]["metrics_sample_failures"] = (
            arm.sampler.failures if arm.sampler else None)
        if not rs or not any(rs):
            print("%s: no per-replica samples (see metrics_sample_failures in the JSON)\n"
                  % arm.name)
            continue
        rows, drows = [], []
        for pos, g in enumerate(rs):
            label = "%g%s" % (st[pos][2], " (warm-up)" if a.stage_idx[pos] == 0 else "")
            if not g:
                continue
            f = g["fleet"]
            c = f["components"]
            rows.append([label, num(f.get("running_mean")),
                         "%s-%s" % (num(f.get("running_min")), num(f.get("running_max"))),
                         num(f.get("waiting_mean")), num(f.get("decode_batch")),
                         pct(f.get("kv_usage_mean")), pct(f.get("kv_usage_max")),
                         "%.0f" % f["preemptions"] if f.get("preemptions") is not None else "-",
                         pct(f.get("prefill_token_share")), pct(f.get("prefill_time_share")),
                         pct(f.get("busy_share")), str(f.get("samples"))])
            parts = [c.get(k) for k, _ in sweep_metrics.COMPONENTS]
            drows.append([label] + [num(v) for v in parts] +
                         [num(f.get("client_itl_ms")), num(f.get("batch_slope_ms"), 3)])
        print("Replicas of %s per stage (sampled /metrics every %g simulated s; running = time-"
              "weighted mean of vllm:num_requests_running, per replica then over replicas, and "
              "the replicas' min-max; decode batch = decoding sequences per step; prefill share "
              "of computed tokens and of busy time; busy = share of the window in steps):"
              % (arm.name, a.sample_interval))
        print_table(["stage", "running", "min-max", "waiting", "decode batch", "KV mean",
                     "KV max", "preempt.", "prefill tok", "prefill time", "busy", "samples"],
                    rows)
        print("ITL of %s split by cause, ms per token (token-weighted; sum = client ITL mean; "
              "slope = decode step ms per extra sequence, fitted over the replicas):" % arm.name)
        print_table(["stage"] + [lbl for _, lbl in sweep_metrics.COMPONENTS] +
                    ["client ITL", "slope"], drows)
    # one stage replica by replica
    want = [pos for pos, (_, _, lr) in enumerate(st) if lr == a.replica_detail
            and a.stage_idx[pos] > 0]
    if not want:
        return
    pos = want[0]
    rows = []
    for arm in arms:
        g = arm.replica_stages[pos] if arm.replica_stages else None
        if not g:
            continue
        for i, r in enumerate(g["replicas"]):
            rows.append([arm.name, str(i), str(r.get("requests")), num(r.get("running_mean")),
                         num(r.get("running_max"), 0), num(r.get("waiting_mean")),
                         num(r.get("decode_batch")), "%.0f" % r["decode_context"]
                         if r.get("decode_context") is not None else "-",
                         pct(r.get("kv_usage_mean")),
                         "%.0f" % r["preemptions"] if r.get("preemptions") is not None else "-",
                         pct(r.get("prefill_time_share")), num(r.get("decode_step_ms")),
                         num(r.get("token_step_ms")), num(r.get("engine_itl_ms")),
                         num(r.get("client_itl_ms"))])
    print("Replica by replica at the %g req/s stage (requests = scheduled in the stage and "
          "answered; decode step = its decode-only step at its mean batch; token step = the step "
          "time its decoding tokens waited, prefill chunks included; engine ITL = "
          "vllm:inter_token_latency; client ITL from the bench's request log):" % a.replica_detail)
    print_table(["arm", "replica", "requests", "running", "max", "waiting", "decode batch",
                 "context", "KV mean", "preempt.", "prefill time", "decode step ms",
                 "token step ms", "engine ITL ms", "client ITL ms"], rows)


def llmd_vs(a, arms, srows, summary):
    up = LLMD_REPLICAS / a.replicas
    rr, sy = arms
    # llm-d's per-stage table (optimized-baseline report: the Service arm is the same round-robin)
    h = ["stage req/s", "RR out tok/s (ours)", "RR out (llm-d)", "%s out (ours)" % sy.name,
         "opt. out (llm-d)",
         "RR TTFT p90 ours", "RR TTFT p90 llm-d", "%s TTFT p90 ours" % sy.name,
         "opt. TTFT p90 llm-d", "ratio ours", "ratio llm-d opt.",
         "RR NTPOT p50 ms ours", "%s NTPOT p50 ms ours" % sy.name]
    rows = []
    for k, lr, _, gs in srows:
        if k == 0 or lr not in OB_STAGES:
            continue
        o = OB_STAGES[lr]
        mine = [g.get("output_tok_per_s") for g in gs]
        mine = [v * up if v is not None else None for v in mine]
        p90 = [g.get("ttft_p90_s") for g in gs]
        ntpot = [g.get("ntpot_p50_s") for g in gs]
        rows.append(["%g" % lr, fmt(mine[0], "tok"), fmt(o[0], "tok"), fmt(mine[1], "tok"),
                     fmt(o[1], "tok"), fmt(p90[0]), fmt(o[4]), fmt(p90[1]), fmt(o[5]),
                     ratio(mine[0], mine[1]), ratio(o[0], o[1]), fmt(ntpot[0], "ms"),
                     fmt(ntpot[1], "ms")])
    # NTPOT: end-to-end latency over output tokens, per request (the report's definition); llm-d
    # prints it per stage only as a curve (RR "degrades steadily to ~135", optimized "holds
    # ~30-45 ms/token across the ladder") and as the rate-60 figure in the summary below
    print("Beside llm-d's per-stage report (optimized-baseline benchmark, same workload and "
          "ladder; its Service arm is round-robin; llm-d prints 0.0 TTFT for empty histograms: -; "
          "NTPOT = E2E / output tokens per request, llm-d gives it at rate 60 only):")
    print_table(h, rows)
    cmp_rows = []
    st = {lr: gs for k, lr, _, gs in srows if k > 0}
    if a.experiment == "optimized":
        peaks = []
        for i in range(2):
            vals = [gs[i]["output_tok_per_s"] * up for k, lr, _, gs in srows
                    if k > 0 and gs[i].get("output_tok_per_s") is not None]
            peaks.append(max(vals) if vals else None)  # an arm with no data prints "-", not 0
        g60 = st.get(60, [{}, {}])
        lines = [("peak output tok/s (8-eq)", peaks, OB_SUMMARY["peak_out"], "tok"),
                 ("req/s at rate 60 (8-eq)", [scaled(g.get("req_per_s"), up) for g in g60],
                  OB_SUMMARY["rps60"], "rate"),
                 ("TTFT p50 at rate 60 s", [g.get("ttft_p50_s") for g in g60],
                  OB_SUMMARY["ttft_p50_60"], "s"),
                 ("TTFT p90 at rate 60 s", [g.get("ttft_p90_s") for g in g60],
                  OB_SUMMARY["ttft_p90_60"], "s"),
                 ("NTPOT p50 at rate 60 ms", [g.get("ntpot_p50_s") for g in g60],
                  [x / 1000 for x in OB_SUMMARY["ntpot_p50_60_ms"]], "ms")]
        title = "Optimized baseline vs a Kubernetes Service (llm-d's summary)"
    else:
        g40 = st.get(40, [{}, {}])
        lines = [("req/s, 40 req/s stage (8-eq)", [scaled(g.get("req_per_s"), up) for g in g40],
                  IS_40["req_per_s"], "rate"),
                 ("TTFT mean s, 40 stage", [g.get("ttft_mean_s") for g in g40],
                  IS_40["ttft_mean_s"], "s"),
                 ("E2E mean s, 40 stage", [g.get("e2e_mean_s") for g in g40],
                  IS_40["e2e_mean_s"], "s"),
                 ("ITL mean ms, 40 stage", [g.get("itl_mean_s") for g in g40],
                  IS_40["itl_mean_s"], "ms")]
        title = "llm-d's default scheduling vs a Kubernetes Service (inference-scheduling guide)"
    for label, ours, theirs, unit in lines:
        u = "tok" if unit == "tok" else unit
        cmp_rows.append([label, fmt(ours[0], u, 2 if unit == "rate" else None),
                         fmt(ours[1], u, 2 if unit == "rate" else None), ratio(ours[0], ours[1]),
                         fmt(theirs[0], u, 2 if unit == "rate" else None),
                         fmt(theirs[1], u, 2 if unit == "rate" else None),
                         ratio(theirs[0], theirs[1])])
        summary.setdefault("headline", {})[label] = {"ours": ours, "llm-d": list(theirs)}
    print(title + ":")
    print_table(["", "RR ours", "%s ours" % sy.name, "ratio ours", "RR llm-d", "llm-d",
                 "ratio llm-d"], cmp_rows)


def scaled(v, up):
    """A 2-replica figure as an 8-replica equivalent; None (printed "-") stays None."""
    return None if v is None else v * up


def ladder_peaks(narms, srows, up, summary):
    """Each arm's best ladder stage (warm-up left out, as llm-d's table), output tok/s x up (None
    for an arm with no data), recorded in the summary's headline beside llm-d's peaks."""
    peaks = []
    for i in range(narms):
        vals = [gs[i]["output_tok_per_s"] * up for k, _, _, gs in srows
                if k > 0 and gs[i].get("output_tok_per_s") is not None]
        peaks.append(max(vals) if vals else None)
    summary["headline"] = {"peak output tok/s (8-eq)": {"ours": peaks,
                                                        "llm-d": list(OB_SUMMARY["peak_out"])}}
    return peaks


def optimized_vs(a, arms, srows, summary, gain=False):
    """Every arm per stage beside llm-d's optimized baseline (its benchmark report): output
    tok/s, req/s, TTFT p90 and NTPOT p50; then each arm's peak output. gain (two arms): a ratio
    column, the second arm's output over the first's, after the arms' output tok/s."""
    up = LLMD_REPLICAS / a.replicas
    names = [arm.name for arm in arms]
    rows = []
    for k, lr, _, gs in srows:
        if k == 0:
            continue
        o = OB_STAGES.get(lr)
        out = [scaled(g.get("output_tok_per_s"), up) for g in gs]
        rows.append(["%g" % lr] + [fmt(v, "tok") for v in out] +
                    ([ratio(out[0], out[1])] if gain else []) +
                    [fmt(o[1] if o else None, "tok")] +
                    [fmt(scaled(g.get("req_per_s"), up), "rate", 2) for g in gs] +
                    [fmt(g.get("ttft_p90_s")) for g in gs] + [fmt(o[5] if o else None)] +
                    [fmt(g.get("ntpot_p50_s"), "ms") for g in gs])
    print("Beside llm-d's optimized baseline, per stage (its benchmark report; NTPOT = E2E / "
          "output tokens per request, llm-d gives it at rate 60 only: %.1f ms):"
          % OB_SUMMARY["ntpot_p50_60_ms"][1])
    print_table(["stage req/s"] + ["out tok/s %s" % n for n in names] +
                (["ratio"] if gain else []) + ["out tok/s llm-d opt."] +
                ["req/s %s" % n for n in names] + ["TTFT p90 s %s" % n for n in names] +
                ["TTFT p90 s llm-d opt."] + ["NTPOT p50 ms %s" % n for n in names], rows)
    peaks = ladder_peaks(len(arms), srows, up, summary)
    print("Peak output tok/s over the stages run (8-eq): %s%s; llm-d: optimized %s vs a Service "
          "%s\n" % (", ".join("%s %s" % (n, fmt(p, "tok")) for n, p in zip(names, peaks)),
                     " (%s)" % ratio(peaks[0], peaks[1]) if gain else "",
                     fmt(OB_SUMMARY["peak_out"][1], "tok"), fmt(OB_SUMMARY["peak_out"][0], "tok")))


def precise_vs(a, arms, summary):
    up = LLMD_REPLICAS / a.replicas
    rows = []
    for arm in arms:
        r = arm.result or {}
        p90, out = KVW[arm.name]
        o = r.get("output_tok_per_s")
        o = o * up if o is not None else None
        rows.append([arm.name, fmt(r.get("ttft_p90_s")), fmt(p90), fmt(o, "tok"), fmt(out, "tok"),
                     "%.1f%%" % (100 * r["prefix_cache_hit_rate"])
                     if r.get("prefix_cache_hit_rate") is not None else "-"])
        summary.setdefault("headline", {})[arm.name] = {
            "ttft_p90_s": [r.get("ttft_p90_s"), p90], "output_tok_per_s": [o, out]}
    print("Precise vs approximate vs random (llm-d's \"KV-cache wins\" blog, whole sweep):")
    print_table(["arm", "TTFT p90 s ours", "llm-d", "output tok/s ours (8-eq)", "llm-d",
                 "hit rate"], rows)
    res = {arm.name: arm.result or {} for arm in arms}

    def rr(key, x, y, scale=1):
        u, v = res[x].get(key), res[y].get(key)
        return ratio(u, v)
    print("Ratios: TTFT p90 approximate/precise ours %s, llm-d %.1fx; random/precise ours %s, "
          "llm-d %.1fx; output precise/approximate ours %s, llm-d %.2fx; precise/random ours %s, "
          "llm-d %.2fx\n" % (rr("ttft_p90_s", "precise", "approximate"), 31.1 / 0.542,
                             rr("ttft_p90_s", "precise", "random"), 92.6 / 0.542,
                             rr("output_tok_per_s", "approximate", "precise"), 8730 / 6944,
                             rr("output_tok_per_s", "random", "precise"), 8730 / 4429))


def on_sigterm(signum, frame):
    # once: `timeout` may signal the whole process group, and the cleanup must not be interrupted
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", choices=sorted(EXPERIMENTS), default="sweep")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--stage-scale", type=float, default=None,
                    help="multiplies every stage duration (default 1; --quick 0.02)")
    ap.add_argument("--time-scale", type=float, default=None,
                    help="simulated seconds per wall second (default 0.25; --quick 4)")
    ap.add_argument("--output-len", type=int, default=None, help="default 1000; --quick 32")
    ap.add_argument("--timeout", type=int, default=3600,
                    help="simulated seconds a request may go without a byte (default 3600)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--serial", action="store_true", help="run the arms one after the other")
    ap.add_argument("--json", help="write everything measured here")
    ap.add_argument("--keep", help="keep the bench JSON and logs in this directory")
    ap.add_argument("--max-concurrency", type=int, default=0,
                    help="client in-flight cap, fleet-wide for llm-d's 8 replicas (scaled x R/8 "
                         "like the rates); default 0 = no cap (open loop)")
    ap.add_argument("--stage-interval", type=float, default=None,
                    help="inference-perf's stage barrier: each stage starts this many simulated "
                         "seconds after every request of the earlier stages finished (llm-d's "
                         "guide: 1); default: stages back to back")
    ap.add_argument("--step-model", choices=("additive", "overlap"), default=None,
                    help="the simulator's step-time model (switchyard sim --step-model; default: "
                         "the simulator's default, additive)")
    ap.add_argument("--kv-blocks", type=int, default=None,
                    help="KV blocks of 16 tokens per replica (switchyard sim --kv-blocks; default: "
                         "the profile's 17,235 = 275,760 tokens at gpu-memory-utilization 0.9; "
                         "19262 is 0.95's capacity)")
    ap.add_argument("--only-stages",
                    help="run only these of llm-d's stages, by llm-d's rate, in llm-d's order "
                         "(\"warm-up\" for the first 15 req/s stage; e.g. warm-up,35,40,43); "
                         "default all 17")
    ap.add_argument("--sample-interval", type=float, default=None,
                    help="simulated seconds between reads of every replica's /metrics for the "
                         "per-replica tables (default 1; --quick 0.2)")
    ap.add_argument("--replica-detail", type=float, default=40,
                    help="llm-d stage rate printed replica by replica (default 40)")
    a = ap.parse_args()
    try:
        a.stage_idx = (parse_only_stages(a.only_stages) if a.only_stages
                       else list(range(len(LLMD_STAGES))))
    except ValueError as e:
        ap.error("--only-stages: %s" % e)
    if a.sample_interval is None:
        a.sample_interval = 0.2 if a.quick else 1.0
    if not 0 < a.sample_interval <= 60:
        ap.error("--sample-interval must be in (0, 60] simulated seconds")
    if a.kv_blocks is not None and a.kv_blocks <= 0:
        ap.error("--kv-blocks must be a positive block count")
    if a.stage_scale is None:
        a.stage_scale = 0.02 if a.quick else 1.0
    if a.time_scale is None:
        a.time_scale = 4.0 if a.quick else 0.25
    if a.output_len is None:
        a.output_len = 32 if a.quick else 1000
    if a.quick:
        a.timeout = min(a.timeout, 600)
    if not 1 <= a.replicas <= 8 or not a.stage_scale > 0 or not 0 < a.time_scale <= 100 \
            or a.output_len < 1 or a.timeout < 1 or not 0 <= a.max_concurrency <= 800000 \
            or (a.stage_interval is not None and not 0 <= a.stage_interval <= 3600):
        ap.error("--replicas 1..8, --stage-scale > 0, --time-scale in (0, 100], "
                 "--output-len >= 1, --timeout >= 1, --max-concurrency 0..800000, "
                 "--stage-interval 0..3600")
    # wall seconds between samples, at least 20 ms (2 arms x R replicas are read each time)
    a.sample_wall = max(0.02, a.sample_interval / a.time_scale)
    if not os.access(BIN, os.X_OK):
        ap.error("%s not built (make, or set BUILD)" % BIN)
    a.groups = max(1, int(LLMD_GROUPS * a.replicas / LLMD_REPLICAS + 0.5))
    # the bench's cap for this fleet: the 8-replica figure x R/8, like the rates (at least 1)
    a.bench_cap = (max(1, int(a.max_concurrency * a.replicas / LLMD_REPLICAS + 0.5))
                   if a.max_concurrency else 0)
    work = a.keep or tempfile.mkdtemp(prefix="llmd-sweep-")
    arms = []
    for name, spec in EXPERIMENTS[a.experiment]:
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        arms.append(Arm(name, spec, a, d))
    print("llmd_sweep: %s, %d replicas, %d groups, stage scale %g, time scale %g, output %d, %s"
          "%s (logs in %s)" % (a.experiment, a.replicas, a.groups, a.stage_scale, a.time_scale,
                            a.output_len, ("max concurrency %d (8-eq; %d here)" % (
                                a.max_concurrency, a.bench_cap) if a.bench_cap else "no cap")
                            + (", stage interval %g s" % a.stage_interval
                               if a.stage_interval is not None else ""),
                            (", step model %s" % a.step_model if a.step_model else "") +
                            (", %d KV blocks" % a.kv_blocks if a.kv_blocks else ""),
                            work), file=sys.stderr)
    failed = False
    # SIGTERM (a time bound around this script) stops every child and still prints the tables
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if a.serial:
            for arm in arms:
                arm.start()
                arm.run()
                arm.stop()
        else:
            for arm in arms:
                arm.start()
            th = [threading.Thread(target=arm.run) for arm in arms]
            for t in th:
                t.start()
            for t in th:
                t.join()
    except (Exception, KeyboardInterrupt) as e:
        print("llmd_sweep: %s" % (e or "interrupted"), file=sys.stderr)
        failed = True
    finally:
        for arm in arms:
            arm.stop()
    summary = report(a, arms)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    if not a.keep and not failed and not any(arm.error for arm in arms):
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed or any(arm.result is None for arm in arms) else 0


if __name__ == "__main__":
    sys.exit(main())
