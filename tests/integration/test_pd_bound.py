#!/usr/bin/env python3
"""P/D prefill leg under the concurrency-detector's bound, with the real gateway and simulator.

The prefill profile holds a concurrency-detector with maxConcurrency 1; the decode profile has
none. A burst of concurrent P/D requests (every prompt new, so every one is disaggregated) must
never put more than one prefill leg on a prefill replica: the gateway reserves the leg's slot
against the prefill profile's limit (src/disagg/disagg.c reserve_leg), also when every prefill
replica is full and the filter fails open. The requests that find no slot get 429
rejected-saturated with the dropped-reason header, and every slot is given back afterwards
(gateway in-flight counts and the replicas' running counts back to zero), also for a client that
leaves while its prefill leg runs. Also (review of the bound change): with the flow-control gate
on the gate is the bound (a burst waits, a first leg fails open); a decode retry whose prefill
leg finds no room answers the failure's 502, not 429; in tokens mode the leg charges the tokens
the filter counted, and a prompt larger than the token limit is not starved under load.
"""
import json
import os
import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PDFleet, VllmGetHandler, check, metrics, pd_text as text,  # noqa: E402
                     post_json, run, test, wait_until, write_file)

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


def gauge(port, name):
    m = metrics(port)[0]
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


# the flow-control gate on, its saturation detector the prefill profile's concurrency-detector
GATED = SCHED.replace("kind: EndpointPickerConfig\n",
                      "kind: EndpointPickerConfig\nfeatureGates: [flowControl]\n"
                      "flowControl:\n  saturationDetector: {pluginRef: cd}\n")
# tokens mode on the prefill profile, with prefix affinity (what the leg's tokens count)
TOKENS = SCHED.replace("parameters: {maxConcurrency: 1}",
                       "parameters: {concurrencyMode: tokens, maxTokenConcurrency: 10000}")


class Setup(PDFleet):
    """The simulator fleet (real time by default: a prefill of a few thousand tokens lasts long
    enough for the burst to meet) behind a gateway that retries; stubs: ports of stand-in decode
    servers used instead of the simulator's."""

    def __init__(self, prefill=2, decode=1, sched=SCHED, scale="1", stubs=()):
        PDFleet.__init__(self, write_file(sched), prefill=prefill, decode=decode, scale=scale,
                         decode_ports=stubs, extra="retry:\n  maxAttempts: 3\n")

    def idle(self):
        wait_until(lambda: all(e["inflight_requests"] == 0 for e in self.endpoints()), 15,
                   what="gateway in-flight back to zero")
        for p in self.prefills + [self.base + len(self.prefills)]:
            wait_until(lambda: gauge(p, "vllm:num_requests_running") == 0 and
                       gauge(p, "vllm:num_requests_waiting") == 0, 15,
                       what="replica %d idle" % p)


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


def burst(s, n, tokens, salt, timeout=90):
    out = [None] * n

    def one(i):
        st, h, body = post_json(s.port, "/v1/completions",
                                {"model": MODEL, "prompt": text(tokens, "%s%d" % (salt, i)),
                                 "max_tokens": 2}, timeout=timeout)
        out[i] = (st, h.get("x-llm-d-request-dropped-reason"), body[:160])
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return out


@test
def test_gate_is_the_bound():
    """With the flow-control gate on, a P/D burst waits in the gate's queue instead of being
    refused at the prefill leg: the gate admits as many as its capacity (every ready endpoint's
    maxConcurrency), and a first leg that finds every prefill replica full fails open (review
    finding 1: 8 requests gave 2 x 200 and 6 x 429)."""
    s = Setup(sched=GATED)
    try:
        out = burst(s, 8, 6000, "g")
        check(all(o and o[0] == 200 for o in out), out)
        s.idle()
    finally:
        s.stop()


