#!/usr/bin/env python3
"""P/D prefill leg under the concurrency-detector's bound, with the real gateway and simulator.

The prefill profile holds a concurrency-detector with maxConcurrency 1; the decode profile has
none. A burst of concurrent P/D requests (every prompt new, so every one is disaggregated) must
never put more than one prefill leg on a prefill replica: the gateway reserves the leg's slot
against the prefill profile's limit (src/disagg/disagg.c reserve_leg), also when every prefill
replica is full and the filter fails open. The requests that find no slot get 429
rejected-saturated with the dropped-reason header, and every slot is given back afterwards
(gateway in-flight counts and the replicas' running counts back to zero), also for a client that
leaves while its prefill leg runs.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, consecutive_ports, free_ports, metrics, post_json,  # noqa: E402
                     request, run, start_process, stop_process, test, wait_port, wait_until,
                     write_file)

MODEL = "Qwen/Qwen3-32B"
SCHED = """apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- {type: concurrency-detector, name: cd, parameters: {maxConcurrency: 1}}
- {type: prefill-filter}
- {type: decode-filter}
- {type: queue-scorer}
- {type: max-score-picker}
- {type: always-disagg-pd-decider}
- type: disagg-profile-handler
  parameters: {deciders: {prefill: always-disagg-pd-decider}}
schedulingProfiles:
- name: prefill
  plugins: [{pluginRef: prefill-filter}, {pluginRef: cd}, {pluginRef: queue-scorer},
            {pluginRef: max-score-picker}]
- name: decode
  plugins: [{pluginRef: decode-filter}, {pluginRef: queue-scorer}, {pluginRef: max-score-picker}]
"""


def text(tokens, salt):
    unit = "%s %d lorem ipsum " % (salt, tokens)
    return (unit * (tokens * 4 // len(unit) + 1))[:tokens * 4]


def gauge(port, name):
    m = metrics(port)[0]
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


class Setup:
    def __init__(self, prefill=2, decode=1):
        n = prefill + decode
        self.base = consecutive_ports(n)
        # real time: a prefill of a few thousand tokens lasts long enough for the burst to meet
        self.sim = start_process([BIN, "sim", "--port", str(self.base), "--prefill-replicas",
                                  str(prefill), "--decode-replicas", str(decode),
                                  "--kv-connector", "nixlv2", "--time-scale", "1"])
        for i in range(n):
            wait_port(self.base + i, proc=self.sim)
        self.prefills = [self.base + i for i in range(prefill)]
        self.decodes = [self.base + prefill + i for i in range(decode)]
        self.port, self.admin = free_ports(2)
        eps = "".join("    - { address: 127.0.0.1:%d, labels: { llm-d.ai/role: %s } }\n" % (p, r)
                      for r, ports in (("prefill", self.prefills), ("decode", self.decodes))
                      for p in ports)
        cfg = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n" % (self.port, self.admin)
               + "pool:\n  engine: vllm\n  scrapeInterval: 50ms\n"
               + "  disaggregation: { connector: nixlv2 }\n"
               + "  endpoints:\n" + eps
               + "timeouts:\n  connect: 1s\n  request: 60s\n"
               + "schedulerFile: %s\n" % write_file(SCHED))
        self.gw = start_process([BIN, "gateway", "--config", write_file(cfg)])
        wait_port(self.port, proc=self.gw)
        wait_port(self.admin, proc=self.gw)
        wait_until(lambda: len(self.endpoints()) == n and all(e["ready"] for e in self.endpoints()),
                   10, what="endpoints ready")

    def endpoints(self):
        st, _, body = request(self.admin, "GET", "/debug/endpoints")
        return json.loads(body)["endpoints"]

    def inflight(self, port):
        for e in self.endpoints():
            if e["address"] == "127.0.0.1:%d" % port:
                return e["inflight_requests"]
        raise AssertionError("no endpoint %d" % port)

    def idle(self):
        wait_until(lambda: all(e["inflight_requests"] == 0 for e in self.endpoints()), 15,
                   what="gateway in-flight back to zero")
        for p in self.prefills + self.decodes:
            wait_until(lambda: gauge(p, "vllm:num_requests_running") == 0 and
                       gauge(p, "vllm:num_requests_waiting") == 0, 15,
                       what="replica %d idle" % p)

    def stop(self):
        stop_process(self.gw)
        stop_process(self.sim)


@test
def test_prefill_leg_bound():
    s = Setup()
    try:
        n = 8
        results = [None] * n
        stop = threading.Event()
        seen = {p: 0 for p in s.prefills}  # most in flight seen per prefill replica
        running = {p: 0 for p in s.prefills}

        def watch():
            deadline = time.time() + 60
            while not stop.is_set() and time.time() < deadline:
                for e in s.endpoints():
                    for p in s.prefills:
                        if e["address"] == "127.0.0.1:%d" % p:
                            seen[p] = max(seen[p], e["inflight_requests"])
                for p in s.prefills:
                    running[p] = max(running[p], gauge(p, "vllm:num_requests_running") +
                                     gauge(p, "vllm:num_requests_waiting"))
                time.sleep(0.005)

        def client(i):
            body = {"model": MODEL, "prompt": text(6000, "burst%d" % i), "max_tokens": 2}
            results[i] = post_json(s.port, "/v1/completions", body, timeout=60)

        w = threading.Thread(target=watch)
        w.start()
        ts = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
        stop.set()
        w.join(90)
        ok = [r for r in results if r and r[0] == 200]
        refused = [r for r in results if r and r[0] == 429]
        check(len(ok) + len(refused) == n, "every request answered 200 or 429: %r" %
              [(r[0], r[2][:200]) if r else None for r in results])
        check(len(ok) >= 2, "at least one request per prefill replica served: %d" % len(ok))
        check(refused, "the burst is larger than the prefill slots: some refused")
        for st, h, data in ok:
            check(h.get("x-gateway-prefill-endpoint") in
                  ["127.0.0.1:%d" % p for p in s.prefills], h)
            check("x-switchyard-pd-fallback" not in h, h)
        for st, h, data in refused:
            check(h.get("x-llm-d-request-dropped-reason") == "rejected-saturated", h)
            err = json.loads(data)["error"]
            check(err["code"] == "rejected-saturated" and err["type"] == "rate_limit_error", err)
        for p in s.prefills:
            check(seen[p] <= 1, "prefill %d: %d in flight at once (limit 1)" % (p, seen[p]))
            check(running[p] <= 1, "prefill %d: %d running+waiting at once" % (p, running[p]))
        check(max(seen.values()) == 1, "the watcher saw the legs: %r" % seen)
        mg = metrics(s.admin)[0]
        check(sum(v for k, v in mg.items()
                  if k.startswith("switchyard_pd_exchanges_total") and 'outcome="error"' in k)
              == len(refused), "refused exchanges counted as errors")
        s.idle()
        # a client that leaves while its prefill leg runs gives the slot back, and the next
        # request gets it
        sock = socket.create_connection(("127.0.0.1", s.port))
        payload = json.dumps({"model": MODEL, "prompt": text(6000, "gone"),
                              "max_tokens": 2}).encode()
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        wait_until(lambda: sum(s.inflight(p) for p in s.prefills) == 1, 10,
                   what="the prefill leg in flight")
        sock.close()
        s.idle()
        st, h, data = post_json(s.port, "/v1/completions",
                                {"model": MODEL, "prompt": text(500, "after"), "max_tokens": 2},
                                timeout=60)
        check(st == 200 and h.get("x-gateway-prefill-endpoint"), (st, h, data[:200]))
        s.idle()
    finally:
        s.stop()


if __name__ == "__main__":
    run()
