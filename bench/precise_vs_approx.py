#!/usr/bin/env python3
"""Precise vs approximate vs round-robin routing when the working set exceeds the KV caches.

One `switchyard sim` fleet (4 replicas, small KV caches, KV events on), the same workload sent
through the gateway under three scheduler configs, one after the other, each on a fresh fleet:

  precise+spec   token-producer (simulator backend) + precise-prefix-cache-producer with
                 speculativeIndexing (2 s) + prefix-cache-scorer 3 + queue-scorer 1
  precise        the same without speculative indexing (events only)
  approximate    prefix-cache-scorer 3 (approx producer auto-created) + queue-scorer 1
  round-robin    round-robin-picker

Workload: GROUPS shared prefixes of PREFIX tokens (4 characters per simulator token) whose total
exceeds the fleet's KV capacity; each request is a random group's prefix plus a unique question,
max_tokens 1, CONC concurrent clients, REQS requests. Reported per config: the prefix-cache hit
ratio the replicas saw (usage.prompt_tokens_details.cached_tokens / prompt_tokens) and the
request latency p50 / p90 (wall time; the simulator runs in real time).

  BUILD=build python3 bench/precise_vs_approx.py [--reqs 300] [--conc 8]

Not a test: prints numbers, never fails on them.
"""
import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
from harness import (BIN, consecutive_ports, free_ports, post_json, request,  # noqa: E402
                     start_process, stop_process, wait_port, wait_until, write_file)

MODEL = "m"
REPLICAS = 4
KV_BLOCKS = 200    # 3200 tokens per replica, 12800 for the fleet
PREFIX = 1600      # tokens per shared prefix
GROUPS = 12        # 19200 prefix tokens: 1.5x the fleet's KV capacity

PRECISE = """
    - type: token-producer
      parameters: {backend: simulator}
    - type: precise-prefix-cache-producer
      parameters:
        tokenProcessorConfig: {blockSize: 16}
        kvEventsConfig: {replayPortOffset: %(off)d}
        speculativeIndexing: %(spec)s
    - type: prefix-cache-scorer
      parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
    - type: queue-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - {pluginRef: prefix-cache-scorer, weight: 3}
        - {pluginRef: queue-scorer, weight: 1}
        - {pluginRef: max-score-picker}
"""
APPROX = """
    - type: prefix-cache-scorer
    - type: queue-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - {pluginRef: prefix-cache-scorer, weight: 3}
        - {pluginRef: queue-scorer, weight: 1}
        - {pluginRef: max-score-picker}
"""
RR = """
    - type: round-robin-picker
  schedulingProfiles:
    - name: default
      plugins:
        - {pluginRef: round-robin-picker}
"""


def run_config(name, plugins, reqs, conc, seed, spec="false"):
    base, kv, rep = (consecutive_ports(REPLICAS) for _ in range(3))
    sim = start_process([BIN, "sim", "--port", str(base), "--replicas", str(REPLICAS),
                         "--model", MODEL, "--time-scale", "1", "--kv-blocks", str(KV_BLOCKS),
                         "--max-model-len", "4000", "--kv-events", "tcp://127.0.0.1:%d" % kv,
                         "--kv-events-replay", "tcp://127.0.0.1:%d" % rep])
    for i in range(REPLICAS):
        wait_port(base + i, proc=sim)
    listen, admin = free_ports(2)
    eps = "".join("    - address: 127.0.0.1:%d\n      kvEvents: tcp://127.0.0.1:%d\n"
                  % (base + i, kv + i) for i in range(REPLICAS))
    cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\npool:\n  engine: vllm\n"
           "  scrapeInterval: 50ms\n  endpoints:\n%stimeouts:\n  request: 60s\n"
           "scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
           "  plugins:\n" % (listen, admin, eps)) + plugins % {"off": rep - kv, "spec": spec}
    gw = start_process([BIN, "gateway", "--config", write_file(cfg)])
    wait_port(listen, proc=gw)

    def ready():
        st, _, body = request(admin, "GET", "/debug/endpoints")
        return st == 200 and all(e["ready"] for e in json.loads(body)["endpoints"])
    wait_until(ready, 15, what="endpoints ready")
    time.sleep(0.5)

    rnd = random.Random(seed)
    prefixes = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(PREFIX * 4))
                for _ in range(GROUPS)]
    plan = [(rnd.randrange(GROUPS), i) for i in range(reqs)]
    lock = threading.Lock()
    stats = {"prompt": 0, "cached": 0, "lat": [], "err": 0}

    def client(k):
        while True:
            with lock:
                if not plan:
                    return
                g, i = plan.pop()
            body = {"model": MODEL, "prompt": prefixes[g] + " question %d?" % i, "max_tokens": 1}
            t0 = time.monotonic()
            st, _, data = post_json(listen, "/v1/completions", body, timeout=60)
            dt = time.monotonic() - t0
            with lock:
                if st != 200:
                    stats["err"] += 1
                    continue
                u = json.loads(data).get("usage", {})
                stats["prompt"] += u.get("prompt_tokens", 0)
                stats["cached"] += (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
                stats["lat"].append(dt)

    t0 = time.monotonic()
    th = [threading.Thread(target=client, args=(k,)) for k in range(conc)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.monotonic() - t0
    stop_process(gw)
    stop_process(sim)
    lat = sorted(stats["lat"]) or [0]
    hit = stats["cached"] / stats["prompt"] if stats["prompt"] else 0
    print("%-13s hit ratio %5.1f%%   latency p50 %6.0f ms  p90 %6.0f ms   %5.1f req/s   errors %d"
          % (name, 100 * hit, 1000 * lat[len(lat) // 2], 1000 * lat[len(lat) * 9 // 10],
             len(stats["lat"]) / wall, stats["err"]))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reqs", type=int, default=300)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print("%d replicas x %d KV blocks of 16 tokens; %d prefixes x %d tokens (%.1fx the fleet's KV);"
          " %d requests, %d clients" % (REPLICAS, KV_BLOCKS, GROUPS, PREFIX,
                                        GROUPS * PREFIX / (REPLICAS * KV_BLOCKS * 16), a.reqs,
                                        a.conc))
    run_config("precise+spec", PRECISE, a.reqs, a.conc, a.seed, spec="true")
    for name, plugins in (("precise", PRECISE), ("approximate", APPROX), ("round-robin", RR)):
        run_config(name, plugins, a.reqs, a.conc, a.seed)


if __name__ == "__main__":
    main()
