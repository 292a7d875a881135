"""Integration test for slo-class-scorer (src/sched/slo_class_scorer.c, docs/slo-scheduling.md).

One `switchyard sim --replicas 2 --profile qwen3-8b-h100:1,qwen3-32b-tp2-h100` process (a fast 8B
replica on the first port, a slow 32B one on the second) behind the real gateway configured with
slo-class-scorer and max-score-picker only (predicted-latency-producer is created for it). The
gateway is told nothing about which replica is fast: the scorer learns it from the streamed
requests it serves (and from the latency model once that is trained). Then a mix of tight
(50 ms TPOT, 1 s TTFT) and loose (200 ms, 10 s) requests, sent concurrently: the tight ones land
on the fast replica, the loose ones fill the slow one. The tightness rule is the automatic one
(no threshold configured): tight = at most 0.6 x the p90 of recent objectives.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, metrics, post_json, run,  # noqa
                     start_fast_slow_gateway, start_fast_slow_sim, test, wait_until, write_file)

CONFIG = """
scheduler:
  plugins:
    - type: slo-class-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: slo-class-scorer
        - pluginRef: max-score-picker
"""

ST = {}


def setup():
    if ST:
        return ST
    sim, _, ST["fast"], ST["slow"] = start_fast_slow_sim()
    # the slow replica is listed first, so pool order favours nobody
    gw, port, admin = start_fast_slow_gateway(ST["fast"], ST["slow"], CONFIG, workers=2,
                                              request_timeout="30s")
    ST.update(procs=[gw, sim], port=port, admin=admin)
    return ST


SALT = [0]
LOCK = threading.Lock()


def complete(prompt_words, headers=None, max_tokens=16):
    """A streamed completion (so the gateway measures TPOT) with a prompt of distinct words."""
    st = setup()
    with LOCK:
        SALT[0] += 1
        salt = SALT[0]
    body = {"model": "m1", "prompt": " ".join("s%dw%d" % (salt, i) for i in range(prompt_words)),
            "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True}}
    return post_json(st["port"], "/v1/completions", body, headers=headers, timeout=30)


def concurrent(nthreads, per_thread, fn):
    """Runs fn(k, i) for i < per_thread on nthreads threads (bounded) and returns the results."""
    out = []

    def worker(k):
        for i in range(per_thread):
            r = fn(k, i)
            with LOCK:
                out.append(r)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(180)
    return out


@test
def test_tight_on_fast_loose_fill_slow():
    s = setup()
    wait_until(lambda: complete(10, max_tokens=2)[0] == 200, 10, interval=0.1,
               what="endpoints ready")

    # warm-up without objectives (loose): both replicas serve, the scorer sees both speeds and
    # the latency model collects its first samples (bounded: 4 x 40 requests)
    def warm(k, i):
        st, h, body = complete(100 + ((k * 40 + i) * 53) % 900, max_tokens=16)
        check(st == 200, "warm-up status %d %r" % (st, body))
        return h["x-gateway-destination-endpoint"]
    served = concurrent(4, 40, warm)
    check(served.count(s["fast"]) > 0 and served.count(s["slow"]) > 0,
          "both replicas served the warm-up: %d fast of %d" % (served.count(s["fast"]),
                                                                len(served)))

    def trained():
        m, _ = metrics(s["admin"])
        return m.get("switchyard_latency_model_retrains_total", 0) >= 1
    wait_until(trained, 15, interval=0.2, what="the latency model's first retrain")

    # the mix: each thread alternates tight and loose requests (half the tight ones with the
    # router's x-llm-d-slo-* spelling)
    def mixed(k, i):
        tight = (k + i) % 2 == 0
        if tight:
            pre = "x-llm-d-slo-" if i % 4 < 2 else "x-slo-"
            hdr = {pre + "tpot-ms": "50", pre + "ttft-ms": "1000"}
        else:
            hdr = {"x-slo-tpot-ms": "200", "x-slo-ttft-ms": "10000"}
        st, h, body = complete(200 + ((k * 30 + i) * 71) % 800, headers=hdr, max_tokens=24)
        check(st == 200, "status %d %r" % (st, body))
        return tight, h["x-gateway-destination-endpoint"]

    # priming, not counted: the automatic tightness rule classifies nothing tight before it has
    # seen MIN_RING (16) objectives per dimension (slo_class_scorer.c), so the first requests of a
    # mix are all loose by design; 2 x 12 sequential-pair requests fill both rings
    concurrent(2, 12, mixed)
    # the measured mix; bounded: 4 x 30 requests
    res = concurrent(4, 30, mixed)
    check(len(res) == 120, "all requests served: %d" % len(res))
    tight_fast = sum(1 for t, ep in res if t and ep == s["fast"])
    loose_slow = sum(1 for t, ep in res if not t and ep == s["slow"])
    ntight = sum(1 for t, _ in res if t)
    nloose = len(res) - ntight
    print("  tight on fast %d/%d, loose on slow %d/%d" % (tight_fast, ntight, loose_slow, nloose))
    check(tight_fast >= 0.9 * ntight,
          "tight requests land on the fast replica: %d/%d" % (tight_fast, ntight))
    check(loose_slow >= 0.6 * nloose,
          "loose requests fill the slow replica: %d/%d" % (loose_slow, nloose))


@test
def test_bad_parameters_refused():
    """A bad parameter is a config error naming the key, and the gateway does not start."""
    import subprocess
    port, admin = free_ports(2)
    bad = CONFIG.replace("    - type: slo-class-scorer\n",
                         "    - type: slo-class-scorer\n      parameters:\n"
                         "        speedClassRatio: 0.5\n")
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\n" % (port, admin) +
            "pool:\n  engine: vllm\n  endpoints:\n    - address: 127.0.0.1:1\n" + bad)
    r = subprocess.run([BIN, "gateway", "--config", write_file(text)], capture_output=True,
                       timeout=10)
    err = r.stderr.decode()
    check(r.returncode != 0 and "speedClassRatio" in err, (r.returncode, err))


if __name__ == "__main__":
    run()
