#!/usr/bin/env python3
"""P/D disaggregation against aggregated serving on the same simulated GPUs (issue 13).

Every configuration is a `switchyard sim` fleet of REPLICAS replicas of the Qwen3-32B TP2 H100
profile (2 GPUs each) behind its own `switchyard gateway`:

  agg        every replica aggregated (role both; llm-d's decode profile: prefix + queue scorers)
  pd P:D     P prefill + D decode replicas, the gateway running the NixlConnector exchange, with
             a decider: llm-d's router-v0.9 P/D sample (prefix-based, nonCachedTokens 16), the
             same decider at another threshold, always-disagg, or never (decider off)

All fleets of a workload are up at the same time and one `switchyard bench` run drives the same
requests on the same schedule at each gateway in turn (side by side, ratios against the first),
with the goodput SLO TTFT <= 2 s and per-request ITL p99 <= 100 ms. Times are simulated (the sims
run --time-scale X faster than wall time and the bench converts back), so the figures read as
the modelled GPUs', whatever the machine; the machine only has to keep up (the script checks that
no request failed and prints the bench's own table): a token the loaded machine delivers late is
late by that delay times X in the results, so lower --time-scale on a busy machine.

Workloads (lengths in tokens):
  long    8k-token prompts, 256 output tokens, Poisson arrivals near the aggregated fleet's
          saturation: P:D 1:3, 1:1, 3:1 against agg
  mixed   multi-turn chat: each user's first turn carries a long uncached history, the later turns
          add a few hundred tokens to a cached one: agg, always-P/D, never-P/D and the
          prefix-based decider
  short   256-token prompts, 256 output tokens: where P/D loses

  BUILD=build python3 bench/pd_bench.py [--workloads long,mixed,short] [--time-scale 4]
                                        [--quick] [--markdown FILE]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(ROOT, BUILD, "switchyard")
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "llm-d-configs",
                       "router-v0.9_pd-epp-config.yaml")
GPUS_PER_REPLICA = 2  # qwen3-32b-tp2-h100
SLO = ["--slo-ttft", "2s", "--slo-itl-p99", "100ms"]
MODEL = "Qwen/Qwen3-32B"

AGG_SCHED = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
  - type: prefix-cache-scorer
  - type: queue-scorer
  - type: max-score-picker
  schedulingProfiles:
  - name: default
    plugins: [{pluginRef: prefix-cache-scorer, weight: 2}, {pluginRef: queue-scorer},
              {pluginRef: max-score-picker}]
"""

PD_SCHED = """scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
  - type: prefix-cache-scorer
  - type: queue-scorer
  - type: prefill-filter
  - type: decode-filter
  - type: max-score-picker
  - type: %(decider)s
%(params)s  - type: disagg-profile-handler
    parameters:
      deciders: {prefill: %(decider)s}
  schedulingProfiles:
  - name: prefill
    plugins: [{pluginRef: prefill-filter}, {pluginRef: max-score-picker},
              {pluginRef: prefix-cache-scorer, weight: 2}, {pluginRef: queue-scorer}]
  - name: decode
    plugins: [{pluginRef: decode-filter}, {pluginRef: max-score-picker},
              {pluginRef: prefix-cache-scorer, weight: 2}, {pluginRef: queue-scorer}]
"""


def pd_sched(decider):
    if decider == "fixture":
        return "schedulerFile: %s\n" % FIXTURE
    if decider == "always":
        return PD_SCHED % {"decider": "always-disagg-pd-decider", "params": ""}
    n = 0 if decider == "never" else int(decider)  # nonCachedTokens 0 = P/D off
    return PD_SCHED % {"decider": "prefix-based-pd-decider",
                       "params": "    parameters: {nonCachedTokens: %d}\n" % n}


def consecutive_ports(n):
    import random
    import socket
    for _ in range(200):
        base = random.randint(20000, 60000 - n)
        socks, ok = [], True
        for i in range(n):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            except OSError:
                ok = False
                break
        for s in socks:
            s.close()
        if ok:
            return base
    raise RuntimeError("no run of free ports")


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return r.read()
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s not up after %ds" % (url, timeout))


def prom(url):
    out = {}
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def total(m, name, **labels):
    want = ['%s="%s"' % kv for kv in labels.items()]
    return sum(v for k, v in m.items()
               if (k == name or k.startswith(name + "{")) and all(w in k for w in want))


