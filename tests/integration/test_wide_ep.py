"""Integration tests for wide expert parallelism (docs/wide-ep.md): `switchyard sim
--data-parallel-size N` pods whose ranks are endpoints of multi-port pool entries.

Asserted as a client sees it (x-gateway-destination-endpoint, x-gateway-prefill-endpoint) and on
the gateway's /debug/endpoints: one endpoint per rank (host:port) sharing its pod's labels; a
pod's supervisor /readyz gating all of its ranks; KV events attributed to the rank that published
them (a prompt sent straight to one rank attracts its repeats to that rank, which only its own
events can tell the gateway); and the llm-d wide-EP guide's P/D config handing requests from
prefill ranks to decode ranks.
"""
import json
import re
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, free_ports, kv_batches, post_json,  # noqa: E402
                     process_log, request, run, start_process, stop_process, test, wait_port,
                     wait_until, write_file)

MODEL = "m"


def start_pods(base, ranks, pods, sup, *extra):
    p = start_process([BIN, "sim", "--port", str(base), "--replicas", str(ranks * pods),
                       "--data-parallel-size", str(ranks),
                       "--data-parallel-supervisor-port", str(sup), "--model", MODEL,
                       "--time-scale", "50"] + list(extra))
    for i in range(ranks * pods):
        wait_port(base + i, proc=p)
    for g in range(pods):
        wait_port(sup + g, proc=p)
    return p


def start_gateway(pool_yaml, scheduler_yaml):
    listen, admin = free_ports(2)
    text = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
workers: 2
pool:
  engine: vllm
  scrapeInterval: 50ms
  endpoints:
%s
timeouts:
  connect: 500ms
  request: 20s
scheduler:
%s
""" % (listen, admin, pool_yaml, scheduler_yaml)
    p = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(listen, proc=p)
    wait_port(admin, proc=p)
    return p, listen, admin


def endpoints(admin):
    st, _, body = request(admin, "GET", "/debug/endpoints")
    check(st == 200, "debug/endpoints %d" % st)
    return {e["address"]: e for e in json.loads(body)["endpoints"]}


def ready_set(admin):
    return {a for a, e in endpoints(admin).items() if e["ready"]}


def route(port, prompt, max_tokens=1):
    st, hdr, body = post_json(port, "/v1/completions",
                              {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens},
                              headers={"x-switchyard-debug": "scores"})
    check(st == 200, "gateway %d: %s" % (st, body[:300]))
    return hdr["x-gateway-destination-endpoint"], hdr


def text(tag, n):
    s = ("[%s] " % tag) + " ".join("%s-%d" % (tag, i) for i in range(n))
    return s[:n]


PRECISE = """  apiVersion: llm-d.ai/v1alpha1
  kind: EndpointPickerConfig
  plugins:
    - type: token-producer
      parameters: {backend: simulator}
    - type: precise-prefix-cache-producer
      parameters:
        tokenProcessorConfig: {blockSize: 16}
        kvEventsConfig: {replayPortOffset: %d}
    - type: prefix-cache-scorer
      parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
    - type: max-score-picker
  schedulingProfiles:
    - name: default
      plugins:
        - {pluginRef: prefix-cache-scorer, weight: 2}
        - {pluginRef: max-score-picker}"""


@test
def test_ranks_supervisor_and_per_rank_kv_events():
    base = consecutive_ports(8)
    sup = consecutive_ports(2)
    kv = consecutive_ports(8)
    replay = consecutive_ports(8)
    sim = start_pods(base, 4, 2, sup, "--kv-events", "tcp://127.0.0.1:%d" % kv,
                     "--kv-events-replay", "tcp://127.0.0.1:%d" % replay, "--block-size", "16")
    pool = ""
    for g in range(2):
        pool += """    - host: 127.0.0.1
      targetPorts: [%s]
      supervisorPort: %d
      kvEvents: tcp://127.0.0.1:%d
      labels: {pod: pod-%d, llm-d.ai/role: decode}
