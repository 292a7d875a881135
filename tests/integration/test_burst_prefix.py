"""Integration test for burst-prefix-cache-producer: requests that arrive within one window are
placed jointly, so the samples of one prompt (an RL rollout group) land on one replica even though
every replica's cache is cold, and two groups land on different replicas.

Asserted as a client sees it (x-gateway-destination-endpoint), with the real binaries: a
`switchyard sim` fleet of 3 replicas and the gateway configured as llm-d's
epp-burst-prefix-cache-config.yaml (minus the vllm token producer: the estimate backend).
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, consecutive_ports, free_ports, post_json, run, start_gateway,  # noqa: E402
                     start_sim, test, wait_endpoints_ready, write_file)

MODEL = "m"


def fleet(window_ms, extra=""):
    base = consecutive_ports(3)
    start_sim(base, 3, MODEL)
    listen, admin = free_ports(2)
    text = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 2
pool:
  engine: vllm
  scrapeInterval: 50ms
  endpoints:
    - address: 127.0.0.1:%d
    - address: 127.0.0.1:%d
    - address: 127.0.0.1:%d
scheduler:
  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: burst-prefix-cache-producer
      parameters:
        windowDurationMs: %d%s
    - type: prefix-cache-scorer
      parameters:
        prefixMatchInfoProducerName: burst-prefix-cache-producer
    - type: load-aware-scorer
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - pluginRef: prefix-cache-scorer
          weight: 2.0
        - pluginRef: load-aware-scorer
          weight: 1.0
        - pluginRef: max-score-picker
""" % (listen, admin, base, base + 1, base + 2, window_ms, extra)
    start_gateway(write_file(text), listen, admin)
    wait_endpoints_ready(admin)
    return listen


def burst(port, prompts):
    """Sends every prompt at once; returns the endpoint that served each."""
    out = [None] * len(prompts)

    def one(i):
        st, hdr, body = post_json(port, "/v1/completions",
                                  {"model": MODEL, "prompt": prompts[i], "max_tokens": 1})
        out[i] = hdr.get("x-gateway-destination-endpoint") if st == 200 else "HTTP %d" % st
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


def prompt(tag):
    return " ".join("%s-%d" % (tag, i) for i in range(200))  # > one 64-token block


@test
def test_groups_colocate_within_a_window():
    port = fleet(400, "\n        maxPerReplica: -1")
    for rnd in range(2):
        a, b = prompt("alpha%d" % rnd), prompt("beta%d" % rnd)
        served = burst(port, [a] * 4 + [b] * 4)
        check(all(s and not s.startswith("HTTP") for s in served), "all served: %s" % served)
        check(len(set(served[:4])) == 1, "group a on one replica: %s" % served)
        check(len(set(served[4:])) == 1, "group b on one replica: %s" % served)
        check(served[0] != served[4], "the two groups on different replicas: %s" % served)


@test
def test_capped_group_spreads():
    port = fleet(400, "\n        maxPerReplica: 2")
    served = burst(port, [prompt("gamma")] * 6)
    counts = {s: served.count(s) for s in set(served)}
    check(sorted(counts.values()) == [2, 2, 2], "maxPerReplica 2 over 3 replicas: %s" % counts)


if __name__ == "__main__":
    run()
