#!/usr/bin/env python3
"""Wide-EP P/D on simulated DeepSeek-R1 ranks: round-robin over ranks vs llm-d's wide-EP config
vs Switchyard's best, in one run (docs/wide-ep.md). Not a test: prints numbers, never fails on
them.

Fleet (scaled to fit a 2-core machine; see docs/wide-ep.md for what that changes):
  prefill pod  `switchyard sim --role prefill --data-parallel-size 8`, profile
               deepseek-r1-wideep-prefill-h200, ranks on 8 consecutive ports + a supervisor
  decode pod   the same with --role decode and deepseek-r1-wideep-decode-h200
  The guide runs 2 pods of 8 per role (16 + 16 GPUs); here 1 + 1 pods (8 + 8 ranks). The profile's
  figures are per rank of a 16-rank expert group either way.
  gateway      the two pods as multi-port pool entries (targetPorts, supervisorPort, role label),
               pool.disaggregation nixlv2: every request is prefill rank -> decode rank.
Configs (scheduler):
  round-robin  prefill-filter / decode-filter + round-robin-picker in both profiles
  llm-d        the wide-EP guide's config verbatim (llm-d/llm-d@d0030a30 wide-ep-lws.values.yaml)
  switchyard   prefill: prefix 3 + lockstep-balance-scorer 3; decode: lockstep-balance 3 +
               prefix 1 (lockstep-balance reads the gateway's own in-flight counts, which are
               exact at once, where queue-scorer reads a 50 ms old scrape)
  sy-tokens    the same with lockstep-balance-scorer `balanceBy: tokens` (in-flight prompt
               tokens, context held and a per-sequence weight instead of request counts)
Workloads (switchyard bench, streaming):
  1k/128       random, 1024 input tokens, OUT output tokens (the guide's 1k/1k with the output cut
               to keep a run short on 2 cores)
  chat         shared-prefix: GROUPS system prompts of 2048 tokens, 128-token questions, OUT
               output tokens
  mixed        random with mixed lengths: input uniform in [512, 8192] tokens, output uniform
               in [OUT/16, OUT] (SGLang's --random-range-ratio 0.0625; --mixed-len,
               --mixed-ratio)
Reported per config: output tok/s per decode GPU (simulated), TTFT p50/p99, ITL p50/p99, the
spread of decode work across ranks (generation tokens per rank from the ranks' /metrics: max /
mean), and the guide's ~3.1k output tok/s per GPU beside it.

  BUILD=build python3 bench/wide_ep.py [--conc 256] [--reqs 512] [--out 128] [--time-scale 0.25]
                                       [--workloads 1k,chat,mixed] [--configs NAME,...]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
from harness import (BIN, consecutive_ports, free_ports, request, start_process,  # noqa: E402
                     stop_process, wait_port, wait_until, write_file)

MODEL = "deepseek-ai/DeepSeek-R1"
RANKS = 8
GUIDE_PER_GPU = 3100.0

PREFILL_GUIDE = """  - name: prefill
    plugins:
    - pluginRef: prefill-filter
    - pluginRef: prefix-cache-scorer
      weight: 3
    - pluginRef: queue-scorer
      weight: 2
    - pluginRef: kv-cache-utilization-scorer
      weight: 2"""

HEAD = """  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
  - type: disagg-headers-handler
  - type: always-disagg-pd-decider
  - type: disagg-profile-handler
    parameters:
      deciderPluginName: always-disagg-pd-decider
  - type: prefill-filter
  - type: decode-filter
  - type: prefix-cache-scorer
  - type: queue-scorer
  - type: kv-cache-utilization-scorer
  - type: active-request-scorer
%s  schedulingProfiles:
"""

SWITCHYARD_PROFILES = """  - name: prefill
    plugins:
    - pluginRef: prefill-filter
    - pluginRef: prefix-cache-scorer
      weight: 3
    - pluginRef: lockstep-balance-scorer
      weight: 3
  - name: decode
    plugins:
    - pluginRef: decode-filter
    - pluginRef: lockstep-balance-scorer
      weight: 3
    - pluginRef: prefix-cache-scorer
      weight: 1"""

CONFIGS = {
    # one round-robin instance per profile: a shared one would alternate between the profiles
    "round-robin": HEAD % """  - {type: round-robin-picker, name: rr-prefill}
  - {type: round-robin-picker, name: rr-decode}