class Config:
    """One fleet + gateway. kind 'agg' or 'pd'; for pd, prefill:decode counts and a decider."""

    def __init__(self, name, kind, replicas, scale, prefill=0, decider="fixture"):
        self.name, self.kind, self.prefill, self.decider = name, kind, prefill, decider
        self.replicas = replicas
        self.base = consecutive_ports(replicas + 2)
        self.port, self.admin = self.base + replicas, self.base + replicas + 1
        args = [BIN, "sim", "--port", str(self.base), "--time-scale", str(scale),
                "--log-level", "warn"]
        if kind == "agg":
            args += ["--replicas", str(replicas)]
        else:
            args += ["--prefill-replicas", str(prefill), "--decode-replicas",
                     str(replicas - prefill)]
        self.procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        eps = ""
        for i in range(replicas):
            role = "" if kind == "agg" else (
                "prefill" if i < prefill else "decode")
            eps += "    - address: 127.0.0.1:%d\n" % (self.base + i)
            if role:
                eps += "      labels: {llm-d.ai/role: %s}\n" % role
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 1\nlogLevel: warn\n"
               % (self.port, self.admin)
               + "pool:\n  engine: vllm\n  scrapeInterval: 100ms\n  endpoints:\n" + eps
               + ("  disaggregation: {connector: nixlv2, prefillTimeout: 600s}\n"
                  if kind == "pd" else "")
               + "timeouts:\n  connect: 2s\n  request: 900s\n"
               + (AGG_SCHED if kind == "agg" else pd_sched(decider)))
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, dir=None)
        f.write(cfg)
        f.close()
        self.cfg_path = f.name
        for i in range(replicas):
            wait_http("http://127.0.0.1:%d/health" % (self.base + i))
        self.log = tempfile.NamedTemporaryFile(prefix="pd-bench-gw-", suffix=".log", delete=False)
        self.procs.append(subprocess.Popen([BIN, "gateway", "--config", self.cfg_path],
                                           stdout=self.log, stderr=subprocess.STDOUT))
        wait_http("http://127.0.0.1:%d/metrics" % self.admin)
        deadline = time.time() + 20
        while time.time() < deadline:
            eps = json.loads(wait_http("http://127.0.0.1:%d/debug/endpoints" % self.admin))
            if sum(1 for e in eps["endpoints"] if e["ready"]) == replicas:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("%s: endpoints not ready" % name)

    def url(self):
        return "%s=http://127.0.0.1:%d" % (self.name, self.port)

    def counters(self):
        """P/D decisions (gateway) and KV pulls / fallbacks (decode replicas)."""
        g = prom("http://127.0.0.1:%d/metrics" % self.admin)
        pulls = fb = 0.0
        for i in range(self.prefill, self.replicas):
            m = prom("http://127.0.0.1:%d/metrics" % (self.base + i))
            pulls += total(m, "switchyard_sim_kv_pulls_total")
            fb += total(m, "switchyard_sim_pd_fallbacks_total")
        return {
            "pd": total(g, "llm_d_inference_scheduler_disagg_decision_total",
                        decision_type="prefill-decode"),
            "decode_only": total(g, "llm_d_inference_scheduler_disagg_decision_total",
                                 decision_type="decode-only"),
            "gw_fallbacks": total(g, "switchyard_pd_fallback_total"),
            "pulls": pulls, "sim_fallbacks": fb}

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        os.unlink(self.cfg_path)
        self.log.close()
        os.unlink(self.log.name)  # (kept only while the gateway runs)