""" % (", ".join(str(base + 4 * g + r) for r in range(4)), sup + g, kv + 4 * g, g)
    gw, gport, admin = start_gateway(pool, PRECISE % (replay - kv))
    ranks = ["127.0.0.1:%d" % (base + i) for i in range(8)]
    try:
        # 1. eight endpoints, one per rank, each with its pod's labels, all ready
        wait_until(lambda: ready_set(admin) == set(ranks), 10, what="all 8 ranks ready")
        eps = endpoints(admin)
        check(sorted(eps) == sorted(ranks), sorted(eps))
        for i, a in enumerate(ranks):
            check(eps[a]["labels"].get("pod") == "pod-%d" % (i // 4), (a, eps[a]))

        # each rank's subscription ends its start-up replay, complete or timed out (a loaded
        # machine can time one out); the events themselves are checked below, batch by batch
        wait_until(lambda: len(re.findall(r"replay (?:complete|timed out) at seq",
                                          process_log(gw))) >= 8, 10,
                   what="every rank's KV-event publisher subscribed")

        # 2. per-rank KV events: a prompt computed on rank 2 of pod 0 (sent to it directly, so
        # the gateway never saw it) and one on rank 1 of pod 1 attract their repeats there
        for rank_port, tag in ((base + 2, "alpha"), (base + 5, "beta")):
            shared = text(tag, 1600)
            before = kv_batches(admin)
            st, _, body = post_json(rank_port, "/v1/completions",
                                    {"model": MODEL, "prompt": shared, "max_tokens": 1})
            check(st == 200, body)
            want = "127.0.0.1:%d" % rank_port

            # published at the step's end, applied by the subscriber thread: wait until the
            # gateway has applied batches and no more arrive
            wait_until(lambda: kv_batches(admin) > before, 10, what="%s's KV events" % tag)
            last = -1
            while kv_batches(admin) != last:
                last = kv_batches(admin)
                time.sleep(0.4)
            for i in range(4):
                got, hdr = route(gport, shared + " question %d" % i)
                check(got == want, "%s #%d: %s, expected %s (%s)" % (
                    tag, i, got, want, hdr.get("x-gateway-destination-endpoint-scores")))

        # 3. pod 0's supervisor says not ready: all four of its ranks leave, pod 1's stay
        st, _, _ = request(sup, "POST", "/_sim/ready?value=false")
        check(st == 200)
        wait_until(lambda: ready_set(admin) == set(ranks[4:]), 10,
                   what="pod 0's ranks out with its supervisor")
        seen = set()
        for i in range(12):
            seen.add(route(gport, text("after%d" % i, 200))[0])
        check(seen <= set(ranks[4:]) and seen, seen)
        got, _ = route(gport, text("alpha", 1600) + " while pod 0 is out")
        check(got in ranks[4:], got)
        st, _, _ = request(sup, "POST", "/_sim/ready?value=true")
        wait_until(lambda: ready_set(admin) == set(ranks), 10, what="pod 0 back")
    except AssertionError:
        print(process_log(gw)[-3000:])
        raise
    finally:
        stop_process(gw)
        stop_process(sim)


GUIDE = """  apiVersion: llm-d.ai/v1alpha1
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
  schedulingProfiles:
  - name: prefill
    plugins:
    - pluginRef: prefill-filter
    - pluginRef: prefix-cache-scorer
      weight: 3
    - pluginRef: queue-scorer
      weight: 2
    - pluginRef: kv-cache-utilization-scorer
      weight: 2
  - name: decode
    plugins:
    - pluginRef: decode-filter
    - pluginRef: active-request-scorer
      weight: 2
    - pluginRef: prefix-cache-scorer
      weight: 3"""


@test
def test_wide_ep_guide_pd_over_ranks():
    base = consecutive_ports(8)
    sup = consecutive_ports(2)
    sim = start_process([BIN, "sim", "--port", str(base), "--prefill-replicas", "4",
                         "--decode-replicas", "4", "--data-parallel-size", "4",
                         "--data-parallel-supervisor-port", str(sup), "--model", MODEL,
                         "--time-scale", "50"])
    for i in range(8):
        wait_port(base + i, proc=sim)
    pool = """    - host: 127.0.0.1
      targetPorts: [%d, %d, %d, %d]
      supervisorPort: %d
      labels: {llm-d.ai/role: prefill}
    - host: 127.0.0.1
      targetPorts: [%d, %d, %d, %d]
      supervisorPort: %d
      labels: {llm-d.ai/role: decode}""" % (base, base + 1, base + 2, base + 3, sup,
                                             base + 4, base + 5, base + 6, base + 7, sup + 1)
    gw, gport, admin = start_gateway(pool, GUIDE)
    prefill = {"127.0.0.1:%d" % (base + i) for i in range(4)}
    decode = {"127.0.0.1:%d" % (base + 4 + i) for i in range(4)}
    try:
        wait_until(lambda: ready_set(admin) == prefill | decode, 10, what="ranks ready")
        got_d, got_p = set(), set()
        for i in range(12):
            d, hdr = route(gport, text("pd%d" % i, 800), max_tokens=4)
            p = hdr.get("x-gateway-prefill-endpoint")
            check(d in decode and p in prefill, (d, p))
            got_d.add(d)
            got_p.add(p)
        check(len(got_d) >= 2 and len(got_p) >= 2, (got_d, got_p))
    except AssertionError:
        print(process_log(gw)[-3000:])
        raise
    finally:
        stop_process(gw)
        stop_process(sim)


@test
def test_dp_fixture_routes_to_ranks():
    base = consecutive_ports(4)
    sup = consecutive_ports(1)
    sim = start_pods(base, 4, 1, sup)
    fixture = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "..", "shared", "fixtures", "llm-d-configs",
        "inference-scheduler-v0.8_dp-epp-config.yaml")
    listen, admin = free_ports(2)
    text_cfg = """listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
pool:
  scrapeInterval: 50ms
  endpoints:
    - host: 127.0.0.1
      targetPorts: [%d, %d, %d, %d]
      supervisorPort: %d
schedulerFile: %s
""" % (listen, admin, base, base + 1, base + 2, base + 3, sup, os.path.abspath(fixture))
    gw = start_process([BIN, "gateway", "--config", write_file(text_cfg)])
    try:
        wait_port(listen, proc=gw)
        wait_port(admin, proc=gw)  # the admin listener is bound after the client one
        wait_until(lambda: len(ready_set(admin)) == 4, 10, what="ranks ready")
        check("data-parallel-profile-handler' is deprecated" in process_log(gw),
              process_log(gw)[-2000:])
        seen = set()
        for i in range(16):
            seen.add(route(listen, text("dp%d" % i, 400))[0])
        check(seen <= {"127.0.0.1:%d" % (base + i) for i in range(4)} and len(seen) >= 2, seen)
    finally:
        stop_process(gw)
        stop_process(sim)


@test
def test_sim_data_parallel_flags():
    for args, word in ((["--replicas", "6", "--data-parallel-size", "4"], "divide the replica"),
                       (["--replicas", "4", "--data-parallel-size", "0"], "data-parallel-size"),
                       (["--prefill-replicas", "2", "--decode-replicas", "2",
                         "--data-parallel-size", "4"], "mixes P/D roles")):
        r = subprocess.run([BIN, "sim", "--port", "0"] + args, capture_output=True, text=True,
                           timeout=10)
        check(r.returncode != 0 and word in r.stderr, "%s: %d %r" % (args, r.returncode, r.stderr))


if __name__ == "__main__":
    run()
