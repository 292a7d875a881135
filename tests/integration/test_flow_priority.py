"""Integration tests for flow control's engine-side levers and the policies added for issue 14:

- pool.forwardPriority: the gateway splices the request's flow-control priority into the body as
  vLLM's `priority` (negated: vLLM runs lower values first); the replica sees it;
- `switchyard sim --scheduling-policy priority`: vLLM's priority scheduling (a non-zero priority
  without it is a 400, as in vLLM), end to end through the gateway: a later, higher-priority
  request runs before an earlier batch one;
- program-aware-fairness: the least-served program goes first;
- the utilization-detector's filter role: an endpoint at the queue threshold gets no request.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_ports, metrics, post_json, request, run,  # noqa: E402
                     start_process,
                     start_sim, stop_process, test, wait_endpoints_ready, wait_port, wait_until,
                     write_file, consecutive_ports)
from stub_server import Stub  # noqa: E402
from test_flow_control import Call, Gateway, HeldStub, OBJECTIVES, epp  # noqa: E402


def gateway(addresses, extra_pool="", scheduler="", objectives=OBJECTIVES):
    lp, ap = free_ports(2)
    text = ("listen: 127.0.0.1:%d\nadmin: 127.0.0.1:%d\nworkers: 2\n"
            "pool:\n  scrapeInterval: 50ms\n%s  endpoints:\n" % (lp, ap, extra_pool) +
            "".join("    - address: %s\n" % a for a in addresses) +
            "timeouts:\n  request: 30s\n" + objectives + scheduler)
    p = start_process([BIN, "gateway", "--config", write_file(text)])
    wait_port(lp, proc=p)
    wait_port(ap, proc=p)
    return p, lp, ap


def last_body(stub):
    with stub.lock:
        return json.loads(stub.requests[-1]["body"])


@test
def forward_priority_reaches_the_replica():
    """forwardPriority: the objective's priority arrives negated as `priority`; the rest of the
    body is untouched; a client's own `priority` stands; without the key nothing is added."""
    s = Stub(models=("m1",))
    p, port, admin = gateway([s.address], extra_pool="  forwardPriority: true\n")
    q, qport, qadmin = gateway([s.address])
    try:
        wait_endpoints_ready(admin)
        wait_endpoints_ready(qadmin)
        cases = [("interactive", -10), ("batch", 1), ("standard", 0), ("no-such-objective", 0),
                 (None, 0)]
        for objective, want in cases:
            h = {"x-gateway-inference-objective": objective} if objective else {}
            body = {"model": "m1", "prompt": "hello", "max_tokens": 3}
            st, _, _ = post_json(port, "/v1/completions", body, headers=h)
            check(st == 200, "status %d" % st)
            got = last_body(s)
            check(got.get("priority") == want, "%s: priority %r, want %r" %
                  (objective, got.get("priority"), want))
            got.pop("priority")
            check(got == body, "rest of the body unchanged: %r" % got)
        # chat completions, and the router's header
        st, _, _ = post_json(port, "/v1/chat/completions",
                             {"model": "m1", "messages": [{"role": "user", "content": "hi"}]},
                             headers={"x-llm-d-inference-objective": "interactive"})
        check(st == 200 and last_body(s).get("priority") == -10, "chat: %r" % last_body(s))
        # the client's own priority is forwarded as sent
        st, _, _ = post_json(port, "/v1/completions",
                             {"model": "m1", "prompt": "x", "priority": 3},
                             headers={"x-gateway-inference-objective": "interactive"})
        check(st == 200 and last_body(s)["priority"] == 3, "client priority: %r" % last_body(s))
        # whitespace before the object: spliced after the brace, still valid JSON
        st, _, _ = request(port, "POST", "/v1/completions",
                           b' \n {"model":"m1","prompt":"ws"}',
                           {"Content-Type": "application/json",
                            "x-gateway-inference-objective": "interactive"})
        with s.lock:
            raw = s.requests[-1]["body"]
        check(st == 200 and json.loads(raw) == {"priority": -10, "model": "m1", "prompt": "ws"},
              "whitespace body: %r" % raw)
        # off by default
        st, _, _ = post_json(qport, "/v1/completions", {"model": "m1", "prompt": "y"},
                             headers={"x-gateway-inference-objective": "interactive"})
        check(st == 200 and "priority" not in last_body(s), "default: %r" % last_body(s))
    finally:
        stop_process(p)
        stop_process(q)
        s.stop()


