"""Integration test for Switchyard's default scheduling (no scheduler section: cache-load-scorer,
docs/scheduler.md "The default") and llm-d's default kept by name (`scheduler: llm-d-default`),
through the real gateway in front of a `switchyard sim` fleet of 4 replicas.

- Repeated short prompts (issue 19): the same 64-token prompts sent twice; on the second pass
  every prompt is a full prefix hit on the replica that served it first, which saves almost
  nothing, so the default must spread the pass evenly (each replica within 4 points of 25%).
- Shared long prefixes: requests sharing a 4,000-token prefix, sent while other traffic runs,
  go to the replica holding it.
- Debug trace: at logLevel debug, cache-load-scorer logs each decision's inputs per candidate;
  the replica that served a long prompt shows it cached (the smaller cost) when it comes again.
- Configuration: `scheduler: llm-d-default` loads llm-d's scorers, a misspelt name is a config
  error naming the choices.
"""
import collections
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, free_ports, post_json, run,  # noqa: E402
                     start_gateway, start_sim, stop_process, test, wait_endpoints_ready,
                     write_file)

REPLICAS = 4
WORDS = ["the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her",
         "was", "one", "our", "out", "day", "get", "has", "him", "his", "how", "man", "new"]


class Fleet:
    def __init__(self, scheduler="", log_level="warn"):
        self.base = consecutive_ports(REPLICAS)
        self.sim = start_sim(self.base, REPLICAS, "m", time_scale=50,
                             extra=["--log-level", "warn"])
        self.port, self.admin = free_ports(2)
        eps = "".join("    - address: 127.0.0.1:%d\n" % (self.base + i) for i in range(REPLICAS))
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\nlogLevel: %s\n"
               "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n  endpoints:\n%s%s"
               % (self.port, self.admin, log_level, eps, scheduler))
        self.gw = start_gateway(write_file(cfg), self.port, self.admin)
        wait_endpoints_ready(self.admin)

    def served(self, prompt, max_tokens=8):
        st, h, body = post_json(self.port, "/v1/completions",
                                {"model": "m", "prompt": prompt, "max_tokens": max_tokens},
                                headers={"x-switchyard-debug": "scores"}, timeout=30)
        check(st == 200, "status %d %r" % (st, body))
        return h["x-gateway-destination-endpoint"], h

    def run_all(self, prompts, conc, max_tokens=8):
        """Sends prompts from conc threads; returns the endpoint of each, in order."""
        out = [None] * len(prompts)
        nxt = [0]
        lock = threading.Lock()
        errors = []

        def worker():
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(prompts):
                    return
                try:
                    out[i] = self.served(prompts[i], max_tokens)[0]
                except Exception as e:  # reported below
                    errors.append(repr(e))
                    return
        ts = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        check(not errors, "requests failed: %r" % errors[:3])
        check(all(o for o in out), "every request answered")
        return out

    def stop(self):
        stop_process(self.gw)
        stop_process(self.sim)


def short_prompt(i):
    # 64 simulator tokens (4 bytes each): "wNNN" then 63 common words
    return "%04d " % i + "".join(WORDS[(i * 7 + k * 3) % len(WORDS)] + " " for k in range(63))


@test
def test_repeated_short_prompts_spread_evenly():
    f = Fleet()
    try:
        prompts = [short_prompt(i) for i in range(400)]
        f.run_all(prompts, 32)                       # first pass: caches and index fill
        second = f.run_all(prompts * 2, 32)          # the same prompts again (twice: 800)
        shares = collections.Counter(second)
        check(len(shares) == REPLICAS, "every replica used: %r" % shares)
        for ep, n in shares.items():
            check(abs(n / len(second) - 0.25) <= 0.04,
                  "replica %s served %d of %d (%.1f%%), want 25%% +- 4" %
                  (ep, n, len(second), 100.0 * n / len(second)))
        _, h = f.served(prompts[0])
        scores = h.get("x-gateway-destination-endpoint-scores", "")
        check("cache-load-scorer:" in scores, "the default scores with cache-load-scorer: %r"
              % scores)
    finally:
        f.stop()


@test
def test_shared_long_prefix_goes_to_its_replica():
    f = Fleet()
    try:
        prefixes = ["%d " % g + "".join(WORDS[(g * 5 + k) % len(WORDS)] + " "
                                        for k in range(3999)) for g in range(2)]
        home = [f.served(p + "first question?")[0] for p in prefixes]
        background = [short_prompt(10000 + i) for i in range(64)]
        bg = threading.Thread(target=lambda: f.run_all(background, 4, 32), daemon=True)
        bg.start()
        for g, p in enumerate(prefixes):
            eps = f.run_all([p + "question %d?" % i for i in range(12)], 4)
            check(set(eps) == {home[g]}, "prefix %d: every request on %s, got %r"
                  % (g, home[g], collections.Counter(eps)))
        bg.join(120)
    finally:
        f.stop()


@test
def test_debug_log_traces_the_scorers_inputs():
    f = Fleet(log_level="debug")
    try:
        prompt = "".join(WORDS[k % len(WORDS)] + " " for k in range(2000))  # 2,000 tokens
        first, _ = f.served(prompt + "one?")
        f.served(prompt + "two?")
        stop_process(f.gw)  # flushes its log
        lines = [ln.split("cache-load-scorer: ", 1)[1] for ln in
                 open(f.gw.log_path).read().splitlines() if "cache-load-scorer: " in ln]
        check(len(lines) == 2, "one trace line per decision: %r" % lines)
        decisions = []
        for ln in lines:
            cands = {}
            for part in ln.split("; "):
                addr, *kv = part.split(" ")
                cands[addr] = {k: float(v) for k, v in (x.split("=") for x in kv)}
            keys = {"n", "busy", "left", "pending", "cost", "w", "load"}
            check(len(cands) == REPLICAS and all(set(c) == keys for c in cands.values()),
                  "every candidate's inputs: %r" % ln)
            decisions.append(cands)
        costs = {c["cost"] for c in decisions[0].values()}
        check(len(costs) == 1 and costs.pop() >= 2000, "cold: the whole prompt everywhere %r"
              % decisions[0])
        again = decisions[1]
        others = [c["cost"] for a, c in again.items() if a != first]
        check(first in again and again[first]["cost"] < min(others) - 1000,
              "the replica that served it (%s) caches the 2,000 shared tokens: %r"
              % (first, again))
        check(all(c["load"] >= 0 and c["w"] >= 1 for c in again.values()), "loads %r" % again)
    finally:
        f.stop()


@test
def test_llmd_default_by_name():
    f = Fleet(scheduler="scheduler: llm-d-default\n")
    try:
        _, h = f.served(short_prompt(1))
        scores = h.get("x-gateway-destination-endpoint-scores", "")
        for s in ("queue-scorer:", "kv-cache-utilization-scorer:", "prefix-cache-scorer:"):
            check(s in scores, "llm-d's default scores with %s: %r" % (s, scores))
    finally:
        f.stop()
    port, admin = free_ports(2)
    path = write_file("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\npool:\n  endpoints:\n"
                      "    - address: 127.0.0.1:1\nscheduler: llm-d-defualt\n" % (port, admin))
    r = subprocess.run([BIN, "gateway", "--config", path, "--check"], capture_output=True,
                       timeout=30)
    err = r.stderr.decode()
    check(r.returncode != 0, "a misspelt built-in scheduler is refused")
    check("unknown built-in scheduler 'llm-d-defualt'" in err and "llm-d-default" in err,
          "the error names the choices: %r" % err)


if __name__ == "__main__":
    run()
