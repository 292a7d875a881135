"""Integration tests for priority-reservation-filter (capacity reserved for the interactive
objective, issue 14) with real simulated replicas behind the gateway and the flow-control gate:

- under a bounded overload of standard, batch and interactive requests together, no standard or
  batch request is ever served by the reserved replica (the gateway's destination header and the
  replica's own request counter agree), interactive requests are served there, every request
  gets an answer, and the shared replicas never hold more than their limit (the gate measures the
  lower bands' saturation over the endpoints they may use);
- interactive requests prefer the reserved replica and overflow to the shared ones when it is at
  its concurrency limit;
- configuration mistakes are refused by `gateway --check` with the key and the reason.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, free_ports, metrics, post_json, run,  # noqa
                     start_process, start_sim, stop_process, test, wait_endpoints_ready,
                     wait_port, wait_until, write_file)

OBJECTIVES = ("inferenceObjectives:\n  - {name: interactive, priority: 10}\n"
              "  - {name: standard, priority: 0}\n  - {name: batch, priority: -1}\n")
RESERVED_LABEL = "      labels: {llm-d.ai/reserved-for: interactive}\n"


def scheduler(max_conc):
    return ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
            "  featureGates: [flowControl]\n"
            "  plugins:\n"
            "  - type: priority-reservation-filter\n    name: reserve\n    parameters:\n"
            "      minPriority: 10\n"
            "      reserved: {matchLabels: {llm-d.ai/reserved-for: interactive}}\n"
            "  - {type: concurrency-detector, name: cd, parameters: {maxConcurrency: %d}}\n"
            "  - type: queue-scorer\n  - type: max-score-picker\n"
            "  flowControl:\n    saturationDetector: {pluginRef: cd}\n"
            "  schedulingProfiles:\n  - name: default\n    plugins:\n"
            "    - {pluginRef: reserve, weight: 10}\n    - {pluginRef: cd}\n"
            "    - {pluginRef: queue-scorer}\n    - {pluginRef: max-score-picker}\n" % max_conc)


def gateway(base, replicas, reserved, max_conc):
    """Gateway over sim replicas base..base+replicas-1; the last `reserved` carry the label."""
    lp, ap = free_ports(2)
    eps = "".join("    - address: 127.0.0.1:%d\n%s" % (
        base + i, RESERVED_LABEL if i >= replicas - reserved else "") for i in range(replicas))
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n"
            "pool:\n  scrapeInterval: 50ms\n  endpoints:\n%s"
            "timeouts:\n  request: 60s\n" % (lp, ap, eps) + OBJECTIVES + scheduler(max_conc))
    p = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(lp, proc=p)
    wait_port(ap, proc=p)
    return p, lp, ap


def served(sim_port):
    """Requests the replica itself finished (its own counter, independent of the gateway)."""
    m, _ = metrics(sim_port)
    return sum(v for k, v in m.items() if k.startswith("vllm:request_success_total"))


def send_all(port, jobs):
    """jobs: [(objective, prompt words, max_tokens)], all at once, one thread each; returns
    [(objective, status, destination endpoint)] in job order."""
    out = [None] * len(jobs)

    def one(i, objective, words, max_tokens):
        body = {"model": "m1", "prompt": " ".join("w%d" % (i * 7 + k) for k in range(words)),
                "max_tokens": max_tokens}
        try:
            st, h, _ = post_json(port, "/v1/completions", body, timeout=60,
                                 headers={"x-gateway-inference-objective": objective,
                                          "x-gateway-inference-fairness-id": objective})
            out[i] = (objective, st, h.get("x-gateway-destination-endpoint", ""))
        except OSError as e:
            out[i] = (objective, "lost: %s" % e, "")

    threads = [threading.Thread(target=one, args=(i,) + j, daemon=True)
               for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out


@test
def reservation_holds_under_load():
    """3 replicas (max-num-seqs 2, concurrency limit 2), the third reserved. 16 standard + 16
    batch long prompts and 12 interactive short ones at once: 44 requests for 6 slots. Standard
    and batch never reach the reserved replica; interactive requests do; all are answered 200."""
    base = consecutive_ports(3)
    sim = start_sim(base, 3, "m1", time_scale=10, extra=("--max-num-seqs", "2"))
    p, port, admin = gateway(base, 3, 1, 2)
    reserved = "127.0.0.1:%d" % (base + 2)
    try:
        wait_endpoints_ready(admin)
        jobs = []
        for i in range(16):  # interleaved so every class arrives throughout the burst
            jobs.append(("standard", 300, 16))
            jobs.append(("batch", 300, 16))
            if i % 4 != 3:
                jobs.append(("interactive", 8, 8))
        # sample the shared replicas' own queues while the burst runs: the gate measures the
        # lower bands' saturation over the shared replicas, so they never queue (max-num-seqs 2
        # = the concurrency limit) although the reserved replica leaves pool-wide room
        stop = threading.Event()
        held = []

        def sample():
            while not stop.is_set() and len(held) < 5000:
                for sp in (base, base + 1):
                    m, _ = metrics(sp)
                    held.append(sum(v for k, v in m.items()
                                    if k.startswith("vllm:num_requests_waiting") or
                                    k.startswith("vllm:num_requests_running")))
                stop.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        res = send_all(port, jobs)
        stop.set()
        sampler.join(10)
        check(held and max(held) <= 2, "a shared replica held %r (limit 2)" % max(held or [0]))
        bad = [r for r in res if r is None or r[1] != 200]
        check(not bad, "every request answered 200: %r" % bad[:5])
        low_on_reserved = [r for r in res if r[0] != "interactive" and r[2] == reserved]
        check(not low_on_reserved, "standard/batch on the reserved replica: %r" % low_on_reserved)
        inter = [r for r in res if r[0] == "interactive"]
        on_reserved = sum(1 for r in inter if r[2] == reserved)
        check(on_reserved >= 1, "interactive on the reserved replica: %d of %d (%r)" %
              (on_reserved, len(inter), inter))
        # the replica's own count agrees: it served exactly the interactive requests sent there
        check(served(base + 2) == on_reserved, "reserved replica served %r, gateway says %d" %
              (served(base + 2), on_reserved))
        check(served(base) + served(base + 1) == len(res) - on_reserved,
              "shared replicas served %r + %r of %d" % (served(base), served(base + 1),
                                                        len(res) - on_reserved))
    finally:
        stop_process(p)
        stop_process(sim)


def running(sim_port):
    m, _ = metrics(sim_port)
    return sum(v for k, v in m.items() if k.startswith("vllm:num_requests_running"))


@test
def interactive_prefers_reserved_and_overflows_when_full():
    """Only interactive traffic. One at a time, every request lands on the reserved replica (the
    preference; queue-scorer alone sees three idle replicas). With the reserved replica at its
    concurrency limit (2 long requests running there), the next ones overflow to the shared
    replicas instead of waiting."""
    base = consecutive_ports(3)
    sim = start_sim(base, 3, "m1", time_scale=2, extra=("--max-num-seqs", "2"))
    p, port, admin = gateway(base, 3, 1, 2)
    reserved = "127.0.0.1:%d" % (base + 2)
    try:
        wait_endpoints_ready(admin)
        for i in range(5):
            res = send_all(port, [("interactive", 8, 4)])
            check(res[0][1] == 200 and res[0][2] == reserved, "request %d: %r" % (i, res))
        long_res = []
        t = threading.Thread(target=lambda: long_res.extend(
            send_all(port, [("interactive", 8, 600)] * 2)), daemon=True)
        t.start()
        wait_until(lambda: running(base + 2) == 2, 20, what="2 long requests on the reserved")
        for i in range(3):
            res = send_all(port, [("interactive", 8, 4)])
            check(res[0][1] == 200 and res[0][2] != reserved and res[0][2],
                  "overflow %d: %r" % (i, res))
        t.join(120)
        check(len(long_res) == 2 and all(r[1] == 200 and r[2] == reserved for r in long_res),
              "long requests: %r" % long_res)
        check(served(base + 2) == 7, "reserved replica served %r, want 7" % served(base + 2))
    finally:
        stop_process(p)
        stop_process(sim)


@test
def config_errors_are_refused():
    cases = [
        ("    parameters: {minPriority: 10}\n", "reserved: is required"),
        ("    parameters: {reserved: {}}\n", "empty selector would reserve every endpoint"),
        ("    parameters: {reserved: {matchLabels: {a: b}}, minPriority: x}\n", "minPriority"),
        ("    parameters:\n      reserved:\n        matchExpressions:\n"
         "        - {key: a, operator: Equals, values: [b]}\n",
         "reserved.matchExpressions[0]: operator 'Equals'"),
    ]
    for params, want in cases:
        text = ("listen: 127.0.0.1:1\npool:\n  endpoints:\n    - address: 127.0.0.1:2\n" +
                OBJECTIVES + "scheduler:\n  plugins:\n  - type: priority-reservation-filter\n" +
                params + "  - type: max-score-picker\n")
        path = write_file(text)
        r = start_process([BIN, "gateway", "--check", "--config", path],
                          stdout=-1, stderr=-1)
        out, err = r.communicate(timeout=20)
        msg = (out + err).decode()
        check(r.returncode != 0 and want in msg and path in msg,
              "%r: rc %d, %r" % (want, r.returncode, msg))


if __name__ == "__main__":
    run()