class _Closer(VllmGetHandler):
    """A decode server that takes the request and closes without answering (after 0.3 s)."""
    model = MODEL

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.3)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@test
def test_decode_retry_keeps_its_error():
    """A decode leg that fails is retried (strict); when its new prefill leg finds both prefill
    replicas full the client gets the failure's 502 upstream_unavailable, never 429
    rejected-saturated (review finding 2)."""
    stubs = []
    for _ in range(2):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Closer)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        stubs.append(srv)
    s = Setup(decode=1, scale="0.2", stubs=[x.server_address[1] for x in stubs])
    try:
        res = {}

        def call(name, tokens, delay):
            time.sleep(delay)
            res[name] = post_json(s.port, "/v1/completions",
                                  {"model": MODEL, "prompt": text(tokens, name), "max_tokens": 2},
                                  timeout=60)
        ts = [threading.Thread(target=call, args=a)
              for a in (("r1", 8000, 0), ("r2", 50, 0.3), ("r3", 8000, 0.45))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(65)
        for k in ("r1", "r2", "r3"):
            st, h, body = res[k]
            check(st in (502, 504) and not h.get("x-llm-d-request-dropped-reason"),
                  (k, st, h, body[:200]))
        st, h, body = res["r2"]
        check(st == 502 and b"upstream_unavailable" in body, (st, body[:200]))
    finally:
        s.stop()
        for x in stubs:
            x.shutdown()


@test
def test_prefill_tokens_charged_as_checked():
    """Tokens mode (limit 10000): with 4000 tokens in flight on the only prefill replica, a
    6000-token prompt is kept by the filter (4000 + 6000 <= 10000) and its leg gets the slot: the
    reservation charges the tokens the filter counted (review finding 3: it charged prompt + 1 and
    answered 429)."""
    s = Setup(prefill=1, sched=TOKENS, scale="0.2")
    try:
        pf = s.prefills[0]
        r1 = burst_bg(s, 4000, "other")
        wait_until(lambda: s.inflight(pf) == 1, 10, what="r1's prefill leg in flight")
        held = s.tokens(pf)
        st, h, body = post_json(s.port, "/v1/completions",
                                {"model": MODEL, "prompt": text(10000 - held, "fresh"),
                                 "max_tokens": 2}, timeout=60)
        check(st == 200, (held, st, h.get("x-llm-d-request-dropped-reason"), body[:200]))
        r1.join(60)
        s.idle()
    finally:
        s.stop()


def burst_bg(s, tokens, salt):
    t = threading.Thread(target=post_json, args=(s.port, "/v1/completions",
                                                 {"model": MODEL, "prompt": text(tokens, salt),
                                                  "max_tokens": 2}),
                         kwargs={"timeout": 60})
    t.start()
    return t


@test
def test_oversized_not_starved():
    """Tokens mode (limit 10000): a 12000-token prompt under steady load of 2000-token prompts
    is served (it takes a prefill replica below the limit, llm-d's rule) instead of waiting for
    an idle replica that never comes (review finding 4: 429 every time)."""
    s = Setup(prefill=1, sched=TOKENS, scale="0.2")
    stop = [False]

    def bg(k):
        for j in range(1000):
            if stop[0]:
                return
            post_json(s.port, "/v1/completions",
                      {"model": MODEL, "prompt": text(2000, "bg%d-%d" % (k, j)), "max_tokens": 2},
                      timeout=60)
    ts = [threading.Thread(target=bg, args=(k,)) for k in range(2)]
    try:
        for t in ts:
            t.start()
        wait_until(lambda: s.inflight(s.prefills[0]) > 0, 10, what="background load")
        out = []
        for n in range(4):
            st, h, body = post_json(s.port, "/v1/completions",
                                    {"model": MODEL, "prompt": text(12000, "big%d" % n),
                                     "max_tokens": 2}, timeout=60)
            out.append((st, h.get("x-llm-d-request-dropped-reason")))
        check(all(o[0] == 200 for o in out), out)
    finally:
        stop[0] = True
        for t in ts:
            t.join(60)
        s.stop()


if __name__ == "__main__":
    run()