""" + """  - name: prefill
    plugins: [{pluginRef: prefill-filter}, {pluginRef: rr-prefill}]
  - name: decode
    plugins: [{pluginRef: decode-filter}, {pluginRef: rr-decode}]""",
    "llm-d": HEAD % "" + PREFILL_GUIDE + """
  - name: decode
    plugins:
    - pluginRef: decode-filter
    - pluginRef: active-request-scorer
      weight: 2
    - pluginRef: prefix-cache-scorer
      weight: 3""",
    "switchyard": HEAD % "  - type: lockstep-balance-scorer\n" + SWITCHYARD_PROFILES,
    "sy-tokens": HEAD % """  - type: lockstep-balance-scorer
    parameters: {balanceBy: tokens}
""" + SWITCHYARD_PROFILES,
}


def start_pod(role, base, sup, scale):
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", str(RANKS), "--role", role,
                       "--data-parallel-size", str(RANKS), "--data-parallel-supervisor-port",
                       str(sup), "--profile", "deepseek-r1-wideep-%s-h200" % role, "--model",
                       MODEL, "--time-scale", str(scale), "--log-level", "warn"])
    for i in range(RANKS):
        wait_port(base + i, proc=p)
    wait_port(sup, proc=p)
    return p


def gen_tokens(port):
    for line in request(port, "GET", "/metrics")[2].decode().splitlines():
        if line.startswith("vllm:generation_tokens_total"):
            return float(line.split()[-1])
    return 0.0


def run_one(name, workload, args, pbase, dbase, psup, dsup):
    listen, admin = free_ports(2)
    cfg = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 1
logLevel: warn
pool:
  engine: vllm
  scrapeInterval: 50ms
  endpoints:
    - host: 127.0.0.1
      targetPorts: [%s]
      supervisorPort: %d
      labels: {llm-d.ai/role: prefill}
    - host: 127.0.0.1
      targetPorts: [%s]
      supervisorPort: %d
      labels: {llm-d.ai/role: decode}
  disaggregation: {connector: nixlv2, prefillTimeout: 600s}
timeouts: {connect: 2s, request: 600s}
scheduler:
%s
""" % (listen, admin, ", ".join(str(pbase + i) for i in range(RANKS)), psup,
       ", ".join(str(dbase + i) for i in range(RANKS)), dsup, CONFIGS[name])
    gw = start_process([BIN, "gateway", "--config", write_file(cfg)])
    try:
        wait_port(listen, proc=gw)

        def ready():
            st, _, body = request(admin, "GET", "/debug/endpoints")
            return st == 200 and all(e["ready"] for e in json.loads(body)["endpoints"])
        wait_until(ready, 15, what="ranks ready")
        before = [gen_tokens(dbase + i) for i in range(RANKS)]
        out = tempfile.mktemp(suffix=".json")
        wl = {"1k": ["--workload", "random", "--num-prompts", str(args.reqs), "--input-len",
                     "1024", "--output-len", str(args.out)],
              "mixed": ["--workload", "random", "--num-prompts", str(args.reqs), "--input-len",
                        str(args.mixed_len), "--output-len", str(args.out),
                        "--random-range-ratio", str(args.mixed_ratio)],
              "chat": ["--workload", "shared-prefix", "--num-groups", str(args.groups),
                       "--num-prompts-per-group", str(args.reqs // args.groups),
                       "--system-prompt-len", "2048", "--question-len", "128",
                       "--output-len", str(args.out)]}[workload]
        cmd = [BIN, "bench", "--target", "%s=http://127.0.0.1:%d" % (name, listen), "--model",
               MODEL, "--concurrency", str(args.conc), "--time-scale", str(args.time_scale),
               "--json", out, "--no-progress", "--seed", "7"] + wl
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=1800)
        run = json.load(open(out))["runs"][0]
        os.unlink(out)
        per_rank = [gen_tokens(dbase + i) - before[i] for i in range(RANKS)]
        mean = sum(per_rank) / len(per_rank)
        run["spread"] = max(per_rank) / mean if mean else 0.0
        run["per_rank"] = per_rank
        return run
    finally:
        stop_process(gw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conc", type=int, default=256)
    ap.add_argument("--reqs", type=int, default=512)
    ap.add_argument("--out", type=int, default=128)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--time-scale", type=float, default=0.25)
    ap.add_argument("--workloads", default="1k,chat,mixed")
    ap.add_argument("--mixed-len", type=int, default=8192, help="mixed: longest input")
    ap.add_argument("--mixed-ratio", type=float, default=0.0625,
                    help="mixed: shortest input (and output) as a share of the longest")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    args = ap.parse_args()
    workloads = args.workloads.split(",")
    configs = args.configs.split(",")
    for w in workloads:
        if w not in ("1k", "chat", "mixed"):
            ap.error("--workloads: unknown workload %r (1k, chat, mixed)" % w)
    for c in configs:
        if c not in CONFIGS:
            ap.error("--configs: unknown config %r (%s)" % (c, ", ".join(CONFIGS)))
    pbase, dbase = consecutive_ports(RANKS), consecutive_ports(RANKS)
    psup, dsup = consecutive_ports(1), consecutive_ports(1)
    results = {}
    for workload in workloads:
        for name in configs:
            # fresh pods per run: empty caches, no leftover load
            pp = start_pod("prefill", pbase, psup, args.time_scale)
            dp = start_pod("decode", dbase, dsup, args.time_scale)
            try:
                results[(workload, name)] = run_one(name, workload, args, pbase, dbase, psup,
                                                    dsup)
            finally:
                stop_process(pp)
                stop_process(dp)
            r = results[(workload, name)]
            kinds = ", ".join("%s %d" % (k, v) for k, v in r.get("errors_by_kind", {}).items()
                              if v)
            print("%-5s %-12s done: %d/%d ok, %.0f out tok/s%s" % (
                workload, name, r["completed"], r["requests"], r["output_tok_per_s"],
                " (errors: %s; first: %s)" % (kinds, r.get("first_error", "?")) if kinds else ""),
                file=sys.stderr)
    print("\nwide-EP P/D, DeepSeek-R1 simulated on H200 ranks: 1 prefill pod + 1 decode pod x %d "
          "ranks, concurrency %d, %d requests, output %d tokens, sim time-scale %g"
          % (RANKS, args.conc, args.reqs, args.out, args.time_scale))
    print("%-5s %-12s %9s %8s %9s %9s %8s %8s %7s %6s" % (
        "load", "config", "tok/s/GPU", "vs guide", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99",
        "spread", "errors"))
    for (workload, name), r in results.items():
        per_gpu = r["output_tok_per_s"] / RANKS
        print("%-5s %-12s %9.0f %7.0f%% %8.2fs %8.2fs %6.1fms %6.1fms %7.2f %6d" % (
            workload, name, per_gpu, 100 * per_gpu / GUIDE_PER_GPU, r["ttft_p50_s"],
            r["ttft_p99_s"], 1000 * r["itl_p50_s"], 1000 * r["itl_p99_s"], r["spread"],
            r["errors"]))
    for workload in workloads:
        if (workload, "round-robin") not in results:
            continue
        base = results[(workload, "round-robin")]["output_tok_per_s"]
        line = ", ".join("%s %.2fx" % (n, results[(workload, n)]["output_tok_per_s"] / base)
                         for n in configs)
        print("%s throughput vs round-robin: %s" % (workload, line))
    print("decode generation tokens per rank:")
    for (workload, name), r in results.items():
        print("  %-5s %-12s %s" % (workload, name, " ".join("%d" % x for x in r["per_rank"])))


if __name__ == "__main__":
    main()