def workloads(quick, replicas, mixed_rate, rounds):
    """name -> (description, bench args, configs as (name, kind, prefill, decider))."""
    n = 60 if quick else 160
    long_rate = 0.9 * replicas  # near the aggregated fleet's saturation (see the docs' calibration)
    q = replicas // 4  # the 1:3 / 1:1 / 3:1 splits of the fleet
    return {
        "long": ("8k-token prompts, 256 output tokens, Poisson %.1f req/s" % long_rate,
                 ["--workload", "random", "--input-len", "8192", "--output-len", "256",
                  "--ignore-eos", "--num-prompts", str(n), "--rate", str(long_rate)],
                 [("agg", "agg", 0, None), ("pd-1:3", "pd", q, "fixture"),
                  ("pd-1:1", "pd", 2 * q, "fixture"), ("pd-3:1", "pd", 3 * q, "fixture")]),
        "mixed": ("multi-turn chat: %d users x %d turns, first turn ~7.1k uncached tokens, later "
                  "turns +384 on a cached history, 256 output tokens, Poisson %.1f req/s"
                  % (n // rounds + 1, rounds, mixed_rate * replicas),
                  ["--workload", "multi-turn", "--num-users", str(n // rounds + 1),
                   "--num-rounds", str(rounds),
                   "--shared-system-prompt", "1000", "--user-history-prompt", "6000",
                   "--question-len", "128", "--answer-len", "256", "--ignore-eos",
                   # index order, as docs/disaggregation.md's figures were measured (a user's
                   # next turn may arrive while the last streams; bench's default now waits)
                   "--no-session-wait", "--rate", str(mixed_rate * replicas)],
                 [("agg(never)", "agg", 0, None), ("pd-always", "pd", 2 * q, "always"),
                  ("pd-never", "pd", 2 * q, "never"), ("pd-prefix16", "pd", 2 * q, "16"),
                  ("pd-prefix1024", "pd", 2 * q, "1024")]),
        "short": ("256-token prompts, 256 output tokens, Poisson %.1f req/s" % (3.0 * replicas),
                  ["--workload", "random", "--input-len", "256", "--output-len", "256",
                   "--ignore-eos", "--num-prompts", str(n * 2), "--rate", str(3.0 * replicas)],
                  [("agg", "agg", 0, None), ("pd-1:1", "pd", 2 * q, "always"),
                   ("pd-1:3", "pd", q, "always")]),
    }


def fmt(v, scale=1.0, f="%.3f"):
    return "-" if v is None else f % (v * scale)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="long,mixed,short")
    ap.add_argument("--replicas", type=int, default=4, help="replicas per fleet (multiple of 4)")
    ap.add_argument("--time-scale", type=float, default=4.0)
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    ap.add_argument("--mixed-rate", type=float, default=1.6, help="req/s per replica")
    ap.add_argument("--mixed-rounds", type=int, default=3, help="turns per user")
    ap.add_argument("--markdown", help="append the summary tables to this file")
    a = ap.parse_args()
    if a.replicas % 4:
        sys.exit("--replicas must be a multiple of 4")
    wl = workloads(a.quick, a.replicas, a.mixed_rate, a.mixed_rounds)
    md = []
    cmd = ("BUILD=%s python3 bench/pd_bench.py --workloads %s --replicas %d --time-scale %g "
           "--mixed-rate %g --mixed-rounds %d%s" % (
               BUILD, a.workloads, a.replicas, a.time_scale, a.mixed_rate, a.mixed_rounds,
               " --quick" if a.quick else ""))
    print("# %s" % cmd, flush=True)
    rc = 0
    for w in a.workloads.split(","):
        desc, args, cfgs = wl[w]
        print("\n=================== %s: %s" % (w, desc), flush=True)
        started = []
        try:
            for name, kind, prefill, decider in cfgs:
                started.append(Config(name, kind, a.replicas, a.time_scale, prefill,
                                      decider or "fixture"))
            out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
            bench = ([BIN, "bench", "--no-progress", "--time-scale", str(a.time_scale),
                      "--timeout", "900s", "--json", out, "--model", MODEL] + SLO + args
                     + sum((["--target", c.url()] for c in started), []))
            print("$ " + " ".join(bench[1:]), flush=True)
            t0 = time.time()
            r = subprocess.run(bench, stdout=subprocess.PIPE, text=True)
            print(r.stdout, flush=True)
            if r.returncode != 0:
                print("bench exited %d" % r.returncode)
                rc = 1
                continue
            with open(out) as f:
                runs = json.load(f)["runs"]
            os.unlink(out)
            ctr = {c.name: c.counters() for c in started}
        finally:
            for c in started:
                c.stop()
        gpus = a.replicas * GPUS_PER_REPLICA
        base_good = runs[0]["goodput_req_per_s"] or 0
        rows = ["| config | TTFT mean (s) | TTFT p90 (s) | ITL mean (ms) | ITL p90 (ms) | "
                "ITL p99 (ms) | E2E mean (s) | out tok/s/GPU | goodput (req/s) | goodput vs %s | "
                "P/D : decode-only | KV pulls | fallbacks | errors |" % runs[0]["name"],
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for run in runs:
            c = ctr[run["name"]]
            g = run["goodput_req_per_s"] or 0
            ratio = ("%.2fx" % (g / base_good)) if base_good > 0 else (
                "-" if g == 0 else "inf (%s: 0)" % runs[0]["name"])
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %.1f | %.2f (%d/%d) | %s | %d : %d | "
                        "%d | %d | %d |" % (
                            run["name"], fmt(run["ttft_mean_s"]), fmt(run["ttft_p90_s"]),
                            fmt(run["itl_mean_s"], 1000, "%.1f"),
                            fmt(run["itl_p90_s"], 1000, "%.1f"),
                            fmt(run["itl_p99_s"], 1000, "%.1f"), fmt(run["e2e_mean_s"]),
                            run["output_tok_per_s"] / gpus, g, run["goodput_requests"],
                            run["completed"], ratio, c["pd"], c["decode_only"], c["pulls"],
                            c["gw_fallbacks"] + c["sim_fallbacks"], run["errors"]))
            if run["errors"] or c["gw_fallbacks"] or c["sim_fallbacks"]:
                rc = 1
        table = "\n".join(rows)
        print("\n%s (%d replicas = %d simulated H100s per config; wall %.0fs)\n\n%s\n" % (
            w, a.replicas, gpus, time.time() - t0, table), flush=True)
        md.append("**%s**: %s; %d replicas x TP2 = %d GPUs per config.\n\n%s\n" % (
            w, desc, a.replicas, gpus, table))
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("`%s`\n\n" % cmd + "\n".join(md) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