@test
def sim_priority_field_needs_the_priority_policy():
    base = consecutive_ports(2)
    fcfs = start_sim(base, 1, "m1")
    prio = start_sim(base + 1, 1, "m1", extra=("--scheduling-policy", "priority"))
    try:
        body = {"model": "m1", "prompt": "hello", "max_tokens": 2, "priority": 5}
        st, _, data = post_json(base, "/v1/completions", body)
        check(st == 400 and b"Priority scheduling is not enabled" in data,
              "fcfs + priority 5: %d %r" % (st, data[:200]))
        st, _, _ = post_json(base, "/v1/completions", dict(body, priority=0))
        check(st == 200, "fcfs + priority 0: %d" % st)
        st, _, _ = post_json(base + 1, "/v1/completions", body)
        check(st == 200, "priority policy: %d" % st)
        for bad in ("high", 1.5):
            st, _, data = post_json(base + 1, "/v1/completions", dict(body, priority=bad))
            check(st == 400 and b"'priority' must be an integer" in data, "%r: %d" % (bad, st))
        bad = start_process([BIN, "sim", "--port", "1", "--scheduling-policy", "lifo"])
        check(bad.wait(10) != 0, "--scheduling-policy lifo refused")
    finally:
        stop_process(fcfs)
        stop_process(prio)


def order_through_gateway(policy, forward):
    """One replica running one sequence at a time; a long request occupies it, then a batch
    request and, later, an interactive one wait in the replica's queue. Returns which of the
    two finished first."""
    base = consecutive_ports(1)
    sim = start_sim(base, 1, "m1", time_scale=1,
                    extra=("--max-num-seqs", "1", "--scheduling-policy", policy))
    p, port, admin = gateway(["127.0.0.1:%d" % base],
                             extra_pool="  forwardPriority: true\n" if forward else "")
    try:
        wait_endpoints_ready(admin)
        done = []
        lock = threading.Lock()

        def send(name, objective, max_tokens):
            st, _, _ = post_json(port, "/v1/completions",
                                 {"model": "m1", "prompt": name, "max_tokens": max_tokens},
                                 headers={"x-gateway-inference-objective": objective},
                                 timeout=60)
            with lock:
                done.append((name, st))

        def waiting():
            m, _ = metrics(base)
            return sum(v for k, v in m.items() if k.startswith("vllm:num_requests_waiting"))

        threads = [threading.Thread(target=send, args=("occupy", "standard", 150), daemon=True)]
        threads[0].start()
        wait_until(lambda: sum(v for k, v in metrics(base)[0].items()
                               if k.startswith("vllm:num_requests_running")) == 1, 10,
                   what="occupied")
        for name, objective in (("batch", "batch"), ("interactive", "interactive")):
            t = threading.Thread(target=send, args=(name, objective, 4), daemon=True)
            n = waiting()
            t.start()
            threads.append(t)
            wait_until(lambda: waiting() == n + 1, 10, what="%s waiting" % name)
        for t in threads:
            t.join(60)
        check(all(st == 200 for _, st in done), "statuses %r" % done)
        names = [n for n, _ in done if n != "occupy"]
        return names[0]
    finally:
        stop_process(p)
        stop_process(sim)


@test
def priority_scheduling_end_to_end():
    """gateway forwardPriority + sim --scheduling-policy priority: the interactive request that
    arrived after the batch one runs first. The controls: the priority policy without the
    forwarded field, and fcfs (which, like vLLM, would refuse a non-zero priority: 400), run the
    batch one first."""
    first = order_through_gateway("priority", True)
    check(first == "interactive", "priority policy: %s finished first" % first)
    first = order_through_gateway("priority", False)
    check(first == "batch", "priority policy, nothing forwarded: %s finished first" % first)
    first = order_through_gateway("fcfs", False)
    check(first == "batch", "fcfs: %s finished first" % first)


@test
def program_aware_fairness_serves_the_least_served_program():
    """Program b has been served a large prompt; with a request of b queued before one of c,
    program-aware-fairness dispatches c first (round-robin's cursor would give b, global-strict
    the older b)."""
    s = HeldStub()
    gw = Gateway([s.address], OBJECTIVES + epp(
        plugins="    - type: program-aware-fairness\n      name: las\n",
        flow="    defaultPriorityBand: {fairnessPolicyRef: las}\n"))
    try:
        gw.wait_ready()
        heavy = Call(gw.port, "x" * 20000, flow="b")
        wait_until(lambda: s.held() == 1, 10, what="heavy held")
        s.release(1)
        heavy.join(20)
        check(heavy.status == 200, "heavy status %r" % heavy.status)
        # no usage in the replica's answer: the prompt estimate (4 bytes a token) is charged
        served = 'llm_d_epp_program_aware_attained_service_tokens{program_id="b"}'
        wait_until(lambda: gw.metric(served) > 4000, 10, what="program b charged")
        hold = Call(gw.port, "hold", flow="a")
        wait_until(lambda: s.held() == 1, 10, what="hold held")
        b1 = Call(gw.port, "b1", flow="b")
        wait_until(lambda: gw.queued() == 1, 10, what="b1 queued")
        time.sleep(0.05)
        c1 = Call(gw.port, "c1", flow="c")
        wait_until(lambda: gw.queued() == 2, 10, what="c1 queued")
        start = len(s.arrivals)
        s.release(1)
        wait_until(lambda: len(s.arrivals) >= start + 1, 10, what="next dispatch")
        check(s.arrivals[start] == "c1", "dispatched %r first, want c1" % s.arrivals[start])
        s.open_all()
        for c in (hold, b1, c1):
            c.join(20)
            check(c.status == 200, "status %r" % c.status)
    finally:
        gw.stop()
        s.stop()


@test
def utilization_detector_filters_a_full_replica():
    """Declared under plugins:, the utilization detector is also a filter: a replica whose queue
    is at queueDepthThreshold gets nothing while another is below it (no flow-control gate)."""
    a, b = Stub(models=("m1",)), Stub(models=("m1",))
    a.waiting = 4  # at the threshold (kv-cache scorer would prefer a: it has the lower KV)
    b.kv = 0.5
    sched = ("scheduler:\n  apiVersion: llm-d.ai/v1alpha1\n  kind: EndpointPickerConfig\n"
             "  plugins:\n  - {type: utilization-detector, parameters: {queueDepthThreshold: 4,"
             " metricsStalenessThreshold: 5s}}\n"
             "  - {type: kv-cache-utilization-scorer}\n  - {type: max-score-picker}\n")
    p, port, admin = gateway([a.address, b.address], scheduler=sched)
    try:
        wait_endpoints_ready(admin)
        time.sleep(0.2)  # a few scrapes
        for i in range(6):
            st, h, _ = post_json(port, "/v1/completions", {"model": "m1", "prompt": "p%d" % i})
            check(st == 200, "status %d" % st)
        check(a.count() == 0 and b.count() == 6, "a %d b %d" % (a.count(), b.count()))
        a.waiting = 0
        wait_until(lambda: post_json(port, "/v1/completions",
                                     {"model": "m1", "prompt": "q"})[0] == 200 and
                   a.count() > 0, 10, what="a chosen again once its queue drains")
    finally:
        stop_process(p)
        a.stop()
        b.stop()


if __name__ == "__main__":
    run()
